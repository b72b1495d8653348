#!/usr/bin/env bash
# Installs every Debian package Kestrel's build, tests, demo and benchmarks
# need on a minimal Debian 12 machine, checks that each one is really there,
# then builds Kestrel in Release mode into ./build. Safe to run again.
#
#   bash scripts/setup.sh            # install what is missing, build
#   bash scripts/setup.sh --check    # only report missing packages (exit 1 if any)
set -euo pipefail
cd "$(dirname "$0")/.."

# package -> what needs it. Installed with --no-install-recommends, so a
# package that another one only recommends must be listed here itself.
declare -A needed_by=(
  [build-essential]=build [cmake]=build [pkg-config]="build, install test"
  [libonnx-dev]=build [libprotobuf-dev]=build [protobuf-compiler]=build [zlib1g-dev]=build
  [libdnnl-dev]=build [ocl-icd-opencl-dev]="build (oneDNN's CMake config requires OpenCL)"
  [libflatbuffers-dev]=build [flatbuffers-compiler]=build
  [nlohmann-json3-dev]=build [libcli11-dev]=build [libstb-dev]=build [libcpp-httplib-dev]="build (kestrel serve)" [pkg-config]="build (finds cpp-httplib)"
  [libgrpc++-dev]="build (kestrel serve --grpc-port)" [protobuf-compiler-grpc]="build (grpc_cpp_plugin, kestrel serve --grpc-port)"
  [python3]="demo, tests" [python3-dev]="Python module" [pybind11-dev]="Python module" [python3-numpy]="Python module, tests"
  [libgtest-dev]=tests [libgmock-dev]=tests [curl]="tests (kestrel serve)" [python3-requests]="tests, benchmarks (kestrel serve)"
  [python3-grpcio]="tests (kestrel serve --grpc-port)" [python3-protobuf]="tests (kestrel serve --grpc-port)"
  [libonnx-testdata]="ONNX conformance tests" [dataset-fashion-mnist]="demo, tests"
  [python3-torch]="tests (make_test_models.py)" [python3-torchvision]="tests (make_test_models.py)"
  [python3-onnx]="tests, benchmarks" [python3-venv]="benchmarks (peers from PyPI)"
)

missing_packages() {
  local package
  for package in "${!needed_by[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || echo "$package"
  done | sort
}

mapfile -t missing < <(missing_packages)
if [ "${1:-}" = --check ]; then
  for package in "${missing[@]}"; do echo "setup: missing $package (needed for ${needed_by[$package]})"; done
  ((${#missing[@]} == 0)) && echo "setup: all ${#needed_by[@]} packages are installed"
  exit $((${#missing[@]} > 0))
fi
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  mapfile -t still_missing < <(missing_packages)
  if ((${#still_missing[@]})); then
    for package in "${still_missing[@]}"; do
      echo "setup: error: $package is still not installed after apt-get install (needed for ${needed_by[$package]})" >&2
    done
    exit 1
  fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/kestrel"
