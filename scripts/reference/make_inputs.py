#!/usr/bin/python3
"""Write preprocessed Fashion-MNIST test inputs for the reference runs.

Usage: /usr/bin/python3 scripts/reference/make_inputs.py OUT_DIR [--count 8]

Takes the first COUNT images of t10k-images-idx3-ubyte.gz and writes, for
each preprocessing recipe, OUT_DIR/<recipe>.bin (raw float32, little-endian,
C order) and OUT_DIR/<recipe>.json ({"shape": [...], "dtype": "float32"}).
Also writes OUT_DIR/labels.json with the true labels of those images.

Recipes:
  cnn28   x/255, (x - 0.2860) / 0.3530                      -> [N,1,28,28]
  rgb224  x/255, bilinear resize to 224x224 (align_corners=False, no
          antialias, torch.nn.functional.interpolate), grey -> 3 channels,
          per-channel (x - mean) / std with ImageNet mean/std  -> [N,3,224,224]
"""

import argparse
import gzip
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx_gz(path):
    """Gzipped IDX: magic (0, 0, type code, ndim), ndim big-endian int32 dims, data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: expected an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise ValueError(f"{path}: size does not match header {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def recipe_cnn28(images_u8):
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - 0.2860) / 0.3530


def recipe_rgb224(images_u8):
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0).unsqueeze(1)
    x = F.interpolate(x, size=(224, 224), mode="bilinear",
                      align_corners=False, antialias=False)
    x = x.repeat(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


RECIPES = {"cnn28": recipe_cnn28, "rgb224": recipe_rgb224}


def write_tensor(out_dir, name, t):
    a = np.ascontiguousarray(t.numpy().astype("<f4"))
    with open(os.path.join(out_dir, name + ".bin"), "wb") as f:
        f.write(a.tobytes(order="C"))
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump({"shape": list(a.shape), "dtype": "float32"}, f)
        f.write("\n")
    return a.shape


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=8)
    args = ap.parse_args()

    torch.set_num_threads(1)
    os.makedirs(args.out_dir, exist_ok=True)
    images = read_idx_gz(os.path.join(DATA_DIR, "t10k-images-idx3-ubyte.gz"))[:args.count]
    labels = read_idx_gz(os.path.join(DATA_DIR, "t10k-labels-idx1-ubyte.gz"))[:args.count]
    for name, fn in RECIPES.items():
        shape = write_tensor(args.out_dir, name, fn(images))
        print(f"{name}: {list(shape)} -> {os.path.join(args.out_dir, name + '.bin')}")
    with open(os.path.join(args.out_dir, "labels.json"), "w") as f:
        json.dump([int(v) for v in labels], f)
        f.write("\n")
    print(f"labels: {[int(v) for v in labels]}")


if __name__ == "__main__":
    main()
