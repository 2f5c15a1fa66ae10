#!/bin/bash
# Fails if a function in actors/ has more than 80 lines (clang-tidy's
# readability-function-size, lambdas included). Needs the compile database of
# a configured build folder.
#   scripts/check-function-size.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=$(for f in actors/*.cpp; do
  clang-tidy -p "$build" --quiet --checks='-*,readability-function-size' \
    --config='{CheckOptions: [{key: readability-function-size.LineThreshold, value: 80}]}' \
    "$f" 2>/dev/null | grep -A1 'warning:' || true
done)
if [[ -n "$out" ]]; then
  echo "functions over 80 lines in actors/:"
  echo "$out"
  exit 1
fi
echo "every function in actors/ has at most 80 lines"
