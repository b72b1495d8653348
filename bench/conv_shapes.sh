#!/usr/bin/env bash
# Every unique conv shape of ResNet-50, MobileNetV2 and the torchvision check
# set, timed on its own in FP32 and INT8 with the kernel each picks and the
# percent of this machine's peak (bench/conv_shapes.cc says how).
#
#   bash bench/conv_shapes.sh [THREADS] [TORCHVISION_MODEL...]
#
# ResNet-50 and MobileNetV2 come from ../shared/models (the trained
# Fashion-MNIST models; skipped with a note when absent); the torchvision
# models (default: efficientnet_b0 mobilenet_v3_large resnet18 googlenet
# squeezenet1_1 mnasnet1_0 regnet_y_400mf) are exported by
# scripts/check_torchvision.py into build/bench_conv_shapes. All are
# converted to FP32 .kestrel files for batch 1, 3x224x224.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
shift || true
torchvision=("$@")
[ ${#torchvision[@]} -gt 0 ] ||
  torchvision=(efficientnet_b0 mobilenet_v3_large resnet18 googlenet squeezenet1_1 mnasnet1_0 regnet_y_400mf)
dir=build/bench_conv_shapes
mkdir -p "$dir"
cmake --build build --target conv_shapes >/dev/null
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'))"
files=()
for m in resnet50 mobilenet_v2; do
  if [ -f "../shared/models/${m}_fmnist.onnx" ]; then
    build/kestrel convert --model "../shared/models/${m}_fmnist.onnx" --output "$dir/$m.kestrel" --quiet >/dev/null
    files+=("$dir/$m.kestrel")
  else
    echo "note: ../shared/models/${m}_fmnist.onnx not found; $m skipped"
  fi
done
/usr/bin/python3 scripts/check_torchvision.py --calibrate-bn --out-dir "$dir" --models "${torchvision[@]}" >"$dir/export.log" || true
for m in "${torchvision[@]}"; do
  if build/kestrel convert --model "$dir/$m.onnx" --output "$dir/$m.kestrel" --input-shape input:1,3,224,224 \
    --quiet >/dev/null 2>"$dir/$m.convert.log"; then
    files+=("$dir/$m.kestrel")
  else
    echo "note: $m skipped: $(tail -1 "$dir/$m.convert.log")"
  fi
done
build/conv_shapes --threads "$threads" "${files[@]}"
