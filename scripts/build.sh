#!/usr/bin/env bash
# build.sh [--torch system|pip] [CMAKE_ARGS...]: configures and builds golf (Release, Ninja).
#   system (default): against the system LibTorch (Debian's, CPU), into build/
#   pip: against the pinned `torch` package's LibTorch (CUDA-enabled; scripts/install-torch.sh),
#        into build-cuda/; needs the CUDA toolkit (docs/gpu.md)
set -euo pipefail
cd "$(dirname "$0")/.."
torch=system
if [ "${1:-}" = "--torch" ]; then torch=$2; shift 2; fi
case "$torch" in
  system) dir=build; args=() ;;
  pip) dir=build-cuda; args=(-DGOLF_TORCH_PYTHON="$(scripts/install-torch.sh --print-python)" -DGOLF_REQUIRE_CUDA=ON) ;;
  *) echo "build.sh: --torch must be system or pip, got '$torch'" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${args[@]}" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
