#!/usr/bin/env bash
# Kestrel INT8 vs Kestrel FP32 vs ONNX Runtime and OpenVINO running ONNX
# Runtime's INT8 (QDQ) model, batch 1, alternating in one run; then FP32 vs
# INT8 time per layer.
#
#   bash bench/compare_int8.sh FP32.onnx ORT_INT8.onnx [THREADS] [ROUNDS] [ITERATIONS]
#
# e.g. bash bench/compare_int8.sh ../shared/models/resnet50_fmnist.onnx ../shared/models/resnet50_ort_u8s8.onnx 2
# Kestrel's INT8 model is calibrated on Fashion-MNIST training images 0..511
# (CALIBRATION_METHOD, default the converter's). The peers run ORT_INT8.onnx
# through bench/peer_bench.py. Needs build/kestrel (scripts/setup.sh);
# bench/peers.sh installs ONNX Runtime and OpenVINO from PyPI into
# build/peers once.
set -euo pipefail
cd "$(dirname "$0")/.."
fp32_model=$1
ort_int8_model=$2
threads=${3:-2}
rounds=${4:-5}
iterations=${5:-50}
method=${CALIBRATION_METHOD:+--calibration-method $CALIBRATION_METHOD}
DATA=/usr/share/datasets/fashion-mnist

source bench/peers.sh
peers=$("$PEER_PYTHON" -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in ("onnxruntime", "openvino")))')
echo "peers: $peers"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
build/kestrel convert --model "$fp32_model" --output "$dir/fp32.kestrel" --quiet >/dev/null
# shellcheck disable=SC2086
build/kestrel convert --model "$fp32_model" --output "$dir/int8.kestrel" --precision int8 --quiet $method \
  --calibration-data $DATA/train-images-idx3-ubyte.gz --calibration-count 512 --preprocess models/rgb224.preprocess.json >/dev/null

median() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"])'; }
peer() { "$PEER_PYTHON" bench/peer_bench.py --runtime "$1" "$ort_int8_model" 1 "$threads" "$iterations" 5; }
fp32=() int8=() ort=() ov=()
for round in $(seq 1 "$rounds"); do
  f=$(build/kestrel bench --model "$dir/fp32.kestrel" --threads "$threads" --iterations "$iterations" --json | median)
  i=$(build/kestrel bench --model "$dir/int8.kestrel" --threads "$threads" --iterations "$iterations" --json | median)
  o=$(peer onnxruntime | median)
  v=$(peer openvino | median)
  fp32+=("$f") int8+=("$i") ort+=("$o") ov+=("$v")
  printf 'round %d: kestrel fp32 %.2f ms, kestrel int8 %.2f ms, onnxruntime int8 %.2f ms, openvino int8 %.2f ms\n' \
    "$round" "$f" "$i" "$o" "$v"
done
build/kestrel bench --model "$dir/fp32.kestrel" --threads "$threads" --iterations "$iterations" --per-layer --json >"$dir/fp32.json"
build/kestrel bench --model "$dir/int8.kestrel" --threads "$threads" --iterations "$iterations" --per-layer --json >"$dir/int8.json"
/usr/bin/python3 - "${fp32[*]}" "${int8[*]}" "${ort[*]}" "${ov[*]}" "$fp32_model" "$ort_int8_model" "$threads" "$dir" "$peers" <<'PY'
import json, statistics, sys
f, i, o, v = ([float(x) for x in arg.split()] for arg in sys.argv[1:5])
fm, im, om, vm = statistics.median(f), statistics.median(i), statistics.median(o), statistics.median(v)
print(f"\n{sys.argv[5]} batch 1, {sys.argv[7]} thread(s), median of {len(f)} alternating rounds ({sys.argv[9]}):")
print(f"  kestrel fp32 {fm:.2f} ms | kestrel int8 {im:.2f} ms | onnxruntime int8 {om:.2f} ms | "
      f"openvino int8 {vm:.2f} ms (both on {sys.argv[6].split('/')[-1]})")
print(f"  int8 speedup over kestrel fp32: {fm / im:.2f}x; over onnxruntime int8: {om / im:.2f}x; "
      f"over openvino int8: {vm / im:.2f}x")
d = sys.argv[8]
layers = {}
for kind in ("fp32", "int8"):
    for layer in json.load(open(f"{d}/{kind}.json"))["layers"]:
        layers.setdefault(layer["name"], {})[kind] = layer
print(f"\nper layer (ms per run):\n{'node':<48} {'op fp32 / int8':<36} {'fp32':>8} {'int8':>8} {'int8/fp32':>9}")
slower = []
for name, pair in layers.items():
    a, b = pair.get("fp32"), pair.get("int8")
    ta = a["ms"] if a else float("nan")
    tb = b["ms"] if b else float("nan")
    ops = f"{a['op'] if a else '-'} / {b['op'] if b else '-'}"
    ratio = tb / ta if a and b and ta > 0 else float("nan")
    print(f"{name[:48]:<48} {ops[:36]:<36} {ta:8.3f} {tb:8.3f} {ratio:9.2f}")
    if ratio > 1.0 and tb - ta > 0.01:
        slower.append(name)
print(f"\nint8 layers slower than fp32 (by more than 0.01 ms): {len(slower)}" + (f": {', '.join(slower)}" if slower else ""))
PY
