#!/usr/bin/env bash
# Top-1 of the peer post-training quantizers (ONNX Runtime quantize_static with
# MinMax / Percentile / Entropy, NNCF quantize and quantize_with_accuracy_control)
# beside the FP32 model, on the Fashion-MNIST test set; see bench/ptq_peers.py.
#
#   bash bench/ptq_peers.sh [MODEL.onnx] [LIMIT]
#
# MODEL defaults to ../shared/models/resnet50_fmnist.onnx, LIMIT (test images
# evaluated) to 10000. The INT8 models are written to build/ptq_peers/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-$root/../shared/models/resnet50_fmnist.onnx}"
limit="${2:-10000}"
if [ ! -f "$model" ]; then
  echo "ptq_peers.sh: error: model file $model not found" >&2
  exit 1
fi
source "$root/bench/peers.sh"
exec "$PEER_PYTHON" "$root/bench/ptq_peers.py" "$model" --limit "$limit" --out-dir "$root/build/ptq_peers"
