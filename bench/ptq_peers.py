"""Top-1 accuracy of the peer post-training INT8 quantizers on a Fashion-MNIST model.

  build/peers/bin/python bench/ptq_peers.py MODEL.onnx [--limit N] [--out-dir DIR]
                                            [--quantizers LIST] [--step-timeout S] [--fp32-top1 P]
  /usr/bin/python3 bench/ptq_peers.py --check-resize     (needs torch; see below)

(bench/ptq_peers.sh runs it with the venv of bench/peers.sh.)

MODEL.onnx is one of the trained models of ../shared/models (input `input`
float32 [N,3,224,224], output `logits` [N,10]). The script quantizes it with:

  ort-minmax, ort-percentile, ort-entropy
      ONNX Runtime quantize_static, QDQ, per-channel QInt8 weights, QUInt8
      activations (the recipe of bench/quantize_ort.py) with
      CalibrationMethod.MinMax / Percentile / Entropy, ORT's default settings
      for each method (Percentile: 99.999, symmetric histogram of |x|, 2048
      bins; Entropy: 128 bins, 128 quantized bins). The two histogram methods
      are calibrated in strides of --stride images (ORT's CalibStridedMinMax,
      whose histograms are merged across strides): in one pass ORT keeps every
      intermediate tensor of all 512 images in memory, tens of GB here.
  nncf, nncf-ac
      NNCF nncf.quantize(model, dataset, subset_size=512) with the default
      preset, and nncf.quantize_with_accuracy_control(..., max_drop=0.001)
      (absolute, top-1 as a fraction) validated on training images
      50000..50999.

Every method calibrates on the same images Kestrel does: training images
0..511, one image per calibration step. Each quantizer runs in its own
process, stopped after --step-timeout seconds (not counting time the
processes spent stopped by SIGSTOP). The FP32 model, and each INT8 model
as soon as it is made, are evaluated with ONNX Runtime (CPUExecutionProvider,
2 intra-op threads) on the first --limit images of the 10,000-image test set
(streamed in batches of 50), and a markdown table of top-1 and drop (FP32 - INT8, in
points) is printed, with each quantizer's wall and CPU time (the quantize call
alone, calibration included; all threads' CPU) and the package versions.

Preprocessing (../shared/models/README.md): uint8 -> /255 -> bilinear resize
28 -> 224, half-pixel centres, no antialiasing -> 3 channels -> ImageNet
mean/std, NCHW. The resize is separable, so it is done as two matrix products
with a [224, 28] weight matrix. --check-resize compares it with
torch.nn.functional.interpolate(mode="bilinear", align_corners=False) on the
first 1000 test images and prints the largest absolute difference.
"""

import argparse
import gzip
import importlib.metadata
import multiprocessing
import os
import platform
import struct
import sys
import time

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CALIBRATION = (0, 512)        # training images used for calibration, every method
VALIDATION = (50000, 51000)   # training images NNCF's accuracy control validates on
BATCH = 50                    # test images per inference batch

# name -> (quantizer column, method column) of the table; also the run order.
QUANTIZERS = {
    "ort-minmax": ("ORT quantize_static", "MinMax"),
    "ort-percentile": ("ORT quantize_static", "Percentile (99.999)"),
    "ort-entropy": ("ORT quantize_static", "Entropy"),
    "nncf": ("NNCF quantize", "default preset"),
    "nncf-ac": ("NNCF quantize_with_accuracy_control", "max_drop 0.001"),
}


class InputError(Exception):
    """Bad input: reported as one line, exit status 1."""


def read_idx(path):
    """A gzipped IDX file (the MNIST format) as a uint8 numpy array."""
    if not os.path.isfile(path):
        raise InputError(f"data file {path} not found (apt-get install dataset-fashion-mnist)")
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:  # 0x08: unsigned bytes
        raise InputError(f"{path} is not an IDX file of unsigned bytes")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split):
    """(images uint8 [N,28,28], labels uint8 [N]) of 'train' or 't10k'."""
    images = read_idx(f"{DATA_DIR}/{split}-images-idx3-ubyte.gz")
    labels = read_idx(f"{DATA_DIR}/{split}-labels-idx1-ubyte.gz")
    return images, labels


