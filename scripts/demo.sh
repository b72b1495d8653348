#!/usr/bin/env bash
# The main job: set up and build, convert a model into optimized FP32 and
# INT8 .kestrel files (INT8 calibrated on Fashion-MNIST training images
# 0..511), classify real Fashion-MNIST test images with both, measure both,
# and print the FP32 vs INT8 speed/accuracy table.
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
rounds=3

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
echo "== classify the first $limit Fashion-MNIST test images =="
evaluate() {
  build/kestrel eval --model "$out/$name.$1.kestrel" --preprocess "$preprocess" --threads "$threads" \
    --dataset "$data/t10k-images-idx3-ubyte.gz" --labels "$data/t10k-labels-idx1-ubyte.gz" \
    --class-names models/fmnist_classes.txt --limit "$2" "${@:3}"
}
evaluate int8 5 --show 5
fp32_eval=$(evaluate fp32 "$limit" --json)
int8_eval=$(evaluate int8 "$limit" --json)

echo
echo "== speed, batch 1, $threads thread(s), $rounds alternating rounds =="
fp32_bench=() int8_bench=()
for round in $(seq 1 $rounds); do
  fp32_bench+=("$(build/kestrel bench --model "$out/$name.fp32.kestrel" --threads "$threads" --iterations 100 --json)")
  int8_bench+=("$(build/kestrel bench --model "$out/$name.int8.kestrel" --threads "$threads" --iterations 100 --json)")
done

echo
/usr/bin/python3 - "$fp32_eval" "$int8_eval" "$(printf '%s\n' "${fp32_bench[@]}")" "$(printf '%s\n' "${int8_bench[@]}")" "$name" <<'PY'
import json, statistics, sys
fp32_eval, int8_eval = json.loads(sys.argv[1]), json.loads(sys.argv[2])
bench = [[json.loads(line) for line in arg.splitlines() if line.strip()] for arg in sys.argv[3:5]]
latency = [statistics.median(b["latency_ms"]["median"] for b in runs) for runs in bench]
load = [statistics.median(b["load_ms"] for b in runs) for runs in bench]
print(f"{sys.argv[5]}: FP32 vs INT8 ({fp32_eval['images']} test images; latency = median of the rounds' medians)")
print()
print("| precision | top-1 | top-5 | latency, batch 1 | images/s, batch 1 | load | speedup |")
print("|---|---|---|---|---|---|---|")
for label, ev, lat, ld in (("FP32", fp32_eval, latency[0], load[0]), ("INT8", int8_eval, latency[1], load[1])):
    print(f"| {label} | {100 * ev['top1']:.2f} % | {100 * ev['top5']:.2f} % | {lat:.3f} ms | {1000 / lat:.0f} | "
          f"{ld:.1f} ms | {latency[0] / lat:.2f}x |")
print()
print(f"INT8: {latency[0] / latency[1]:.2f}x faster, top-1 {100 * (int8_eval['top1'] - fp32_eval['top1']):+.2f} points")
PY
