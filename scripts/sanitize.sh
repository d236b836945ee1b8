#!/usr/bin/env bash
# sanitize.sh [CTEST_ARGS...]: builds golf with AddressSanitizer + UndefinedBehaviorSanitizer (clang, GOLF_SANITIZE=ON) into build-asan/ and runs the suite (ctest) there.
#
# ASan refuses RTLD_DEEPBIND, so this build loads plugins without it (host/registry.cpp). Debian's
# libsentencepiece carries its own protobuf 3.14 whose symbols share their names with the system
# protobuf 3.21 that LibTorch loads; without DEEPBIND it would bind to 3.21 and abort on the version
# check. So the suite runs against copies of libsentencepiece{,_train}.so.0 (build-asan/sanitize-lib/,
# first on LD_LIBRARY_PATH) in which that protobuf is renamed google -> gpNgle: same length and same
# GNU hash (their only symbol hash table), so nothing else in the files changes, and the two
# protobufs can no longer meet. golf's own code is built and tested unchanged.
# LeakSanitizer is on and needs no suppressions: LibTorch's, OpenBLAS's and sentencepiece's static
# state stays reachable at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-asan
cmake -S . -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
      -DGOLF_SANITIZE=ON >/dev/null
cmake --build "$dir" -j "$(nproc)"

lib=$dir/sanitize-lib
mkdir -p "$lib"
spm=$(pkg-config --variable=libdir sentencepiece)
for so in libsentencepiece.so.0 libsentencepiece_train.so.0; do
  perl -0777 -pe 's/6google8protobuf/6gpNgle8protobuf/g' <"$spm/$so" >"$lib/$so.tmp"
  if nm -D "$lib/$so.tmp" | grep 6google8protobuf >/dev/null; then
    echo "sanitize.sh: $so: its protobuf symbols were not renamed" >&2
    exit 1
  fi
  mv "$lib/$so.tmp" "$lib/$so"
done
export LD_LIBRARY_PATH=$PWD/$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if ! ldd "$dir/lib/golf/plugins/libgolf-sentencepiece.so" | grep "$PWD/$lib/libsentencepiece.so.0" >/dev/null; then
  echo "sanitize.sh: the sentencepiece plugin does not pick up $lib/libsentencepiece.so.0" >&2
  exit 1
fi

export CC=clang CXX=clang++  # tests/out_of_tree builds a plugin: same compiler as this golf-host
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" "$@"
