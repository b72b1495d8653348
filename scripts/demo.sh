#!/usr/bin/env bash
# The main job: set up and build, convert a model into an optimized .kestrel
# file, classify real Fashion-MNIST test images with it (predictions against
# the labels, accuracy) and measure its speed.
#
#   bash scripts/demo.sh                                   # the bundled model (models/fmnist_cnn.onnx)
#   bash scripts/demo.sh MODEL.onnx PREPROCESS.json [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/fmnist_cnn.onnx}
preprocess=${2:-models/fmnist_cnn.preprocess.json}
limit=${3:-10000}
threads=$(nproc)
data=/usr/share/datasets/fashion-mnist
batch=32

bash scripts/setup.sh
shape=$(/usr/bin/python3 - "$preprocess" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
channels = 1 if spec.get("color", "grey") == "grey" else 3
size = (spec.get("resize") or {}).get("size", [28, 28])
print(f"{channels},{size[0]},{size[1]}")
PY
)
input=$(build/kestrel inspect --model "$model" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["inputs"][0]["name"])')
name=$(basename "${model%.onnx}")
mkdir -p build/models

echo
echo "== convert $model (FP32, batch $batch and batch 1) =="
build/kestrel convert --model "$model" --output "build/models/$name.b$batch.kestrel" --input-shape "$input:$batch,$shape"
build/kestrel convert --model "$model" --output "build/models/$name.b1.kestrel" --input-shape "$input:1,$shape"

echo
echo "== classify the first $limit Fashion-MNIST test images =="
build/kestrel eval --model "build/models/$name.b$batch.kestrel" --preprocess "$preprocess" --threads "$threads" \
  --dataset "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
  --class-names models/fmnist_classes.txt --limit "$limit" --show 10

echo
echo "== speed, batch 1, $threads thread(s) =="
build/kestrel bench --model "build/models/$name.b1.kestrel" --threads "$threads" --iterations 100
