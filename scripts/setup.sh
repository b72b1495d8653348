#!/usr/bin/env bash
# Installs every Debian package Kestrel's build, tests and demo need, then
# builds Kestrel in Release mode into ./build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config python3 python3-dev python3-numpy pybind11-dev
  libonnx-dev libprotobuf-dev protobuf-compiler zlib1g-dev libdnnl-dev libflatbuffers-dev flatbuffers-compiler
  nlohmann-json3-dev libcli11-dev libstb-dev
  libgtest-dev libgmock-dev
  libonnx-testdata dataset-fashion-mnist
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/kestrel"
