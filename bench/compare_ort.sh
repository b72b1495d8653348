#!/usr/bin/env bash
# Kestrel vs ONNX Runtime vs OpenVINO, same model, batch and threads,
# alternating in one run. Prints each round and the ratios of the medians.
#
#   bash bench/compare_ort.sh MODEL.onnx [BATCH] [THREADS] [ROUNDS] [ITERATIONS]
#
# Kestrel runs the model converted to .kestrel (FP32); the peers run the
# .onnx file through bench/peer_bench.py (FP32: OpenVINO with its precision
# hint set to f32). Needs build/kestrel (scripts/setup.sh); bench/peers.sh
# installs ONNX Runtime and OpenVINO from PyPI into build/peers once.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
batch=${2:-1}
threads=${3:-1}
rounds=${4:-5}
iterations=${5:-30}

source bench/peers.sh
peers=$("$PEER_PYTHON" -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in ("onnxruntime", "openvino")))')
echo "peers: $peers"
converted=$(mktemp --suffix=.kestrel)
trap 'rm -f "$converted"' EXIT
input=$(build/kestrel inspect --model "$model" --json | /usr/bin/python3 -c 'import json,sys; i=json.load(sys.stdin)["inputs"][0]; print(i["name"], ",".join(map(str, i["shape"][1:])))')
read -r name dims <<<"$input"
build/kestrel convert --model "$model" --output "$converted" --input-shape "$name:$batch,$dims" >/dev/null

median() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"])'; }
peer() { "$PEER_PYTHON" bench/peer_bench.py --runtime "$1" "$model" "$batch" "$threads" "$iterations" 5; }

kestrel_medians=()
ort_medians=()
ov_medians=()
for round in $(seq 1 "$rounds"); do
  km=$(build/kestrel bench --model "$converted" --batch "$batch" --threads "$threads" --iterations "$iterations" --json | median)
  om=$(peer onnxruntime | median)
  vm=$(peer openvino | median)
  kestrel_medians+=("$km")
  ort_medians+=("$om")
  ov_medians+=("$vm")
  printf 'round %d: kestrel %.2f ms, onnxruntime %.2f ms, openvino %.2f ms\n' "$round" "$km" "$om" "$vm"
done
/usr/bin/python3 - "${kestrel_medians[*]}" "${ort_medians[*]}" "${ov_medians[*]}" "$model" "$batch" "$threads" <<'PY'
import statistics, sys
k, o, v = ([float(x) for x in arg.split()] for arg in sys.argv[1:4])
km, om, vm = statistics.median(k), statistics.median(o), statistics.median(v)
print(f"{sys.argv[4]} batch {sys.argv[5]}, {sys.argv[6]} thread(s): kestrel {km:.2f} ms, onnxruntime {om:.2f} ms, "
      f"openvino {vm:.2f} ms, kestrel/onnxruntime = {km / om:.3f}, kestrel/openvino = {km / vm:.3f} "
      f"(median of {len(k)} alternating rounds)")
PY