def resize_weights(n_in, n_out):
    """[n_out, n_in] matrix of 1-D bilinear weights, half-pixel centres, edges clamped.

    Output pixel i samples the input at s = (i + 0.5) * n_in / n_out - 0.5
    (clamped at 0 below), mixing pixels floor(s) and floor(s) + 1 (clamped at
    n_in - 1) with weights 1 - frac(s) and frac(s), as PyTorch's
    align_corners=False does.
    """
    w = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        s = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = int(np.floor(s))
        i1 = min(i0 + 1, n_in - 1)
        frac = s - i0
        w[i, i0] += 1.0 - frac
        w[i, i1] += frac
    return w


def resize(images):
    """uint8 [N,28,28] -> float32 [N,224,224] in [0,1], bilinear, half-pixel centres."""
    x = images.astype(np.float32) / np.float32(255)
    wy = resize_weights(x.shape[1], SIZE)
    wx = resize_weights(x.shape[2], SIZE)
    # Rows then columns: out[n] = wy @ x[n] @ wx^T (in float64, then rounded once).
    return (wy @ x.astype(np.float64) @ wx.T).astype(np.float32)


def preprocess(images):
    """uint8 [N,28,28] -> the model's input, float32 [N,3,224,224]."""
    grey = resize(images)
    out = np.empty((grey.shape[0], 3, SIZE, SIZE), dtype=np.float32)
    for c in range(3):
        out[:, c] = (grey - MEAN[c]) / STD[c]
    return out


def check_resize():
    """Compare resize() with PyTorch's bilinear interpolation (run with /usr/bin/python3)."""
    import torch
    import torch.nn.functional as F

    images, _ = load_split("t10k")
    images = images[:1000]
    ours = resize(images)
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255))[:, None]
    theirs = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0].numpy()
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max()
    # The whole preprocessing, with torch doing the normalisation too.
    mean = torch.tensor(MEAN)[None, :, None, None]
    std = torch.tensor(STD)[None, :, None, None]
    theirs_full = ((torch.from_numpy(theirs)[:, None].repeat(1, 3, 1, 1) - mean) / std).numpy()
    diff_full = np.abs(preprocess(images).astype(np.float64) - theirs_full.astype(np.float64)).max()
    print(f"resize check: {len(images)} test images, numpy vs torch {torch.__version__} "
          f"F.interpolate(bilinear, align_corners=False): max abs diff {diff:.3g} after resize, "
          f"{diff_full:.3g} after normalisation")


