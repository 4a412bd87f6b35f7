#!/usr/bin/env bash
# build.sh: build ordering with warnings as errors and install it into the
# PostgreSQL 15 installation.  Run as root from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH"
make -s -j"$(nproc)"
make -s install
