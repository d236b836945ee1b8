#!/usr/bin/env bash
# tests/out_of_tree/run.sh: installs golf into a temporary prefix, builds examples/lion-optimizer
# against it as an outside project would, runs golf_tests' conformance suites against the plugin
# (GOLF_CONFORMANCE_PLUGIN_DIRS), and runs a pipeline that loads the plugin by path.
# Usage: run.sh SOURCE_DIR BUILD_DIR [GOLF_TESTS]   (GOLF_TESTS: default BUILD_DIR/bin/golf_tests)
set -euo pipefail
src=$1 build=$2
golf_tests=${3:-$build/bin/golf_tests}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/lion-optimizer" -B "$work/lion" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/lion"
plugin=$(ls "$work"/lion/libgolf-lion.so)

# Every conformance suite, with the lion plugin beside the built-in ones: the optimizer suite must
# list it and pass (docs/writing-a-plugin.md, "Test it").
if ! GOLF_CONFORMANCE_PLUGIN_DIRS="$work/lion" "$golf_tests" --gtest_filter='*Conformance*' --gtest_brief=1 \
     >"$work/conformance.log" 2>&1; then
  cat "$work/conformance.log"
  echo "the conformance suites failed with lion on GOLF_CONFORMANCE_PLUGIN_DIRS"
  exit 1
fi
grep -E '^\[ *(PLUGINS|PASSED|SKIPPED) *\]' "$work/conformance.log"
grep -q '^\[ PLUGINS  \] optimizer: .*lion (.*libgolf-lion\.so)' "$work/conformance.log" \
  || { echo "the optimizer conformance suite did not check lion"; exit 1; }

mkdir -p "$work/corpus"   # real text every checkout has: golf's own sources, one document each
i=1000
for f in "$src"/host/*.cpp "$src"/host/*.h "$src"/sdk/include/golf/*.h; do cp "$f" "$work/corpus/$((i++)).txt"; done
cat > "$work/lion.toml" <<TOML
[run]
train_seconds = 0.0
eval_seconds = 0.0
[data]
corpus = "corpus"
val_docs = 4
[train]
seq_len = 64
batch_tokens = 2048
iterations = 20
warmdown_iters = 5
[tokenizer]
plugin = "sentencepiece"
vocab_size = 512
[architecture]
plugin = "gpt"
vocab_size = 512
num_layers = 2
model_dim = 64
num_heads = 4
num_kv_heads = 2
[optimizer]
plugin = "$plugin"
lr = 0.001
[quantizer]
plugin = "int8"
[compressor]
plugin = "zstd"
[evaluator]
plugin = "bpb"
TOML
host="$work/prefix/bin/golf-host"
"$host" plugins --plugin-path "$work/lion" | grep -q "^lion .*optimizer" || { echo "lion not listed"; exit 1; }
"$host" run "$work/lion.toml" --run-dir "$work/run"
grep -q '"status": "ok"' "$work/run/summary.json"
grep -q '"optimizer": "lion@1.0.0"' "$work/run/summary.json"
echo "out-of-tree plugin: built against the installed SDK, loaded and trained"
