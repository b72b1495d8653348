#!/usr/bin/python3
"""A bounded load test of `kestrel serve`: a fixed number of infer requests
from 1, 8 and 32 client threads, with dynamic batching on and off; prints
throughput, p50 and p99 latency and the mean batch the server ran, and
checks that every response carries its own request's id and result.

    /usr/bin/python3 bench/serve_load.py --model build/models/cnn_b8.kestrel
    /usr/bin/python3 bench/serve_load.py --model M.kestrel --requests 2000 --concurrency 1,8,32,64

The server is started here (build/kestrel serve --port 0), once per batching
mode. Needs Debian's python3-requests and python3-numpy. The reference
result of each distinct input is the server's answer to it alone, before the
load; loaded answers must match it to float rounding (a batch may block a
kernel differently). Exit status 1 when any answer is wrong or missing.
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import requests

DTYPES = {"FP32": np.float32, "FP64": np.float64, "UINT8": np.uint8, "INT8": np.int8, "INT32": np.int32,
          "INT64": np.int64}


def start_server(kestrel, model, extra):
    process = subprocess.Popen([kestrel, "serve", "--port", "0", "--model", model, "--name", "m", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        process.kill()
        sys.exit(f"serve_load: the server did not start: {line!r}")
    return process, match.group(1)


def make_inputs(metadata, count, rows, seed):
    """`count` distinct requests' input tensors (name -> array)."""
    rng = np.random.default_rng(seed)
    inputs = []
    for _ in range(count):
        tensors = {}
        for spec in metadata["inputs"]:
            shape = [rows if d < 0 else d for d in spec["shape"]]
            dtype = DTYPES[spec["datatype"]]
            if np.issubdtype(dtype, np.floating):
                tensors[spec["name"]] = rng.standard_normal(shape).astype(dtype)
            else:
                tensors[spec["name"]] = rng.integers(0, 100, shape).astype(dtype)
        inputs.append(tensors)
    return inputs


def datatype(x):
    return next(k for k, v in DTYPES.items() if v == x.dtype.type)


def request(tensors, request_id, binary):
    """(body, headers) of an infer request: JSON tensors, or the binary tensor data extension."""
    if not binary:
        body = json.dumps({"id": request_id, "inputs": [
            {"name": name, "shape": list(x.shape), "datatype": datatype(x), "data": x.flatten().tolist()}
            for name, x in tensors.items()]})
        return body, {"Content-Type": "application/json"}
    header = json.dumps({"id": request_id, "parameters": {"binary_data_output": True}, "inputs": [
        {"name": name, "shape": list(x.shape), "datatype": datatype(x), "parameters": {"binary_data_size": x.nbytes}}
        for name, x in tensors.items()]}).encode()
    body = header + b"".join(np.ascontiguousarray(x).tobytes() for x in tensors.values())
    return body, {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}


def parse_answer(response):
    """(JSON header, {output name: float64 array}) of a JSON or binary answer."""
    return parse_body(response.headers.get("Inference-Header-Content-Length"), response.content)


def parse_body(length, raw):
    if length is None:
        answer = json.loads(raw)
        return answer, {out["name"]: np.array(out["data"], np.float64) for out in answer["outputs"]}
    answer = json.loads(raw[:int(length)])
    offset, outputs = int(length), {}
    for out in answer["outputs"]:
        size = out["parameters"]["binary_data_size"]
        values = np.frombuffer(raw[offset:offset + size], DTYPES[out["datatype"]])
        outputs[out["name"]] = values.reshape(out["shape"]).astype(np.float64)
        offset += size
    return answer, outputs


def rss_mib(process):
    with open(f"/proc/{process.pid}/status") as status:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status.read(), re.M).group(1)) / 1024


def metric_sum(url, name):
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", text, re.M))


