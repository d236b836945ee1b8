#!/usr/bin/env bash
# test.sh [--both]: on a fresh Debian/Ubuntu machine, installs what golf needs, builds it and runs every
# test (ctest) against Debian's LibTorch (build/) and, where the CUDA toolkit is present, against the
# pinned `torch` package's CUDA-enabled LibTorch too (build-cuda/). --both requires both builds.
# Tests that need ../shared (real data for golden checks) skip with a visible message without it.
# Then each file reader is fuzzed for GOLF_FUZZ_SECONDS (default 20) seconds (scripts/fuzz.sh); the
# sanitizer suite is a separate script (scripts/sanitize.sh, docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
both=0
if [ "${1:-}" = "--both" ]; then both=1; shift; fi

# ctest in build folder $1, then why each skipped test was skipped (ctest prints only the names).
run_ctest() {
  local dir=$1 rc=0
  shift
  # One LibTorch thread per test: ctest already runs nproc tests at once, and OpenMP threads that
  # spin-wait for busy cores made the torch-package build's tests several times slower.
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" "$@" || rc=$?
  awk '/^[0-9]+\/[0-9]+ Testing: / { name = $3 } /SKIPPED: / { sub(/.*SKIPPED: /, ""); print "skipped " name ": " $0 }' \
    "$dir/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u
  return $rc
}
fuzz_briefly() {
  echo "== test.sh: fuzzing the artifact, shard and pipeline readers =="
  scripts/fuzz.sh "${GOLF_FUZZ_SECONDS:-20}"
}

scripts/install-deps.sh
if [ $both = 0 ] && ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "test.sh: no CUDA toolkit (nvcc): testing the Debian LibTorch build only"
  scripts/build.sh
  run_ctest build "$@"
  fuzz_briefly
  exit
fi
export PATH=$PATH:/usr/local/cuda/bin
python=$(scripts/install-torch.sh --print-python)  # also the interop tests' Python, for both builds

echo "== test.sh: build/ against Debian's LibTorch (CPU) =="
scripts/build.sh -DGOLF_TEST_PYTHON="$python"
build/bin/golf-host --version
run_ctest build "$@"
fuzz_briefly

echo "== test.sh: build-cuda/ against the torch package's LibTorch (CUDA) =="
scripts/build.sh --torch pip -DGOLF_FOREIGN_PLUGIN_DIR="$PWD/build/lib/golf/plugins"
build-cuda/bin/golf-host --version
run_ctest build-cuda "$@"
