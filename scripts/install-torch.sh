#!/usr/bin/env bash
# install-torch.sh: installs the pinned `torch` package (LibTorch 2.x, CUDA-enabled) into a virtual
# environment shared by every checkout on this machine, and prints its CMake prefix path.
#
# The venv lives under ${GOLF_CACHE:-~/.cache/golf}, outside the checkout, so a fresh clone on the
# same machine reuses it (the wheels are several GiB). Usage: scripts/install-torch.sh [--print-python]
set -euo pipefail

# torch 2.11.0's wheels are built for CUDA 13.0, the toolkit golf's own CUDA code is compiled with,
# so both share one CUDA runtime. The others are for the interop tests (tests/interop).
TORCH_VERSION=2.11.0
PACKAGES=("torch==$TORCH_VERSION" numpy==2.3.5 safetensors==0.7.0 packaging==25.0 sentencepiece==0.2.1)
cache=${GOLF_CACHE:-$HOME/.cache/golf}
venv=$cache/torch-$TORCH_VERSION

log() { echo "install-torch: $*" >&2; }

if [ "$(cat "$venv/.complete" 2>/dev/null)" != "${PACKAGES[*]}" ]; then
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    log "installing python3-venv"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log "installing ${PACKAGES[*]} into $venv (several GiB on first use)"
  mkdir -p "$cache"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
  echo "${PACKAGES[*]}" >"$venv/.complete"
fi

# Refuse a venv that is not what golf builds against: too old, or without CUDA.
"$venv/bin/python" - "$TORCH_VERSION" <<'PY' >&2
import sys, torch
want = sys.argv[1]
if torch.__version__.split("+")[0] != want:
    sys.exit(f"install-torch: {torch.__file__} is torch {torch.__version__}, expected {want}")
if torch.version.cuda is None:
    sys.exit(f"install-torch: torch {torch.__version__} at {torch.__file__} is CPU-only; golf's torch build needs CUDA")
PY

if [ "${1:-}" = "--print-python" ]; then
  echo "$venv/bin/python"
else
  "$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)'
fi
