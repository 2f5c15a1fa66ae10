#!/bin/bash
# Installs the Debian 12 packages Switchboard needs, and only those that are
# missing (apt-get runs only when something is absent). Run as root.
#   scripts/install-deps.sh          build and run the daemon
#   scripts/install-deps.sh --test   also what the test suite needs
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libcaf-dev            # C++ Actor Framework 0.17 (core, io, openssl)
  libsqlitecpp-dev libsqlite3-dev
  libspdlog-dev libfmt-dev
  nlohmann-json3-dev    # JSON for the CLI and the Docker client
  libcli11-dev          # command-line parsing
  libcurl4-openssl-dev  # Docker Engine API over the unix socket
  libcpp-httplib-dev    # the reference agent server
  libboost1.81-dev      # Boost.Beast and asio: the asynchronous HTTP front
  prometheus-cpp-dev    # /metrics: the core registry and text serializer
  libssl-dev
  libsodium-dev         # tokens encrypted at rest (crypto_secretbox)
  libgoogle-perftools-dev  # tcmalloc for the daemon
  libsystemd-dev        # sd_notify: readiness, reload and stop for Type=notify
  libpqxx-dev           # the PostgreSQL store (libpqxx 6 and libpq)
  libhowardhinnant-date-dev  # date::parse under the one date parser
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(
    libgtest-dev googletest
    clang-tidy            # the function-size check of actors/
    docker.io             # a private Docker engine for the container tests
    busybox-static        # the agent-server test image's root file system
    curl python3 procps
    socat                 # a proxy the tests kill or freeze: "engine unreachable"
    sqlite3               # an outside writer on the daemon's live database
    dpkg-dev file         # cpack -G DEB: dpkg-shlibdeps (scripts/check-install.sh)
    postgresql-15         # a private cluster for the PostgreSQL store's tests
    openssl               # the TLS tests make their CA and certificates with it
    chromium chromium-driver python3-selenium  # the dashboard in a real browser
    fonts-liberation      # text in its screenshots (chromium recommends it)
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
      | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if (( ${#missing[@]} == 0 )); then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: run as root to install packages" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
