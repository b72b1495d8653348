"""Time a peer runtime (ONNX Runtime or OpenVINO) on one ONNX model.

  build/peers/bin/python bench/peer_bench.py --runtime onnxruntime|openvino \
      MODEL.onnx BATCH THREADS [ITERATIONS] [WARMUP]

Run it with the interpreter of the virtual environment that bench/peers.sh
makes ($PEER_PYTHON). Every input gets a deterministic float tensor
(element i = sin(0.37 i)); its shape is the model's, with every dynamic
dimension set to BATCH for dimension 0 and to 1 otherwise, and dimension 0
always BATCH. After WARMUP untimed runs it times ITERATIONS runs and prints
one JSON object like `kestrel bench --json`: model, runtime, load_ms, batch,
threads, latency_ms {min, median, p90, p99}, throughput_ips.

onnxruntime: CPU execution provider, intra_op_num_threads=THREADS,
inter_op_num_threads=1, sequential execution, all graph optimizations;
load_ms is the InferenceSession creation.
openvino: CPU device, INFERENCE_NUM_THREADS=THREADS, PERFORMANCE_HINT
LATENCY, inputs reshaped to the shapes above, INFERENCE_PRECISION_HINT f32
(OpenVINO would otherwise compute in bfloat16 on CPUs with AVX512_BF16 or
AMX, which is not what Kestrel FP32 or ONNX Runtime compute); load_ms is
read_model + reshape + compile_model.
"""

import argparse
import importlib.metadata
import json
import math
import sys
import time

import numpy as np


def die(msg):
    print(f"peer_bench: {msg}", file=sys.stderr)
    sys.exit(1)


def bench_shape(dims, batch):
    """dims: ints for static dimensions, None for dynamic ones."""
    shape = [d if isinstance(d, int) and d > 0 else (batch if i == 0 else 1) for i, d in enumerate(dims)]
    if shape:
        shape[0] = batch
    return shape


def pattern(shape, dtype):
    size = math.prod(shape)
    return np.sin(np.arange(size, dtype=np.float64) * 0.37).astype(dtype).reshape(shape)


ORT_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def setup_onnxruntime(model, batch, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no "unused initializer" warnings
    start = time.perf_counter()
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    load_ms = 1000 * (time.perf_counter() - start)

    feeds = {}
    for meta in session.get_inputs():
        dtype = ORT_FLOAT_TYPES.get(meta.type)
        if dtype is None:
            die(f"{model}: input {meta.name} is {meta.type}; only float inputs are supported")
        feeds[meta.name] = pattern(bench_shape(meta.shape, batch), dtype)

    def run():
        session.run(None, feeds)

    return f"onnxruntime {ort.__version__}", load_ms, run


def setup_openvino(model, batch, threads):
    import openvino as ov

    core = ov.Core()
    start = time.perf_counter()
    net = core.read_model(model)
    shapes = {}
    for port in net.inputs:
        dims = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
        shapes[port.get_any_name()] = bench_shape(dims, batch)
    net.reshape(shapes)
    compiled = core.compile_model(net, "CPU", {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    })
    load_ms = 1000 * (time.perf_counter() - start)

    request = compiled.create_infer_request()
    for port in compiled.inputs:
        dtype = port.get_element_type().to_dtype()
        if dtype.kind != "f":
            die(f"{model}: input {port.get_any_name()} is {port.get_element_type()}; only float inputs are supported")
        data = pattern(list(port.get_shape()), dtype)
        request.set_tensor(port, ov.Tensor(data))

    def run():
        request.infer(share_outputs=True)

    return f"openvino {importlib.metadata.version('openvino')}", load_ms, run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", required=True, choices=["onnxruntime", "openvino"])
    ap.add_argument("model")
    ap.add_argument("batch", type=int)
    ap.add_argument("threads", type=int)
    ap.add_argument("iterations", type=int, nargs="?", default=50)
    ap.add_argument("warmup", type=int, nargs="?", default=5)
    args = ap.parse_args()
    if args.batch < 1 or args.threads < 1 or args.iterations < 1 or args.warmup < 0:
        die("BATCH, THREADS and ITERATIONS must be >= 1, WARMUP >= 0")

    setup = setup_onnxruntime if args.runtime == "onnxruntime" else setup_openvino
    try:
        runtime, load_ms, run = setup(args.model, args.batch, args.threads)
        for _ in range(args.warmup):
            run()
        times = []
        for _ in range(args.iterations):
            start = time.perf_counter()
            run()
            times.append(1000 * (time.perf_counter() - start))
    except Exception as e:  # one line, not a traceback (OpenVINO's last line is the cause)
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        die(f"{args.runtime} on {args.model}: {type(e).__name__}: {lines[-1] if lines else ''}")
    times.sort()

    def pick(f):
        return times[min(len(times) - 1, math.floor(f * len(times)))]

    print(json.dumps({
        "model": args.model, "runtime": runtime, "load_ms": load_ms, "batch": args.batch, "threads": args.threads,
        "latency_ms": {"min": times[0], "median": pick(0.5), "p90": pick(0.9), "p99": pick(0.99)},
        "throughput_ips": 1000 * args.batch / pick(0.5),
    }, separators=(",", ":")))


if __name__ == "__main__":
    main()
