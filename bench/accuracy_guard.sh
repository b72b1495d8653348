#!/usr/bin/env bash
# The accuracy guard on a trained model: INT8 converted with
# --max-accuracy-drop BUDGET (calibration: Fashion-MNIST training images
# 0..511; validation: training images 50000..50999), then `kestrel report`
# against FP32 on the full test set (batch 1, 2 threads by default):
# the final drop and speed-up, measured on images the guard never saw.
#
#   bash bench/accuracy_guard.sh [MODEL.onnx] [BUDGET] [METHOD] [THREADS]
#
# MODEL defaults to ../shared/models/resnet50_fmnist.onnx, BUDGET to 0.1
# (points), METHOD to the default calibration method, THREADS to 2.
# Writes $OUT/NAME.report.html (OUT=build/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-../shared/models/resnet50_fmnist.onnx}
BUDGET=${2:-0.1}
METHOD=${3:-}
THREADS=${4:-2}
KESTREL=${KESTREL:-build/kestrel}
DATA=/usr/share/datasets/fashion-mnist
PRE=models/rgb224.preprocess.json
OUT=${OUT:-build/bench}
mkdir -p "$OUT"
name=$(basename "$MODEL" .onnx)
method_flag=()
[ -n "$METHOD" ] && method_flag=(--calibration-method "$METHOD")
tag=guard${BUDGET}${METHOD:+.$METHOD}
"$KESTREL" convert --model "$MODEL" --output "$OUT/$name.fp32.kestrel" --quiet
echo "== convert $name to INT8 with --max-accuracy-drop $BUDGET"
start=$(date +%s)
"$KESTREL" convert --model "$MODEL" --output "$OUT/$name.int8.$tag.kestrel" --precision int8 "${method_flag[@]}" \
  --calibration-data $DATA/train-images-idx3-ubyte.gz --calibration-count 512 --preprocess $PRE \
  --calibration-cache "$OUT/$name.int8.b1.calib" --error-report 0 --threads "$THREADS" \
  --max-accuracy-drop "$BUDGET" --validation-data $DATA/train-images-idx3-ubyte.gz \
  --validation-labels $DATA/train-labels-idx1-ubyte.gz --validation-offset 50000 --validation-count 1000
echo "convert: $(( $(date +%s) - start )) s"
echo
echo "== kestrel report on the 10000 test images"
start=$(date +%s)
"$KESTREL" report --fp32 "$OUT/$name.fp32.kestrel" --int8 "$OUT/$name.int8.$tag.kestrel" --preprocess $PRE \
  --dataset $DATA/t10k-images-idx3-ubyte.gz --labels $DATA/t10k-labels-idx1-ubyte.gz \
  --class-names models/fmnist_classes.txt --threads "$THREADS" --output "$OUT/$name.$tag.report.html"
echo "report: $(( $(date +%s) - start )) s"
