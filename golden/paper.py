"""``augsnn paper``: the paper's tables and figures, regenerated with our integer golden model.

Writes ``docs/results.md`` and its PNGs (``docs/img/paper_*.png``), every number beside the
paper's (Yu et al., Tables II-IV, Figs. 2, 3, 6, 7, Section E). Sources:

- Table III, Table IV, Figs. 2/3: the zoo manifests (``golden/zoo/<net>-<method>.json``,
  written by ``augsnn zoo build``), or with ``--rebuild`` a fresh ``zoo build`` into the work
  folder. Table IV re-simulates the AugMapping model on TerMapping's test images (full run).
- Table II: DataNorm on ReLU ANNs (``augsnn train netN --act relu``), TerMapping from the zoo.
- Fig. 6, Section E (ANN): the float checkpoints; Fig. 7, Section E (SNN): the zoo models.

Checkpoints are looked up in the work folder, then in ``--checkpoints`` (default ``out/zoo``,
where ``augsnn zoo build`` leaves them), and trained into the work folder when missing.
``--quick`` trains a missing checkpoint for 1 epoch on a few thousand images and simulates
small subsets: it checks the pipeline in minutes; its numbers are not a reproduction.
Simulation results are cached in ``<workdir>/cache`` keyed by model content and settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from .modelfile import ZOO_DIR

__all__ = ["register", "run", "PAPER_T3", "with_neurons", "cosine_per_step"]

NETS_HERE = ("net1", "net2", "net3", "net4")
CIFAR_NETS = ("net5", "net6")
LOSSES = (0.01, 0.001, 0.0)
M_VALUES = (1, 3, 7, 15, 31, 63, 127)
NOT_MEASURED = "not measured: no CIFAR10 data or GPU here"

# The paper's numbers (accuracies as fractions; events per image).
PAPER_T2 = {"net1": {"datanorm": (0.9868, 0.9864), "ter": (0.9877, 0.9877)},
            "net2": {"datanorm": (0.9914, 0.9910), "ter": (0.9935, 0.9935)}}
PAPER_T3 = {  # ANN acc., then per method (SNN acc., latency, events per image)
    "net1": {"ann": 0.9877, "ter": (0.9877, 750, 0.03e6), "aug": (0.9877, 46, 0.02e6)},
    "net2": {"ann": 0.9935, "ter": (0.9935, 750, 0.28e6), "aug": (0.9935, 65, 0.11e6)},
    "net3": {"ann": 0.9018, "ter": (0.9018, 1500, 0.05e6), "aug": (0.9018, 37, 0.03e6)},
    "net4": {"ann": 0.9211, "ter": (0.9211, 2900, 2.45e6), "aug": (0.9211, 220, 0.68e6)},
    "net5": {"ann": 0.9413, "ter": (0.9375, 2800, 15.36e6), "aug": (0.9390, 300, 12.51e6)},
    "net6": {"ann": 0.9342, "ter": (0.9230, 4400, 17.66e6), "aug": (0.9329, 1100, 18.10e6)},
}
PAPER_T4 = {  # (latency reduction, events reduction) at < 1%, < 0.1%, 0% loss
    "net1": ((33, 13.8, 16.3), (2.8, 1.3, 1.5)), "net2": ((11, 15.8, 11.5), (2.9, 3.9, 2.7)),
    "net3": ((42.5, 30.9, 40.5), (1.9, 1.1, 1.4)), "net4": ((3.1, 3.1, 13.2), (0.8, 0.8, 3.6)),
}
PAPER_E = {"net5": ("35.55%", "35.4%", "32.9%"), "net6": ("12.36%", "below chance",
                                                           "below chance")}
TOPOLOGY = {"net5": "128c3-128c3-p2-256c3-256c3-p2-512c3-512c3-p2-1024-10",
            "net6": "VGG16 (13 3x3 convs, 5 pools, 3 dense)"}


@dataclasses.dataclass
class Settings:
    """Subset sizes and step counts of one run (full or quick)."""
    quick: bool
    t2_T: int             # DataNorm steps (Table II)
    t2_images: int        # DataNorm / TerMapping images (Table II)
    same_images: bool     # Table IV: re-simulate AugMapping on TerMapping's images
    f6_aug: tuple         # Fig. 6 AugMapping (T, images)
    f6_ter: tuple         # Fig. 6 TerMapping (T, images)
    f7_images: int        # Fig. 7 images per net
    e_images: int         # Section E AugMapping images
    e_ter_images: int     # Section E TerMapping images
    train: tuple | None   # quick training: (epochs, images)
    calib: int | None     # calibration images for TerMapping/DataNorm (None: training set)


FULL = Settings(False, 1000, 1000, True, (128, 200), (1000, 50), 500, 500, 50, None, None)
QUICK = Settings(True, 150, 100, False, (64, 50), (300, 30), 50, 100, 30, (1, 3000), 2000)


def _command_line() -> str:
    return "augsnn " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _machine() -> str:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
        mem_s = f", {mem:.0f} GiB memory"
    except (ValueError, OSError, AttributeError):
        mem_s = ""
    return f"{platform.machine()}, {os.cpu_count()} cores{mem_s}, {platform.system()}"


def _pct(a) -> str:
    return "—" if a is None else f"{a * 100:.2f}%"


def _num(x) -> str:
    return "—" if x is None else f"{x:,.0f}"


def with_neurons(model, *, coef_bits: int | None = None, double: bool = True):
    """A copy of ``model`` with other spike widths and/or without negative thresholds.

    ``coef_bits`` sets every layer's coefficient width (``M = 2**(coef_bits-1) - 1``);
    ``double=False`` removes the negative threshold of every layer (Section E). Membrane
    widths are re-derived with the converter's rule (room for twice the larger of the step
    input bound and ``(M+1)`` times the largest threshold).
    """
    from .convert import _bits_for
    from .model import Model
    from .neuron import NeuronParams
    layers = []
    for layer in model.layers:
        if hasattr(layer, "weight"):
            n = layer.neuron
            layer = dataclasses.replace(layer, neuron=NeuronParams(
                n.theta_p, n.theta_n if double else None,
                n.coef_bits if coef_bits is None else coef_bits, 62, 0))
        layers.append(layer)
    out = Model(model.name, model.method, model.input_shape, layers, model.output,
                dict(model.meta))
    for layer, bound in zip(out.weighted, out.current_bounds()):
        n = layer.neuron
        need = max(bound, (n.M + 1) * max(n.theta_p, n.theta_n or 0))
        layer.neuron = NeuronParams(n.theta_p, n.theta_n, n.coef_bits,
                                    min(62, _bits_for(2 * need)), 0)
    return out


def cosine_per_step(out: np.ndarray, ann: np.ndarray) -> np.ndarray:
    """Eq. (14) per step: mean over images of cos(SNN output rate after t steps, ANN output).

    ``out``: output coefficients per step ``(T, B, C)``; ``ann``: ANN outputs ``(B, C)``.
    An image with no output spike yet counts as similarity 0.
    """
    counts = np.cumsum(out, axis=0).astype(np.float64)
    ann = np.asarray(ann, dtype=np.float64)
    dot = (counts * ann[None]).sum(axis=2)
    norm = np.linalg.norm(counts, axis=2) * np.linalg.norm(ann, axis=1)[None]
    cos = np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)
    return cos.mean(axis=1)


def _digest(model) -> str:
    from .modelfile import _layer_header
    h = hashlib.sha1(json.dumps([_layer_header(i, layer) for i, layer in
                                 enumerate(model.layers)]).encode())
    for layer in model.weighted:
        h.update(np.ascontiguousarray(layer.weight).tobytes())
    return h.hexdigest()[:16]


class Run:
    """One ``augsnn paper`` run: settings, work folder, cache, log."""

    def __init__(self, workdir: Path, settings: Settings, *, checkpoints: Path | None,
                 zoo_dir: Path, progress: bool, nets=NETS_HERE, log=sys.stderr):
        self.workdir, self.s, self.checkpoints = workdir, settings, checkpoints
        self.nets = tuple(n for n in NETS_HERE if n in nets)
        self.zoo_dir, self.progress, self.log = zoo_dir, progress, log
        self.cache = workdir / "cache"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()
        self.notes: list[str] = []

    def say(self, msg: str) -> None:
        print(f"[paper {time.time() - self.t0:7.1f} s] {msg}", file=self.log, flush=True)

    def cached(self, key: str, fn):
        path = self.cache / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"
        if path.is_file():
            return json.loads(path.read_text())
        value = fn()
        path.write_text(json.dumps(value))
        return value

    # data -------------------------------------------------------------------------------
    def data(self, dataset: str, split: str = "test"):
        from .datasets import load_dataset
        return load_dataset(dataset, split)

    # checkpoints --------------------------------------------------------------------------
    def checkpoint(self, net: str, act: str = "leaky") -> Path:
        """Cached checkpoint of ``net`` (``act``), trained when missing."""
        name = f"{net}.pt" if act == "leaky" else f"{net}-{act}.pt"
        cands = [self.workdir / name]
        if self.checkpoints is not None:
            cands.append(self.checkpoints / name)
        if self.s.quick:
            cands.append(self.workdir / "quick" / name)
        for c in cands:
            if c.is_file():
                return c
        from . import ann
        arch, dataset, defaults = ann.NETS[net]
        if not self.s.quick:
            from augsnn.cli import main as cli
            out = self.workdir / name
            self.say(f"$ augsnn train {net} --act {act} --seed 0 -o {out}")
            if cli(["train", net, "--act", act, "--seed", "0", "-o", str(out)]) != 0:
                raise RuntimeError(f"training {net} failed")
            return out
        import torch
        epochs, n = self.s.train
        out = self.workdir / "quick" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        x, y = self.data(dataset, "train")
        tx, ty = self.data(dataset)
        self.say(f"quick: training {net} ({act}) for {epochs} epoch on {n} images")
        torch.manual_seed(0)
        tnet = ann.build_net(arch, x.shape[1:], act=act, dropout=defaults["dropout"])
        ann.train(tnet, x[:n], y[:n], epochs=epochs, seed=0, log=None)
        acc = ann.evaluate(tnet, tx, ty)
        ann.save_checkpoint(out, tnet, arch=arch, input_shape=x.shape[1:], act=act, alpha=0.125,
                            dropout=defaults["dropout"],
                            meta={"dataset": dataset, "seed": 0, "epochs": epochs,
                                  "train_images": n, "test_accuracy": acc, "quick": True})
        return out

    def converted(self, net: str, method: str, act: str = "leaky"):
        """``(model, torch net)`` converted from the cached checkpoint (model file cached)."""
        from . import ann
        from .modelfile import load, save
        ck = self.checkpoint(net, act)
        tnet, meta = ann.load_checkpoint(ck)
        subset = method != "aug" and self.s.calib is not None
        path = ck.with_name(f"{ck.stem}-{method}" + (f"-calib{self.s.calib}" if subset else "")
                            + ".npz")
        if path.is_file() and path.stat().st_mtime >= ck.stat().st_mtime:
            return load(path), tnet
        dataset = meta["meta"]["dataset"]
        calib = self.data(dataset, "train")[0][:self.s.calib] if subset else None
        self.say(f"converting {ck.name} with {method}")
        model = ann.convert_module(tnet, method, dataset=dataset, name=f"{ck.stem}-{method}",
                                   calib_images=calib,
                                   meta={"checkpoint": ck.name, "calibration_images":
                                         self.s.calib})
        save(model, path)
        return model, tnet

    # zoo ------------------------------------------------------------------------------------
    def manifest(self, net: str, method: str) -> dict | None:
        path = self.zoo_dir / f"{net}-{method}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def zoo_model(self, net: str, method: str):
        from .modelfile import load
        path = self.zoo_dir / f"{net}-{method}.npz"
        return load(path) if path.is_file() else None

    # simulation -------------------------------------------------------------------------------
    def evaluate(self, model, n: int, T: int, tag: str = "") -> dict:
        """Golden-model report of ``model`` on its first ``n`` test images for ``T`` steps."""
        from .evaluate import evaluate

        def go():
            x, y = self.data(model.meta["dataset"])
            self.say(f"simulating {model.name}{tag}: {n} images, T={T}")
            rep, _ = evaluate(model, x[:n], y[:n], T, progress=self.progress)
            return rep
        return self.cached(f"eval|{_digest(model)}|{n}|{T}", go)


# ------------------------------------------------------------------------------------------
# sections


def first_T(acc, ann_acc: float, loss: float) -> int | None:
    """First step (1-based) whose accuracy is at least ``ann_acc - loss``; None if never."""
    hit = np.nonzero(np.asarray(acc) >= ann_acc - loss - 1e-12)[0]
    return int(hit[0]) + 1 if hit.size else None


def curve(m: dict) -> dict:
    """The report-like view of a zoo manifest used by the plots and tables."""
    return {"model": m["name"], "accuracy_per_step": m["accuracy_per_step"],
            "events_per_image": m["events_per_image_per_step"],
            "ann_accuracy": m["ann_accuracy_on_evaluated"], "images": m["images_evaluated"]}


def best_of(c: dict) -> tuple[float, int, float]:
    acc = np.asarray(c["accuracy_per_step"])
    t = int(np.argmax(acc)) + 1
    return float(acc[t - 1]), t, float(c["events_per_image"][t - 1])


def table3(run: Run) -> tuple[list[str], dict]:
    lines = ["| network | ANN acc. (paper / ours) | method | SNN acc. (paper / ours) | "
             "latency T (paper / ours) | events/image (paper / ours) | our test images |",
             "|---|---|---|---|---|---|---|"]
    curves = {}
    for net in run.nets + CIFAR_NETS:
        p = PAPER_T3[net]
        for method, label in (("ter", "TerMapping"), ("aug", "AugMapping")):
            pa, pt, pe = p[method]
            m = run.manifest(net, method) if net in NETS_HERE else None
            if m is None:
                why = NOT_MEASURED if net in CIFAR_NETS else f"not measured: no zoo entry {net}-{method}"
                lines.append(f"| {net} | {_pct(p['ann'])} / — | {label} | {_pct(pa)} / — | {pt} / — "
                             f"| {_num(pe)} / — | {why} |")
                continue
            c = curve(m)
            curves[net, method] = c
            acc, t, ev = best_of(c)
            lines.append(f"| {net} | {_pct(p['ann'])} / {_pct(m['ann_accuracy'])} | {label} | "
                         f"{_pct(pa)} / {_pct(acc)} | {pt} / {t} | {_num(pe)} / {_num(ev)} | "
                         f"first {c['images']:,} (ANN {_pct(c['ann_accuracy'])} on them), "
                         f"T ≤ {len(c['accuracy_per_step'])} |")
    return lines, curves


def table4(run: Run, curves: dict) -> tuple[list[str], dict]:
    head = ["| network | images | T aug / ter (<1%, <0.1%, 0%) | latency reduction (paper / ours) "
            "| events reduction (paper / ours) |", "|---|---|---|---|---|"]
    rows, found = [], {}
    for net in run.nets:
        if (net, "aug") not in curves or (net, "ter") not in curves:
            rows.append(f"| {net} | — | not measured: zoo entries missing | — | — |")
            continue
        ter = curves[net, "ter"]
        aug = curves[net, "aug"]
        n_img = ter["images"]
        if run.s.same_images and aug["images"] != n_img:
            model = run.zoo_model(net, "aug")
            rep = run.evaluate(model, n_img, len(aug["accuracy_per_step"]), " (Table IV)")
            aug = {"model": model.name, "accuracy_per_step": rep["accuracy_per_step"],
                   "events_per_image": rep["events_per_image"], "ann_accuracy": rep["ann_accuracy"],
                   "images": n_img}
        same = aug["images"] == n_img
        ts, lat, evs, tpairs = [], [], [], []
        for loss in LOSSES:
            ta = first_T(aug["accuracy_per_step"], aug["ann_accuracy"], loss)
            tt = first_T(ter["accuracy_per_step"], ter["ann_accuracy"], loss)
            ts.append(f"{ta or '—'} / {tt or '—'}")
            tpairs.append((ta, tt))
            if ta and tt:
                lat.append(tt / ta)
                evs.append(ter["events_per_image"][tt - 1] / max(aug["events_per_image"][ta - 1], 1))
            else:
                lat.append(None)
                evs.append(None)
        found[net] = (lat, evs, tpairs)
        pl, pe = PAPER_T4[net]

        def fmt(paper, ours):
            return ", ".join(f"{a}× / " + ("—" if b is None else f"{b:.1f}×")
                             for a, b in zip(paper, ours))
        imgs = f"first {n_img:,}" if same else f"aug {aug['images']:,}, ter {n_img:,}"
        rows.append(f"| {net} | {imgs} | {'; '.join(ts)} | {fmt(pl, lat)} | {fmt(pe, evs)} |")
    rows += [f"| {n} | — | {NOT_MEASURED} | paper: <1.5%/<1%/<0.5%: "
             + ("6.3×, 6×, 8.7×" if n == "net5" else "7×, —, —") + " / — | "
             + ("0.9×, 0.8×, 1.2×" if n == "net5" else "2.3×, —, —") + " / — |" for n in CIFAR_NETS]
    return head + rows, found


def table2(run: Run) -> tuple[list[str], dict]:
    lines = ["| network | method | ANN acc. (paper / ours) | SNN acc. (paper / ours) | "
             "our T of best | our images |", "|---|---|---|---|---|---|"]
    out = {}
    for net in (n for n in ("net1", "net2") if n in run.nets):
        for method in ("datanorm", "ter"):
            pa, ps = PAPER_T2[net][method]
            label = "DataNorm (ReLU ANN)" if method == "datanorm" else "TerMapping"
            if method == "ter":
                m = run.manifest(net, "ter")
                if m is None:
                    lines.append(f"| {net} | {label} | {_pct(pa)} / — | {_pct(ps)} / — | — | "
                                 f"no zoo entry |")
                    continue
                c = curve(m)
                acc, t, _ = best_of(c)
                ann_acc, n = c["ann_accuracy"], c["images"]
            else:
                model, _ = run.converted(net, "datanorm", act="relu")
                n = min(run.s.t2_images, 10000)
                rep = run.evaluate(model, n, run.s.t2_T)
                c = {"accuracy_per_step": rep["accuracy_per_step"],
                     "events_per_image": rep["events_per_image"]}
                acc, t, _ = best_of(c)
                ann_acc = rep["ann_accuracy"]
            out[net, method] = (ann_acc, acc, t, n, len(c["accuracy_per_step"]))
            lines.append(f"| {net} | {label} | {_pct(pa)} / {_pct(ann_acc)} | {_pct(ps)} / "
                         f"{_pct(acc)} | {t} | first {n:,} |")
    return lines, out


def fig6(run: Run, img: Path) -> tuple[list[str], dict]:
    """Cosine similarity of SNN output rates with ANN outputs over T (deepest net here)."""
    from .ann import to_float_layers
    from .convert import ann_forward
    from .network import simulate
    net = next(n for n in ("net4", "net2", "net1", "net3") if n in run.nets)
    results = {}
    for method, (T, n) in (("aug", run.s.f6_aug), ("ter", run.s.f6_ter)):
        model, tnet = run.converted(net, method)

        def go(model=model, tnet=tnet, T=T, n=n):
            x, _ = run.data(model.meta["dataset"])
            run.say(f"Fig. 6: simulating {model.name}: {n} images, T={T}")
            logits = ann_forward(to_float_layers(tnet), x[:n])
            res = simulate(model, x[:n], T, progress=run.progress)
            return [float(c) for c in cosine_per_step(res.out, logits)]
        results[method] = run.cached(f"fig6|{_digest(model)}|{n}|{T}", go)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, label in (("aug", "AugMapping"), ("ter", "TerMapping")):
        cos = results[method]
        ax.plot(np.arange(1, len(cos) + 1), cos, label=f"{net} {label} (ours)")
    ax.axhline(1.0, ls=":", color="k", label="perfect match")
    ax.set_xscale("log")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("cosine similarity (Eq. 14)")
    ax.set_title(f"Fig. 6: SNN output rate vs ANN output, {net} "
                 "(paper: Net5, both approach 1)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(img / "paper_fig6_cosine.png", dpi=120)
    plt.close(fig)
    lines = ["| T | " + " | ".join(f"{net} {m}" for m in ("aug", "ter")) + " |", "|---|---|---|"]
    for t in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1500):
        cells = [f"{results[m][t - 1]:.4f}" if t <= len(results[m]) else "" for m in ("aug", "ter")]
        if any(cells):
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return lines, {"net": net, "aug": run.s.f6_aug, "ter": run.s.f6_ter, "cos": results}


def fig7(run: Run, img: Path) -> tuple[list[str], dict]:
    """Accuracy fraction vs M_aug at the best T of each AugMapping model."""
    res = {}
    for net in run.nets:
        m = run.manifest(net, "aug")
        model = run.zoo_model(net, "aug")
        if m is None or model is None:
            continue
        T = best_of(curve(m))[1]
        if run.s.quick:  # a pipeline check: at most Fig. 6's AugMapping steps
            T = min(T, run.s.f6_aug[0])
        n = min(run.s.f7_images, 10000)
        ref = run.evaluate(with_neurons(model, coef_bits=16), n, T, " (M unconstrained)")
        ref_acc = ref["accuracy_per_step"][-1]
        fr = []
        for M in M_VALUES:
            bits = int(M + 1).bit_length()
            rep = run.evaluate(with_neurons(model, coef_bits=bits), n, T, f" (M={M})")
            fr.append(rep["accuracy_per_step"][-1] / ref_acc)
        res[net] = {"T": T, "images": n, "unconstrained": ref_acc, "fraction": fr}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for net, r in res.items():
        ax.plot(M_VALUES, r["fraction"], marker="o", label=f"{net} (T={r['T']})")
    ax.axvline(40, ls=":", color="k", label="paper: M_aug ≈ 40 is close to unconstrained")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("M_aug (largest spike coefficient)")
    ax.set_ylabel("accuracy / unconstrained accuracy")
    ax.set_title("Fig. 7: boundary constraint on augmented spikes (ours)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(img / "paper_fig7_maug.png", dpi=120)
    plt.close(fig)
    lines = ["| network | T | images | unconstrained acc. | " + " | ".join(f"M={M}" for M in M_VALUES)
             + " |", "|---" * (4 + len(M_VALUES)) + "|"]
    for net, r in res.items():
        lines.append(f"| {net} | {r['T']} | {r['images']:,} | {_pct(r['unconstrained'])} | "
                     + " | ".join(f"{f:.4f}" for f in r["fraction"]) + " |")
    return lines, res


def section_e(run: Run) -> tuple[list[str], dict]:
    from .ann import to_float_layers
    from .convert import ann_forward
    lines = ["| network | ANN acc. | ANN, negative activations suppressed | AugMapping SNN "
             "(T) | without negative threshold | TerMapping SNN (T) | without negative threshold |",
             "|---|---|---|---|---|---|---|"]
    res = {}
    for net in run.nets:
        row = {}
        try:
            _, tnet = run.converted(net, "aug")
        except (FileNotFoundError, ValueError) as exc:
            lines.append(f"| {net} | — | {exc} | | | | |")
            continue
        layers = to_float_layers(tnet)
        from . import ann
        dataset = ann.NETS[net][1]
        x, y = run.data(dataset)
        n_ann = len(y) if not run.s.quick else 2000

        def ann_acc(suppress, layers=layers, x=x, y=y, n=n_ann):
            ls = [{"type": "relu"} if (suppress and l["type"] == "leaky_relu") else l for l in layers]
            return float((ann_forward(ls, x[:n]).argmax(1) == y[:n]).mean())
        ck = run.checkpoint(net)
        key = f"annE|{net}|{ck}|{ck.stat().st_mtime}|{n_ann}"
        row["ann"] = run.cached(key + "|0", lambda: ann_acc(False))
        row["ann_suppressed"] = run.cached(key + "|1", lambda: ann_acc(True))
        for method, n in (("aug", run.s.e_images), ("ter", run.s.e_ter_images)):
            m, model = run.manifest(net, method), run.zoo_model(net, method)
            if m is None or model is None:
                row[method] = None
                continue
            T = best_of(curve(m))[1]
            if run.s.quick:  # a pipeline check: Fig. 6's step counts bound the runs
                T = min(T, (run.s.f6_aug if method == "aug" else run.s.f6_ter)[0])
            full = run.evaluate(model, n, T)["accuracy_per_step"][-1]
            single = run.evaluate(with_neurons(model, double=False), n, T,
                                  " (no negative threshold)")["accuracy_per_step"][-1]
            row[method] = (full, single, T, n)
        res[net] = row

        def snn(v):
            return ("— | —" if v is None else
                    f"{_pct(v[0])} (T={v[2]}, {v[3]:,} images) | {_pct(v[1])}")
        lines.append(f"| {net} | {_pct(row['ann'])} | {_pct(row['ann_suppressed'])} | "
                     f"{snn(row['aug'])} | {snn(row['ter'])} |")
    for net in CIFAR_NETS:
        a, g, t = PAPER_E[net]
        lines.append(f"| {net} | paper {_pct(PAPER_T3[net]['ann'])} | paper {a} | "
                     f"paper {_pct(PAPER_T3[net]['aug'][0])} | paper {g} | paper "
                     f"{_pct(PAPER_T3[net]['ter'][0])} | paper {t} |")
    return lines, res


def figs23(run: Run, curves: dict, img: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluate import plot_accuracy
    for x, fname, fig_no in (("T", "paper_fig2_error_vs_T.png", 2),
                             ("events", "paper_fig3_error_vs_events.png", 3)):
        fig, axes = plt.subplots(2, 3, figsize=(15, 8))
        for ax, net in zip(axes.flat, NETS_HERE + CIFAR_NETS):
            if net not in run.nets + CIFAR_NETS:
                ax.set_axis_off()
                continue
            reps = [curves[net, m] for m in ("aug", "ter") if (net, m) in curves]
            p = PAPER_T3[net]
            marks = [{"x": p[m][1] if x == "T" else p[m][2], "accuracy": p[m][0],
                      "label": f"paper {m}", "color": c}
                     for m, c in (("aug", "tab:blue"), ("ter", "tab:orange"))]
            if not reps:
                ax.text(0.5, 0.5, f"{net}: {NOT_MEASURED}\n(stars: the paper's latency/events)",
                        ha="center", va="center", transform=ax.transAxes, fontsize=8)
            plot_accuracy(reps, title=f"Fig. {fig_no}: {net}", ax=ax, x=x, marks=marks)
        fig.tight_layout()
        fig.savefig(img / fname, dpi=100)
        plt.close(fig)


# ------------------------------------------------------------------------------------------
# differences from the paper

ANN_NOTES = {"net3": "Recipes measured on the full test set are in docs/net3-recipes.md (89.11% "
                     "to 89.42% with plain Adam at 20-60 epochs; 90.2-90.5% with 80-100 epochs, "
                     "label smoothing, weight decay and a weight average).",
             "net4": "Measured: 91.54% after 10 epochs, 91.76% after 15 (+ flips; the shipped one)."}


def differences(t3_curves: dict, t2: dict, t4: dict | None = None) -> list[str]:
    out, seen = [], set()
    for (net, method), c in sorted(t3_curves.items()):
        p = PAPER_T3[net]
        pa, pt, pe = p[method]
        acc, t, ev = best_of(c)
        label = "AugMapping" if method == "aug" else "TerMapping"
        if abs(c["ann_accuracy"] - p["ann"]) > 0.003 and net not in seen:
            seen.add(net)
            out.append(f"- {net}: our ANN {_pct(c['ann_accuracy'])} on the {label} images "
                       f"vs the paper's {_pct(p['ann'])}. Our recipe (Adam, one-cycle, seed 0, no "
                       "bias; `golden/ann.py` NETS) is not the paper's, which is not given. "
                       + ANN_NOTES.get(net, "The SNN follows its own ANN, see its loss."))
        if abs(acc - pa) > 0.003:
            own = acc - c["ann_accuracy"]
            a_all = c["accuracy_per_step"]
            rise = (a_all[-1] - a_all[max(0, len(a_all) - 9)]) * 100
            why = (f"the SNN's best is above its own ANN: the best of {len(c['accuracy_per_step'])} "
                   "per-step accuracies is an optimistic pick on a finite test set, and the "
                   "integer SNN is not the float ANN, so it can land on either side."
                   if own > 0.003 else
                   "so the gap comes from the ANN on these images." if own > -0.003 else
                   f"the SNN has not converged: our run stops at T={len(a_all)} and the curve still "
                   f"rises ({rise:+.2f} points over its last 8 steps); the paper needs T={pt}.")
            out.append(f"- {net} {label}: best SNN {_pct(acc)} vs paper {_pct(pa)}; against our own "
                       f"ANN on the same images ({_pct(c['ann_accuracy'])}) the difference is "
                       f"{own * 100:+.2f} points, {why}")
        ratio = t / pt
        n_img = c["images"]
        if ratio > 2 or ratio < 0.5:
            at_p = (c["accuracy_per_step"][pt - 1] if pt <= len(c["accuracy_per_step"]) else None)
            extra = (f" Measured: our accuracy at the paper's T={pt} is {_pct(at_p)}."
                     if at_p is not None else
                     f" The paper's T={pt} is beyond our evaluated range (T ≤ {len(c['accuracy_per_step'])}).")
            if method == "aug":
                why = ("Latency is the first T reaching the best accuracy; after the curve reaches "
                       "its plateau the best moves by ±0.01–0.1 points with noise on a finite test "
                       "set, so this T is ill-conditioned (the early-decision T of Table IV is the "
                       "stable measure).")
            elif ratio < 0.5:
                why = (f"Our TerMapping reaches its best sooner. Latency is the first T at which the "
                       f"best accuracy on our {n_img:,} images is reached, i.e. the step at which the "
                       f"slowest of them settles: a maximum over images, which grows with their "
                       f"number (the paper uses all 10,000; one image is "
                       f"{100 / n_img:.2g} point{'' if n_img == 100 else 's'} here). Table IV's "
                       "tolerance T are the steadier measure.")
            else:
                why = ("TerMapping needs hundreds of steps; our run ends at the stated T_max on a "
                       "subset.")
            out.append(f"- {net} {label}: latency {t} vs paper {pt} ({ratio:.2g}×). {why}{extra}")
        eratio = ev / pe
        if eratio > 2 or eratio < 0.5:
            counted = ("our events count every non-zero coefficient of every layer, output "
                       "included (an augmented spike is one event).")
            if 0.5 <= ratio <= 2:
                why = (f"Not a latency effect (T {t} vs {pt}). Events per image follow how many "
                       "neurons are active per step, which depends on the trained ANN's "
                       "activations (our recipe is not the paper's) and the thresholds; the paper "
                       "gives no per-layer counts to compare. " + counted[0].upper() + counted[1:])
            else:
                per_t = c["events_per_image"]
                at_p = (f" At the paper's T={pt} ours are {per_t[pt - 1]:,.0f} events/image "
                        f"({per_t[pt - 1] / pe:.2g}× the paper's)." if pt <= len(per_t) else "")
                why = (f"Events grow about linearly with T (Fig. 3), so this follows the latency "
                       f"difference (T {t} vs {pt}); {counted}{at_p}")
            out.append(f"- {net} {label}: {ev:,.0f} events/image at T={t} vs paper {pe:,.0f} "
                       f"({eratio:.2g}×). {why}")
    for net, (lat, evs, tpairs) in sorted((t4 or {}).items()):
        pl, pe = PAPER_T4[net]
        off = [i for i, (a, b) in enumerate(zip(pl, lat)) if b is not None and not 0.5 <= b / a <= 2]
        offe = [i for i, (a, b) in enumerate(zip(pe, evs)) if b is not None and not 0.5 <= b / a <= 2]
        if not off and not offe:
            continue
        tol = ("<1%", "<0.1%", "0%")
        pt_ter, pt_aug = PAPER_T3[net]["ter"][1], PAPER_T3[net]["aug"][1]
        parts = []
        if off:
            parts.append("latency reduction " + ", ".join(
                f"{tol[i]}: {lat[i]:.1f}× vs {pl[i]}×" for i in off))
        if offe:
            parts.append("events reduction " + ", ".join(
                f"{tol[i]}: {evs[i]:.1f}× vs {pe[i]}×" for i in offe))
        steps = ", ".join(f"{tol[i]} T={a} / {b}" for i, (a, b) in enumerate(tpairs) if a and b)
        out.append(
            f"- Table IV {net}: {'; '.join(parts)}. The ratios are T_ter/T_aug and "
            f"events_ter/events_aug, so they move with whichever side differs from the paper. Ours "
            f"(AugMapping / TerMapping): {steps}; the paper's best-accuracy latencies (Table III) "
            f"are {pt_aug} / {pt_ter}. "
            + ("Our TerMapping settles far sooner than the paper's (its latency is more than 2× "
               "shorter, see Table III above), which shrinks both ratios; "
               if t3_curves.get((net, "ter")) and best_of(t3_curves[net, "ter"])[1] * 2 < pt_ter else "")
            + ("an events ratio below 1× means our TerMapping, with ternary spikes, spent fewer "
               "events than AugMapping to reach that tolerance."
               if any(e is not None and e < 1 for e in evs) else ""))
    for (net, method), (ann_acc, acc, t, n, t_max) in sorted(t2.items()):
        pa, ps = PAPER_T2[net][method]
        if abs(acc - ps) > 0.003:
            own = acc - ann_acc
            why = ("so the gap comes from the ANN (and the image subset)" if own > -0.003 else
                   f"the SNN stays {-own * 100:.2f} points below its own ANN within T ≤ "
                   f"{t_max}")
            out.append(f"- Table II {net} {method}: SNN {_pct(acc)} vs paper {_pct(ps)}; our ANN "
                       f"has {_pct(ann_acc)} on the same {n:,} images (SNN {own * 100:+.2f} "
                       f"points against it), {why}. The paper's ANN for this row has {_pct(pa)}.")
    return out


# ------------------------------------------------------------------------------------------

def run(*, workdir: Path, docs: Path, quick: bool = False, checkpoints: Path | None = None,
        zoo_dir: Path = ZOO_DIR, rebuild: bool = False, progress: bool = True,
        nets=NETS_HERE, log=sys.stderr) -> Path:
    """Regenerate ``docs/results.md`` and ``docs/img/paper_*.png``; return the page's path."""
    settings = QUICK if quick else FULL
    workdir.mkdir(parents=True, exist_ok=True)
    img = docs / "img"
    img.mkdir(parents=True, exist_ok=True)
    bad = sorted(set(nets) - set(NETS_HERE))
    if bad or not nets:
        raise ValueError(f"nets must be among {', '.join(NETS_HERE)}, not {bad or nets}")
    r = Run(workdir, settings, checkpoints=checkpoints, zoo_dir=zoo_dir, progress=progress,
            nets=nets, log=log)
    if rebuild:
        from .zoo import build
        r.zoo_dir = workdir / "zoo"
        for net in r.nets:
            if not (r.zoo_dir / f"{net}-ter.json").is_file():
                ck = r.checkpoint(net)
                build(net, ["aug", "ter"], workdir=workdir, checkpoint=str(ck), out_dir=r.zoo_dir,
                      log=log)
    timings = {}

    def timed(name, fn, *a):
        t0 = time.time()
        r.say(f"{name} ...")
        v = fn(*a)
        timings[name] = time.time() - t0
        return v
    t3, curves = timed("Table III", table3, r)
    timed("Figs. 2, 3", figs23, r, curves, img)
    t4, t4res = timed("Table IV", table4, r, curves)
    t2, t2res = timed("Table II", table2, r)
    f6 = timed("Fig. 6", fig6, r, img)
    f7, _ = timed("Fig. 7", fig7, r, img)
    te, _ = timed("Section E", section_e, r)
    page = _page(r, settings, t2, t3, t4, f6, f7, te, differences(curves, t2res, t4res), curves,
                 timings, rebuild)
    out = docs / "results.md"
    out.write_text(page)
    r.say(f"wrote {out}")
    return out


