#!/usr/bin/env bash
# The main job: set up and build, convert a model into optimized FP32 and
# INT8 .kestrel files (INT8 calibrated on Fashion-MNIST training images
# 0..511), then `kestrel report`: classify real Fashion-MNIST test images
# with both, time both in alternating rounds, print the FP32 vs INT8
# speed/accuracy table and write it with its plots as an HTML page
# (build/models/NAME.report.html).
#
#   bash scripts/demo.sh                                   # the bundled model (models/fmnist_cnn.onnx)
#   bash scripts/demo.sh MODEL.onnx PREPROCESS.json [LIMIT] [CALIBRATION_COUNT]
#   e.g. bash scripts/demo.sh ../shared/models/resnet50_fmnist.onnx models/rgb224.preprocess.json
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/fmnist_cnn.onnx}
preprocess=${2:-models/fmnist_cnn.preprocess.json}
limit=${3:-10000}
calibration_count=${4:-512}
threads=$(nproc)
data=/usr/share/datasets/fashion-mnist

bash scripts/setup.sh
name=$(basename "${model%.onnx}")
out=build/models
mkdir -p "$out"

echo
echo "== convert $model: FP32, and INT8 calibrated on $calibration_count training images =="
build/kestrel convert --model "$model" --output "$out/$name.fp32.kestrel"
build/kestrel convert --model "$model" --output "$out/$name.int8.kestrel" --precision int8 \
  --calibration-data "$data/train-images-idx3-ubyte.gz" --calibration-count "$calibration_count" \
  --preprocess "$preprocess"

echo
echo "== classify the first 5 Fashion-MNIST test images with the INT8 model =="
build/kestrel eval --model "$out/$name.int8.kestrel" --preprocess "$preprocess" --threads "$threads" \
  --dataset "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --class-names models/fmnist_classes.txt --limit 5 --show 5

echo
echo "== report: FP32 vs INT8 on the first $limit test images, batch 1, $threads thread(s) =="
build/kestrel report --fp32 "$out/$name.fp32.kestrel" --int8 "$out/$name.int8.kestrel" --preprocess "$preprocess" \
  --dataset "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --class-names models/fmnist_classes.txt --limit "$limit" --threads "$threads" --output "$out/$name.report.html"
echo "Open $out/$name.report.html in a browser (one self-contained file: the table and the plots)."
