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
host=${GOLF_HOST:-build/bin/golf-host}
out="$base-variants"
mkdir -p "$out"

# name | --set overrides (space-separated key=value; TOML strings quoted). The quickstart model's
# 256x256 matrices have 65,536 entries, the default passthrough size, so every quantizer here
# quantizes tensors above 4,096 entries instead (as a larger model's would be).
small='quantizer.passthrough_numel=4096'
int8_small='quantizer.passthrough_max_numel=4096'
variants=(
  'int8|quantizer.plugin="int8" $int8_small compressor.plugin="brotli"'
  'rtn-int6-rowmax|quantizer.plugin="rtn" $small quantizer.scales="rowmax" compressor.plugin="brotli"'
  'rtn-int6-sdclip|quantizer.plugin="rtn" $small compressor.plugin="brotli"'
  'rtn-int4-g32|quantizer.plugin="rtn" $small quantizer.matrix_bits=4 quantizer.group_size=32 compressor.plugin="brotli"'
  'gptq-int6-sdclip|quantizer.plugin="gptq" $small compressor.plugin="brotli"'
  'gptq-int6-lqer|quantizer.plugin="gptq" $small quantizer.lqer_rank=4 compressor.plugin="brotli"'
  'awq-int6|quantizer.plugin="awq" $small compressor.plugin="brotli"'
  'zstd|quantizer.plugin="gptq" $small compressor.plugin="zstd"'
  'brotli|quantizer.plugin="gptq" $small compressor.plugin="brotli"'
  'xz|quantizer.plugin="gptq" $small compressor.plugin="xz"'
  'shuffle-zstd|quantizer.plugin="gptq" $small compressor.plugin="zstd" run.byte_shuffle=2'
  'shuffle-brotli|quantizer.plugin="gptq" $small compressor.plugin="brotli" run.byte_shuffle=2'
  'shuffle-xz|quantizer.plugin="gptq" $small compressor.plugin="xz" run.byte_shuffle=2'
  'eval-bpb|quantizer.plugin="int8" $int8_small compressor.plugin="brotli" evaluator.plugin="bpb"'
  'eval-sliding|quantizer.plugin="int8" $int8_small compressor.plugin="brotli" evaluator.plugin="sliding"'
  'eval-ttt-sgd|quantizer.plugin="int8" $int8_small compressor.plugin="brotli" evaluator.plugin="ttt-sgd" evaluator.chunk_tokens=8192'
  'eval-ttt-lora|quantizer.plugin="int8" $int8_small compressor.plugin="brotli" evaluator.plugin="ttt-lora" evaluator.context=256'
)

field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print('' if v is None else v)" "$1" "$2"; }

printf '| variant | bytes_model | val_bpb before quantization | val_bpb | gap | eval s |\n|---|---|---|---|---|---|\n'
for v in "${variants[@]}"; do
  name=${v%%|*}
  if [ $# -gt 0 ] && [[ ! " $* " == *" $name "* ]]; then continue; fi
  sets=(--set run.threads=1)  # one LibTorch thread: comparable eval seconds on a busy machine
  spec=${v#*|}
  spec=${spec//\$int8_small/$int8_small}
  spec=${spec//\$small/$small}
  for kv in $spec; do sets+=(--set "$kv"); done
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