def _bar(curves: dict) -> list[str]:
    lines = ["| network | paper ANN | our ANN (full test set) | ANN bar (≥ paper − 0.5) | "
             "AugMapping T ≤ paper's with SNN ≥ own ANN − 0.1 (full test set) | verdict |",
             "|---|---|---|---|---|---|"]
    for net in ("net3", "net4"):
        c = curves.get((net, "aug"))
        if c is None:
            lines.append(f"| {net} | {_pct(PAPER_T3[net]['ann'])} | — | — | — | not measured |")
            continue
        ann_ok = c["ann_accuracy"] >= PAPER_T3[net]["ann"] - 0.005
        T = first_T(c["accuracy_per_step"], c["ann_accuracy"], 0.001)
        snn_ok = T is not None and T <= PAPER_T3[net]["aug"][1] and c["images"] == 10000
        snn = ("never within T ≤ " + str(len(c["accuracy_per_step"])) if T is None else
               f"T={T}: {_pct(c['accuracy_per_step'][T - 1])} (paper T={PAPER_T3[net]['aug'][1]})")
        lines.append(f"| {net} | {_pct(PAPER_T3[net]['ann'])} | {_pct(c['ann_accuracy'])} "
                     f"({c['images']:,} images) | {'yes' if ann_ok else 'NO'} | {snn} | "
                     f"{'met' if ann_ok and snn_ok else 'NOT met'} |")
    return lines