def load(url, inputs, references, total, concurrency, binary):
    """Sends `total` requests from `concurrency` threads; returns latencies and error list."""
    latencies, errors, lock = [], [], threading.Lock()
    next_index = [0]

    host, port = url.removeprefix("http://").rsplit(":", 1)

    def client():
        # http.client, not requests: a lighter client leaves more of a shared
        # machine's cores to the server.
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= total:
                connection.close()
                return
            k = i % len(inputs)
            request_id = f"req-{i}"
            start = time.perf_counter()
            body, headers = request(inputs[k], request_id, binary)
            try:
                connection.request("POST", "/v2/models/m/infer", body=body, headers=headers)
                response = connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors.append(f"{request_id}: {error}")
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
                continue
            elapsed = time.perf_counter() - start
            problem = None
            if response.status != 200:
                problem = f"HTTP {response.status}: {raw[:200]!r}"
            else:
                answer, got = parse_body(response.getheader("Inference-Header-Content-Length"), raw)
                if answer.get("id") != request_id:
                    problem = f"answered with id {answer.get('id')!r}"
                else:
                    for name, expected in references[k].items():
                        if name not in got or got[name].shape != expected.shape or not np.allclose(
                                got[name], expected, rtol=1e-4, atol=1e-4):
                            problem = f"output {name} differs from its request's reference"
            with lock:
                latencies.append(elapsed)
                if problem:
                    errors.append(f"{request_id}: {problem}")

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, sorted(latencies), errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help=".kestrel model (one converted with --max-batch N batches)")
    parser.add_argument("--kestrel", default=os.path.join(os.path.dirname(__file__), "..", "build", "kestrel"))
    parser.add_argument("--requests", type=int, default=256, help="requests per run")
    parser.add_argument("--concurrency", default="1,8,32", help="client threads, comma-separated")
    parser.add_argument("--rows", type=int, default=1, help="batch rows per request (for a model with a max batch)")
    parser.add_argument("--distinct", type=int, default=16, help="distinct inputs (each checked against its reference)")
    parser.add_argument("--server-args", default="", help="more `kestrel serve` flags, space-separated")
    parser.add_argument("--binary", action="store_true", help="binary tensor data extension (else JSON tensors)")
    parser.add_argument("--modes", default="on,off", help="batching modes to run: on, off or both")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    extra = args.server_args.split()
    failures = 0
    print(f"tensors: {'binary' if args.binary else 'JSON'}; server flags: {' '.join(extra) or '(defaults)'}")
    print(f"| batching | clients | requests | seconds | requests/s | p50 ms | p99 ms | mean batch | errors | "
          f"server RSS before / after MiB |")
    print(f"|---|---|---|---|---|---|---|---|---|---|")
    modes = [m for m in (("on", []), ("off", ["--no-batching"])) if m[0] in args.modes.split(",")]
    for mode, flags in modes:
        process, url = start_server(args.kestrel, args.model, extra + flags)
        try:
            metadata = requests.get(f"{url}/v2/models/m", timeout=10).json()
            inputs = make_inputs(metadata, args.distinct, args.rows, seed=1)
            references = []
            for k, tensors in enumerate(inputs):  # alone, one at a time
                body, headers = request(tensors, f"ref-{k}", args.binary)
                response = requests.post(f"{url}/v2/models/m/infer", data=body, headers=headers, timeout=60)
                response.raise_for_status()
                references.append(parse_answer(response)[1])
            for concurrency in concurrencies:
                count0, exec0 = metric_sum(url, "nv_inference_count"), metric_sum(url, "nv_inference_exec_count")
                rss_before = rss_mib(process)
                seconds, latencies, errors = load(url, inputs, references, args.requests, concurrency, args.binary)
                rss_after = rss_mib(process)
                count = metric_sum(url, "nv_inference_count") - count0
                execs = metric_sum(url, "nv_inference_exec_count") - exec0
                p50 = 1000 * latencies[len(latencies) // 2] if latencies else float("nan")
                p99 = 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
                print(f"| {mode} | {concurrency} | {args.requests} | {seconds:.2f} | {args.requests / seconds:.1f} | "
                      f"{p50:.2f} | {p99:.2f} | {count / execs if execs else 0:.2f} | {len(errors)} | "
                      f"{rss_before:.1f} / {rss_after:.1f} |", flush=True)
                for error in errors[:5]:
                    print(f"  error: {error}")
                failures += len(errors)
        finally:
            process.terminate()
            process.wait(timeout=60)
    if failures:
        print(f"serve_load: FAIL: {failures} wrong or missing answers")
        return 1
    print("serve_load: every answer carried its own id and result")
    return 0


if __name__ == "__main__":
    sys.exit(main())
