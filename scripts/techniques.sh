#!/usr/bin/env bash
# techniques.sh RUN_DIR [NAME...]: one fixed trained model, every quantizer, compressor and evaluator.
#
# RUN_DIR is a finished run of pipelines/quickstart.toml (e.g. trained longer:
#   build/bin/golf-host run pipelines/quickstart.toml --set run.train_seconds=600 --run-dir runs/base).
# Each variant reruns only the post-training stages on its weights (--reuse-training) into
# RUN_DIR-variants/NAME and prints one row: artifact bytes, quantization gap (val_bpb from the artifact
# minus before quantization, both with the variant's evaluator), final val_bpb, evaluation seconds.
# With NAMEs, only those variants run. The rows feed docs/techniques.md.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: techniques.sh RUN_DIR [NAME...]}
shift
host=build/bin/golf-host
out="$base-variants"
mkdir -p "$out"

# name | --set overrides (space-separated key=value; TOML strings quoted)
variants=(
  'int8|quantizer.plugin="int8" compressor.plugin="brotli"'
  'rtn-int6-rowmax|quantizer.plugin="rtn" quantizer.scales="rowmax" compressor.plugin="brotli"'
  'rtn-int6-sdclip|quantizer.plugin="rtn" compressor.plugin="brotli"'
  'gptq-int6-sdclip|quantizer.plugin="gptq" compressor.plugin="brotli"'
  'gptq-int6-lqer|quantizer.plugin="gptq" quantizer.lqer_rank=4 compressor.plugin="brotli"'
  'awq-int6|quantizer.plugin="awq" compressor.plugin="brotli"'
  'zstd|quantizer.plugin="gptq" compressor.plugin="zstd"'
  'brotli|quantizer.plugin="gptq" compressor.plugin="brotli"'
  'xz|quantizer.plugin="gptq" compressor.plugin="xz"'
  'shuffle-zstd|quantizer.plugin="gptq" compressor.plugin="zstd" run.byte_shuffle=2'
  'shuffle-brotli|quantizer.plugin="gptq" compressor.plugin="brotli" run.byte_shuffle=2'
  'shuffle-xz|quantizer.plugin="gptq" compressor.plugin="xz" run.byte_shuffle=2'
  'eval-bpb|quantizer.plugin="int8" compressor.plugin="brotli" evaluator.plugin="bpb"'
  'eval-sliding|quantizer.plugin="int8" compressor.plugin="brotli" evaluator.plugin="sliding"'
  'eval-ttt-sgd|quantizer.plugin="int8" compressor.plugin="brotli" evaluator.plugin="ttt-sgd"'
  'eval-ttt-lora|quantizer.plugin="int8" compressor.plugin="brotli" evaluator.plugin="ttt-lora"'
)

field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print('' if v is None else v)" "$1" "$2"; }

printf '| variant | bytes_model | val_bpb before quantization | val_bpb | gap | eval s |\n|---|---|---|---|---|---|\n'
for v in "${variants[@]}"; do
  name=${v%%|*}
  if [ $# -gt 0 ] && [[ ! " $* " == *" $name "* ]]; then continue; fi
  sets=()
  for kv in ${v#*|}; do sets+=(--set "$kv"); done
  rm -rf "${out:?}/$name"
  if ! "$host" run pipelines/quickstart.toml --reuse-training "$base" "${sets[@]}" --run-dir "$out/$name" \
      > "$out/$name.log" 2>&1; then
    echo "| $name | failed: see $out/$name.log | | | | |"
    continue
  fi
  s="$out/$name/summary.json"
  pre=$(field "$s" val_bpb_prequant) fin=$(field "$s" val_bpb)
  printf '| %s | %s | %.4f | %.4f | %+.4f | %.1f |\n' "$name" "$(field "$s" bytes_model)" "$pre" "$fin" \
    "$(python3 -c "print($fin - $pre)")" "$(field "$s" eval_seconds)"
done
