#!/usr/bin/python3
"""Check Kestrel against PyTorch on torchvision classifiers (random weights).

Usage:
  /usr/bin/python3 scripts/check_torchvision.py [--models NAME ...]
      [--out-dir DIR] [--kestrel PATH] [--timeout SECONDS]

For every model (default: all of MODELS below) the script
  1. builds the torchvision model with weights=None after torch.manual_seed
     (SEED), so the random weights are the same on every run, and puts it in
     eval mode;
  2. exports it with torch.onnx.export to OUT_DIR/NAME.onnx (opset 13, input
     "input", output "logits", dynamic batch axis, do_constant_folding=True);
  3. draws a random input of batch 2 (torch.randn after a fixed seed;
     2x3x224x224, or 2x3x299x299 for inception_v3), saves it as
     OUT_DIR/NAME/input.npy and computes torch's logits (saved next to it as
     torch_logits.npy);
  4. runs `KESTREL run --model NAME.onnx --input input=input.npy
     --output-dir OUT_DIR/NAME/kestrel` and loads logits.npy from there;
  5. compares: max |kestrel - torch|, that difference relative to
     max |torch|, and whether the argmax of each row agrees.

--calibrate-bn (off by default) re-estimates BatchNorm running statistics on
random inputs in train mode before switching to eval mode. With the plain
random init several models produce logits of ~1e-9..1e-14 (mobilenet,
mnasnet, efficientnet) or logits that are just the classifier bias
(googlenet), for which the absolute part of the tolerance below says little;
the calibrated weights give O(1) logits that depend on the input.

Pass criterion: a model passes when
    max |kestrel - torch| <= 1e-3 * max(1, max |torch|)
and fails otherwise. A model also fails (with its reason printed) when it
cannot be built or exported, when the Kestrel CLI exits non-zero (its error
line is printed), times out, or writes no/ill-shaped logits. Nothing is
skipped silently.

Output: one line per model (name, ONNX node count, export time, Kestrel run
time, max abs diff, relative diff, argmax agreement, PASS/FAIL, the set of
ONNX op types used), then the union of op types across all exported models
and a closing "N passed, N failed" line. Exit status 1 if any model failed.

Uses only torch, torchvision, onnx and numpy (Debian's /usr/bin/python3).
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import onnx
import torch
import torchvision

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SEED = 0
BATCH = 2
OPSET = 13

# name -> (constructor keyword arguments, input height/width)
MODELS = {
    "resnet18": ({}, 224),
    "resnext50_32x4d": ({}, 224),
    "densenet121": ({}, 224),
    "googlenet": ({"aux_logits": False, "init_weights": True}, 224),
    "inception_v3": ({"aux_logits": False, "init_weights": True}, 299),
    "mobilenet_v2": ({}, 224),
    "mobilenet_v3_small": ({}, 224),
    "mobilenet_v3_large": ({}, 224),
    "shufflenet_v2_x1_0": ({}, 224),
    "squeezenet1_1": ({}, 224),
    "mnasnet1_0": ({}, 224),
    "regnet_y_400mf": ({}, 224),
    "efficientnet_b0": ({}, 224),
    "convnext_tiny": ({}, 224),
}


def tolerance(torch_max_abs):
    return 1e-3 * max(1.0, torch_max_abs)


def build_model(name, calibrate_bn=False):
    kwargs, size = MODELS[name]
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    if calibrate_bn:
        calibrate_batchnorm(model, size)
    model.eval()
    return model, size


def calibrate_batchnorm(model, size, batches=2, batch=4):
    """Replaces the BatchNorm running statistics (mean 0, var 1 after random
    init) with statistics measured on random inputs, so activations keep a
    sane scale through deep networks instead of vanishing or exploding."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    gen = torch.Generator().manual_seed(SEED + 2)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch, 3, size, size, generator=gen))


def export(model, size, path):
    dummy = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        torch.onnx.export(
            model,
            dummy,
            path,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
        )


def graph_ops(graph):
    """Node count and op types of a graph, including any subgraphs."""
    count = 0
    ops = set()
    for node in graph.node:
        count += 1
        ops.add(node.op_type)
        for attr in node.attribute:
            subgraphs = list(attr.graphs)
            if attr.HasField("g"):
                subgraphs.append(attr.g)
            for sub in subgraphs:
                c, o = graph_ops(sub)
                count += c
                ops |= o
    return count, ops


def cli_error_line(stderr):
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[-1] if lines else "(no stderr)"


