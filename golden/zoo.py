"""The model zoo: build, describe and list the converted networks shipped with the package.

``augsnn zoo build net2`` trains Net2 (or takes ``--checkpoint``), converts it with each
method, evaluates the golden model, chooses T, and writes ``golden/zoo/<net>-<method>.npz``
plus a manifest ``<net>-<method>.json``: the exact commands and seed that reproduce it, ANN
accuracy, SNN accuracy at the chosen T, events per image and accuracy vs T.

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

from .modelfile import ZOO_DIR, save, zoo_manifest, zoo_names

__all__ = ["register", "build", "choose_T", "ann_correct_mask", "plan_for"]

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


def ann_correct_mask(model, n: int | None = None) -> np.ndarray | None:
    """Per test image, whether the source ANN was right (from ``meta['ann_test_correct']``)."""
    packed = model.meta.get("ann_test_correct")
    if packed is None:
        return None
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8)).astype(bool)
    total = model.meta.get("ann_test_images", len(bits))
    return bits[:total][:n] if n is not None else bits[:total]


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
        from .ann import TRAIN_OPTIONS
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
    from . import ann
    from .ann import convert_module
    from .datasets import load_dataset
    from .evaluate import evaluate
    workdir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    if net not in ann.NETS:
        raise ValueError(f"net must be one of {sorted(ann.NETS)}, not {net!r}")
    train_cmd = f"augsnn train {net} --seed {seed} -o {net}.pt"
    if checkpoint is None:
        from augsnn.cli import main as cli
        checkpoint = str(workdir / f"{net}.pt")
        print(f"$ {train_cmd}", file=log)
        if cli(["train", net, "--seed", str(seed), "-o", checkpoint]) != 0:
            raise RuntimeError("training failed")
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


def register(sub) -> None:
    p = sub.add_parser("zoo", help="list the shipped models, or rebuild zoo entries")
    zs = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND", required=True)
    q = zs.add_parser("list", help="list the zoo models with their manifests")
    q.set_defaults(func=cmd_list)
    q = zs.add_parser("build", help="train, convert, evaluate and write zoo entries for a net")
    q.add_argument("net", help="net1 | net2 | net3 | net4 | tiny")
    q.add_argument("--methods", nargs="+", default=["aug", "ter"], choices=sorted(PLAN))
    q.add_argument("--checkpoint", help="reuse a trained checkpoint instead of training")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--workdir", default="out/zoo", help="where checkpoints go")
    q.add_argument("--out-dir", default=str(ZOO_DIR), help="where zoo entries go")
    q.set_defaults(func=cmd_build)
    q = zs.add_parser("doc", help="regenerate docs/accuracy.md, its plots and README's zoo table")
    q.add_argument("--docs", default="docs", help="docs folder (default docs)")
    q.add_argument("--readme", default="README.md", help="README to refresh (default README.md)")
    q.set_defaults(func=cmd_doc)


def cmd_list(args) -> int:
    names = zoo_names()
    print(f"{'name':12s} {'ANN':>7s} {'SNN':>7s} {'T':>5s} {'events/img':>11s}  images")
    for name in names:
        m = zoo_manifest(name)
        print(f"{name:12s} {m['ann_accuracy_on_evaluated'] * 100:6.2f}% {m['snn_accuracy'] * 100:6.2f}% "
              f"{m['T']:5d} {m['events_per_image']:11.0f}  {m['images_evaluated']}")
    if not names:
        print("(the zoo is empty)")
    return 0


def cmd_build(args) -> int:
    build(args.net, args.methods, workdir=Path(args.workdir), checkpoint=args.checkpoint,
          seed=args.seed, out_dir=Path(args.out_dir))
    return 0


def zoo_table(manifests: list[dict]) -> str:
    """Markdown table of zoo models (from their manifests)."""
    rows = ["| model | topology | ANN acc. | SNN acc. | T | events/image | test images |",
            "|---|---|---|---|---|---|---|"]
    for m in manifests:
        rows.append(f"| `{m['name']}` | {m['topology']} | {m['ann_accuracy_on_evaluated'] * 100:.2f}% "
                    f"| {m['snn_accuracy'] * 100:.2f}% | {m['T']} | {m['events_per_image']:,.0f} "
                    f"| {m['images_evaluated']:,} |")
    return "\n".join(rows)


def write_docs(docs: Path, readme: Path | None) -> Path:
    """Write ``docs/accuracy.md`` + PNGs from the zoo manifests; refresh README's zoo table."""
    from .evaluate import plot_accuracy
    manifests = [zoo_manifest(n) for n in zoo_names()]
    img = docs / "img"
    img.mkdir(parents=True, exist_ok=True)
    lines = ["# Accuracy of the zoo models", "",
             "Generated by `augsnn zoo doc` from the manifests `golden/zoo/*.json`, which "
             "`augsnn zoo build NET` writes (commands in each manifest). Integer golden model, "
             "8-bit weights; AugMapping: 8-bit coefficients, TerMapping: ternary (2-bit). "
             "\"ANN acc.\" is the float ANN on the same test images as the SNN; T is the first "
             "step within the tolerance of it (AugMapping 0.1 points, TerMapping 0.2 points).",
             "", zoo_table(manifests), ""]
    nets = sorted({m["net"] for m in manifests})
    for net in nets:
        ms = [m for m in manifests if m["net"] == net]
        reports = [{"model": m["name"], "accuracy_per_step": m["accuracy_per_step"],
                    "ann_accuracy": m["ann_accuracy_on_evaluated"]} for m in ms]
        plot_accuracy(reports, img / f"{net}_error_vs_T.png",
                      title=f"{net} ({ms[0]['topology']}, {ms[0]['dataset']}): error vs T")
        lines += [f"## {net}: {ms[0]['topology']} on {ms[0]['dataset']}", "",
                  f"![{net} error vs T](img/{net}_error_vs_T.png)", ""]
        steps = [t for t in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 100, 200, 300, 500, 750, 1000)]
        head = "| T | " + " | ".join(f"{m['name']} acc. | events/img" for m in ms) + " |"
        lines += [head, "|---" * (1 + 2 * len(ms)) + "|"]
        for t in steps:
            cells = []
            for m in ms:
                acc = m["accuracy_per_step"]
                ev = m["events_per_image_per_step"]
                cells += ([f"{acc[t - 1] * 100:.2f}%", f"{ev[t - 1]:,.0f}"] if t <= len(acc)
                          else ["", ""])
            if any(cells):
                lines.append(f"| {t} | " + " | ".join(cells) + " |")
        lines += ["", "Images: " + "; ".join(f"{m['name']}: first {m['images_evaluated']:,} test "
                                              f"images (ANN {m['ann_accuracy_on_evaluated'] * 100:.2f}% on them)"
                                              for m in ms), ""]
    out = docs / "accuracy.md"
    out.write_text("\n".join(lines))
    if readme is not None and readme.is_file():
        text = readme.read_text()
        start, end = "<!-- zoo-table -->", "<!-- /zoo-table -->"
        if start in text and end in text:
            a, b = text.index(start) + len(start), text.index(end)
            readme.write_text(text[:a] + "\n" + zoo_table(manifests) + "\n" + text[b:])
    return out


def cmd_doc(args) -> int:
    out = write_docs(Path(args.docs), Path(args.readme) if args.readme else None)
    print(f"wrote {out}")
    return 0
