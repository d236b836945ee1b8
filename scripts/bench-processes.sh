#!/usr/bin/env bash
# bench-processes.sh [STEPS] [OUT_DIR]: tokens/s of one golf-host process against two under torchrun
# (Gloo, docs/distributed.md) on the same global batches: pipelines/ablations/base.toml (the quickstart
# corpus, 4 x 128 GPT) with 4,096-token steps in 2,048-token micro-batches, so one process runs two
# micro-batches a step and each of two runs one. One LibTorch thread per process. Prints a
# docs/performance.md row per run. Needs the torch package's torchrun (scripts/install-torch.sh) and
# a quiet machine with at least 2 cores: the figure is for scaling behaviour, not absolute speed.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-60}
out=${2:-runs/bench-processes}
host=${GOLF_HOST:-build/bin/golf-host}
torchrun="$(dirname "$(scripts/install-torch.sh --print-python)")/torchrun"
rm -rf "$out" && mkdir -p "$out"
out=$(cd "$out" && pwd)

# Shards and a tokenizer once, so the timed runs only train and evaluate.
"$host" run pipelines/ablations/base.toml --set train.iterations=1 --run-dir "$out/made" > "$out/made.log" 2>&1
cat > "$out/bench.toml" <<TOML
extends = "$PWD/pipelines/ablations/base.toml"
[run]
name = "bench-processes"
threads = 1
[data]
corpus = ""
val_docs = 0
train_shards = "$out/made/data/sotu_train_*.bin"
val_shards = "$out/made/data/sotu_val_*.bin"
[tokenizer]
model = "$out/made/tokenizer/tokenizer.model"
[train]
iterations = $steps
micro_batch_tokens = 2048
log_every = $steps
TOML

"$host" run "$out/bench.toml" --run-dir "$out/one" > "$out/one.log" 2>&1
"$torchrun" --standalone --nproc_per_node=2 --no-python "$host" run "$out/bench.toml" --run-dir "$out/two" > "$out/two.log" 2>&1

python3 - "$out" "$steps" <<'PY'
import json, sys
out, steps = sys.argv[1], int(sys.argv[2])
print("| processes | train tokens/s | train_loss (step %d) | val_bpb |" % steps)
print("| --- | --- | --- | --- |")
rates = {}
for name, n in (("one", 1), ("two", 2)):
    last = [json.loads(l) for l in open(f"{out}/{name}/metrics.jsonl") if '"tokens_per_s"' in l][-1]
    s = json.load(open(f"{out}/{name}/summary.json"))
    rates[n] = last["tokens_per_s"]
    print(f"| {n} | {last['tokens_per_s']:,.0f} | {last['train_loss']:.4f} | {s['val_bpb']:.8f} |")
print(f"\n2 processes / 1: {rates[2] / rates[1]:.2f}x")
PY
