#!/usr/bin/python3
"""Reference outputs of Kestrel's preprocessing, computed with PyTorch.

Run with Debian's interpreter (torch 1.13): /usr/bin/python3 make_reference.py
Writes, next to this script, for each case NAME:
  NAME.json           the preprocessing spec (docs/preprocessing.md)
  NAME_input.npy      the uint8 image, HxWxC
  NAME_expected.npy   float32, what the spec must turn the image into (one image, no batch axis)

The pipeline is written out with torch ops in the order the spec defines
(scale, resize, center crop, channels, normalise, layout) so the values do
not depend on torchvision, which Debian does not package for this python.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SCALE = 1.0 / 255.0
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

CASES = {
    # Fashion-MNIST style grey image up-sampled 8x, as the ResNet-50 spec does.
    "grey28_to_224": dict(
        shape=(28, 28, 1),
        spec={"resize": {"size": [224, 224], "mode": "bilinear", "antialias": False},
              "color": "grey", "scale": SCALE, "mean": [0.2860], "std": [0.3530], "layout": "NCHW"}),
    # A colour image down-sampled by a different factor on each axis.
    "rgb37x53_to_64x48": dict(
        shape=(37, 53, 3),
        spec={"resize": {"size": [64, 48], "mode": "bilinear", "antialias": False},
              "color": "rgb", "scale": SCALE, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "layout": "NCHW"}),
    # Shorter side to 48 (37x53 -> 48x68), a crop whose offsets round both ways
    # (7/2 -> 4, 25/2 -> 12), BGR channel order, channels-last output.
    "rgb37x53_short48_crop41x43_bgr_nhwc": dict(
        shape=(37, 53, 3),
        spec={"resize": {"shorter_side": 48, "mode": "bilinear", "antialias": False},
              "center_crop": [41, 43],
              "color": "bgr", "scale": SCALE, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "layout": "NHWC"}),
}


def resized_size(spec, height, width):
    resize = spec.get("resize")
    if not resize:
        return height, width
    if "size" in resize:
        return tuple(resize["size"])
    side = resize["shorter_side"]  # torchvision Resize(int): the longer side is truncated
    if width <= height:
        return int(side * height / width), side
    return side, int(side * width / height)


def preprocess(image, spec):
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() * spec["scale"]  # [1,C,H,W]
    out_h, out_w = resized_size(spec, image.shape[0], image.shape[1])
    if (out_h, out_w) != image.shape[:2]:
        x = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=False)
    if spec.get("center_crop"):
        crop_h, crop_w = spec["center_crop"]
        top = int(round((out_h - crop_h) / 2.0))  # torchvision CenterCrop's offsets
        left = int(round((out_w - crop_w) / 2.0))
        x = x[:, :, top:top + crop_h, left:left + crop_w]
    if spec["color"] != "grey" and x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if spec["color"] == "bgr":
        x = x.flip(1)
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1, 1)
    x = (x - mean) / std
    if spec["layout"] == "NHWC":
        x = x.permute(0, 2, 3, 1)
    return x[0].contiguous().numpy().astype(np.float32)


def main():
    rng = np.random.default_rng(20261126)
    for name, case in CASES.items():
        image = rng.integers(0, 256, size=case["shape"], dtype=np.uint8)
        with open(os.path.join(HERE, name + ".json"), "w") as file:
            json.dump(case["spec"], file)
            file.write("\n")
        np.save(os.path.join(HERE, name + "_input.npy"), image)
        np.save(os.path.join(HERE, name + "_expected.npy"), preprocess(image, case["spec"]))
        print(name, image.shape, "->", preprocess(image, case["spec"]).shape)


if __name__ == "__main__":
    main()
