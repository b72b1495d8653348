#!/usr/bin/env bash
# FP32 vs INT8 top-1 on Fashion-MNIST for each calibration method.
#
#   bash bench/int8_accuracy.sh [MODEL.onnx] [LIMIT] [METHODS] [QDQ_MODEL.onnx]
#
# MODEL defaults to ../shared/models/resnet50_fmnist.onnx, LIMIT (test images)
# to 10000, METHODS to "minmax percentile entropy mse". Calibration uses
# training images 0..511, the split ../shared/models/README.md prescribes.
# QDQ_MODEL (optional): the same model already quantized (e.g. by ONNX
# Runtime), converted with its own scales for one more row. The methods share
# one calibration cache, so the FP32 calibration runs once.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-../shared/models/resnet50_fmnist.onnx}
LIMIT=${2:-10000}
METHODS=${3:-"minmax percentile entropy mse"}
QDQ=${4:-}
KESTREL=${KESTREL:-build/kestrel}
DATA=/usr/share/datasets/fashion-mnist
PRE=models/rgb224.preprocess.json
OUT=${OUT:-build/bench}
mkdir -p "$OUT"
name=$(basename "$MODEL" .onnx)
eval_top1() {
  "$KESTREL" eval --model "$1" --dataset $DATA/t10k-images-idx3-ubyte.gz --labels $DATA/t10k-labels-idx1-ubyte.gz \
    --preprocess $PRE --limit "$LIMIT" --batch 16 --threads "$(nproc)" --json |
    /usr/bin/python3 -c 'import json,sys; print("%.2f" % (100 * json.load(sys.stdin)["top1"]))'
}
"$KESTREL" convert --model "$MODEL" --output "$OUT/$name.fp32.kestrel" --input-shape input:16,3,224,224 --quiet
rm -f "$OUT/$name.int8.calib"  # a cache from an earlier run of other inputs would be refused
fp32=$(eval_top1 "$OUT/$name.fp32.kestrel")
echo "| model | precision | calibration | top-1 ($LIMIT images) | drop (points) |"
echo "|---|---|---|---|---|"
echo "| $name | fp32 | - | $fp32 % | - |"
for method in $METHODS; do
  "$KESTREL" convert --model "$MODEL" --output "$OUT/$name.int8.$method.kestrel" --input-shape input:16,3,224,224 \
    --precision int8 --calibration-data $DATA/train-images-idx3-ubyte.gz --calibration-count 512 \
    --preprocess $PRE --calibration-method "$method" --calibration-cache "$OUT/$name.int8.calib" --quiet
  top1=$(eval_top1 "$OUT/$name.int8.$method.kestrel")
  drop=$(/usr/bin/python3 -c "print('%.2f' % ($fp32 - $top1))")
  echo "| $name | int8 | $method | $top1 % | $drop |"
done
if [ -n "$QDQ" ]; then
  "$KESTREL" convert --model "$QDQ" --output "$OUT/$name.int8.qdq.kestrel" --input-shape input:16,3,224,224 \
    --precision int8 --quiet
  top1=$(eval_top1 "$OUT/$name.int8.qdq.kestrel")
  drop=$(/usr/bin/python3 -c "print('%.2f' % ($fp32 - $top1))")
  echo "| $name | int8 | scales of $(basename "$QDQ") | $top1 % | $drop |"
fi
