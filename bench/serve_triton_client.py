"""`kestrel serve` against Triton's own client library (tritonclient from
PyPI), over HTTP with binary tensor data on and off and over gRPC: health,
metadata, inference checked against `kestrel run` on the same inputs, an
unknown model refused, and the mean latency of a few calls each way. A tool,
not part of the test suite (PyPI is not a test dependency).

    python3 -m venv build/tritonclient
    build/tritonclient/bin/pip install 'tritonclient[http,grpc]'
    build/tritonclient/bin/python bench/serve_triton_client.py [--model M.kestrel] [--requests N]

Without --model it converts models/fmnist_cnn.onnx with --max-batch 8 into a
temporary folder. The server is build/kestrel serve --port 0 --grpc-port 0.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(kestrel, *args):
    result = subprocess.run([kestrel, *args], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        sys.exit(f"kestrel {' '.join(args)}: {result.stderr.strip()}")


def reference(kestrel, model, x, work):
    path = os.path.join(work, "x.npy")
    np.save(path, x)
    run_cli(kestrel, "run", "--model", model, "--input", f"input={path}", "--output-dir", work)
    return np.load(os.path.join(work, "logits.npy"))


def start_server(kestrel, model):
    process = subprocess.Popen([kestrel, "serve", "--port", "0", "--grpc-port", "0", "--model", model, "--name", "cnn"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    http = re.search(r"http://([\d.]+:\d+)", process.stdout.readline())
    grpc = re.search(r"grpc listening on ([\d.]+:\d+)", process.stdout.readline())
    if not http or not grpc:
        process.kill()
        sys.exit("kestrel serve printed no listening lines")
    return process, http.group(1), grpc.group(1)


def http_infer(client, x, binary):
    inputs = [httpclient.InferInput("input", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput("logits", binary_data=binary)]
    return client.infer("cnn", inputs, outputs=outputs, request_id="http").as_numpy("logits")


def grpc_infer(client, x, binary):
    # tritonclient.grpc always sends raw_input_contents: `binary` has no meaning here.
    inputs = [grpcclient.InferInput("input", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x)
    outputs = [grpcclient.InferRequestedOutput("logits")]
    result = client.infer("cnn", inputs, outputs=outputs, request_id="grpc")
    assert result.get_response().id == "grpc"
    return result.as_numpy("logits")


def check(name, client, infer, model, kestrel, work, requests, binary):
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("cnn"), name
    metadata = client.get_model_metadata("cnn")
    inputs = metadata["inputs"] if isinstance(metadata, dict) else [
        {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata.inputs]
    rng = np.random.default_rng(3)
    worst = 0.0
    for rows in (1, 3):
        x = rng.standard_normal((rows, 1, 28, 28)).astype(np.float32)
        worst = max(worst, float(np.abs(infer(client, x, binary) - reference(kestrel, model, x, work)).max()))
    try:
        client.get_model_metadata("nope")
        refused = "no error"
    except InferenceServerException as error:
        refused = f"{error.status()} {error.message()!r}"
    x = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
    start = time.perf_counter()
    for _ in range(requests):
        infer(client, x, binary)
    mean_ms = (time.perf_counter() - start) / requests * 1e3
    print(f"{name:28s} inputs {inputs}  max |diff| vs kestrel run {worst:.3g}  unknown model: {refused}  "
          f"mean latency {mean_ms:.2f} ms over {requests}")
    return worst == 0.0


def check_extensions(client):
    """Triton's model configuration, statistics and repository extensions through tritonclient's own calls."""
    config = client.get_model_config("cnn")
    stats = client.get_inference_statistics("cnn")["model_stats"][0]
    index = client.get_model_repository_index()
    try:
        client.unload_model("cnn")
        unloaded = client.is_model_ready("cnn")
        refused = "no error"
    except InferenceServerException as error:
        unloaded, refused = None, f"{error.status()} {error.message()!r}"
    print(f"{'http extensions':28s} config max_batch_size {config['max_batch_size']} inputs {config['input']}  "
          f"stats: {stats['inference_stats']['success']['count']} successes  index {index}  "
          f"unload_model: {refused} (ready after: {unloaded})")
    # The server serves one file (--model): no folder to load it from again, so no unloading.
    return config["max_batch_size"] == 8 and stats["inference_stats"]["success"]["count"] > 0 and \
        index == [{"name": "cnn", "state": "READY", "version": "1"}] and refused.startswith("400")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kestrel", default=os.path.join(ROOT, "build", "kestrel"))
    parser.add_argument("--model", help=".kestrel model with input 'input' [N,1,28,28] FP32 and output 'logits'")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model = args.model
        if not model:
            model = os.path.join(work, "cnn.kestrel")
            run_cli(args.kestrel, "convert", "--model", os.path.join(ROOT, "models", "fmnist_cnn.onnx"), "--output",
                    model, "--max-batch", "8")
        process, http_address, grpc_address = start_server(args.kestrel, model)
        try:
            ok = True
            with httpclient.InferenceServerClient(http_address) as client:
                for binary in (False, True):
                    ok &= check(f"http binary_data={binary}", client, http_infer, model, args.kestrel, work,
                                args.requests, binary)
            with httpclient.InferenceServerClient(http_address) as client:
                ok &= check_extensions(client)
            with grpcclient.InferenceServerClient(grpc_address) as client:
                ok &= check("grpc (raw contents)", client, grpc_infer, model, args.kestrel, work, args.requests, True)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
        print(f"server exit status {code}; results {'equal' if ok else 'DIFFER'}")
        sys.exit(0 if ok and code == 0 else 1)


if __name__ == "__main__":
    main()
