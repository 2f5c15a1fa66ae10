#!/bin/bash
# Checks the bash completions in conf/completion/ against the built binaries:
#   scripts/check-completion.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:?usage: check-completion.sh BUILD_DIR}/bin" && pwd)
compopt() { :; } # only works inside a real completion
source "$root/conf/completion/switchboard"
source "$root/conf/completion/switchboardd"
fail=0
# complete FUNCTION WORD... : the completions of the last word.
complete_words() {
  local fn=$1
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  "$fn"
  echo "${COMPREPLY[*]}"
}
expect() {
  local what=$1 got=$2 want=$3
  if [[ " $got " != *" $want "* ]]; then
    echo "check-completion: $what: '$want' not in '$got'" >&2
    fail=1
  fi
}
expect "subcommands" "$(complete_words _switchboard switchboard "")" status
expect "subcommands by prefix" "$(complete_words _switchboard switchboard su)" \
  subscription
expect "agent's subcommands" \
  "$(complete_words _switchboard switchboard agent "")" restart
expect "global options after a subcommand" \
  "$(complete_words _switchboard switchboard agent list --j)" --json
expect "report's options" \
  "$(complete_words _switchboard switchboard --port 7411 report a1 --to)" \
  --token-sha256
expect "the credential option" \
  "$(complete_words _switchboard switchboard --au)" --auth-file
expect "backup's --force" \
  "$(complete_words _switchboard switchboard backup copy.db --f)" --force
expect "--provider values" \
  "$(complete_words _switchboard switchboard subscription add s1 --provider "")" \
  codex
expect "subscription show" \
  "$(complete_words _switchboard switchboard subscription "")" show
expect "--oauth-file" \
  "$(complete_words _switchboard switchboard subscription add s1 --oa)" \
  --oauth-file
expect "--kind values" \
  "$(complete_words _switchboard switchboard report a1 --kind "")" rate_limit
expect "daemon keys from its --help" \
  "$(complete_words _switchboardd "$bin/switchboardd" --switchboard.http-p)" \
  --switchboard.http-port=
# Every subcommand the CLI has is completed.
for c in $("$bin/switchboard" --help | sed -n '/^Subcommands:/,$p' \
           | awk 'NR > 1 && NF { print $1 }'); do
  expect "subcommand $c" "$(complete_words _switchboard switchboard "")" "$c"
done
[[ $fail -eq 0 ]] && echo "check-completion: ok"
exit $fail
