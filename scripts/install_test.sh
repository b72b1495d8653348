#!/usr/bin/env bash
# Installs Kestrel (cmake --install build) into a temporary prefix, then
# builds the examples against the installed package only — C through
# pkg-config, C++ through find_package(Kestrel), Python through the installed
# module — and has all three classify the same 8 Fashion-MNIST test images
# with the bundled model converted to INT8, checking that they print the
# same top-1 classes, which must also be the CLI's.
set -euo pipefail
cd "$(dirname "$0")/.."
source_model=models/fmnist_cnn.onnx
pre=models/fmnist_cnn.preprocess.json
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
work=$prefix/work
mkdir -p "$work"
cmake --install build --prefix "$prefix" >/dev/null
/usr/bin/python3 scripts/export_images.py /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz 8 "$work/images"
model=$work/fmnist_cnn_int8.kestrel
"$prefix/bin/kestrel" convert --model "$source_model" --output "$model" --input-shape input:8,1,28,28 --precision int8 \
  --calibration-data /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --calibration-count 64 \
  --preprocess "$pre" --quiet >/dev/null

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
libdir=$(pkg-config --variable=libdir kestrel)
cc -std=c99 -Wall -Werror examples/c/classify.c $(pkg-config --cflags --libs kestrel) -Wl,-rpath,"$libdir" -o "$work/classify_c"
cmake -S examples/cpp -B "$work/cpp" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cpp" >/dev/null

classes() { sed 's#.*/##' | sort; }  # "image00003.png: 1", by file name
"$work/classify_c" "$model" "$pre" "$work"/images/*.png | classes >"$work/c.txt"
"$work/cpp/classify" "$model" "$pre" "$work/images" | classes >"$work/cpp.txt"
PYTHONPATH=$(echo "$prefix"/lib/python3/dist-packages) /usr/bin/python3 examples/python/classify.py "$model" "$pre" "$work/images" \
  | classes >"$work/python.txt"
"$prefix/bin/kestrel" eval --model "$model" --dataset /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
  --labels /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz --preprocess "$pre" --limit 8 --show 8 |
  sed -n 's/^image *\([0-9]*\): predicted \([0-9]*\).*/image0000\1.png: \2/p' | sort >"$work/cli.txt"
cat "$work/c.txt"
for other in cpp python cli; do
  diff -u "$work/c.txt" "$work/$other.txt" >&2 || { echo "install_test: C and $other disagree" >&2; exit 1; }
done
[ "$(wc -l <"$work/c.txt")" -eq 8 ] || { echo "install_test: expected 8 classified images" >&2; exit 1; }
echo "install_test: the C, C++ and Python examples and the CLI print the same 8 classes"
