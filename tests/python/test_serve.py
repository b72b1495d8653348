"""`kestrel serve` end to end with python3-requests: the bundled CNN
converted twice (fixed batch 1, and any batch 1..8) into a model repository,
the server started with --port 0; health and metadata; JSON and binary
inference equal to `kestrel run` on the same inputs; concurrent requests each
answered with their own result; every error code (400, 404, 413, 503, 504)
and a good answer after each; SIGTERM finishing the request in flight, exit 0;
Triton's configuration, statistics and repository extensions (unload, load,
a new version, a broken folder, reloads under load losing no request).

Run by CTest with KESTREL_CLI (the kestrel binary) and KESTREL_SOURCE_DIR;
needs Debian's python3-requests and python3-numpy, nothing from the network.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import numpy as np
import requests

CLI = os.environ["KESTREL_CLI"]
SOURCE = os.environ["KESTREL_SOURCE_DIR"]
CNN = os.path.join(SOURCE, "models", "fmnist_cnn.onnx")
JSON = {"Content-Type": "application/json"}


def run_cli(*args):
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"kestrel {' '.join(args)}: {result.stderr}")
    return result


class Server:
    """A `kestrel serve` child process on a free port."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([CLI, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                        stderr=self.log, text=True)
        line = self.process.stdout.readline()
        match = re.match(r"kestrel serve: listening on (http://[\d.]+:(\d+))$", line.strip())
        if not match:
            self.kill()
            self.log.seek(0)
            raise AssertionError(f"no listening line: {line!r} {self.log.read()}")
        self.url = match.group(1)

    def infer(self, model, body, headers=JSON, **kwargs):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(f"{self.url}/v2/models/{model}/infer", data=data, headers=headers, timeout=30, **kwargs)

    def terminate(self, timeout=30):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.close()
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.close()

    def close(self):
        self.process.stdout.close()
        self.log.close()


def json_request(x, request_id="r", binary_output=False):
    request = {"id": request_id,
               "inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.flatten().tolist()}]}
    if binary_output:
        request["parameters"] = {"binary_data_output": True}
    return request


def binary_request(x, request_id="b"):
    header = json.dumps({"id": request_id, "inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                                       "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header)),
                                  "Content-Type": "application/octet-stream"}


