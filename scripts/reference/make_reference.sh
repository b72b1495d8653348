#!/usr/bin/env bash
# Regenerate tests/data/reference/*.logits.npy: ONNX Runtime (PyPI
# onnxruntime, CPU, 1 thread, graph optimisations disabled) logits of the
# first 8 Fashion-MNIST t10k test images for the three reference models.
# (The committed files came from ONNX Runtime 1.30.0.)
#
# Usage (from anywhere):  scripts/reference/make_reference.sh [OUT_DIR]
#
# OUT_DIR defaults to tests/data/reference; give another directory to
# regenerate the logits elsewhere without touching the committed ones.
#
# Needs: /usr/bin/python3 with torch + onnx + numpy (inputs and checks), and
# the peers' virtual environment that bench/peers.sh makes in build/peers
# (onnxruntime + numpy from PyPI, installed on first use) for run_ort.py.
# The shared models are looked up in $KESTREL_SHARED_MODELS, default
# <repo>/../shared/models.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
SHARED="${KESTREL_SHARED_MODELS:-$ROOT/../shared/models}"
OUT="${1:-$ROOT/tests/data/reference}"

# shellcheck source=SCRIPTDIR/../../bench/peers.sh
source "$ROOT/bench/peers.sh"
for f in "$ROOT/models/fmnist_cnn.onnx" "$SHARED/resnet50_fmnist.onnx" "$SHARED/mobilenet_v2_fmnist.onnx"; do
  [ -f "$f" ] || { echo "make_reference: missing $f" >&2; exit 1; }
done

# Scratch inputs live in a temp dir and are never written into the repo.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/kestrel-ref.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

"$PY" "$HERE/make_inputs.py" "$TMP" --count 8

mkdir -p "$OUT"
# name  model  recipe
MODELS=(
  "fmnist_cnn          $ROOT/models/fmnist_cnn.onnx          cnn28"
  "resnet50_fmnist     $SHARED/resnet50_fmnist.onnx          rgb224"
  "mobilenet_v2_fmnist $SHARED/mobilenet_v2_fmnist.onnx      rgb224"
)
CHECK_ARGS=()
for line in "${MODELS[@]}"; do
  read -r name model recipe <<<"$line"
  "$PEER_PYTHON" "$HERE/run_ort.py" "$model" "$TMP/$recipe.bin" "$TMP/$recipe.json" "$OUT/$name.logits.npy"
  CHECK_ARGS+=("$name:$model:$recipe:$OUT/$name.logits.npy")
done

# Argmax vs labels for every model; ORT vs torch max abs diff (must be
# <= 1e-4 for fmnist_cnn).
"$PY" "$HERE/check_reference.py" "$TMP" "${CHECK_ARGS[@]}" --strict fmnist_cnn=1e-4
