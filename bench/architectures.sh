#!/usr/bin/env bash
# FP32 and INT8 across architectures, batch 1: Kestrel, ONNX Runtime and
# OpenVINO side by side, alternating in one run, on torchvision models
# (random weights; speed only, accuracy is measured on the trained models).
#
#   bash bench/architectures.sh [THREADS] [ROUNDS] [ITERATIONS] [MODEL...]
#
# Defaults: 2 threads, 5 rounds, 100 iterations, efficientnet_b0 and
# mobilenet_v3_large. Per model:
#   1. scripts/check_torchvision.py --calibrate-bn exports MODEL.onnx (opset
#      13) into build/bench_architectures;
#   2. 32 random normal images (seed 1) calibrate both INT8 forms: Kestrel's
#      (kestrel convert --precision int8) and ONNX Runtime's quantize_static
#      QDQ model (bench/quantize_ort.py: per-channel, u8 activations, its
#      fastest form here), which OpenVINO also runs as INT8;
#   3. each round runs kestrel fp32, kestrel int8, onnxruntime fp32 and int8,
#      openvino fp32 and int8 (bench/peer_bench.py), and the table gives the
#      medians over rounds of each run's median latency, with ratios;
#   4. Kestrel's conversion counts (layout reorders, QuantizeLinear nodes)
#      and its INT8 time per op type (bench --per-layer shares).
# A runtime that fails on a model (a crash, an error) gets "failed" in its
# column. Needs build/kestrel (scripts/setup.sh; KESTREL=path overrides);
# bench/peers.sh installs the peers from PyPI into build/peers once.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
rounds=${2:-5}
iterations=${3:-100}
shift 3 || shift $#
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(efficientnet_b0 mobilenet_v3_large)

kestrel=${KESTREL:-build/kestrel}
source bench/peers.sh
peers=$("$PEER_PYTHON" -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in ("onnxruntime", "openvino")))')
dir=build/bench_architectures
mkdir -p "$dir"
family=$(lscpu | sed -n 's/^CPU family: *//p')
echo "kestrel: $kestrel; peers: $peers; CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $family), $threads thread(s)"
# Exports every model; one that Kestrel cannot run is reported below and skipped.
/usr/bin/python3 scripts/check_torchvision.py --calibrate-bn --out-dir "$dir" --models "${models[@]}" >"$dir/export.log" || true
/usr/bin/python3 -c "
import numpy as np
np.save('$dir/calib.npy', np.random.default_rng(1).standard_normal((32, 3, 224, 224)).astype(np.float32))"

median() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"])'; }
# The median latency of one timed run, or nan when the runtime fails.
kbench() {
  local out
  out=$("$kestrel" bench --model "$1" --threads "$threads" --iterations "$iterations" --json 2>/dev/null) &&
    echo "$out" | median || echo nan
}
peer() {
  local out
  out=$("$PEER_PYTHON" bench/peer_bench.py --runtime "$1" "$2" 1 "$threads" "$iterations" 10 2>/dev/null) &&
    echo "$out" | median || echo nan
}

summary=()
for m in "${models[@]}"; do
  onnx=$dir/$m.onnx
  if ! fp32_log=$("$kestrel" convert --model "$onnx" --output "$dir/$m.fp32.kestrel" --input-shape input:1,3,224,224 2>&1) ||
    ! int8_log=$("$kestrel" convert --model "$onnx" --output "$dir/$m.int8.kestrel" --input-shape input:1,3,224,224 \
      --precision int8 --calibration-data "$dir/calib.npy" --calibration-count 32 --error-report 0 2>&1); then
    echo "$m: skipped, kestrel convert failed: $(echo "${int8_log:-$fp32_log}" | tail -1)"
    continue
  fi
  "$PEER_PYTHON" bench/quantize_ort.py "$onnx" "$dir/calib.npy" "$dir/$m.ort_qdq.onnx" >"$dir/$m.quantize_ort.log" 2>&1
  echo "$m fp32: ${fp32_log##*: }"
  echo "$m int8: $(echo "$int8_log" | grep -o 'quantized [0-9]* convs, [0-9]* quantize and [0-9]* dequantize nodes'); ${int8_log##*: }"
  kf=() ki=() of=() oi=() vf=() vi=()
  for round in $(seq 1 "$rounds"); do
    kf+=("$(kbench "$dir/$m.fp32.kestrel")") ki+=("$(kbench "$dir/$m.int8.kestrel")")
    of+=("$(peer onnxruntime "$onnx")") oi+=("$(peer onnxruntime "$dir/$m.ort_qdq.onnx")")
    vf+=("$(peer openvino "$onnx")") vi+=("$(peer openvino "$dir/$m.ort_qdq.onnx")")
    echo "  round $round: kestrel ${kf[-1]} / ${ki[-1]}, onnxruntime ${of[-1]} / ${oi[-1]}, openvino ${vf[-1]} / ${vi[-1]} ms (fp32 / int8)"
  done
  summary+=("$m ${kf[*]}|${ki[*]}|${of[*]}|${oi[*]}|${vf[*]}|${vi[*]}")
  "$kestrel" bench --model "$dir/$m.int8.kestrel" --threads "$threads" --iterations 30 --per-layer --json >"$dir/$m.int8.layers.json"
done

/usr/bin/python3 - "$dir" "$threads" "${summary[@]}" <<'PY'
import collections, json, math, statistics, sys
d, threads = sys.argv[1], sys.argv[2]
print(f"\nbatch 1, {threads} thread(s), medians of per-round medians (ms)")
print("| model | Kestrel FP32 | Kestrel INT8 | ORT FP32 | ORT INT8 | OpenVINO FP32 | OpenVINO INT8 "
      "| Kestrel INT8/FP32 | Kestrel FP32 / ORT FP32 | ORT INT8 / Kestrel INT8 | OpenVINO INT8 / Kestrel INT8 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for entry in sys.argv[3:]:
    name, rest = entry.split(" ", 1)
    def med(part):
        values = [float(x) for x in part.split() if x != "nan"]
        return statistics.median(values) if values else math.nan
    kf, ki, of, oi, vf, vi = (med(part) for part in rest.split("|"))
    cell = lambda v: "failed" if math.isnan(v) else f"{v:.2f}"
    ratio = lambda a, b, unit="x": "-" if math.isnan(a) or math.isnan(b) else f"{a / b:.2f}{unit}"
    print(f"| {name} | {cell(kf)} | {cell(ki)} | {cell(of)} | {cell(oi)} | {cell(vf)} | {cell(vi)} | {ratio(kf, ki)} "
          f"| {ratio(kf, of, '')} | {ratio(oi, ki)} | {ratio(vi, ki)} |")
for entry in sys.argv[3:]:
    name = entry.split(" ", 1)[0]
    layers = json.load(open(f"{d}/{name}.int8.layers.json"))["layers"]
    by_op = collections.defaultdict(lambda: [0, 0.0])
    for layer in layers:
        key = f"{layer['op']} ({layer['kernel']})"
        by_op[key][0] += 1
        by_op[key][1] += layer["ms"]
    total = sum(t for _, t in by_op.values())
    print(f"\n{name} INT8, share of per-layer time by op and kernel:")
    for key, (count, t) in sorted(by_op.items(), key=lambda kv: -kv[1][1]):
        print(f"  {key:<60} {count:4d} nodes {100 * t / total:5.1f} %")
PY
