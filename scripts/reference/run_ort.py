"""Run one ONNX model with ONNX Runtime on one float32 input tensor and write
its first output as a NumPy .npy (v1.0) file.

Usage: build/peers/bin/python scripts/reference/run_ort.py MODEL.onnx INPUT.bin INPUT.json OUT.npy

Run it with the interpreter of the virtual environment that bench/peers.sh
makes (onnxruntime and numpy from PyPI). INPUT.bin is raw little-endian
float32 in C order; INPUT.json holds {"shape": [...]} (as written by
make_inputs.py). The model must have one input; its first output (float32)
is written, little-endian, C order.

Session options are chosen for exactness, not speed: one intra-op thread,
one inter-op thread, sequential execution and graph optimisations disabled,
so no fusions or constant folding change the arithmetic of the model as
written.
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort


def die(msg):
    print(f"run_ort: {msg}", file=sys.stderr)
    sys.exit(1)


def read_input(bin_path, json_path):
    with open(json_path, encoding="utf-8") as f:
        meta = json.load(f)
    shape = meta.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        die(f'{json_path}: bad "shape"')
    if meta.get("dtype", "float32") != "float32":
        die(f"{json_path}: only float32 inputs are supported, got {meta['dtype']}")
    count = int(np.prod(shape, dtype=np.int64))
    size = os.path.getsize(bin_path)
    if size != count * 4:
        die(f"{bin_path}: {size} bytes, expected {count * 4} for shape {shape}")
    # Explicitly little-endian, whatever the host byte order; native float32
    # for ONNX Runtime.
    return np.fromfile(bin_path, dtype="<f4").astype(np.float32).reshape(shape)


def main():
    args = sys.argv[1:]
    if len(args) != 4:
        die("usage: run_ort.py MODEL.onnx INPUT.bin INPUT.json OUT.npy")
    model_path, bin_path, json_path, out_path = args

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        die(f"{model_path}: expected one input, got {', '.join(i.name for i in inputs)}")
    x = read_input(bin_path, json_path)
    out_name = session.get_outputs()[0].name
    (out,) = session.run([out_name], {inputs[0].name: x})
    if out.dtype != np.float32:
        die(f"output {out_name} is {out.dtype}, expected float32")

    # NumPy format v1.0, byte for byte the committed files' layout (header dict
    # padded with spaces to a 64-byte preamble, then '<f4' data in C order).
    with open(out_path, "wb") as f:
        np.lib.format.write_array(f, np.ascontiguousarray(out, dtype="<f4"), version=(1, 0), allow_pickle=False)
    dims = lambda s: ",".join(str(d) for d in s)  # noqa: E731
    print(f"{model_path}: {inputs[0].name} [{dims(x.shape)}] -> {out_name} [{dims(out.shape)}] -> {out_path}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - one line, not a traceback
        die(f"{type(e).__name__}: {e}")