def _coverage(curves: dict) -> str:
    """Which test images and steps each zoo curve covers, e.g. 'AugMapping: net1 first 10,000
    images, T ≤ 64, ...'."""
    parts = []
    for method, label in (("aug", "AugMapping"), ("ter", "TerMapping")):
        cells = [f"{net} first {c['images']:,} images, T ≤ {len(c['accuracy_per_step'])}"
                 for (net, m), c in sorted(curves.items()) if m == method]
        if cells:
            parts.append(f"{label}: " + ", ".join(cells))
    return "; ".join(parts) if parts else "no zoo entries"


def _page(r, s, t2, t3, t4, f6, f7, te, diffs, curves, timings, rebuild) -> str:
    total = time.time() - r.t0
    mode = ("**quick** (`--quick`: small subsets, missing checkpoints trained 1 epoch on "
            f"{s.train[1]:,} images, Fig. 7 and Section E at most T={s.f6_aug[0]} (AugMapping) "
            f"and T={s.f6_ter[0]} (TerMapping); a pipeline check, not a reproduction)" if s.quick else
            "full")
    zoo = "a fresh `zoo build` in the work folder" if rebuild else "the zoo manifests `golden/zoo/*.json`"
    L = ["# The paper's results, regenerated", "",
         "Generated by `augsnn paper` (golden/paper.py); do not edit by hand. Yu et al.'s numbers "
         "(paper) beside ours (integer golden model, 8-bit weights; AugMapping 8-bit coefficients, "
         "TerMapping/DataNorm ternary/binary spikes). Net5/Net6 (CIFAR10): " + NOT_MEASURED +
         " — their architectures and conversion are implemented and tested on random weights.", "",
         f"- command: `{_command_line()}`",
         f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
         f"- machine: {_machine()}",
         f"- mode: {mode}",
         f"- run time: {total / 60:.1f} min (" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
         + "); cached simulation results reused from the work folder count as 0",
         f"- Tables III/IV and Figs. 2/3 come from {zoo}: " + _coverage(curves)
         + "; each manifest holds its reproduce commands (`golden/zoo.py` PLAN, NET_PLAN).", "",
         "## Bar of issue 6 (Net3, Net4 on Fashion-MNIST)", ""] + _bar(curves) + [
         "", "## Table II: DataNorm vs TerMapping", "",
         "DataNorm: ReLU ANN (`augsnn train netN --act relu`), single threshold, binary spikes, "
         f"evaluated up to T={s.t2_T} on the first {s.t2_images:,} test images; TerMapping: the "
         "LeakyReLU ANN's zoo model. The paper's Table II cell for Net1 TerMapping SNN is "
         "garbled in our copy; 98.77% is its Table III value.", ""] + t2 + [
         "", "## Table III: conversion results", "",
         "SNN acc. is the best accuracy over the evaluated steps, latency the first T reaching it, "
         "events the cumulative events per image (all layers, output included) at that T. "
         "The paper gives events in 10^6 per image.", ""] + t3 + [
         "", "## Table IV: early decision", "",
         "For each tolerance the first T whose accuracy is within it of the ANN on the same "
         "images (AugMapping / TerMapping), and the reductions T_ter/T_aug and "
         "events_ter/events_aug." + (" AugMapping is re-simulated on TerMapping's images." if
                                      s.same_images else
                                      " Quick mode: AugMapping's and TerMapping's image sets "
                                      "differ (aug: all 10,000, ter: the subset)."), ""] + t4 + [
         "", "## Fig. 2 and Fig. 3: error vs T and error vs events", "",
         "Dotted: the ANN on the same images; stars: the paper's (latency or events, accuracy) "
         "from Table III.", "",
         "![Fig. 2](img/paper_fig2_error_vs_T.png)", "",
         "![Fig. 3](img/paper_fig3_error_vs_events.png)", "",
         "## Fig. 6: similarity of SNN output rates and ANN outputs", "",
         f"Eq. (14), mean over images, for the deepest network trained here ({f6[1]['net']}; the "
         f"paper uses Net5): AugMapping T={f6[1]['aug'][0]} on {f6[1]['aug'][1]:,} images, "
         f"TerMapping T={f6[1]['ter'][0]} on {f6[1]['ter'][1]:,} images. Paper: both approach 1, "
         "AugMapping much sooner.", "", "![Fig. 6](img/paper_fig6_cosine.png)", ""] + f6[0] + [
         "", "## Fig. 7: boundary constraint M_aug", "",
         "Accuracy at the best T with every layer's coefficient limited to M (coefficient widths "
         "2..8 bits: M = 1, 3, ..., 127), divided by the accuracy without a constraint "
         "(16-bit coefficients). Paper: M_aug up to about 40 is very close to unconstrained; "
         "M_aug = 1 loses most in the deepest networks.", "",
         "![Fig. 7](img/paper_fig7_maug.png)", ""] + f7 + [
         "", "## Section E: role of double-threshold firing", "",
         "ANN: every LeakyReLU replaced by ReLU (negative activations suppressed), on "
         + ("the full test set" if not s.quick else "2,000 test images") +
         ". SNN: every layer's negative threshold removed (single threshold), at the model's "
         "best T. The paper measures Net5/Net6 only.", ""] + te + [
         "", "## Where we differ from the paper", "",
         "Differences above 0.3 points of accuracy or 2× in latency/events, with the measured "
         "reason or our best explanation:", ""] + (diffs or ["- none"]) + [""]
    return "\n".join(L)


