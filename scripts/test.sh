#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh), runs the test suite, then the install
# test (the examples built against an installed Kestrel).
#
# The suite needs nothing beyond the repository and Debian's packages: the
# ResNet-50 and MobileNetV2 it runs are made by scripts/make_test_models.py.
# The trained-model group (ctest -L trained_models: the trained models and
# ONNX Runtime's quantized forms in ../shared/models) runs when those files
# are beside the repository; with CI=true (or KESTREL_REQUIRE_TRAINED_MODELS=1)
# their absence is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

ctest --test-dir build --output-on-failure -j"$jobs" -LE trained_models

trained_dir=../shared/models
trained_files=(resnet50_fmnist.onnx mobilenet_v2_fmnist.onnx resnet50_ort_int8.onnx mobilenet_v2_ort_u8s8.onnx)
absent=()
for file in "${trained_files[@]}"; do [ -f "$trained_dir/$file" ] || absent+=("$trained_dir/$file"); done
if ((${#absent[@]} == 0)); then
  ctest --test-dir build --output-on-failure -j"$jobs" -L trained_models
  trained_line="test: trained-model group (ctest -L trained_models): ran, on $(cd "$trained_dir" && pwd)"
elif [ "${CI:-}" = true ] || [ "${KESTREL_REQUIRE_TRAINED_MODELS:-0}" = 1 ]; then
  echo "test: error: the trained-model group is required here, but ${absent[*]} is missing" >&2
  exit 1
else
  trained_line="test: trained-model group (ctest -L trained_models): not run, no $trained_dir beside the repository"
fi

bash scripts/install_test.sh
echo "$trained_line"
