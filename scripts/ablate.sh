#!/usr/bin/env bash
# ablate.sh [--report] [OUT_DIR] [NAME...]: runs pipelines/ablations/base.toml and each ablation (or
# the NAMEs), then prints one docs/techniques.md row per ablation: the keys it sets, parameters, ms per
# step and val_bpb, each with its difference from the base. --report prints the rows of runs already
# in OUT_DIR without running anything. Every run has one LibTorch thread and GOLF_ABLATE_JOBS (default 2) run
# at once, so on a 2-core machine each run has a core; compare step times within one table only.
# OUT_DIR (default runs/ablations) keeps each run's directory and log.
set -euo pipefail
cd "$(dirname "$0")/.."
report_only=0
if [ "${1:-}" = "--report" ]; then report_only=1; shift; fi
out=${1:-runs/ablations}
shift || true
host=${GOLF_HOST:-build/bin/golf-host}
mkdir -p "$out"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in pipelines/ablations/*.toml; do n=$(basename "$f" .toml); [ "$n" = base ] || names+=("$n"); done
fi

run_one() {  # NAME: one run, its log beside its directory
  rm -rf "${out:?}/$1"
  "$host" run "pipelines/ablations/$1.toml" --set run.threads=1 --run-dir "$out/$1" > "$out/$1.log" 2>&1 ||
    echo "ablate.sh: $1 failed: see $out/$1.log" >&2
}
export -f run_one
export out host
if [ $report_only = 0 ]; then
  printf '%s\n' base "${names[@]}" | xargs -P "${GOLF_ABLATE_JOBS:-2}" -I{} bash -c 'run_one {}'
fi

python3 - "$out" "${names[@]}" <<'PY'
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
def load(n):
    p = os.path.join(out, n, "summary.json")
    return json.load(open(p)) if os.path.exists(p) else None
def what(n):
    first = open(f"pipelines/ablations/{n}.toml").readline()
    return first.split(": ", 1)[1].strip()
def keys(n):  # the keys the ablation sets, [run] name aside: "[table] key = value", comments dropped
    table, out = "", []
    for line in open(f"pipelines/ablations/{n}.toml"):
        line = line.split("#", 1)[0].strip()
        if line.startswith("["): table = line
        elif "=" in line and table not in ("", "[run]"): out.append(f"`{table} {line}`")
    return "<br>".join(out)
b = load("base")
if not b or b.get("status") != "ok":
    sys.exit("ablate.sh: the base run failed: see " + os.path.join(out, "base.log"))
ms = lambda s: 1000 * s["train_seconds"] / s["steps"]
print(f"base: {b['params']:,} parameters, {ms(b):.1f} ms/step, val_bpb {b['val_bpb']:.4f}, {b['bytes_model']:,} bytes")
print()
print("| ablation | what it changes | keys | Δ parameters | ms/step | Δ step time | val_bpb | Δ val_bpb | bytes_model |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for n in names:
    s = load(n)
    if not s or s.get("status") != "ok":
        print(f"| {n} | {what(n)} | {keys(n)} | failed: see {out}/{n}.log | | | | | |")
        continue
    print(f"| {n} | {what(n)} | {keys(n)} | {s['params'] - b['params']:+,} | {ms(s):.0f} | "
          f"{100 * (ms(s) / ms(b) - 1):+.0f} % | {s['val_bpb']:.4f} | {s['val_bpb'] - b['val_bpb']:+.4f} | {s['bytes_model']:,} |")
PY
