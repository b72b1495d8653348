#!/usr/bin/env bash
# The main job: set up, build, then classify real Fashion-MNIST test images
# with a model and print its predictions against the labels.
#
#   bash scripts/demo.sh                       # the bundled model (models/fmnist_cnn.onnx)
#   bash scripts/demo.sh MODEL.onnx PREPROCESS.json [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/fmnist_cnn.onnx}
preprocess=${2:-models/fmnist_cnn.preprocess.json}
limit=${3:-10000}
data=/usr/share/datasets/fashion-mnist

bash scripts/setup.sh
echo
echo "== $model on the first $limit Fashion-MNIST test images =="
build/kestrel eval --model "$model" --preprocess "$preprocess" \
  --dataset "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --class-names models/fmnist_classes.txt --limit "$limit" --show 10
