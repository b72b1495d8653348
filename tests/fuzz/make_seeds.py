"""Makes the fuzzers' seed corpora from the repository's own files (nothing
binary is committed): scripts/fuzz.sh runs

    /usr/bin/python3 tests/fuzz/make_seeds.py REPO KESTREL_CLI OUT_DIR

and OUT_DIR/<target>/ then holds the seeds of each fuzz target:

  onnx_import_fuzzer      models/*.onnx and ONNX's node tests' model.onnx files
  model_file_fuzzer       .kestrel files KESTREL_CLI converts from models/*.onnx
                          (FP32 and INT8) and from a few node tests
  image_fuzzer            Fashion-MNIST test images (/usr/share/datasets/fashion-mnist) as grey
                          PNG (scripts/export_images.py),
                          RGB PNG and grey/RGB baseline/progressive JPEG (Pillow)
  idx_fuzzer              the first items of the Fashion-MNIST IDX files, plain and gzipped
  npy_fuzzer              tests/data/**/*.npy plus small arrays of every dtype, versions 1-3
  preprocess_json_fuzzer  models/*.preprocess.json, tests/data/preprocess/*.json,
                          docs/preprocessing.md's JSON examples
  quant_config_fuzzer     docs/quantization.md's JSON examples and the JSON
                          raw strings of tests/unit/quant_config_test.cc
"""
import glob
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys

NODE_TESTS = "/usr/share/libonnx-testdata/data/node"
DATASET = "/usr/share/datasets/fashion-mnist"  # Debian dataset-fashion-mnist
# Node tests converted to .kestrel seeds: one per kind of kernel the runtime has.
KESTREL_NODE_SEEDS = [
    "test_conv_with_strides_padding", "test_basic_conv_with_padding", "test_maxpool_2d_pads",
    "test_averagepool_2d_pads", "test_gemm_default_matrix_bias", "test_matmul_2d",
    "test_add_bcast", "test_concat_2d_axis_1", "test_softmax_axis_1",
    "test_batchnorm_example", "test_transpose_all_permutations_1", "test_flatten_axis1", "test_sigmoid",
    "test_relu", "test_clip", "test_mul_bcast", "test_leakyrelu", "test_conv_with_autopad_same", "test_gemm_transposeB", "test_tanh",
    "test_hardswish", "test_averagepool_2d_default", "test_reduce_mean_default_axes_keepdims_example",
]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def onnx_seeds(repo, out):
    for path in glob.glob(os.path.join(repo, "models", "*.onnx")):
        shutil.copy(path, os.path.join(out, os.path.basename(path)))
    for path in sorted(glob.glob(os.path.join(NODE_TESTS, "*", "model.onnx"))):
        shutil.copy(path, os.path.join(out, os.path.basename(os.path.dirname(path)) + ".onnx"))


def kestrel_seeds(repo, cli, out, work):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", OMP_NUM_THREADS="1")
    jobs = []
    for path in glob.glob(os.path.join(repo, "models", "*.onnx")):
        name = os.path.splitext(os.path.basename(path))[0]
        jobs.append((name + ".fp32", ["--model", path]))
        preprocess = os.path.join(repo, "models", name + ".preprocess.json")
        if os.path.exists(preprocess):
            jobs.append((name + ".int8", ["--model", path, "--precision", "int8", "--calibration-data",
                                          os.path.join(DATASET, "t10k-images-idx3-ubyte.gz"),
                                          "--calibration-count", "16", "--preprocess", preprocess]))
    for test in KESTREL_NODE_SEEDS:
        model = os.path.join(NODE_TESTS, test, "model.onnx")
        if os.path.exists(model):
            jobs.append((test, ["--model", model]))
    made = 0
    for name, args in jobs:
        output = os.path.join(out, name + ".kestrel")
        result = subprocess.run([cli, "convert", *args, "--output", output], env=env, cwd=work,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode == 0 and os.path.exists(output):
            made += 1
        else:
            print(f"make_seeds: no .kestrel seed from {name}: {result.stderr.strip().splitlines()[-1:]}")
    return made


def idx_items(path, count):
    data = gzip.open(path, "rb").read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    item = 1
    for d in dims[1:]:
        item *= d
    header = data[:4] + count.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims[1:])
    start = 4 + 4 * rank
    return header + data[start:start + count * item]


def idx_seeds(repo, out):
    for path in glob.glob(os.path.join(DATASET, "*-ubyte.gz")):
        name = os.path.basename(path)[:-3]
        small = idx_items(path, 3)
        write(os.path.join(out, name), small)
        write(os.path.join(out, name + ".gz"), gzip.compress(small))


