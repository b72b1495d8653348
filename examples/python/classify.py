"""Classifies an image folder with a .kestrel model: one batch (the first N
images in name order), the top-1 class of each.

    python3 classify.py MODEL.kestrel PREPROCESS.json FOLDER
"""
import pathlib
import sys

import kestrel
import numpy as np

if len(sys.argv) != 4:
    sys.exit(f"usage: {sys.argv[0]} MODEL.kestrel PREPROCESS.json FOLDER")
model_path, preprocess, folder = sys.argv[1:]
model = kestrel.load(model_path)
session = kestrel.Session(model)
spec = model.inputs[0]
images = sorted(p for p in pathlib.Path(folder).iterdir() if p.suffix in (".png", ".jpg", ".jpeg"))
images = images[: spec["shape"][0]]
batch = np.zeros(spec["shape"], np.float32)
for i, image in enumerate(images):
    batch[i] = kestrel.preprocess_image(preprocess, str(image))
logits = session.run({spec["name"]: batch})[model.outputs[0]["name"]]
for image, row in zip(images, logits):
    print(f"{image}: {int(np.argmax(row))}")
