#!/usr/bin/env bash
# Baked preprocessing against host preprocessing on the full Fashion-MNIST
# test set: the model converted with --bake-preprocess is fed the raw 28x28
# grey frames, the plain one the same images preprocessed by the host with
# the same spec; FP32 and INT8 (both calibrated on training images 0..511).
# Top-1 must be equal; any prediction that differs is counted.
#
#   bash bench/baked_accuracy.sh [MODEL.onnx] [SPEC.json] [COUNT]
#
# Defaults: the bundled CNN, its spec, all 10,000 test images. Needs build/kestrel.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/fmnist_cnn.onnx}
spec=${2:-models/fmnist_cnn.preprocess.json}
count=${3:-10000}
DATA=/usr/share/datasets/fashion-mnist
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
calibrate=(--precision int8 --calibration-data $DATA/train-images-idx3-ubyte.gz --calibration-count 512)
build/kestrel convert --model "$model" --output "$dir/fp32.kestrel" --quiet >/dev/null
build/kestrel convert --model "$model" --output "$dir/fp32_baked.kestrel" --bake-preprocess "$spec" --quiet >/dev/null
build/kestrel convert --model "$model" --output "$dir/int8.kestrel" --preprocess "$spec" "${calibrate[@]}" --quiet >/dev/null
build/kestrel convert --model "$model" --output "$dir/int8_baked.kestrel" --bake-preprocess "$spec" "${calibrate[@]}" \
  --quiet >/dev/null
eval_json() {
  build/kestrel eval --model "$1" --dataset $DATA/t10k-images-idx3-ubyte.gz --labels $DATA/t10k-labels-idx1-ubyte.gz \
    --limit "$count" --show "$count" "${@:2}" 2>/dev/null
}
printf '| precision | host preprocessing top-1 | baked (raw frames) top-1 | predictions that differ |\n|---|---|---|---|\n'
for precision in fp32 int8; do
  eval_json "$dir/$precision.kestrel" --preprocess "$spec" >"$dir/plain.txt"
  eval_json "$dir/${precision}_baked.kestrel" >"$dir/baked.txt"
  plain=$(grep -o 'top-1 [0-9.]* %' "$dir/plain.txt")
  baked=$(grep -o 'top-1 [0-9.]* %' "$dir/baked.txt")
  differ=$(diff <(grep '^image' "$dir/plain.txt") <(grep '^image' "$dir/baked.txt") | grep -c '^<' || true)
  printf '| %s | %s | %s | %s of %s |\n' "$precision" "${plain#top-1 }" "${baked#top-1 }" "$differ" "$count"
done
