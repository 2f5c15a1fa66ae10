#!/bin/bash
# Configures and builds into build/ (2 parallel jobs: CAF units are heavy).
#   scripts/build.sh           daemon, CLI and benchmark
#   scripts/build.sh --tests   also the test suite
set -euo pipefail
cd "$(dirname "$0")/.."
tests=OFF
[[ "${1:-}" == "--tests" ]] && tests=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSB_BUILD_TESTS="$tests" \
  -DSB_TEST_HOOKS="$tests" \
  -DSB_WERROR=ON >/dev/null
cmake --build build -j2
