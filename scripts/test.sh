#!/bin/bash
# Installs what is missing (including Docker for the container tests), builds
# everything and runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh --tests
cd build
ctest --output-on-failure -j2 --timeout 600