def binary_logits(response, rows):
    length = int(response.headers["Inference-Header-Content-Length"])
    header = json.loads(response.content[:length])
    assert header["outputs"][0]["parameters"]["binary_data_size"] == rows * 10 * 4, header
    return header, np.frombuffer(response.content[length:], np.float32).reshape(rows, 10)


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.repo = os.path.join(cls.dir.name, "repo")
        os.makedirs(os.path.join(cls.repo, "fixed", "1"))
        os.makedirs(os.path.join(cls.repo, "cnn", "1"))
        cls.fixed_model = os.path.join(cls.repo, "fixed", "1", "model.kestrel")
        cls.batched_model = os.path.join(cls.repo, "cnn", "1", "model.kestrel")
        run_cli("convert", "--model", CNN, "--output", cls.fixed_model, "--input-shape", "input:1,1,28,28")
        run_cli("convert", "--model", CNN, "--output", cls.batched_model, "--max-batch", "8")
        cls.rng = np.random.default_rng(11)
        cls.server = Server("--model-repository", cls.repo, "--max-request-bytes", "1000000")

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.dir.cleanup()

    def kestrel_run(self, model, x):
        """The logits `kestrel run` writes for input x."""
        with tempfile.TemporaryDirectory() as out:
            np.save(os.path.join(out, "x.npy"), x)
            run_cli("run", "--model", model, "--input", f"input={os.path.join(out, 'x.npy')}", "--output-dir", out)
            return np.load(os.path.join(out, "logits.npy"))

    def image(self, rows):
        return self.rng.standard_normal((rows, 1, 28, 28)).astype(np.float32)

    def test_health_and_metadata(self):
        url = self.server.url
        self.assertEqual(requests.get(f"{url}/v2/health/live").status_code, 200)
        self.assertEqual(requests.get(f"{url}/v2/health/ready").status_code, 200)
        server = requests.get(f"{url}/v2").json()
        self.assertEqual(server["name"], "kestrel")
        self.assertIn("binary_tensor_data", server["extensions"])
        batched = requests.get(f"{url}/v2/models/cnn").json()
        self.assertEqual(batched["platform"], "kestrel")
        self.assertEqual(batched["versions"], ["1"])
        self.assertEqual(batched["inputs"], [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}])
        self.assertEqual(batched["outputs"], [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}])
        fixed = requests.get(f"{url}/v2/models/fixed/versions/1").json()
        self.assertEqual(fixed["inputs"][0]["shape"], [1, 1, 28, 28])
        self.assertEqual(requests.get(f"{url}/v2/models/fixed/ready").status_code, 200)
        self.assertEqual(requests.get(f"{url}/v2/models/fixed/versions/9/ready").status_code, 404)
        metrics = requests.get(f"{url}/metrics").text
        self.assertIn('nv_inference_request_success{model="cnn",version="1"}', metrics)
        self.assertIn("# TYPE kestrel_batch_size histogram", metrics)

    def test_model_configuration(self):
        """Triton's model configuration extension, as perf_analyzer reads it."""
        url = self.server.url
        self.assertIn("model_configuration", requests.get(f"{url}/v2").json()["extensions"])
        batched = requests.get(f"{url}/v2/models/cnn/config").json()
        self.assertEqual(batched["name"], "cnn")
        self.assertEqual(batched["max_batch_size"], 8)
        self.assertEqual(batched["input"], [{"name": "input", "data_type": "TYPE_FP32", "dims": [1, 28, 28]}])
        self.assertEqual(batched["output"], [{"name": "logits", "data_type": "TYPE_FP32", "dims": [10]}])
        self.assertEqual(batched["dynamic_batching"], {"max_queue_delay_microseconds": 500})
        self.assertEqual(batched["instance_group"][0]["kind"], "KIND_CPU")
        self.assertGreaterEqual(batched["instance_group"][0]["count"], 1)
        fixed = requests.get(f"{url}/v2/models/fixed/versions/1/config").json()
        self.assertEqual(fixed["max_batch_size"], 0)
        self.assertEqual(fixed["input"][0]["dims"], [1, 1, 28, 28])
        self.assertNotIn("dynamic_batching", fixed)
        missing = requests.get(f"{url}/v2/models/nope/config")
        self.assertEqual(missing.status_code, 404)
        self.assertIn("nope", missing.json()["error"])

    def test_statistics(self):
        """Triton's statistics extension: counts and nanoseconds grow with each answered request."""
        url = self.server.url
        self.assertIn("statistics", requests.get(f"{url}/v2").json()["extensions"])

        def stats():
            body = requests.get(f"{url}/v2/models/fixed/stats").json()
            self.assertEqual(len(body["model_stats"]), 1)
            return body["model_stats"][0]

        before = stats()
        self.assertEqual((before["name"], before["version"]), ("fixed", "1"))
        for i in range(3):
            self.assertEqual(self.server.infer("fixed", json_request(self.image(1), f"s{i}")).status_code, 200)
        after = stats()
        success = after["inference_stats"]["success"]
        self.assertEqual(success["count"] - before["inference_stats"]["success"]["count"], 3)
        self.assertEqual(after["inference_count"] - before["inference_count"], 3)
        self.assertEqual(after["execution_count"] - before["execution_count"], 3)
        self.assertGreater(after["inference_stats"]["compute_infer"]["ns"],
                           before["inference_stats"]["compute_infer"]["ns"])
        self.assertGreaterEqual(success["ns"], after["inference_stats"]["compute_infer"]["ns"])
        self.assertGreater(after["last_inference"], 0)
        self.assertEqual(requests.get(f"{url}/v2/models/nope/stats").status_code, 404)

    def test_json_and_binary_results_equal_kestrel_run(self):
        for model, path, rows in (("fixed", self.fixed_model, 1), ("cnn", self.batched_model, 3)):
            x = self.image(rows)
            expected = self.kestrel_run(path, x)
            answer = self.server.infer(model, json_request(x, f"json-{model}"))
            self.assertEqual(answer.status_code, 200, answer.text)
            body = answer.json()
            self.assertEqual(body["id"], f"json-{model}")
            self.assertEqual(body["model_name"], model)
            self.assertEqual(body["model_version"], "1")
            self.assertEqual(body["outputs"][0]["shape"], [rows, 10])
            np.testing.assert_array_equal(np.array(body["outputs"][0]["data"], np.float32).reshape(rows, 10), expected)
            data, headers = binary_request(x, f"bin-{model}")
            answer = self.server.infer(model, data, headers=headers)
            self.assertEqual(answer.status_code, 200, answer.text)
            header, logits = binary_logits(answer, rows)
            self.assertEqual(header["id"], f"bin-{model}")
            np.testing.assert_array_equal(logits, expected)

    def test_concurrent_requests_each_get_their_own_result(self):
        images = [self.image(1 + i % 3) for i in range(24)]
        expected = [self.kestrel_run(self.batched_model, x) for x in images]
        results = [None] * len(images)

        def client(i):
            with requests.Session() as session:
                results[i] = session.post(f"{self.server.url}/v2/models/cnn/infer",
                                          data=json.dumps(json_request(images[i], str(i))), headers=JSON, timeout=30)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(images))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, answer in enumerate(results):
            self.assertEqual(answer.status_code, 200, answer.text)
            body = answer.json()
            self.assertEqual(body["id"], str(i))
            logits = np.array(body["outputs"][0]["data"], np.float32).reshape(images[i].shape[0], 10)
            # Stacked with other requests, a kernel may block the batch differently: equal to rounding.
            np.testing.assert_allclose(logits, expected[i], rtol=1e-4, atol=1e-4)

    def assert_still_serving(self, server=None, model="cnn", rows=1):
        answer = (server or self.server).infer(model, json_request(self.image(rows), "after"))
        self.assertEqual(answer.status_code, 200, answer.text)

    def test_every_malformed_request_gets_its_code(self):
        x = self.image(1)
        good = json_request(x)
        wrong_dtype = json.loads(json.dumps(good))
        wrong_dtype["inputs"][0]["datatype"] = "FP64"
        wrong_shape = json_request(self.image(1).reshape(1, 28, 1, 28))
        missing = {"inputs": []}
        data, headers = binary_request(x)
        cases = [
            ("cnn", "{not json", JSON, 400, "not valid JSON"),
            ("cnn", json.dumps(wrong_dtype), JSON, 400, "datatype FP64"),
            ("cnn", json.dumps(wrong_shape), JSON, 400, "does not match"),
            ("cnn", json.dumps(missing), JSON, 400, "missing input 'input'"),
            ("cnn", json.dumps(json_request(self.image(9))), JSON, 400, "batch 9"),
            ("fixed", json.dumps(json_request(self.image(2))), JSON, 400, "does not match"),
            ("cnn", data[:-10], headers, 400, "truncated"),
            ("nope", json.dumps(good), JSON, 404, "unknown model 'nope'"),
            ("cnn/versions/2", json.dumps(good), JSON, 404, "unknown version"),
            ("cnn", b"x" * 2_000_000, JSON, 413, "--max-request-bytes"),
        ]
        for model, body, request_headers, status, message in cases:
            with self.subTest(model=model, status=status, message=message):
                answer = self.server.infer(model, body, headers=request_headers)
                self.assertEqual(answer.status_code, status, answer.text)
                self.assertIn(message, answer.json()["error"])
                self.assert_still_serving()

    def test_queue_full_and_timeout(self):
        # A one-row request waits 1 s for its batch to fill, beyond the 300 ms
        # timeout (504); meanwhile it fills the one-request queue (503). A full
        # batch (8 rows) runs at once.
        server = Server("--model", self.batched_model, "--name", "cnn", "--max-queue-delay-us", "1000000",
                        "--max-queue", "1", "--request-timeout-ms", "300", "--sessions", "1")
        try:
            answers = {}
            waiting = threading.Thread(target=lambda: answers.update(first=server.infer("cnn", json_request(self.image(1)))))
            waiting.start()
            time.sleep(0.1)
            refused = server.infer("cnn", json_request(self.image(1)))
            self.assertEqual(refused.status_code, 503, refused.text)
            self.assertIn("queue full", refused.json()["error"])
            waiting.join()
            self.assertEqual(answers["first"].status_code, 504, answers["first"].text)
            self.assertIn("timed out", answers["first"].json()["error"])
            time.sleep(1.0)  # the dropped request leaves the queue
            self.assert_still_serving(server, rows=8)
            self.assertEqual(server.terminate(), 0)
        finally:
            server.kill()

    def test_sigterm_finishes_the_request_in_flight(self):
        server = Server("--model", self.batched_model, "--name", "cnn", "--max-queue-delay-us", "1000000")
        try:
            x = self.image(1)
            answers = {}
            client = threading.Thread(target=lambda: answers.update(last=server.infer("cnn", json_request(x, "last"))))
            client.start()
            deadline = time.time() + 10
            while time.time() < deadline and 'kestrel_queue_depth{model="cnn",version="1"} 1' not in requests.get(
                    f"{server.url}/metrics").text:
                time.sleep(0.02)
            self.assertEqual(server.terminate(), 0)
            client.join()
            self.assertEqual(answers["last"].status_code, 200, answers["last"].text)
            np.testing.assert_array_equal(np.array(answers["last"].json()["outputs"][0]["data"], np.float32),
                                          self.kestrel_run(self.batched_model, x).flatten())
        finally:
            server.kill()


