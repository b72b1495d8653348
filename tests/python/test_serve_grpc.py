"""`kestrel serve --grpc-port` end to end with Debian's python3-grpcio: the
bundled CNN converted three ways (fixed batch 1; any batch 1..8; any batch
1..4 taking uint8 frames, baked preprocessing) into a model repository, the
server started with --port 0 --grpc-port 0; health, readiness and metadata;
ModelInfer with raw_input_contents and with typed contents equal to
`kestrel run` and to the REST answer; concurrent calls each answered with
their own result; REST and gRPC requests stacked into one batch; every error
status (NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE,
DEADLINE_EXCEEDED) and a good answer after each; gRPC calls in the metrics;
SIGTERM finishing the call in flight, exit 0.

The message classes are generated here from tools/kestrel/serve/
grpc_predict_v2.proto with protoc --python_out (KESTREL_PROTOC, else protoc
on PATH) into a temporary folder; the calls go through grpc's generic
unary_unary, so no grpc_tools or generated stubs are needed.

Run by CTest with KESTREL_CLI and KESTREL_SOURCE_DIR; needs Debian's
python3-grpcio, python3-protobuf, python3-requests and python3-numpy, nothing
from the network.
"""
import importlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc
import numpy as np
import requests

CLI = os.environ["KESTREL_CLI"]
SOURCE = os.environ["KESTREL_SOURCE_DIR"]
PROTOC = os.environ.get("KESTREL_PROTOC", "protoc")
CNN = os.path.join(SOURCE, "models", "fmnist_cnn.onnx")
PREPROCESS = os.path.join(SOURCE, "models", "fmnist_cnn.preprocess.json")
PROTO_DIR = os.path.join(SOURCE, "tools", "kestrel", "serve")
SERVICE = "/inference.GRPCInferenceService/"
TIMEOUT = 30  # seconds, every call's deadline


def run_cli(*args):
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"kestrel {' '.join(args)}: {result.stderr}")
    return result


def load_messages(out_dir):
    """grpc_predict_v2_pb2, generated from the server's own .proto file."""
    subprocess.run([PROTOC, "-I", PROTO_DIR, f"--python_out={out_dir}", "grpc_predict_v2.proto"], check=True,
                   timeout=60)
    sys.path.insert(0, out_dir)
    return importlib.import_module("grpc_predict_v2_pb2")


