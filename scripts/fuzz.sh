#!/usr/bin/env bash
# fuzz.sh [SECONDS]: builds the libFuzzer targets (clang, GOLF_FUZZ=ON) into build-fuzz/ and runs each for SECONDS (default 30) on a copy of its seed corpus; exits non-zero if any target crashes.
#
# Targets (fuzz/): fuzz_artifact (host/artifact.h with the zstd plugin), fuzz_shard (host/shard.h),
# fuzz_pipeline (host/pipeline.h with every built-in plugin). Each runs on build-fuzz/corpus/<target>/:
# fuzz/corpus/<target>/ plus the seeds the target writes with golf's own writers
# (GOLF_FUZZ_SEEDS_OUT); what libFuzzer adds stays there for the next run. A crash leaves its input
# in build-fuzz/crashes/<target>/ and its log in build-fuzz/logs/<target>.log; reproduce it with
#   build-fuzz/bin/<target> build-fuzz/crashes/<target>/crash-...
# FUZZ_TARGETS="fuzz_shard ..." picks targets; FUZZ_ARGS adds libFuzzer flags (e.g. -jobs=2).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
dir=build-fuzz
targets=${FUZZ_TARGETS:-fuzz_artifact fuzz_shard fuzz_pipeline}
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
      -DGOLF_FUZZ=ON -DGOLF_BUILD_TESTS=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target golf_fuzz

export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The targets write each input to a scratch file: on tmpfs (/dev/shm) that is ~40x faster than on disk.
shm=/dev/shm; [ -d "$shm" ] && [ -w "$shm" ] || shm=$PWD/$dir
export TMPDIR=$shm/golf-fuzz.$$
mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT
failed=()
for t in $targets; do
  corpus=$dir/corpus/$t crashes=$dir/crashes/$t log=$dir/logs/$t.log
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  GOLF_FUZZ_SEEDS_OUT=$PWD/$corpus "$dir/bin/$t"
  echo "== fuzz.sh: $t for ${seconds}s on $(ls "$corpus" | wc -l) inputs (log: $log)"
  if "$dir/bin/$t" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1; then
    grep -E "^(#[0-9]+.*DONE|Done |stat::number_of_executed_units|stat::average_exec_per_sec)" "$log" || true
  else
    echo "fuzz.sh: $t FAILED; the end of its log:" >&2
    tail -40 "$log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs in $dir/crashes/)" >&2
  exit 1
fi
echo "fuzz.sh: no crashes in ${seconds}s per target ($targets)"