def session(model, threads=2):
    """ONNX Runtime session on the CPU EP; model is a path or serialized bytes."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only: not one warning per unused initializer
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def correct_per_image(sess, images, labels):
    """1.0/0.0 per image: is the top-1 class the label? Runs in batches of BATCH."""
    name = sess.get_inputs()[0].name
    out = []
    for start in range(0, len(images), BATCH):
        logits = sess.run(None, {name: preprocess(images[start:start + BATCH])})[0]
        out.extend((logits.argmax(axis=1) == labels[start:start + BATCH]).astype(np.float64).tolist())
    return out


class OrtCalibrationReader:
    """ORT calibration data: one image per get_next().

    ORT takes any object with get_next() as a CalibrationDataReader (its
    __subclasshook__); __len__ and set_range are what its strided
    calibration (CalibStridedMinMax) needs.
    """

    def __init__(self, name, images):
        self.name = name
        self.images = images
        self.set_range(0, len(images))

    def __len__(self):
        return len(self.images)

    def set_range(self, start_index, end_index):
        self.pos, self.end = start_index, min(end_index, len(self.images))

    def get_next(self):
        if self.pos >= self.end:
            return None
        self.pos += 1
        return {self.name: self.images[self.pos - 1:self.pos]}


def quantize_ort(method, model, out, calibration, stride):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    import onnx

    calibrate_method = {"ort-minmax": CalibrationMethod.MinMax,
                        "ort-percentile": CalibrationMethod.Percentile,
                        "ort-entropy": CalibrationMethod.Entropy}[method]
    # MinMax reduces each tensor to its min and max inside the graph, so one
    # pass is small; the histogram methods keep whole tensors until the pass ends.
    extra = {} if method == "ort-minmax" else {"CalibStridedMinMax": stride}
    name = onnx.load(model, load_external_data=False).graph.input[0].name
    start = time.perf_counter(), time.process_time()
    quantize_static(model, out, OrtCalibrationReader(name, calibration), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=calibrate_method, extra_options=extra)
    return time.perf_counter() - start[0], time.process_time() - start[1]


def quantize_nncf(method, model, out, calibration):
    import nncf
    import onnx

    proto = onnx.load(model)
    name = proto.graph.input[0].name
    # One image per item: NNCF collects its statistics item by item.
    calibration_dataset = nncf.Dataset([calibration[i:i + 1] for i in range(len(calibration))],
                                       lambda x: {name: x})
    if method == "nncf":
        start = time.perf_counter(), time.process_time()
        quantized = nncf.quantize(proto, calibration_dataset, subset_size=len(calibration))
    else:
        train_images, train_labels = load_split("train")
        lo, hi = VALIDATION
        # Items are (uint8 image, label); the validation function preprocesses
        # them in batches, so the 1000 float images are never all in memory.
        items = list(zip(train_images[lo:hi], train_labels[lo:hi]))
        validation_dataset = nncf.Dataset(items, lambda item: {name: preprocess(item[0][None])})

        def validate(candidate, data):
            # candidate: an onnx.ModelProto; returns (top-1 as a fraction, per-item 0/1),
            # the per-item values saving NNCF from validating image by image.
            data = list(data)
            images = np.stack([image for image, _ in data])
            labels = np.array([label for _, label in data])
            correct = correct_per_image(session(candidate.SerializeToString()), images, labels)
            return float(np.mean(correct)), correct

        start = time.perf_counter(), time.process_time()
        quantized = nncf.quantize_with_accuracy_control(proto, calibration_dataset, validation_dataset,
                                                        validate, max_drop=0.001,
                                                        subset_size=len(calibration))
    seconds = time.perf_counter() - start[0], time.process_time() - start[1]
    onnx.save(quantized, out)
    return seconds


def quantizer_process(method, model, out, stride, conn):
    """Child process: quantize MODEL into OUT, send back (wall, CPU) seconds (or the error)."""
    try:
        train_images, _ = load_split("train")
        calibration = preprocess(train_images[CALIBRATION[0]:CALIBRATION[1]])
        if method.startswith("ort-"):
            seconds = quantize_ort(method, model, out, calibration, stride)
        else:
            seconds = quantize_nncf(method, model, out, calibration)
        conn.send(("ok", seconds))
    except Exception as e:  # reported in the table; the traceback goes to the log
        import traceback

        traceback.print_exc()
        conn.send(("error", f"{type(e).__name__}: {e}".splitlines()[0][:200]))


def run_quantizer(method, model, out, stride, timeout):
    """Run one quantizer in a fresh process.

    Returns ("ok", (wall s, CPU s, paused s)) or ("failed", reason). Time
    during which the processes were stopped (SIGSTOP, e.g. to keep a
    benchmark run alongside undisturbed) counts neither against TIMEOUT nor in
    the wall time: the 5 s waits below see it as a wait that took far longer.
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=quantizer_process, args=(method, model, out, stride, child))
    proc.start()
    child.close()
    budget, paused, result = timeout, 0.0, None
    while budget > 0:
        before = time.monotonic()
        ready = parent.poll(min(5.0, budget))
        waited = time.monotonic() - before
        if waited > 10.0:  # stopped meanwhile
            paused += waited - 5.0
        budget -= min(waited, 5.0)
        if ready:
            try:
                result = parent.recv()
            except EOFError:  # the child died without a word (killed, out of memory)
                pass
            break
    proc.join(60)
    alive = proc.is_alive()
    if alive:
        proc.terminate()
        proc.join()
    if result is None:
        if alive:
            return "failed", f"stopped after {timeout / 60:.0f} min"
        return "failed", f"process died (exit code {proc.exitcode})"
    if result[0] == "error":
        return "failed", result[1]
    wall, cpu = result[1]
    return "ok", (max(wall - paused, 0.0), cpu, paused)


def time_text(value):
    wall, cpu, paused = value
    text = f"{wall:.1f} s (CPU {cpu:.1f} s)"
    return text + (f", {paused:.0f} s stopped excluded" if paused > 0 else "")


