"""The zoo builder: train, convert, evaluate and write the networks shipped with the package.

``augsnn zoo build net2`` trains Net2 (or takes ``--checkpoint``), converts it with each
method, evaluates the golden model, chooses T, and writes ``golden/zoo/<net>-<method>.npz``
plus a manifest ``<net>-<method>.json``: the exact commands and seed that reproduce it, ANN
accuracy, SNN accuracy at the chosen T, events per image and accuracy vs T. Looking the zoo
up (``zoo_names``, ``zoo_manifest``, loading by name) is :mod:`augsnn.golden.modelfile`'s.

Chosen T: the first step whose accuracy is within ``tolerance`` of the ANN's accuracy on the
same images (AugMapping 0.1 points, TerMapping 0.2 points); the best step if none is.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from augsnn.golden.model import ann_correct_mask
from augsnn.golden.modelfile import ZOO_DIR, save

from .runinfo import command_line

__all__ = ["PLAN", "NET_PLAN", "NET_CONVERT", "plan_for", "train_command", "choose_T", "build"]

# Evaluation plan per method: (T_max, number of test images (None: all), tolerance).
PLAN = {"aug": (64, None, 0.001), "ter": (1000, 1000, 0.002), "datanorm": (1000, 1000, 0.002)}
# Per-net overrides of PLAN. The paper's TerMapping latencies grow with depth (Net3 1500,
# Net4 2900 steps). Net4 is the costliest net to simulate (about 4.3 M multiply-adds per
# image and step): its AugMapping run goes to the paper's T=220 on all 10,000 images (about
# 40 min on one core), its TerMapping run to T=1000 on 100 images, to fit 2 shared CPU cores.
NET_PLAN = {"net3": {"ter": (2000, 1000, 0.002)},
            "net4": {"aug": (220, None, 0.001), "ter": (1000, 100, 0.002)}}


# Per-net conversion options (keyword arguments of ``convert_module`` and their CLI flags).
NET_CONVERT = {"tiny": ({"pow2_theta": True}, "--pow2-theta")}


def plan_for(net: str, method: str) -> tuple:
    """``(T_max, images or None, tolerance)`` of the zoo evaluation of ``net`` with ``method``."""
    return NET_PLAN.get(net, {}).get(method, PLAN[method])


def train_command(net: str, ck: dict, seed: int = 0) -> str:
    """The ``augsnn train`` command that reproduces checkpoint ``ck`` (its recipe spelled out).

    Older checkpoints (no recipe in their metadata) get the plain command of their time.
    """
    meta = ck.get("meta", {})
    parts = [f"augsnn train {net} --seed {meta.get('seed', seed)}"]
    if "shift" in meta:  # recipe recorded: spell it out, so that changed defaults do not matter
        parts.append(f"--epochs {meta['epochs']} --dropout {meta['dropout']:g} "
                     f"--shift {meta['shift']} --lr {meta['lr']:g} "
                     + ("--flip" if meta.get("flip") else "--no-flip"))
        if ck.get("in_dropout"):
            parts.append(f"--in-dropout {ck['in_dropout']:g}")
        from augsnn.golden.ann import TRAIN_OPTIONS
        for key in TRAIN_OPTIONS:
            if meta.get(key):
                parts.append(f"--{key.replace('_', '-')} {meta[key]:g}")
    threads = meta.get("threads", 2)
    if threads != 2:  # torch results depend on the thread count: reproduce with the same
        parts.append(f"--threads {threads}")
    return " ".join(parts + [f"-o {net}.pt"])


def choose_T(acc: np.ndarray, ann_acc: float, tolerance: float) -> int:
    """First step (1-based) with ``acc >= ann_acc - tolerance``; the best step otherwise."""
    hit = np.nonzero(acc >= ann_acc - tolerance - 1e-12)[0]
    return int(hit[0]) + 1 if hit.size else int(np.argmax(acc)) + 1


def build(net: str, methods, *, workdir: Path, checkpoint: str | None = None, seed: int = 0,
          out_dir: Path = ZOO_DIR, log=sys.stderr) -> list[dict]:
    """Train (or reuse ``checkpoint``), convert, evaluate and write zoo entries; return manifests."""
    from augsnn.golden import ann
    from augsnn.golden.ann import convert_module
    from augsnn.golden.datasets import load_dataset
    from augsnn.golden.evaluate import evaluate
    workdir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    if net not in ann.NETS:
        raise ValueError(f"net must be one of {sorted(ann.NETS)}, not {net!r}")
    train_cmd = f"augsnn train {net} --seed {seed} -o {net}.pt"
    if checkpoint is None:
        checkpoint = str(workdir / f"{net}.pt")
        print(f"$ {train_cmd}", file=log)
        rec = ann.train_net(net, checkpoint, seed=seed, command=command_line(), log=log)
        print(f"test accuracy {rec['test_accuracy'] * 100:.2f}%; wrote {checkpoint}", file=log)
    torch_net, ck = ann.load_checkpoint(checkpoint)
    dataset = ck["meta"]["dataset"]
    train_cmd = train_command(net, ck, seed)
    test_x, test_y = load_dataset(dataset, "test")
    manifests = []
    for method in methods:
        name = f"{net}-{method}"
        t_max, n_img, tol = plan_for(net, method)
        conv_kwargs, conv_flags = NET_CONVERT.get(net, ({}, ""))
        convert_cmd = (f"augsnn convert {net}.pt --method {method} "
                       + (f"{conv_flags} " if conv_flags else "") + f"-o {name}.npz")
        print(f"$ {convert_cmd}", file=log)
        model = convert_module(torch_net, method, dataset=dataset, name=name,
                               meta={"checkpoint": f"{net}.pt", "command": convert_cmd,
                                     "train": {k: v for k, v in ck["meta"].items()
                                               if k != "history"}}, **conv_kwargs)
        n = len(test_y) if n_img is None else n_img
        ann_ok = ann_correct_mask(model, n)
        ann_acc = float(ann_ok.mean())
        eval_cmd = f"augsnn eval {name}.npz --T {t_max}" + (f" --images {n}" if n_img else "")
        print(f"$ {eval_cmd}", file=log)
        report, _ = evaluate(model, test_x[:n], test_y[:n], t_max, progress=True)
        acc = np.asarray(report["accuracy_per_step"])
        T = choose_T(acc, ann_acc, tol)
        model.meta["T"] = T
        save(model, out_dir / f"{name}.npz")
        manifest = {
            "name": name, "net": net, "method": method, "dataset": dataset,
            "topology": ck["arch"], "seed": ck["meta"]["seed"],
            "reproduce": [train_cmd, convert_cmd, eval_cmd],
            "ann_accuracy": model.meta["ann_accuracy"],
            "images_evaluated": n, "ann_accuracy_on_evaluated": ann_acc,
            "T": T, "snn_accuracy": float(acc[T - 1]),
            "events_per_image": report["events_per_image"][T - 1],
            "synops_per_image": report["synops_per_image"][T - 1],
            "best": report["best"], "tolerance": tol,
            "accuracy_per_step": report["accuracy_per_step"],
            "events_per_image_per_step": report["events_per_image"],
            "eval_seconds": report["seconds"],
            "built": time.strftime("%Y-%m-%d"), "torch": ck["meta"].get("torch"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        }
        (out_dir / f"{name}.json").write_text(json.dumps(manifest, indent=1))
        print(f"{name}: ANN {ann_acc * 100:.2f}% on {n} images; SNN {acc[T - 1] * 100:.2f}% "
              f"at T={T}, {manifest['events_per_image']:.0f} events/image", file=log)
        manifests.append(manifest)
    return manifests
