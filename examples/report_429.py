#!/usr/bin/env python3
"""Report a failed request (a 429, an auth failure) to switchboardd over HTTP.

Standard library only. The token the failed request used is read from a file
(--token-file, '-' = standard input) or from an environment variable
(--token-env, default SWITCHBOARD_AGENT_TOKEN), never from the command line;
only its SHA-256 fingerprint is sent, so the daemon charges the failure to
exactly that credential. The failed response's headers (retry-after,
anthropic-ratelimit-unified-*) come from a file as `curl -D FILE` writes it.

    curl -sS -D headers.txt -o body.txt ... https://api.anthropic.com/...
    SWITCHBOARD_AGENT_TOKEN="$TOKEN" examples/report_429.py builder-1 \\
        --status 429 --error "$(cat body.txt)" --headers-file headers.txt

With switchboard.http-token-file set on the daemon, give the same file with
--http-token-file, SWITCHBOARD_AUTH_FILE or SWITCHBOARD_HTTP_TOKEN_FILE (the
daemon's report credential). Prints the daemon's JSON
answer (outcome, from, to, generation, apply, ...); exit status 1 with the
daemon's error message on an HTTP error, 2 on bad usage.
"""

import argparse
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request


def read_text(path):
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def token_sha256(token):
    # The daemon fingerprints the token without surrounding whitespace
    # (a token file usually ends with a newline).
    token = token.rstrip(" \t\r\n").lstrip(" \t")
    if not token:
        sys.exit("report_429: the token is empty")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_headers(path):
    """Header name -> [values] of the last response in a `curl -D` file."""
    headers = {}
    for line in read_text(path).splitlines():
        line = line.rstrip("\r")
        if line.startswith("HTTP/"):
            headers = {}  # a status line starts a response (redirects, 100)
        elif ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("agent", help="agent whose request failed")
    p.add_argument("--url", default=os.environ.get(
        "SWITCHBOARD_URL", "http://127.0.0.1:7412"), help="HTTP front")
    p.add_argument("--status", type=int, default=429, help="HTTP status")
    p.add_argument("--error", default="", help="error text of the response")
    p.add_argument("--headers-file", help="the response's headers (curl -D)")
    p.add_argument("--token-file", help="token the request used ('-' = stdin)")
    p.add_argument("--token-env", default="SWITCHBOARD_AGENT_TOKEN",
                   help="else the variable holding it (default %(default)s)")
    p.add_argument("--http-token-file",
                   default=os.environ.get(
                       "SWITCHBOARD_AUTH_FILE",
                       os.environ.get("SWITCHBOARD_HTTP_TOKEN_FILE")),
                   help="the daemon's report credential, sent as bearer "
                   "token")
    p.add_argument("--timeout", type=float, default=60, help="seconds")
    a = p.parse_args()

    report = {"agent": a.agent, "status": a.status, "source": "report_429.py"}
    if a.error:
        report["error"] = a.error
    token = read_text(a.token_file) if a.token_file else os.environ.get(
        a.token_env)
    if token is not None:
        report["token_sha256"] = token_sha256(token)
    if a.headers_file:
        report["headers"] = read_headers(a.headers_file)

    request = urllib.request.Request(
        a.url.rstrip("/") + "/v1/reports",
        data=json.dumps(report).encode("utf-8"),
        headers={"Content-Type": "application/json"}, method="POST")
    if a.http_token_file:
        bearer = read_text(a.http_token_file).strip()
        request.add_header("Authorization", "Bearer " + bearer)
    try:
        with urllib.request.urlopen(request, timeout=a.timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as e:
        try:
            message = json.load(e)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = e.reason
        sys.exit(f"report_429: HTTP {e.code}: {message}")
    except urllib.error.URLError as e:
        sys.exit(f"report_429: {a.url}: {e.reason}")
    print(json.dumps(answer, indent=2))


if __name__ == "__main__":
    main()
