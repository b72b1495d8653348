#!/usr/bin/env bash
# INT8 conversion across architectures: converts the torchvision models that
# scripts/check_torchvision.py exported (random weights, --calibrate-bn) to
# INT8, calibrated on 32 random normal inputs, runs them on the same input
# as PyTorch, and prints the cosine similarity of the logits with PyTorch's.
# Random networks on random inputs: the cosine says whether conversion and
# int8 execution are sound, not what accuracy a trained model keeps.
#
#   /usr/bin/python3 scripts/check_torchvision.py --calibrate-bn --models resnet18 squeezenet1_1 ...
#   bash scripts/check_torchvision_int8.sh [DIR] [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/.."
kestrel=$PWD/build/kestrel
dir=${1:-/tmp/kestrel_torchvision}
shift || true
cd "$dir"
models=("$@")
[ ${#models[@]} -gt 0 ] || mapfile -t models < <(ls ./*.onnx | xargs -n1 basename | sed 's/\.onnx$//' | grep -v inception)
/usr/bin/python3 -c "
import numpy as np
np.save('calib.npy', np.random.default_rng(1).standard_normal((32, 3, 224, 224)).astype(np.float32))"
failed=0
for m in "${models[@]}"; do
  if ! out=$("$kestrel" convert --model "$m.onnx" --output "$m.int8.kestrel" --input-shape input:2,3,224,224 \
      --precision int8 --calibration-data calib.npy --calibration-count 32 --error-report 0 2>&1); then
    echo "$m: convert failed: $(echo "$out" | tail -1)"; failed=1; continue
  fi
  if ! "$kestrel" run --model "$m.int8.kestrel" --input "input=$m/input.npy" --output-dir "$m/int8" >/dev/null; then
    echo "$m: run failed"; failed=1; continue
  fi
  /usr/bin/python3 - "$m" "$(echo "$out" | grep -o 'quantized [0-9]* convs, [0-9]* quantize and [0-9]* dequantize nodes')" <<'PY'
import sys
import numpy as np
m, summary = sys.argv[1], sys.argv[2]
t = np.load(f"{m}/torch_logits.npy")
k = np.load(f"{m}/int8/logits.npy")
print(f"{m:20s} {summary:55s} cosine vs torch {(t * k).sum() / np.sqrt((t * t).sum() * (k * k).sum()):.4f}")
PY
done
exit $failed
