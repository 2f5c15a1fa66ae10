#!/bin/bash
# Installs what is missing, builds, and starts switchboardd in the foreground
# with conf/switchboard.ini (SQLite file under data/, listening on
# 127.0.0.1:7411). Extra arguments go to the daemon, e.g.
#   scripts/start.sh --switchboard.port=7500
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
mkdir -p data
chmod 700 data
exec build/bin/switchboardd --config-file=conf/switchboard.ini "$@"