def image_seeds(repo, out, work):
    images = os.path.join(DATASET, "t10k-images-idx3-ubyte.gz")
    png_dir = os.path.join(work, "png")
    subprocess.run([sys.executable, os.path.join(repo, "scripts/export_images.py"), images, "6", png_dir],
                   check=True, stdout=subprocess.DEVNULL)
    pngs = sorted(glob.glob(os.path.join(png_dir, "*.png")))
    for path in pngs:
        shutil.copy(path, os.path.join(out, os.path.basename(path)))
    try:
        from PIL import Image
    except ImportError:
        print("make_seeds: no Pillow (python3-pil): PNG seeds only")
        return
    grey = Image.open(pngs[0])
    rgb = Image.merge("RGB", [grey, grey.transpose(Image.FLIP_LEFT_RIGHT), grey.transpose(Image.FLIP_TOP_BOTTOM)])
    rgb = rgb.resize((53, 37))
    variants = {
        "grey.jpg": (grey, dict(format="JPEG", quality=90)),
        "grey_progressive.jpg": (grey, dict(format="JPEG", quality=75, progressive=True)),
        "rgb.jpg": (rgb, dict(format="JPEG", quality=90)),
        "rgb_progressive_420.jpg": (rgb, dict(format="JPEG", quality=60, progressive=True, subsampling=2)),
        "rgb.png": (rgb, dict(format="PNG")),
        "rgba.png": (rgb.convert("RGBA"), dict(format="PNG")),
        "palette.png": (rgb.convert("P"), dict(format="PNG")),
        "grey_alpha.png": (grey.convert("LA"), dict(format="PNG")),
        "grey16.png": (grey.convert("I;16"), dict(format="PNG")),
        "interlaced.png": (rgb, dict(format="PNG", interlace=1)),
    }
    for name, (image, options) in variants.items():
        buffer = io.BytesIO()
        try:
            image.save(buffer, **options)
        except (OSError, ValueError) as error:
            print(f"make_seeds: no {name}: {error}")
            continue
        write(os.path.join(out, name), buffer.getvalue())


def npy_seeds(repo, out):
    for path in glob.glob(os.path.join(repo, "tests/data/**/*.npy"), recursive=True):
        if os.path.getsize(path) <= 1 << 20:
            shutil.copy(path, os.path.join(out, os.path.basename(path)))
    try:
        import numpy as np
    except ImportError:
        print("make_seeds: no numpy (python3-numpy): repository .npy seeds only")
        return
    for dtype in ["<f4", "<f8", "<f2", "u1", "i1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "|b1"]:
        array = (np.arange(24) % 5).astype(dtype).reshape(2, 3, 4)
        buffer = io.BytesIO()
        np.save(buffer, array)
        write(os.path.join(out, f"arange_{dtype.strip('<|')}.npy"), buffer.getvalue())
    for name, array in {"scalar": np.float32(1.5), "empty": np.zeros((0, 3), np.float32),
                        "fortran": np.asfortranarray(np.ones((2, 3), np.float32)),
                        "big_endian": np.ones((2, 2), ">f4")}.items():
        buffer = io.BytesIO()
        np.save(buffer, array)
        write(os.path.join(out, name + ".npy"), buffer.getvalue())
    for version in [(2, 0), (3, 0)]:
        buffer = io.BytesIO()
        array = np.ones((1, 3), np.float32)
        np.lib.format.write_array(buffer, array, version=version)
        write(os.path.join(out, f"version{version[0]}.npy"), buffer.getvalue())


def json_blocks(markdown):
    return re.findall(r"```json\n(.*?)```", markdown, re.S)


def json_raw_strings(source):
    found = []
    for text in re.findall(r'R"\((.*?)\)"', source, re.S):
        try:
            json.loads(text)
            found.append(text)
        except ValueError:
            pass
    return found


def text_seeds(out, texts):
    for i, text in enumerate(texts):
        write(os.path.join(out, f"seed_{i:03d}.json"), text.encode())


def main():
    repo, cli, out = (os.path.abspath(arg) for arg in sys.argv[1:4])
    work = os.path.join(out, ".work")
    targets = ["onnx_import_fuzzer", "model_file_fuzzer", "image_fuzzer", "idx_fuzzer", "npy_fuzzer",
               "preprocess_json_fuzzer", "quant_config_fuzzer"]
    for target in targets:
        os.makedirs(os.path.join(out, target), exist_ok=True)
    os.makedirs(work, exist_ok=True)
    onnx_seeds(repo, os.path.join(out, "onnx_import_fuzzer"))
    made = kestrel_seeds(repo, cli, os.path.join(out, "model_file_fuzzer"), work)
    image_seeds(repo, os.path.join(out, "image_fuzzer"), work)
    idx_seeds(repo, os.path.join(out, "idx_fuzzer"))
    npy_seeds(repo, os.path.join(out, "npy_fuzzer"))
    preprocess = [open(p).read() for p in glob.glob(os.path.join(repo, "models", "*.preprocess.json"))]
    preprocess += [open(p).read() for p in glob.glob(os.path.join(repo, "tests/data/preprocess/*.json"))]
    preprocess += json_blocks(open(os.path.join(repo, "docs/preprocessing.md")).read())
    preprocess += json_raw_strings(open(os.path.join(repo, "tests/unit/preprocess_test.cc")).read())
    text_seeds(os.path.join(out, "preprocess_json_fuzzer"), preprocess)
    quant = json_blocks(open(os.path.join(repo, "docs/quantization.md")).read())
    quant += json_raw_strings(open(os.path.join(repo, "tests/unit/quant_config_test.cc")).read())
    text_seeds(os.path.join(out, "quant_config_fuzzer"), quant)
    shutil.rmtree(work)
    for target in targets:
        print(f"make_seeds: {target}: {len(os.listdir(os.path.join(out, target)))} seeds")
    if made == 0:
        sys.exit("make_seeds: no .kestrel seed could be converted")


if __name__ == "__main__":
    main()
