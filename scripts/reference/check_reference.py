#!/usr/bin/python3
"""Sanity-check ONNX Runtime reference logits against PyTorch and the labels.

Usage:
  /usr/bin/python3 scripts/reference/check_reference.py INPUT_DIR \
      NAME:MODEL.onnx:RECIPE:LOGITS.npy [...] [--strict NAME=TOL ...]

INPUT_DIR is what make_inputs.py wrote (RECIPE.bin/.json, labels.json).
For every model it prints the ORT argmax of each row next to the true labels
and the max |ORT - torch| over all logits, where "torch" is the same ONNX
graph evaluated op by op with torch.nn.functional in float32 (a small
evaluator for the ops these models use). For fmnist_cnn it also loads the
ONNX weights into the FmnistCNN nn.Module of models/train_fmnist_cnn.py and
compares against that module in eval mode.

--strict NAME=TOL makes the script fail (exit 1) when that model's max abs
difference exceeds TOL.
"""

import argparse
import importlib.util
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def load_input(in_dir, recipe):
    with open(os.path.join(in_dir, recipe + ".json")) as f:
        shape = json.load(f)["shape"]
    a = np.fromfile(os.path.join(in_dir, recipe + ".bin"), dtype="<f4")
    return torch.from_numpy(a.reshape(shape).astype(np.float32))


# ---------------------------------------------------------------------------
# Minimal ONNX evaluator in torch (float32, NCHW, 2-D spatial ops only)
# ---------------------------------------------------------------------------

def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pad_nchw(x, pads, value):
    # ONNX pads: [top, left, bottom, right]; F.pad: (left, right, top, bottom)
    t, l, b, r = pads
    return F.pad(x, (l, r, t, b), value=value)


