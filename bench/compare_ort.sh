#!/usr/bin/env bash
# Kestrel vs ONNX Runtime 1.30, same model, batch and threads, alternating
# in one run. Prints each round and the ratio of the medians.
#
#   bash bench/compare_ort.sh MODEL.onnx [BATCH] [THREADS] [ROUNDS] [ITERATIONS]
#
# Kestrel runs the model converted to .kestrel (FP32). Needs build/kestrel
# (scripts/setup.sh) and Node.js; installs onnxruntime-node into bench/ once.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
batch=${2:-1}
threads=${3:-1}
rounds=${4:-5}
iterations=${5:-30}

[ -d bench/node_modules/onnxruntime-node ] || (cd bench && npm install --no-audit --no-fund --loglevel=error >/dev/null)
converted=$(mktemp --suffix=.kestrel)
trap 'rm -f "$converted"' EXIT
input=$(build/kestrel inspect --model "$model" --json | /usr/bin/python3 -c 'import json,sys; i=json.load(sys.stdin)["inputs"][0]; print(i["name"], ",".join(map(str, i["shape"][1:])))')
read -r name dims <<<"$input"
build/kestrel convert --model "$model" --output "$converted" --input-shape "$name:$batch,$dims" >/dev/null

kestrel_medians=()
ort_medians=()
for round in $(seq 1 "$rounds"); do
  k=$(build/kestrel bench --model "$converted" --batch "$batch" --threads "$threads" --iterations "$iterations" --json)
  o=$(node bench/ort_bench.mjs "$model" "$batch" "$threads" "$iterations" 5)
  km=$(echo "$k" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"])')
  om=$(echo "$o" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["median"])')
  kestrel_medians+=("$km")
  ort_medians+=("$om")
  printf 'round %d: kestrel %.2f ms, onnxruntime %.2f ms\n' "$round" "$km" "$om"
done
/usr/bin/python3 - "${kestrel_medians[*]}" "${ort_medians[*]}" "$model" "$batch" "$threads" <<'PY'
import statistics, sys
k = [float(x) for x in sys.argv[1].split()]
o = [float(x) for x in sys.argv[2].split()]
km, om = statistics.median(k), statistics.median(o)
print(f"{sys.argv[3]} batch {sys.argv[4]}, {sys.argv[5]} thread(s): kestrel {km:.2f} ms, onnxruntime {om:.2f} ms, "
      f"kestrel/onnxruntime = {km / om:.3f} (median of {len(k)} alternating rounds)")
PY
