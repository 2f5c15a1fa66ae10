#!/usr/bin/env bash
# Report a 429 of an agent to switchboardd's HTTP front with one curl line:
# the SHA-256 fingerprint of the token the failed request used (never the
# token itself; the daemon fingerprints it without surrounding whitespace, so
# strip the file's newline) and the failed response's rate-limit headers.
#
#   TOKEN_FILE=/run/secrets/team-a.token examples/report_429.sh builder-1
#
# SWITCHBOARD_URL (default http://127.0.0.1:7412); SWITCHBOARD_AUTH_FILE (or
# SWITCHBOARD_HTTP_TOKEN_FILE) names the file with the daemon's report
# credential (its report-token-file): the bearer header is read by curl from
# a file descriptor (-H @FILE), so the token appears in no command line.
set -euo pipefail

agent=$1
url=${SWITCHBOARD_URL:-http://127.0.0.1:7412}
credential=${SWITCHBOARD_AUTH_FILE:-${SWITCHBOARD_HTTP_TOKEN_FILE:-}}
auth=/dev/null
if [[ -n $credential ]]; then
  exec 3< <(printf 'Authorization: Bearer %s\n' "$(tr -d ' \t\r\n' < "$credential")")
  auth=/dev/fd/3
fi

fp=$(tr -d ' \t\r\n' < "$TOKEN_FILE" | sha256sum | cut -d' ' -f1)

curl -sS --fail-with-body -H @"$auth" "$url/v1/reports" -H 'Content-Type: application/json' --data "{\"agent\": \"$agent\", \"status\": 429, \"error\": \"usage limit reached\", \"token_sha256\": \"$fp\", \"headers\": {\"retry-after\": \"600\", \"anthropic-ratelimit-unified-status\": \"rejected\"}}"