def versions():
    pkgs = ["onnxruntime", "nncf", "numpy", "onnx", "scipy"]
    return f"python {platform.python_version()}, " + ", ".join(
        f"{p} {importlib.metadata.version(p)}" for p in pkgs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="FP32 ONNX model (input float32 [N,3,224,224])")
    parser.add_argument("--limit", type=int, default=10000, help="test images to evaluate (default all 10000)")
    parser.add_argument("--out-dir", default="build/ptq_peers", help="where the INT8 models go")
    parser.add_argument("--quantizers", default=",".join(QUANTIZERS),
                        help=f"comma-separated subset of {','.join(QUANTIZERS)}")
    parser.add_argument("--stride", type=int, default=32,
                        help="images per calibration stride of the ORT histogram methods (divides 512)")
    parser.add_argument("--step-timeout", type=float, default=25 * 60, help="seconds allowed per quantizer")
    parser.add_argument("--check-resize", action="store_true", help="compare the resize with torch and exit")
    parser.add_argument("--fp32-top1", type=float, default=None,
                        help="the FP32 model's top-1 (percent) from an earlier run on the same images: "
                             "skips evaluating it again")
    args = parser.parse_args()

    if args.check_resize:
        check_resize()
        return
    if args.model is None:
        raise InputError("no model given (usage: ptq_peers.py MODEL.onnx [--limit N])")
    if not os.path.isfile(args.model):
        raise InputError(f"model file {args.model} not found")
    if not 1 <= args.limit <= 10000:
        raise InputError(f"--limit {args.limit}: must be 1..10000")
    methods = args.quantizers.split(",")
    for m in methods:
        if m not in QUANTIZERS:
            raise InputError(f"unknown quantizer {m!r} (known: {', '.join(QUANTIZERS)})")
    if (CALIBRATION[1] - CALIBRATION[0]) % args.stride:
        raise InputError(f"--stride {args.stride} does not divide {CALIBRATION[1] - CALIBRATION[0]}")

    model_name = os.path.splitext(os.path.basename(args.model))[0]
    os.makedirs(args.out_dir, exist_ok=True)
    print(f"ptq_peers: {args.model}, {versions()}", flush=True)

    test_images, test_labels = load_split("t10k")
    test_images, test_labels = test_images[:args.limit], test_labels[:args.limit]

    def top1(path):
        start = time.perf_counter()
        acc = 100.0 * float(np.mean(correct_per_image(session(path), test_images, test_labels)))
        print(f"ptq_peers: evaluated {path}: top-1 {acc:.2f} % ({time.perf_counter() - start:.0f} s)", flush=True)
        return acc

    fp32 = top1(args.model) if args.fp32_top1 is None else args.fp32_top1
    rows = [("FP32", "-", f"{fp32:.2f} %", "-")]
    # Each quantizer in its own process (fresh memory, and a hang can be
    # stopped), then its model evaluated here, so that a long run shows its
    # rows as they come.
    results = {}
    for m in methods:
        out = os.path.join(args.out_dir, f"{model_name}.{m}.onnx")
        print(f"ptq_peers: quantizing with {m} -> {out}", flush=True)
        status, value = run_quantizer(m, args.model, out, args.stride, args.step_timeout)
        results[m] = (status, value, out)
        print(f"ptq_peers: {m}: " + (time_text(value) if status == "ok" else f"FAILED: {value}"), flush=True)
        quantizer, method = QUANTIZERS[m]
        if status == "ok":
            acc = top1(out)
            rows.append((quantizer, method, f"{acc:.2f} %", f"{fp32 - acc:.2f}"))
        else:
            rows.append((quantizer, method, f"failed: {value}", "-"))

    print()
    print(f"Versions: {versions()}")
    print()
    print(f"| model | quantizer | method | top-1 ({args.limit} test images) | drop (points) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {model_name} | " + " | ".join(row) + " |")
    print()
    for m in methods:
        status, value, _ = results[m]
        quantizer, method = QUANTIZERS[m]
        text = time_text(value) if status == "ok" else f"failed ({value})"
        print(f"quantization wall time, {quantizer} {method}: {text}")


if __name__ == "__main__":
    try:
        main()
    except InputError as e:
        print(f"ptq_peers: error: {e}", file=sys.stderr)
        sys.exit(1)