class Server:
    """A `kestrel serve` child process on free HTTP and gRPC ports, with a channel to it."""

    def __init__(self, pb, *args):
        self.pb = pb
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([CLI, "serve", "--port", "0", "--grpc-port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        http_line = self.process.stdout.readline().strip()
        grpc_line = self.process.stdout.readline().strip()
        http = re.match(r"kestrel serve: listening on (http://[\d.]+:\d+)$", http_line)
        grpc_match = re.match(r"kestrel serve: grpc listening on ([\d.]+:(\d+))$", grpc_line)
        if not http or not grpc_match:
            self.kill()
            raise AssertionError(f"no listening lines: {http_line!r} {grpc_line!r}")
        self.url = http.group(1)
        self.grpc_port = int(grpc_match.group(2))
        self.channel = grpc.insecure_channel(grpc_match.group(1))

    def call(self, method, request, response_type, timeout=TIMEOUT):
        return self.future(method, request, response_type, timeout).result()

    def future(self, method, request, response_type, timeout=TIMEOUT):
        stub = self.channel.unary_unary(SERVICE + method, request_serializer=type(request).SerializeToString,
                                        response_deserializer=response_type.FromString)
        return stub.future(request, timeout=timeout)

    def infer(self, request, timeout=TIMEOUT):
        return self.call("ModelInfer", request, self.pb.ModelInferResponse, timeout)

    def metric(self, name, model):
        text = requests.get(f"{self.url}/metrics", timeout=TIMEOUT).text
        match = re.search(rf'^{name}{{model="{model}",version="1"}} (\d+)$', text, re.M)
        return int(match.group(1)) if match else None

    def terminate(self, timeout=30):
        """SIGTERM; the exit status. The channel stays open: answers already sent can still be read."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.close()

    def close(self):
        if hasattr(self, "channel"):
            self.channel.close()
        self.process.stdout.close()
        if not self.log.closed:
            self.log.close()


class ServeGrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.pb = load_messages(cls.dir.name)
        cls.repo = os.path.join(cls.dir.name, "repo")
        cls.models = {}
        for name, args in (("fixed", ["--input-shape", "input:1,1,28,28"]), ("cnn", ["--max-batch", "8"]),
                           ("frames", ["--max-batch", "4", "--bake-preprocess", PREPROCESS])):
            os.makedirs(os.path.join(cls.repo, name, "1"))
            cls.models[name] = os.path.join(cls.repo, name, "1", "model.kestrel")
            run_cli("convert", "--model", CNN, "--output", cls.models[name], *args)
        cls.rng = np.random.default_rng(12)
        cls.server = Server(cls.pb, "--model-repository", cls.repo, "--max-request-bytes", "1000000")

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.dir.cleanup()

    def kestrel_run(self, model, x):
        """The logits `kestrel run` writes for input x."""
        with tempfile.TemporaryDirectory() as out:
            np.save(os.path.join(out, "x.npy"), x)
            run_cli("run", "--model", self.models[model], "--input", f"input={os.path.join(out, 'x.npy')}",
                    "--output-dir", out)
            return np.load(os.path.join(out, "logits.npy"))

    def image(self, rows):
        return self.rng.standard_normal((rows, 1, 28, 28)).astype(np.float32)

    def frames(self, rows):
        return self.rng.integers(0, 256, (rows, 28, 28, 1), dtype=np.uint8)

    def request(self, model, x, request_id="g", raw=True, datatype="FP32", outputs=()):
        """A ModelInferRequest for input x: raw_input_contents, or typed contents."""
        request = self.pb.ModelInferRequest(model_name=model, id=request_id)
        tensor = request.inputs.add(name="input", datatype=datatype, shape=list(x.shape))
        if raw:
            request.raw_input_contents.append(x.tobytes())
        elif datatype == "FP32":
            tensor.contents.fp32_contents.extend(x.flatten().tolist())
        else:
            tensor.contents.uint_contents.extend(x.flatten().tolist())
        for name in outputs:
            request.outputs.add(name=name)
        return request

    def logits(self, response, rows):
        self.assertEqual(len(response.outputs), 1)
        output = response.outputs[0]
        self.assertEqual((output.name, output.datatype, list(output.shape)), ("logits", "FP32", [rows, 10]))
        self.assertEqual(len(response.raw_output_contents), 1)
        return np.frombuffer(response.raw_output_contents[0], np.float32).reshape(rows, 10)

    def rest_logits(self, model, x):
        body = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.flatten().tolist()}]}
        answer = requests.post(f"{self.server.url}/v2/models/{model}/infer", json=body, timeout=TIMEOUT)
        self.assertEqual(answer.status_code, 200, answer.text)
        return np.array(answer.json()["outputs"][0]["data"], np.float32).reshape(x.shape[0], 10)

    def assert_still_serving(self, server=None, model="cnn"):
        response = (server or self.server).infer(self.request(model, self.image(1), "after"))
        self.assertEqual(response.id, "after")

    def test_health_and_metadata(self):
        pb, server = self.pb, self.server
        self.assertTrue(server.call("ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse).live)
        self.assertTrue(server.call("ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse).ready)
        metadata = server.call("ServerMetadata", pb.ServerMetadataRequest(), pb.ServerMetadataResponse)
        self.assertEqual(metadata.name, "kestrel")
        for name, version in (("cnn", ""), ("fixed", "1")):
            ready = server.call("ModelReady", pb.ModelReadyRequest(name=name, version=version), pb.ModelReadyResponse)
            self.assertTrue(ready.ready)

        def tensors(entries):
            return [(t.name, t.datatype, list(t.shape)) for t in entries]

        cnn = server.call("ModelMetadata", pb.ModelMetadataRequest(name="cnn"), pb.ModelMetadataResponse)
        self.assertEqual((cnn.name, list(cnn.versions), cnn.platform), ("cnn", ["1"], "kestrel"))
        self.assertEqual(tensors(cnn.inputs), [("input", "FP32", [-1, 1, 28, 28])])
        self.assertEqual(tensors(cnn.outputs), [("logits", "FP32", [-1, 10])])
        fixed = server.call("ModelMetadata", pb.ModelMetadataRequest(name="fixed", version="1"),
                            pb.ModelMetadataResponse)
        self.assertEqual(tensors(fixed.inputs), [("input", "FP32", [1, 1, 28, 28])])
        frames = server.call("ModelMetadata", pb.ModelMetadataRequest(name="frames"), pb.ModelMetadataResponse)
        self.assertEqual(tensors(frames.inputs), [("input", "UINT8", [-1, 28, 28, 1])])

    def test_raw_and_typed_results_equal_kestrel_run_and_rest(self):
        for model, rows in (("fixed", 1), ("cnn", 3)):
            x = self.image(rows)
            expected = self.kestrel_run(model, x)
            for raw in (True, False):
                with self.subTest(model=model, raw=raw):
                    response = self.server.infer(self.request(model, x, f"{model}-{raw}", raw=raw))
                    self.assertEqual((response.id, response.model_name, response.model_version),
                                     (f"{model}-{raw}", model, "1"))
                    np.testing.assert_array_equal(self.logits(response, rows), expected)
            np.testing.assert_array_equal(self.rest_logits(model, x), expected)

    def test_uint8_frames_in_raw_and_uint_contents(self):
        x = self.frames(2)
        expected = self.kestrel_run("frames", x)
        for raw in (True, False):
            with self.subTest(raw=raw):
                response = self.server.infer(self.request("frames", x, raw=raw, datatype="UINT8"))
                np.testing.assert_array_equal(self.logits(response, 2), expected)

    def test_requested_outputs(self):
        x = self.image(2)
        response = self.server.infer(self.request("cnn", x, outputs=["logits"]))
        np.testing.assert_array_equal(self.logits(response, 2), self.kestrel_run("cnn", x))

    def test_concurrent_calls_each_get_their_own_result(self):
        images = [self.image(1 + i % 3) for i in range(24)]
        expected = [self.kestrel_run("cnn", x) for x in images]
        futures = [self.server.future("ModelInfer", self.request("cnn", x, str(i), raw=i % 2 == 0),
                                      self.pb.ModelInferResponse) for i, x in enumerate(images)]
        for i, future in enumerate(futures):
            response = future.result()
            self.assertEqual(response.id, str(i))
            # Stacked with other requests, a kernel may block the batch differently: equal to rounding.
            np.testing.assert_allclose(self.logits(response, images[i].shape[0]), expected[i], rtol=1e-4, atol=1e-4)

    def test_every_bad_call_gets_its_status(self):
        x = self.image(1)
        truncated = self.request("cnn", x)
        truncated.raw_input_contents[0] = x.tobytes()[:-10]
        unknown_version = self.request("cnn", x)
        unknown_version.model_version = "2"
        wrong_count = self.request("cnn", x, raw=False)
        del wrong_count.inputs[0].contents.fp32_contents[-1]
        out_of_range = self.request("frames", self.frames(1), raw=False, datatype="UINT8")
        out_of_range.inputs[0].contents.uint_contents[5] = 300
        missing = self.pb.ModelInferRequest(model_name="cnn")
        code = grpc.StatusCode
        cases = [
            (self.request("nope", x), code.NOT_FOUND, "unknown model 'nope'"),
            (unknown_version, code.NOT_FOUND, "unknown version"),
            (self.request("cnn", x.reshape(1, 28, 1, 28)), code.INVALID_ARGUMENT, "does not match"),
            (self.request("cnn", self.image(9)), code.INVALID_ARGUMENT, "batch 9"),
            (self.request("fixed", self.image(2)), code.INVALID_ARGUMENT, "does not match"),
            (truncated, code.INVALID_ARGUMENT, "truncated"),
            (self.request("cnn", x, datatype="FP64"), code.INVALID_ARGUMENT, "datatype FP64"),
            (missing, code.INVALID_ARGUMENT, "missing input 'input'"),
            (wrong_count, code.INVALID_ARGUMENT, "784 values in contents.fp32_contents, got 783"),
            (out_of_range, code.INVALID_ARGUMENT, "out of the datatype's range"),
            (self.request("cnn", x, outputs=["nope"]), code.INVALID_ARGUMENT, "no output 'nope'"),
            (self.request("cnn", np.zeros(300_000, np.float32)), code.RESOURCE_EXHAUSTED, ""),
        ]
        for request, status, message in cases:
            with self.subTest(status=status, message=message):
                with self.assertRaises(grpc.RpcError) as caught:
                    self.server.infer(request)
                self.assertEqual(caught.exception.code(), status, caught.exception.details())
                self.assertIn(message, caught.exception.details())
                self.assert_still_serving()

    def test_grpc_calls_count_in_the_metrics(self):
        before = self.server.metric("nv_inference_request_success", "fixed") or 0
        failures = self.server.metric("nv_inference_request_failure", "fixed") or 0
        for _ in range(2):
            self.server.infer(self.request("fixed", self.image(1)))
        with self.assertRaises(grpc.RpcError):
            self.server.infer(self.request("fixed", self.image(2)))
        self.assertEqual(self.server.metric("nv_inference_request_success", "fixed"), before + 2)
        self.assertEqual(self.server.metric("nv_inference_request_failure", "fixed"), failures + 1)

    def test_queue_full_and_timeout(self):
        # As the REST test: a one-row call waits 1 s for its batch, past the
        # 300 ms timeout (DEADLINE_EXCEEDED), filling the one-call queue
        # meanwhile (UNAVAILABLE).
        server = Server(self.pb, "--model", self.models["cnn"], "--name", "cnn", "--max-queue-delay-us", "1000000",
                        "--max-queue", "1", "--request-timeout-ms", "300", "--sessions", "1")
        try:
            waiting = server.future("ModelInfer", self.request("cnn", self.image(1)), self.pb.ModelInferResponse)
            time.sleep(0.1)
            with self.assertRaises(grpc.RpcError) as refused:
                server.infer(self.request("cnn", self.image(1)))
            self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertIn("queue full", refused.exception.details())
            with self.assertRaises(grpc.RpcError) as late:
                waiting.result()
            self.assertEqual(late.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertIn("--request-timeout-ms", late.exception.details())
            time.sleep(1.0)  # the dropped request leaves the queue
            response = server.infer(self.request("cnn", self.image(8)))
            self.assertEqual(response.outputs[0].shape[0], 8)
            self.assertEqual(server.terminate(), 0)
        finally:
            server.kill()

    def test_rest_and_grpc_batch_together_and_sigterm_finishes_the_call_in_flight(self):
        server = Server(self.pb, "--model", self.models["cnn"], "--name", "cnn", "--max-queue-delay-us", "1000000",
                        "--sessions", "1")
        try:
            # Two 4-row requests, one per protocol, fill one batch of 8: one run.
            x, y = self.image(4), self.image(4)
            rest = {}
            body = {"inputs": [{"name": "input", "shape": [4, 1, 28, 28], "datatype": "FP32",
                                "data": x.flatten().tolist()}]}
            client = threading.Thread(target=lambda: rest.update(answer=requests.post(
                f"{server.url}/v2/models/cnn/infer", json=body, timeout=TIMEOUT)))
            client.start()
            self.wait_for_queue(server)
            response = server.infer(self.request("cnn", y, "grpc"))
            client.join()
            self.assertEqual(server.metric("nv_inference_exec_count", "cnn"), 1)
            np.testing.assert_allclose(self.logits(response, 4), self.kestrel_run("cnn", y), rtol=1e-4, atol=1e-4)
            rest_logits = np.array(rest["answer"].json()["outputs"][0]["data"], np.float32).reshape(4, 10)
            np.testing.assert_allclose(rest_logits, self.kestrel_run("cnn", x), rtol=1e-4, atol=1e-4)

            # A call waiting for its batch when SIGTERM comes is answered.
            z = self.image(1)
            last = server.future("ModelInfer", self.request("cnn", z, "last"), self.pb.ModelInferResponse)
            self.wait_for_queue(server)
            self.assertEqual(server.terminate(), 0)
            response = last.result()
            self.assertEqual(response.id, "last")
            np.testing.assert_array_equal(self.logits(response, 1), self.kestrel_run("cnn", z))
        finally:
            server.kill()

    def wait_for_queue(self, server):
        deadline = time.time() + 10
        while time.time() < deadline and server.metric("kestrel_queue_depth", "cnn") != 1:
            time.sleep(0.02)
        self.assertEqual(server.metric("kestrel_queue_depth", "cnn"), 1)


if __name__ == "__main__":
    unittest.main()
