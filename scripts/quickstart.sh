#!/usr/bin/env bash
# quickstart.sh: on a fresh Debian/Ubuntu machine, installs what golf needs, builds it, fetches the
# quickstart corpus and runs pipelines/quickstart.toml (about 2 minutes of training on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-quickstart-data.sh
exec build/bin/golf-host run pipelines/quickstart.toml "$@"
