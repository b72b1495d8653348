"""The Python module against the C API's behaviour: load, describe, run,
convert (from a folder or from numpy batches), errors as exceptions.

Run by CTest with PYTHONPATH=<build>/python; needs Debian's python3-numpy.
"""
import os
import sys
import tempfile
import unittest

import kestrel
import numpy as np

SOURCE = os.environ["KESTREL_SOURCE_DIR"]
CNN = os.path.join(SOURCE, "models", "fmnist_cnn.onnx")
sys.path.insert(0, os.path.join(SOURCE, "scripts"))
from export_images import write_grey_png  # noqa: E402  (the repository's PNG writer)


class KestrelModuleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.fp32 = os.path.join(cls.dir.name, "cnn.kestrel")
        kestrel.convert(model=CNN, output=cls.fp32, input_shape="input:2,1,28,28")
        rng = np.random.default_rng(7)
        cls.batches = [rng.standard_normal((4, 1, 28, 28)).astype(np.float32) for _ in range(3)]
        cls.int8 = os.path.join(cls.dir.name, "cnn_int8.kestrel")
        kestrel.convert(model=CNN, output=cls.int8, input_shape="input:2,1,28,28", precision="int8",
                        calibration_batches=cls.batches)

    def test_describes_the_model(self):
        model = kestrel.load(self.int8)
        self.assertEqual(model.inputs, [{"name": "input", "dtype": "float32", "shape": (2, 1, 28, 28)}])
        self.assertEqual(model.outputs[0]["name"], "logits")
        self.assertEqual(model.outputs[0]["shape"], (2, 10))
        self.assertEqual(model.metadata["precision"], "int8")

    def test_runs_and_int8_follows_fp32(self):
        x = self.batches[0][:2]
        fp32 = kestrel.Session(kestrel.load(self.fp32)).run({"input": x})["logits"]
        int8 = kestrel.Session(kestrel.load(self.int8)).run({"input": x})["logits"]
        self.assertEqual(fp32.dtype, np.float32)
        self.assertEqual(int8.shape, (2, 10))
        cosine = float(np.sum(fp32 * int8) / np.sqrt(np.sum(fp32 * fp32) * np.sum(int8 * int8)))
        self.assertGreater(cosine, 0.98)
        again = kestrel.Session(kestrel.load(self.int8)).run({"input": x})["logits"]
        np.testing.assert_array_equal(int8, again)  # deterministic

    def test_max_batch_runs_every_batch_up_to_the_maximum(self):
        path = os.path.join(self.dir.name, "cnn_b4.kestrel")
        kestrel.convert(model=CNN, output=path, max_batch=4)
        model = kestrel.load(path)
        self.assertEqual(model.max_batch, 4)
        self.assertEqual(kestrel.load(self.fp32).max_batch, 0)
        self.assertEqual(model.inputs[0]["shape"], (4, 1, 28, 28))
        session = kestrel.Session(model)
        x = self.batches[1]
        single = [session.run({"input": x[i:i + 1]})["logits"] for i in range(4)]
        for batch in (4, 2, 3, 1):
            out = session.run({"input": x[:batch]})["logits"]
            self.assertEqual(out.shape, (batch, 10))
            np.testing.assert_allclose(out, np.concatenate(single[:batch]), atol=1e-4)
        with self.assertRaisesRegex(ValueError, r"with dim 0 any batch 1\.\.4"):
            session.run({"input": np.zeros((5, 1, 28, 28), np.float32)})

    def test_load_buffer(self):
        with open(self.fp32, "rb") as f:
            model = kestrel.Model.load_buffer(f.read())
        out = kestrel.Session(model).run({"input": np.zeros((2, 1, 28, 28), np.float32)})
        self.assertEqual(out["logits"].shape, (2, 10))

    def test_errors_are_exceptions(self):
        session = kestrel.Session(kestrel.load(self.fp32))
        with self.assertRaisesRegex(ValueError, r"expected shape \[2, 1, 28, 28\]"):
            session.run({"input": np.zeros((1, 1, 28, 28), np.float32)})
        with self.assertRaisesRegex(TypeError, "expected float32, got float64"):
            session.run({"input": np.zeros((2, 1, 28, 28))})
        with self.assertRaises(kestrel.Error):
            session.run({"image": np.zeros((2, 1, 28, 28), np.float32)})
        with self.assertRaisesRegex(kestrel.Error, "no_such.kestrel"):
            kestrel.load(os.path.join(self.dir.name, "no_such.kestrel"))
        with self.assertRaisesRegex(kestrel.Error, "calibration"):
            kestrel.convert(model=CNN, output=os.path.join(self.dir.name, "x.kestrel"), precision="int8")

    def test_one_session_shared_by_threads_returns_each_caller_its_own_result(self):
        # N threads x M runs on one session: every result must be the one of
        # its own input (computed single-threaded first), never another's.
        import threading
        session = kestrel.Session(kestrel.load(self.fp32), threads=1)
        rng = np.random.default_rng(11)
        inputs = [rng.standard_normal((2, 1, 28, 28)).astype(np.float32) for _ in range(8)]
        expected = [session.run({"input": x})["logits"] for x in inputs]
        threads_count, runs = 4, 30
        failures = []

        def worker(t):
            for m in range(runs):
                i = (t * runs + m) % len(inputs)
                try:
                    got = session.run({"input": inputs[i]})["logits"]
                except Exception as error:  # noqa: BLE001 (recorded, then reported)
                    failures.append("thread %d run %d: %r" % (t, m, error))
                    continue
                if not np.array_equal(got, expected[i]):
                    failures.append("thread %d run %d: logits of another input" % (t, m))

        workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads_count)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self.assertEqual(failures, [])

    def test_thread_count_is_limited(self):
        model = kestrel.load(self.fp32)
        with self.assertRaisesRegex(kestrel.Error, "256"):
            kestrel.Session(model, threads=100000)
        with self.assertRaisesRegex(kestrel.Error, "256"):
            kestrel.Session(model, threads=-1)

    def test_arena_limit_is_checked_at_session_creation(self):
        model = kestrel.load(self.fp32)
        with self.assertRaisesRegex(kestrel.Error, "more than the limit of 8192 bytes"):
            kestrel.Session(model, max_arena_bytes=8192)
        with self.assertRaisesRegex(kestrel.Error, "max_arena_bytes"):
            kestrel.Session(model, max_arena_bytes=-1)
        self.assertIsNotNone(kestrel.Session(model, max_arena_bytes=0))  # the default limit

    def test_calibration_batches_and_data_together_are_an_error(self):
        with self.assertRaisesRegex(ValueError, "calibration_batches and calibration_data are both given"):
            kestrel.convert(model=CNN, output=os.path.join(self.dir.name, "both.kestrel"),
                            input_shape="input:2,1,28,28", precision="int8",
                            calibration_data=os.path.join(self.dir.name, "images"),
                            calibration_batches=self.batches)
        self.assertFalse(os.path.exists(os.path.join(self.dir.name, "both.kestrel")))

    def test_fifo_as_model_is_refused(self):
        fifo = os.path.join(self.dir.name, "pipe.kestrel")
        os.mkfifo(fifo)
        with self.assertRaisesRegex(kestrel.Error, "pipe.kestrel: is a FIFO"):
            kestrel.load(fifo)

    def test_preprocess_image(self):
        pixels = (np.arange(28 * 28) % 256).astype(np.uint8).reshape(28, 28)
        png = os.path.join(self.dir.name, "grey.png")
        write_grey_png(png, 28, 28, pixels.tobytes())
        spec = os.path.join(SOURCE, "models", "fmnist_cnn.preprocess.json")
        x = kestrel.preprocess_image(spec, png)
        self.assertEqual(x.shape, (1, 28, 28))
        self.assertEqual(x.dtype, np.float32)
        # The bundled spec only scales to [0, 1] and normalizes: the order of
        # the pixels survives.
        self.assertEqual(int(np.argmax(x.reshape(-1))), int(np.argmax(pixels.reshape(-1))))
        with self.assertRaisesRegex(kestrel.Error, "missing.png"):
            kestrel.preprocess_image(spec, os.path.join(self.dir.name, "missing.png"))

if __name__ == "__main__":
    sys.exit(unittest.main())