class ServeRepositoryControlTest(unittest.TestCase):
    """Triton's model repository extension: index, load (a new version, a
    broken folder), unload, and reloads under load losing no request."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.repo = os.path.join(self.dir.name, "repo")
        os.makedirs(os.path.join(self.repo, "cnn", "1"))
        self.model_v1 = os.path.join(self.repo, "cnn", "1", "model.kestrel")
        run_cli("convert", "--model", CNN, "--output", self.model_v1, "--max-batch", "4")
        self.server = Server("--model-repository", self.repo)
        self.url = self.server.url
        self.rng = np.random.default_rng(5)

    def tearDown(self):
        self.server.kill()
        self.dir.cleanup()

    def post(self, path):
        return requests.post(f"{self.url}/v2/repository/{path}", timeout=60)

    def index(self):
        response = self.post("index")
        self.assertEqual(response.status_code, 200)
        return [(e["name"], e.get("version"), e["state"]) for e in response.json()]

    def logits(self, x, request_id="r"):
        response = self.server.infer("cnn", json_request(x, request_id))
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["id"], request_id)
        return np.array(response.json()["outputs"][0]["data"], np.float32).reshape(x.shape[0], 10)

    def test_unload_load_and_a_new_version(self):
        self.assertIn("model_repository", requests.get(f"{self.url}/v2").json()["extensions"])
        self.assertEqual(self.index(), [("cnn", "1", "READY")])
        x = self.rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
        before = self.logits(x)

        self.assertEqual(self.post("models/cnn/unload").status_code, 200)
        self.assertEqual(self.index(), [("cnn", None, "UNAVAILABLE")])
        self.assertEqual(self.server.infer("cnn", json_request(x)).status_code, 404)
        self.assertEqual(requests.get(f"{self.url}/v2/models/cnn/ready").status_code, 404)
        self.assertEqual(self.post("models/cnn/unload").status_code, 404)
        metrics = requests.get(f"{self.url}/metrics").text
        self.assertIn('kestrel_model_ready{model="cnn",version="1"} 0', metrics)

        self.assertEqual(self.post("models/cnn/load").status_code, 200)
        np.testing.assert_array_equal(self.logits(x), before)
        metrics = requests.get(f"{self.url}/metrics").text
        self.assertIn('kestrel_model_ready{model="cnn",version="1"} 1', metrics)
        self.assertEqual(metrics.count('nv_inference_request_success{model="cnn",version="1"}'), 1)

        # Version 2: the same network at a fixed shape; after load, the default.
        os.makedirs(os.path.join(self.repo, "cnn", "2"))
        run_cli("convert", "--model", CNN, "--output", os.path.join(self.repo, "cnn", "2", "fixed.kestrel"),
                "--input-shape", "input:1,1,28,28")
        self.assertEqual(requests.get(f"{self.url}/v2/models/cnn").json()["versions"], ["1"])
        self.assertEqual(self.post("models/cnn/load").status_code, 200)
        self.assertEqual(self.index(), [("cnn", "1", "READY"), ("cnn", "2", "READY")])
        self.assertEqual(requests.get(f"{self.url}/v2/models/cnn").json()["inputs"][0]["shape"], [1, 1, 28, 28])
        np.testing.assert_array_equal(self.logits(x[:1]), before[:1])

    def test_a_broken_folder_leaves_the_served_versions(self):
        os.makedirs(os.path.join(self.repo, "cnn", "3"))  # a version folder with no .kestrel file
        response = self.post("models/cnn/load")
        self.assertEqual(response.status_code, 400)
        self.assertIn(os.path.join(self.repo, "cnn", "3"), response.json()["error"])
        self.assertEqual(self.index(), [("cnn", "1", "READY")])
        self.logits(self.rng.standard_normal((1, 1, 28, 28)).astype(np.float32))
        # A version whose file does not load: the load's own version 1 came and
        # went, and the one served still answers and reports ready.
        with open(os.path.join(self.repo, "cnn", "3", "model.kestrel"), "wb") as f:
            f.write(b"not a model" * 100)
        response = self.post("models/cnn/load")
        self.assertEqual(response.status_code, 400)
        self.assertIn(os.path.join(self.repo, "cnn", "3", "model.kestrel"), response.json()["error"])
        self.logits(self.rng.standard_normal((1, 1, 28, 28)).astype(np.float32))
        self.assertIn('kestrel_model_ready{model="cnn",version="1"} 1', requests.get(f"{self.url}/metrics").text)
        missing = self.post("models/nope/load")
        self.assertEqual(missing.status_code, 404)
        self.assertIn("nope", missing.json()["error"])
        self.assertEqual(self.post("models/.hidden/load").status_code, 400)  # not a model folder name

    def test_a_single_model_file_is_neither_loaded_nor_unloaded(self):
        single = Server("--model", self.model_v1, "--name", "one")
        try:
            for action in ("load", "unload"):
                response = requests.post(f"{single.url}/v2/repository/models/one/{action}", timeout=30)
                self.assertEqual(response.status_code, 400, action)
                self.assertIn("--model-repository", response.json()["error"])
            self.assertEqual(requests.get(f"{single.url}/v2/models/one/ready").status_code, 200)
        finally:
            single.kill()

    def test_reloads_under_load_lose_no_request(self):
        x = self.rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
        expected = self.logits(x)
        stop = threading.Event()
        failures, answered = [], [0]
        lock = threading.Lock()

        def client(k):
            session = requests.Session()
            i = 0
            while not stop.is_set():
                request_id = f"{k}-{i}"
                response = session.post(f"{self.url}/v2/models/cnn/infer", data=json.dumps(json_request(x, request_id)),
                                        headers=JSON, timeout=30)
                body = response.json()
                with lock:
                    if (response.status_code != 200 or body["id"] != request_id
                            or not np.array_equal(np.array(body["outputs"][0]["data"], np.float32).reshape(1, 10),
                                                  expected)):
                        failures.append((response.status_code, body))
                    answered[0] += 1
                i += 1
            session.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(5):
                time.sleep(0.1)
                self.assertEqual(self.post("models/cnn/load").status_code, 200)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        self.assertEqual(failures, [])
        self.assertGreater(answered[0], 20)
        self.assertEqual(self.server.terminate(), 0)


class ServeRepositoryPollTest(unittest.TestCase):
    """--repository-poll-secs: a new version folder, a new model and a
    removed one are picked up without a request; a broken one is logged."""

    def wait_for(self, what, check, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        self.fail(f"not seen within {seconds} s: {what}")

    def test_poll_follows_the_folder(self):
        with tempfile.TemporaryDirectory() as work:
            repo = os.path.join(work, "repo")
            os.makedirs(os.path.join(repo, "cnn", "1"))
            run_cli("convert", "--model", CNN, "--output", os.path.join(repo, "cnn", "1", "model.kestrel"),
                    "--max-batch", "4")
            staged = os.path.join(work, "staged.kestrel")
            run_cli("convert", "--model", CNN, "--output", staged, "--input-shape", "input:1,1,28,28")
            server = Server("--model-repository", repo, "--repository-poll-secs", "0.2")
            try:
                url = server.url

                def versions(name):
                    response = requests.get(f"{url}/v2/models/{name}")
                    return response.json()["versions"] if response.status_code == 200 else None

                os.makedirs(os.path.join(repo, "cnn", "2"))
                shutil.copy(staged, os.path.join(repo, "cnn", "2", "model.kestrel"))
                self.wait_for("cnn version 2", lambda: versions("cnn") == ["1", "2"])
                os.makedirs(os.path.join(repo, "other", "1"))
                shutil.copy(staged, os.path.join(repo, "other", "1", "model.kestrel"))
                self.wait_for("model 'other'", lambda: versions("other") == ["1"])
                x = np.zeros((1, 1, 28, 28), np.float32)
                self.assertEqual(server.infer("other", json_request(x)).status_code, 200)
                os.makedirs(os.path.join(repo, "broken", "1"))  # no .kestrel file in it
                shutil.rmtree(os.path.join(repo, "other"))
                self.wait_for("model 'other' unloaded", lambda: versions("other") is None)
                self.assertIsNone(versions("broken"))
                self.assertEqual(versions("cnn"), ["1", "2"])

                def log():
                    server.log.seek(0)
                    return server.log.read()

                self.wait_for("the broken folder logged", lambda: "model 'broken' not loaded" in log())
                self.assertIn(os.path.join(repo, "broken", "1"), log())
                self.assertIn("unloaded model 'other' (its folder is gone)", log())
                self.assertEqual(server.terminate(), 0)
            finally:
                server.kill()


if __name__ == "__main__":
    unittest.main()
