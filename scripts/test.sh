#!/usr/bin/env bash
# test.sh [--both]: on a fresh Debian/Ubuntu machine, installs what golf needs, builds it and runs every
# test (ctest) against Debian's LibTorch (build/) and, where the CUDA toolkit is present, against the
# pinned `torch` package's CUDA-enabled LibTorch too (build-cuda/). --both requires both builds.
# Tests that need ../shared (real data for golden checks) skip with a visible message without it.
set -euo pipefail
cd "$(dirname "$0")/.."
both=0
if [ "${1:-}" = "--both" ]; then both=1; shift; fi
scripts/install-deps.sh
if [ $both = 0 ] && ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "test.sh: no CUDA toolkit (nvcc): testing the Debian LibTorch build only"
  scripts/build.sh
  exec ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
fi
export PATH=$PATH:/usr/local/cuda/bin
python=$(scripts/install-torch.sh --print-python)  # also the interop tests' Python, for both builds

echo "== test.sh: build/ against Debian's LibTorch (CPU) =="
scripts/build.sh -DGOLF_TEST_PYTHON="$python"
build/bin/golf-host --version
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"

echo "== test.sh: build-cuda/ against the torch package's LibTorch (CUDA) =="
scripts/build.sh --torch pip -DGOLF_FOREIGN_PLUGIN_DIR="$PWD/build/lib/golf/plugins"
build-cuda/bin/golf-host --version
ctest --test-dir build-cuda --output-on-failure -j "$(nproc)" "$@"
