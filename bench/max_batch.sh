#!/usr/bin/env bash
# A variable-batch model (convert --max-batch N) against models converted for
# one batch: batch-1 latency side by side in alternating rounds (the cost of
# one file for every batch), then the variable-batch model's throughput at
# every power of two up to N. FP32 and INT8.
#
#   bash bench/max_batch.sh MODEL.onnx [N] [THREADS] [ROUNDS] [ITERATIONS]
#
# e.g. bash bench/max_batch.sh ../shared/models/resnet50_fmnist.onnx 8 2
# INT8 calibrates on Fashion-MNIST training images 0..127 with the 224x224 RGB
# preprocessing (models/rgb224.preprocess.json). Needs build/kestrel.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
max_batch=${2:-8}
threads=${3:-2}
rounds=${4:-5}
iterations=${5:-50}
DATA=/usr/share/datasets/fashion-mnist
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
int8=(--precision int8 --calibration-data $DATA/train-images-idx3-ubyte.gz --calibration-count 128
  --preprocess models/rgb224.preprocess.json)
for precision in fp32 int8; do
  flags=()
  [ "$precision" = int8 ] && flags=("${int8[@]}")
  build/kestrel convert --model "$model" --output "$dir/$precision.b1.kestrel" --quiet "${flags[@]}" >/dev/null
  build/kestrel convert --model "$model" --output "$dir/$precision.bN.kestrel" --max-batch "$max_batch" --quiet \
    "${flags[@]}" >/dev/null
done

median() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"])'; }
stats() { /usr/bin/python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%.3f" % statistics.median(v))' "$@"; }
bench() { build/kestrel bench --model "$1" --batch "$2" --threads "$threads" --iterations "$3" --json 2>/dev/null | median; }

echo "model: $model, max batch $max_batch, $threads threads, $rounds rounds of $iterations iterations, $(lscpu | sed -n 's/^Model name: *//p')"
printf '\n| precision | batch-1 model, batch 1 | --max-batch %s model, batch 1 | ratio |\n|---|---|---|---|\n' "$max_batch"
for precision in fp32 int8; do
  one=() var=()
  for _ in $(seq 1 "$rounds"); do
    one+=("$(bench "$dir/$precision.b1.kestrel" 1 "$iterations")")
    var+=("$(bench "$dir/$precision.bN.kestrel" 1 "$iterations")")
  done
  a=$(stats "${one[@]}") b=$(stats "${var[@]}")
  printf '| %s | %s ms | %s ms | %s |\n' "$precision" "$a" "$b" "$(/usr/bin/python3 -c "print('%.3f' % ($b / $a))")"
done

printf '\n| precision | batch | median latency | images/s |\n|---|---|---|---|\n'
for precision in fp32 int8; do
  batch=1
  while [ "$batch" -le "$max_batch" ]; do
    ms=$(bench "$dir/$precision.bN.kestrel" "$batch" $((iterations / batch > 5 ? iterations / batch : 5)))
    printf '| %s | %d | %.3f ms | %s |\n' "$precision" "$batch" "$ms" "$(/usr/bin/python3 -c "print('%.1f' % ($batch * 1000 / $ms))")"
    batch=$((batch * 2))
  done
done
