#!/usr/bin/env bash
# install-deps.sh: installs the Debian/Ubuntu packages golf builds against (skips what is present).
set -euo pipefail
packages=(
  g++ cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-pthread            # LibTorch; OpenBLAS, or Debian's LibTorch uses the slow reference BLAS
  libgloo-dev                                  # gloo's headers, for LibTorch's ProcessGroupGloo (multi-process CPU runs)
  libboost-dev libboost-program-options-dev libboost-filesystem-dev
  libtomlplusplus-dev nlohmann-json3-dev libzstd-dev libbrotli-dev liblzma-dev libsentencepiece-dev libssl-dev
  googletest libgtest-dev valgrind
  clang libclang-rt-dev                        # libFuzzer and the sanitizers (scripts/fuzz.sh, scripts/sanitize.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