def register(sub) -> None:
    p = sub.add_parser("paper", help="regenerate docs/results.md: the paper's tables and figures "
                                     "beside ours")
    p.add_argument("--quick", action="store_true",
                   help="small subsets and 1-epoch checkpoints: a pipeline check in minutes")
    p.add_argument("--workdir", default="out/paper", help="checkpoints, models and cached results")
    p.add_argument("--docs", default="docs", help="where results.md and img/ go")
    p.add_argument("--checkpoints", default="out/zoo",
                   help="second place to look for checkpoints (augsnn zoo build leaves them here)")
    p.add_argument("--zoo-dir", default=str(ZOO_DIR), help="zoo manifests and models to use")
    p.add_argument("--rebuild", action="store_true",
                   help="rebuild the zoo entries of net1..net4 into the work folder instead")
    p.add_argument("--nets", nargs="+", default=list(NETS_HERE), choices=NETS_HERE,
                   help="networks to include (default: all four)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_paper)


def cmd_paper(args) -> int:
    out = run(workdir=Path(args.workdir), docs=Path(args.docs), quick=args.quick,
              checkpoints=Path(args.checkpoints) if args.checkpoints else None,
              zoo_dir=Path(args.zoo_dir), rebuild=args.rebuild, progress=not args.no_progress,
              nets=tuple(args.nets))
    print(f"wrote {out}")
    return 0