def _spatial_pads(a, x_hw, kernel, strides, dilations):
    auto_pad = a.get("auto_pad", b"NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad in ("NOTSET", ""):
        return list(a.get("pads", [0, 0, 0, 0]))
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    begin, end = [], []
    for i in range(2):
        out = -(-x_hw[i] // strides[i])
        eff_k = (kernel[i] - 1) * dilations[i] + 1
        total = max(0, (out - 1) * strides[i] + eff_k - x_hw[i])
        small, large = total // 2, total - total // 2
        if auto_pad == "SAME_UPPER":
            begin.append(small); end.append(large)
        else:
            begin.append(large); end.append(small)
    return begin + end


def _op_conv(n, ins, a):
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    strides = list(a.get("strides", [1, 1]))
    dil = list(a.get("dilations", [1, 1]))
    pads = _spatial_pads(a, x.shape[2:], w.shape[2:], strides, dil)
    if pads[0] == pads[2] and pads[1] == pads[3]:
        return F.conv2d(x, w, bias, strides, (pads[0], pads[1]), dil, a.get("group", 1))
    return F.conv2d(_pad_nchw(x, pads, 0.0), w, bias, strides, 0, dil, a.get("group", 1))


def _op_maxpool(n, ins, a):
    x = ins[0]
    k = list(a["kernel_shape"])
    strides = list(a.get("strides", [1, 1]))
    dil = list(a.get("dilations", [1, 1]))
    if a.get("storage_order", 0) != 0 or len(n.output) > 1:
        raise NotImplementedError("MaxPool indices output")
    pads = _spatial_pads(a, x.shape[2:], k, strides, dil)
    x = _pad_nchw(x, pads, float("-inf"))
    return F.max_pool2d(x, k, strides, 0, dil, ceil_mode=bool(a.get("ceil_mode", 0)))


def _op_gemm(n, ins, a):
    A, B = ins[0], ins[1]
    if a.get("transA", 0):
        A = A.t()
    if a.get("transB", 0):
        B = B.t()
    y = a.get("alpha", 1.0) * (A @ B)
    if len(ins) > 2 and ins[2] is not None:
        y = y + a.get("beta", 1.0) * ins[2]
    return y


def _op_clip(n, ins, a):
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min")
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max")
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    return torch.clamp(ins[0], lo, hi)


def _op_bn(n, ins, a):
    x, scale, b, mean, var = ins
    return F.batch_norm(x, mean, var, scale, b, False, 0.0, a.get("epsilon", 1e-5))


def _op_flatten(n, ins, a):
    x = ins[0]
    axis = a.get("axis", 1)
    if axis < 0:
        axis += x.dim()
    lead = int(np.prod(x.shape[:axis])) if axis else 1
    return x.reshape(lead, -1)


OPS = {
    "Conv": _op_conv,
    "MaxPool": _op_maxpool,
    "Gemm": _op_gemm,
    "Clip": _op_clip,
    "BatchNormalization": _op_bn,
    "Flatten": _op_flatten,
    "Relu": lambda n, ins, a: F.relu(ins[0]),
    "Add": lambda n, ins, a: ins[0] + ins[1],
    "Mul": lambda n, ins, a: ins[0] * ins[1],
    "GlobalAveragePool": lambda n, ins, a: ins[0].mean(dim=(2, 3), keepdim=True),
    "Reshape": lambda n, ins, a: ins[0].reshape(
        [int(d) if int(d) != 0 else ins[0].shape[i] for i, d in enumerate(ins[1].tolist())]),
    "Identity": lambda n, ins, a: ins[0],
    "Dropout": lambda n, ins, a: ins[0],
}


@torch.no_grad()
def run_onnx_in_torch(model_path, x):
    m = onnx.load(model_path)
    g = m.graph
    env = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
    for t in env.values():
        if t.is_floating_point() and t.dtype != torch.float32:
            raise ValueError(f"{model_path}: non-float32 initializer")
    graph_inputs = [i.name for i in g.input if i.name not in env]
    if len(graph_inputs) != 1:
        raise ValueError(f"{model_path}: expected one graph input, got {graph_inputs}")
    env[graph_inputs[0]] = x
    for node in g.node:
        a = _attrs(node)
        if node.op_type == "Constant":
            env[node.output[0]] = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
            continue
        fn = OPS.get(node.op_type)
        if fn is None:
            raise NotImplementedError(f"op {node.op_type} in {model_path}")
        ins = [env[i] if i else None for i in node.input]
        env[node.output[0]] = fn(node, ins, a)
    return env[g.output[0].name]


# ---------------------------------------------------------------------------
# fmnist_cnn: the actual nn.Module with the exported (BN-folded) weights
# ---------------------------------------------------------------------------

@torch.no_grad()
def run_fmnist_module(model_path, x):
    spec = importlib.util.spec_from_file_location(
        "train_fmnist_cnn", os.path.join(ROOT, "models", "train_fmnist_cnn.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.FmnistCNN().eval()

    m = onnx.load(model_path)
    inits = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    gemms = [n for n in m.graph.node if n.op_type == "Gemm"]
    # Conv (bias=False) + BatchNorm pairs in definition order = Conv node order.
    pairs = [(s[0], s[1]) for s in net.modules()
             if isinstance(s, torch.nn.Sequential) and len(s) == 2
             and isinstance(s[0], torch.nn.Conv2d) and isinstance(s[1], torch.nn.BatchNorm2d)]
    if len(pairs) != len(convs) or len(gemms) != 1:
        raise ValueError("ONNX graph does not match FmnistCNN")
    for (conv, bn), node in zip(pairs, convs):
        w = inits[node.input[1]]
        b = inits[node.input[2]] if len(node.input) > 2 else torch.zeros(w.shape[0])
        conv.weight.copy_(w)
        # BN becomes y = x + b exactly: mean 0, var 1, eps 0, gamma 1, beta b.
        bn.eps = 0.0
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(1.0)
        bn.bias.copy_(b)
    net.fc.weight.copy_(inits[gemms[0].input[1]])
    net.fc.bias.copy_(inits[gemms[0].input[2]])
    return net(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input_dir")
    ap.add_argument("models", nargs="+", help="NAME:MODEL.onnx:RECIPE:LOGITS.npy")
    ap.add_argument("--strict", action="append", default=[], help="NAME=TOL")
    args = ap.parse_args()
    torch.set_num_threads(2)

    strict = {}
    for s in args.strict:
        k, v = s.split("=")
        strict[k] = float(v)

    with open(os.path.join(args.input_dir, "labels.json")) as f:
        labels = np.array(json.load(f))
    print(f"{'labels':<22} {labels.tolist()}")

    ok = True
    for spec in args.models:
        name, model_path, recipe, npy = spec.split(":")
        ort = np.load(npy)
        x = load_input(args.input_dir, recipe)
        pred = ort.argmax(1)
        hits = int((pred == labels).sum())
        print(f"{name:<22} {pred.tolist()}  ({hits}/{len(labels)} correct)  "
              f"ORT logits {ort.shape} {ort.dtype}")
        ref = run_onnx_in_torch(model_path, x).numpy()
        diff = float(np.abs(ort - ref).max())
        print(f"  max |ORT - torch (ONNX graph)|   = {diff:.3e}  "
              f"(max |logit| {np.abs(ref).max():.2f}; torch argmax {ref.argmax(1).tolist()})")
        worst = diff
        if name == "fmnist_cnn":
            ref2 = run_fmnist_module(model_path, x).numpy()
            diff2 = float(np.abs(ort - ref2).max())
            print(f"  max |ORT - torch (FmnistCNN nn.Module)| = {diff2:.3e}")
            worst = max(worst, diff2)
        if name in strict:
            if worst > strict[name]:
                print(f"  FAIL: {worst:.3e} > tolerance {strict[name]:g}")
                ok = False
            else:
                print(f"  ok: within tolerance {strict[name]:g}")
        if hits < len(labels) // 2:
            print(f"  FAIL: only {hits}/{len(labels)} predictions match the labels")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
