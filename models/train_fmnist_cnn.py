#!/usr/bin/python3
"""Train Kestrel's default model: a compact CNN on Fashion-MNIST, exported to ONNX.

Run with Debian's Python (torch, onnx, numpy from apt):

    /usr/bin/python3 models/train_fmnist_cnn.py

Writes models/fmnist_cnn.onnx (opset 13, input `input` float32 [N,1,28,28],
output `logits` [N,10], dynamic batch) and models/fmnist_cnn.preprocess.json.
Training runs on CPU with 2 threads and a fixed seed.
"""

import os

# Let idle OpenMP threads sleep instead of spinning. With 2 threads on a 2-core
# machine that also runs other jobs (e.g. a C++ build), spinning workers starve
# each other: under a parallel build, 30 training steps took 83 s with the
# default policy and 27 s with PASSIVE. Must be set before torch loads; an
# explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import gzip
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))

MEAN = 0.2860
STD = 0.3530

CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


# ---------------------------------------------------------------------------
# IDX parsing (gzip + numpy, no helper libraries)
# ---------------------------------------------------------------------------

def read_idx_gz(path):
    """Read a gzipped IDX file.

    Header: 4-byte magic (two zero bytes, a type code, the number of dims),
    then one big-endian int32 per dim, then the data in row-major order.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file")
    type_code = raw[2]
    ndim = raw[3]
    dtypes = {
        0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"),
        0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
    }
    if type_code not in dtypes:
        raise ValueError(f"{path}: unknown IDX type code {type_code:#x}")
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    offset = 4 + 4 * ndim
    dtype = np.dtype(dtypes[type_code])
    count = int(np.prod(dims))
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    if offset + count * dtype.itemsize != len(raw):
        raise ValueError(f"{path}: size does not match header {tuple(dims)}")
    return data.reshape(tuple(dims))


def load_split(split):
    images = read_idx_gz(os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx_gz(os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz"))
    assert images.shape[0] == labels.shape[0]
    return images, labels


def preprocess(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28]: x/255, then (x - mean) / std."""
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0)
    x = (x - MEAN) / STD
    return x.unsqueeze(1).contiguous()


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

def conv_bn(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
    )


class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = conv_bn(c, c)
        self.conv2 = conv_bn(c, c)

    def forward(self, x):
        y = F.relu(self.conv1(x))
        y = self.conv2(y)
        return F.relu(y + x)


class FmnistCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(1, 32), nn.ReLU(inplace=True),
            conv_bn(32, 32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),                       # 28 -> 14
        )
        self.stage2 = nn.Sequential(
            conv_bn(32, 64), nn.ReLU(inplace=True),
            ResidualBlock(64),
            nn.MaxPool2d(2),                       # 14 -> 7
        )
        self.stage3 = nn.Sequential(
            conv_bn(64, 128), nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.stage1(x)
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.pool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

def augment(x, gen):
    """Random crop 28x28 from a 2-pixel zero-padded image (in normalised
    space, so pad with the value of a black pixel) and random horizontal flip."""
    n = x.shape[0]
    pad_value = (0.0 - MEAN) / STD
    xp = F.pad(x, (2, 2, 2, 2), value=pad_value)
    dx = torch.randint(0, 5, (n,), generator=gen)
    dy = torch.randint(0, 5, (n,), generator=gen)
    out = torch.empty_like(x)
    # Group by offset pair: at most 25 slicing ops per batch.
    for oy in range(5):
        for ox in range(5):
            idx = ((dy == oy) & (dx == ox)).nonzero(as_tuple=True)[0]
            if idx.numel():
                out[idx] = xp[idx, :, oy:oy + 28, ox:ox + 28]
    flip = torch.rand(n, generator=gen) < 0.5
    if flip.any():
        out[flip] = out[flip].flip(3)
    return out


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        logits = model(x[i:i + batch])
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=7)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak OneCycle learning rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(HERE, "fmnist_cnn.onnx"))
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop each epoch after this many steps (timing/debug only)")
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    tr_img, tr_lab = load_split("train")
    te_img, te_lab = load_split("t10k")
    print(f"train {tr_img.shape} test {te_img.shape}", flush=True)
    x_train = preprocess(tr_img)
    y_train = torch.from_numpy(tr_lab.astype(np.int64))
    x_test = preprocess(te_img)
    y_test = torch.from_numpy(te_lab.astype(np.int64))

    model = FmnistCNN()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}", flush=True)

    steps_per_epoch = math.ceil(x_train.shape[0] / args.batch)
    if args.max_steps:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.25)

    t_start = time.time()
    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch:(step + 1) * args.batch]
            xb = augment(x_train[idx], gen)
            yb = y_train[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * yb.shape[0]
            correct += (logits.argmax(1) == yb).sum().item()
            seen += yb.shape[0]
        dt = time.time() - t0
        print(f"epoch {epoch + 1}/{args.epochs}  loss {loss_sum / seen:.4f}  "
              f"train-acc {correct / seen:.4f}  time {dt:.1f}s", flush=True)
    train_time = time.time() - t_start

    acc = evaluate(model, x_test, y_test)
    print(f"training time: {train_time:.1f}s", flush=True)
    print(f"test top-1 (torch, eval mode, 10000 images): {acc * 100:.2f}%", flush=True)

    # ---- export -----------------------------------------------------------
    model.eval()
    dummy = x_test[:2]
    torch.onnx.export(
        model, dummy, args.out,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=13, do_constant_folding=True,
    )
    import onnx
    m = onnx.load(args.out)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"exported {args.out} ({os.path.getsize(args.out)} bytes), ops: {', '.join(ops)}",
          flush=True)

    # Written as literal text so the file reads exactly as documented.
    pp_text = ('{"resize": null, "color": "grey", "scale": 0.00392156862745098, '
               '"mean": [0.2860], "std": [0.3530], "layout": "NCHW"}\n')
    assert json.loads(pp_text)["mean"] == [MEAN] and json.loads(pp_text)["std"] == [STD]
    pp_path = os.path.join(os.path.dirname(os.path.abspath(args.out)),
                           "fmnist_cnn.preprocess.json")
    with open(pp_path, "w") as f:
        f.write(pp_text)
    print(f"wrote {pp_path}", flush=True)


if __name__ == "__main__":
    main()
