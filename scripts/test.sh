#!/usr/bin/env bash
# test.sh: on a fresh Debian/Ubuntu machine, installs what golf needs, builds it and runs every test.
# Tests that need ../shared (real data for golden checks) skip with a visible message without it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
