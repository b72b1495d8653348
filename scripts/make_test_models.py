#!/usr/bin/python3
"""Makes the ResNet-50 and MobileNetV2 the test suite runs, from the repository's own means.

Usage:
  /usr/bin/python3 scripts/make_test_models.py OUT_DIR

For each of torchvision's resnet50 and mobilenet_v2 (num_classes=10, the
classifiers of ../shared/models, but not trained):
  1. builds it with weights=None after torch.manual_seed(SEED), so the
     weights are the same on every machine;
  2. re-estimates every BatchNorm's running statistics on real images (the
     first CALIBRATION_IMAGES Fashion-MNIST training images, preprocessed as
     below), so activations keep the scale of a real network through 50
     layers instead of vanishing or exploding, then switches to eval mode;
  3. exports it to OUT_DIR/NAME.onnx (opset 13, input "input" [N,3,224,224],
     output "logits" [N,10], dynamic batch, constant folding: the same form as
     the trained models);
  4. preprocesses the first TEST_IMAGES Fashion-MNIST test images the way
     models/rgb224.preprocess.json says (divide by 255, bilinear resize to
     224x224 with half-pixel centres and no antialiasing, grey to RGB,
     ImageNet mean/std, NCHW) and saves PyTorch's logits for them as
     OUT_DIR/NAME.torch_logits.npy: the reference the tests compare with.

The outputs are rebuilt only when this script changed (OUT_DIR/stamp holds
its hash). Exit status 1, with one line naming the cause, on any failure.
Needs Debian's python3-torch, python3-torchvision, python3-onnx, python3-numpy
and dataset-fashion-mnist (scripts/setup.sh installs them).
"""

import gzip
import hashlib
import os
import sys

SEED = 0
OPSET = 13
CALIBRATION_IMAGES = 64
TEST_IMAGES = 8
MODELS = ("resnet50", "mobilenet_v2")
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def fail(message):
    print("make_test_models: " + message, file=sys.stderr)
    sys.exit(1)


try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:
    fail("%s (install python3-torch python3-torchvision python3-numpy: bash scripts/setup.sh)" % e)


def read_idx_images(path, count):
    if not os.path.isfile(path):
        fail("%s is missing (install dataset-fashion-mnist)" % path)
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in range(0, 16, 4))
    if magic != 0x803 or n < count:
        fail("%s: not an IDX image file with %d images" % (path, count))
    pixels = np.frombuffer(data, dtype=np.uint8, count=count * rows * cols, offset=16)
    return pixels.reshape(count, 1, rows, cols)


def preprocess(images):
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=False)
    x = x.repeat(1, 3, 1, 1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def recalibrate_batchnorm(model, images):
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over all calibration batches
    model.train()
    with torch.no_grad():
        for batch in torch.split(images, 16):
            model(batch)
    model.eval()


def make(name, out_dir, calibration, test_inputs):
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10)
    recalibrate_batchnorm(model, calibration)
    path = os.path.join(out_dir, name + ".onnx")
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), path, opset_version=OPSET,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
        logits = model(test_inputs).numpy().astype(np.float32)
    np.save(os.path.join(out_dir, name + ".torch_logits.npy"), logits)
    print("make_test_models: %s (%d bytes), logits %s, max |logit| %.3f" %
          (path, os.path.getsize(path), list(logits.shape), float(np.abs(logits).max())))


def main():
    if len(sys.argv) != 2:
        fail("usage: make_test_models.py OUT_DIR")
    out_dir = sys.argv[1]
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(out_dir, "stamp")
    outputs = [os.path.join(out_dir, n + suffix) for n in MODELS for suffix in (".onnx", ".torch_logits.npy")]
    if os.path.isfile(stamp) and open(stamp).read() == digest and all(os.path.isfile(p) for p in outputs):
        print("make_test_models: %s is up to date" % out_dir)
        return
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(stamp):
        os.remove(stamp)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    calibration = preprocess(read_idx_images(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz"),
                                             CALIBRATION_IMAGES))
    test_inputs = preprocess(read_idx_images(os.path.join(FASHION_MNIST, "t10k-images-idx3-ubyte.gz"), TEST_IMAGES))
    for name in MODELS:
        make(name, out_dir, calibration, test_inputs)
    with open(stamp, "w") as f:
        f.write(digest)


if __name__ == "__main__":
    main()
