#!/usr/bin/env bash
# Top-1 on Fashion-MNIST of INT8 models converted with and without bias
# correction and cross-layer equalization, per-channel and per-tensor weights.
#
#   bash bench/quant_options.sh [MODEL.onnx] [LIMIT]
#
# MODEL defaults to ../shared/models/mobilenet_v2_fmnist.onnx, LIMIT (test
# images) to 10000. Calibration: training images 0..511 (percentile, the
# default), the split ../shared/models/README.md prescribes; bias correction
# and the equalization's Clip check read the first 64 of them. Models are
# converted at batch 16 (for a fast evaluation) into build/bench/options/.
# Prints one markdown row per variant, FP32 first. VARIANTS (default "plain bc
# cle both") picks the rows; FP32_TOP1 (a percentage from an earlier
# evaluation of the same model) skips the FP32 evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-../shared/models/mobilenet_v2_fmnist.onnx}
LIMIT=${2:-10000}
KESTREL=${KESTREL:-build/kestrel}
DATA=/usr/share/datasets/fashion-mnist
PRE=models/rgb224.preprocess.json
OUT=${OUT:-build/bench/options}
if [ ! -f "$MODEL" ]; then
  echo "quant_options.sh: error: model file $MODEL not found" >&2
  exit 1
fi
mkdir -p "$OUT"
name=$(basename "$MODEL" .onnx)
echo '{"defaults": {"weights": "per_tensor"}}' >"$OUT/per_tensor.json"
eval_top1() {
  "$KESTREL" eval --model "$1" --dataset $DATA/t10k-images-idx3-ubyte.gz --labels $DATA/t10k-labels-idx1-ubyte.gz \
    --preprocess $PRE --limit "$LIMIT" --threads "$(nproc)" --json |
    /usr/bin/python3 -c 'import json,sys; print("%.2f" % (100 * json.load(sys.stdin)["top1"]))'
}
"$KESTREL" convert --model "$MODEL" --output "$OUT/$name.fp32.kestrel" --input-shape input:16,3,224,224 --quiet >/dev/null
fp32=${FP32_TOP1:-$(eval_top1 "$OUT/$name.fp32.kestrel")}
echo "| model | weights | bias correction | equalization | top-1 | drop (points) | what the converter said |"
echo "|---|---|---|---|---|---|---|"
echo "| $name | FP32 | - | - | $fp32 % | - | |"
# Equalization changes what calibration measures, so it has a cache of its own.
rm -f "$OUT/$name.calib" "$OUT/$name.cle.calib"
for weights in per_channel per_tensor; do
  config=()
  [ "$weights" = per_tensor ] && config=(--quant-config "$OUT/per_tensor.json")
  for variant in ${VARIANTS:-plain bc cle both}; do
    flags=() cache="$OUT/$name.calib"
    case $variant in
      bc) flags=(--bias-correction) ;;
      cle) flags=(--cross-layer-equalization) cache="$OUT/$name.cle.calib" ;;
      both) flags=(--bias-correction --cross-layer-equalization) cache="$OUT/$name.cle.calib" ;;
    esac
    out="$OUT/$name.$weights.$variant.kestrel"
    said=$("$KESTREL" convert --model "$MODEL" --output "$out" --input-shape input:16,3,224,224 --precision int8 \
      --calibration-data $DATA/train-images-idx3-ubyte.gz --calibration-count 512 --preprocess $PRE \
      --calibration-cache "$cache" --error-report 0 "${config[@]}" "${flags[@]}" |
      { grep -E '^(bias correction|cross-layer equalization):' || true; } | paste -sd ' ' -)
    top1=$(eval_top1 "$out")
    drop=$(/usr/bin/python3 -c "print('%.2f' % ($fp32 - $top1))")
    bc=no cle=no
    [[ $variant = bc || $variant = both ]] && bc=yes
    [[ $variant = cle || $variant = both ]] && cle=yes
    echo "| $name | $weights | $bc | $cle | $top1 % | $drop | $said |"
  done
done