def check_model(name, args):
    """Returns a dict describing the result; 'ok' says whether it passed."""
    r = {"name": name, "ok": False, "nodes": None, "ops": set(), "export_s": None,
         "run_s": None, "torch_max": None, "max_diff": None, "rel_diff": None, "argmax": None, "reason": ""}
    work = os.path.join(args.out_dir, name)
    os.makedirs(work, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, name + ".onnx")

    try:
        model, size = build_model(name, args.calibrate_bn)
    except Exception as e:  # noqa: BLE001 - report any build failure
        r["reason"] = "build failed: %s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return r

    t0 = time.perf_counter()
    try:
        export(model, size, onnx_path)
    except Exception as e:  # noqa: BLE001 - report any export failure
        r["reason"] = "export failed: %s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return r
    r["export_s"] = time.perf_counter() - t0

    try:
        proto = onnx.load(onnx_path)
        r["nodes"], r["ops"] = graph_ops(proto.graph)
    except Exception as e:  # noqa: BLE001
        r["reason"] = "cannot read exported ONNX: %s: %s" % (type(e).__name__, e)
        return r

    torch.manual_seed(SEED + 1)
    x = torch.randn(BATCH, 3, size, size)
    with torch.no_grad():
        ref = model(x).numpy().astype(np.float32)
    input_path = os.path.join(work, "input.npy")
    np.save(input_path, x.numpy().astype(np.float32))
    np.save(os.path.join(work, "torch_logits.npy"), ref)

    out_dir = os.path.join(work, "kestrel")
    logits_path = os.path.join(out_dir, "logits.npy")
    if os.path.exists(logits_path):
        os.remove(logits_path)
    cmd = [args.kestrel, "run", "--model", onnx_path, "--input", "input=" + input_path,
           "--output-dir", out_dir]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        r["run_s"] = time.perf_counter() - t0
        r["reason"] = "kestrel timed out after %ds" % args.timeout
        return r
    except OSError as e:
        r["reason"] = "cannot start kestrel (%s): %s" % (args.kestrel, e)
        return r
    r["run_s"] = time.perf_counter() - t0
    if proc.returncode != 0:
        r["reason"] = "kestrel exit %d: %s" % (proc.returncode, cli_error_line(proc.stderr))
        return r
    if not os.path.exists(logits_path):
        r["reason"] = "kestrel wrote no logits.npy"
        return r
    got = np.load(logits_path)
    if got.shape != ref.shape:
        r["reason"] = "shape mismatch: kestrel %s vs torch %s" % (got.shape, ref.shape)
        return r
    got = got.astype(np.float32)
    if not np.all(np.isfinite(got)):
        r["reason"] = "kestrel logits contain NaN/Inf"
        r["max_diff"] = float("nan")
        return r

    torch_max = float(np.max(np.abs(ref)))
    r["torch_max"] = torch_max
    diff = float(np.max(np.abs(got - ref)))
    r["max_diff"] = diff
    r["rel_diff"] = diff / torch_max if torch_max > 0 else float("inf") if diff > 0 else 0.0
    agree = int(np.sum(np.argmax(got, axis=1) == np.argmax(ref, axis=1)))
    r["argmax"] = "%d/%d" % (agree, ref.shape[0])
    tol = tolerance(torch_max)
    if diff <= tol:
        r["ok"] = True
    else:
        r["reason"] = "max abs diff %.3g > tolerance %.3g" % (diff, tol)
    return r


def fmt_s(v):
    return "-" if v is None else "%.1fs" % v


def fmt_e(v):
    return "-" if v is None else "%.2e" % v


def format_line(r):
    width = max(len(n) for n in MODELS)
    line = ("%-*s nodes=%-4s export=%-6s kestrel=%-7s max|torch|=%-9s maxdiff=%-9s rel=%-9s "
            "argmax=%-3s %s") % (
        width, r["name"], "-" if r["nodes"] is None else r["nodes"], fmt_s(r["export_s"]),
        fmt_s(r["run_s"]), fmt_e(r["torch_max"]), fmt_e(r["max_diff"]), fmt_e(r["rel_diff"]),
        r["argmax"] or "-",
        "PASS" if r["ok"] else "FAIL")
    if r["reason"]:
        line += " (" + r["reason"] + ")"
    line += " ops={" + ",".join(sorted(r["ops"])) + "}"
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), metavar="NAME",
                        help="subset of: " + " ".join(MODELS))
    parser.add_argument("--out-dir", default="/tmp/kestrel_torchvision")
    parser.add_argument("--kestrel", default=os.path.join(ROOT, "build", "kestrel"),
                        help="path to the kestrel CLI (default: build/kestrel in the repo)")
    parser.add_argument("--timeout", type=int, default=1800,
                        help="seconds allowed per kestrel run (default 1800)")
    parser.add_argument("--calibrate-bn", action="store_true",
                        help="before eval, re-estimate BatchNorm running stats on random inputs "
                             "(off by default; with pure random init several models' logits are "
                             "tiny or input-independent, which makes the absolute tolerance weak)")
    args = parser.parse_args()

    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error("unknown model(s): %s (choose from %s)" % (" ".join(unknown), " ".join(MODELS)))
    args.out_dir = os.path.abspath(args.out_dir)
    args.kestrel = os.path.abspath(args.kestrel)
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(1)

    results = []
    for name in args.models:
        r = check_model(name, args)
        results.append(r)
        print(format_line(r), flush=True)

    passed = sum(r["ok"] for r in results)
    failed = len(results) - passed
    union = set()
    for r in results:
        union |= r["ops"]
    print("op types used (%d): %s" % (len(union), " ".join(sorted(union))))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
