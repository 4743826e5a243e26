"""Golden-model throughput against SpikingJelly on the same network, and the GEMM ceiling.

Usage: ``python bench/golden_bench.py [--models net2-aug net1-aug] [--T 32]
[--images 1000 10000] [--pairs 2] [--int8 auto|on|off] [--peer-threads N] [--json FILE]``.

For each zoo model and image count it runs, interleaved (project, peer, project, peer, ...),
:func:`augsnn.golden.network.simulate` on the first N MNIST test images and a SpikingJelly
2.0 multi-step IF network with the same layer shapes and weights (``IFNode``, soft reset,
thresholds ``theta_p``, float32, the image repeated T times as the input current, batch
``--peer-batch``). It prints the median images/s of each (whole-call wall time), their
ratio, and the float32 GEMM ceiling: the best float32 matrix-product rate measured on the
machine (numpy and torch, 2048^3, before and after the runs) divided by the model's
multiply-adds per image (the first layer's once, every other layer's T times), in images/s.
The load average (``os.getloadavg``) is printed with every pair: other work on the machine
slows both sides. SpikingJelly comes with the ``bench`` extra (``pip install -e .[bench]``);
without it the peer columns are skipped.

The project runs with its default back end choice (``--int8 auto``): torch's exact int8
products (golden/intmm.py) where the operands fit, since torch is imported here anyway (for
the peer, before any timing; a fresh process that imports torch for the golden model pays
about 2 s once). ``--int8 off`` measures the NumPy-only path. The int8 product rate is printed
for information; the ceiling stays the float32 one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from augsnn.golden import intmm
from augsnn.golden.datasets import load_mnist
from augsnn.golden.model import Dense
from augsnn.golden.modelfile import load
from augsnn.golden.network import simulate
from augsnn.golden.threads import cpus


def macs_per_image(model, T: int) -> int:
    """Multiply-adds per image: the first weighted layer once, every other one T times."""
    shapes = model.shapes()
    total, first = 0, True
    for i, layer in enumerate(model.layers):
        if not hasattr(layer, "weight"):
            continue
        if isinstance(layer, Dense):
            m = layer.weight.size
        else:
            oc, h, w = shapes[i + 1]
            m = oc * h * w * int(np.prod(layer.weight.shape[1:]))
        total += m if first else m * T
        first = False
    return total


def gemm_rate(n: int = 2048, repeats: int = 3) -> dict:
    """Best float32 GEMM rate (multiply-adds/s) of numpy and of torch on this machine."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    rates = {}
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    rates["numpy"] = n ** 3 / best
    try:
        import torch
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        ta @ tb
        best = min(_timed(lambda: ta @ tb) for _ in range(repeats))
        rates["torch"] = n ** 3 / best
    except ImportError:
        pass
    return rates


def int8_rate(n: int = 2048, repeats: int = 3) -> float | None:
    """Best exact int8 product rate (multiply-adds/s, torch ``_int_mm``), or None."""
    torch = intmm._load()
    if torch is None:
        return None
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (n, n)).astype(np.int8)
    w = intmm.weights(torch, rng.integers(-128, 128, (n, n)).astype(np.int8))
    out = np.empty((n, n), dtype=np.int32)
    intmm.matmul(torch, a, w, out)
    return n ** 3 / min(_timed(lambda: intmm.matmul(torch, a, w, out)) for _ in range(repeats))


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def peer_network(model):
    """SpikingJelly multi-step IF network with the model's shapes and (float) weights."""
    import torch
    from spikingjelly.activation_based import functional, layer, neuron
    mods, scale = [], 1.0
    for lay in model.layers:
        if hasattr(lay, "weight"):
            w = torch.from_numpy(lay.weight.astype(np.float32) * scale)
            scale = 1.0
            if isinstance(lay, Dense):
                m = layer.Linear(w.shape[1], w.shape[0], bias=False)
            else:
                m = layer.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=lay.padding,
                                 bias=False)
            with torch.no_grad():
                m.weight.copy_(w)
            mods += [m, neuron.IFNode(v_threshold=float(lay.neuron.theta_p), v_reset=None)]
        elif lay.type == "sumpool":
            mods.append(layer.AvgPool2d(lay.size))
            scale = float(lay.size ** 2)  # sum-pooling: the next weights take the factor
        else:
            mods.append(layer.Flatten())
    net = torch.nn.Sequential(*mods)
    functional.set_step_mode(net, "m")
    net.eval()
    return net


def run_peer(net, x: np.ndarray, T: int, batch: int) -> np.ndarray:
    import torch
    from spikingjelly.activation_based import functional
    preds = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            xb = torch.from_numpy(x[s:s + batch].astype(np.float32))
            functional.reset_net(net)
            out = net(xb.unsqueeze(0).expand(T, *xb.shape))
            preds.append(out.sum(0).argmax(1).numpy())
    return np.concatenate(preds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["net2-aug", "net1-aug"])
    p.add_argument("--T", type=int, default=32)
    p.add_argument("--images", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--pairs", type=int, default=2, help="interleaved project/peer pairs")
    p.add_argument("--peer-batch", type=int, default=500)
    p.add_argument("--peer-threads", type=int, default=None,
                   help="torch threads for the peer (default: torch's own choice)")
    p.add_argument("--int8", choices=["auto", "on", "off"], default="auto",
                   help="the golden model's int8 back end (golden/intmm.py; default auto)")
    p.add_argument("--json", help="write the results as JSON")
    args = p.parse_args()
    intmm.MODE = args.int8
    try:
        import spikingjelly  # noqa: F401
        have_peer = True
    except ImportError:
        have_peer = False
        print("spikingjelly is not installed (pip install -e .[bench]): peer columns skipped")
    if have_peer and args.peer_threads:
        import torch
        torch.set_num_threads(args.peer_threads)
    x, y = load_mnist("test")
    rates = [gemm_rate()]
    if have_peer:
        import torch
        print(f"spikingjelly peer: torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"batch {args.peer_batch}")
    print(f"{cpus()} cores; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          "float32 GEMM: " +
          ", ".join(f"{k} {v * 2 / 1e9:.0f} GFLOP/s" for k, v in rates[0].items()), flush=True)
    i8 = int8_rate() if args.int8 != "off" else None
    print("project back end: " + (f"int8 products via torch {intmm._load().__version__} where "
                                  f"operands fit (int8 rate {i8 * 2 / 1e9:.0f} GOP/s), NumPy "
                                  "elsewhere" if i8 else "NumPy only"), flush=True)
    rows = []
    for name in args.models:
        model = load(name)
        net = peer_network(model) if have_peer else None
        for n in args.images:
            ours, peer, loads = [], [], []
            for _ in range(args.pairs):
                loads.append(os.getloadavg()[0])
                dt = _timed(lambda: simulate(model, x[:n], args.T))
                ours.append(n / dt)
                if net is not None:
                    dt = _timed(lambda: run_peer(net, x[:n], args.T, args.peer_batch))
                    peer.append(n / dt)
                print(f"  {name} {n} images: project {ours[-1]:.0f} img/s" +
                      (f", spikingjelly {peer[-1]:.0f} img/s" if peer else "") +
                      f" (load {loads[-1]:.1f})", flush=True)
            rows.append({"model": name, "T": args.T, "images": n, "project": ours,
                         "peer": peer, "load": loads, "macs_per_image": macs_per_image(model, args.T)})
    rates.append(gemm_rate())
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rate = max(max(r.values()) for r in rates)
    print(f"\nfloat32 GEMM ceiling rate: {rate * 2 / 1e9:.0f} GFLOP/s (best of numpy/torch, "
          f"before and after); T = {args.T}; medians of {args.pairs} interleaved pairs")
    print(f"{'model':9s} {'images':>6s} {'project/s':>9s} {'SJ/s':>7s} {'ratio':>6s} "
          f"{'ceiling/s':>9s} {'of ceiling':>10s} {'load':>5s}")
    for r in rows:
        ours = statistics.median(r["project"])
        peer = statistics.median(r["peer"]) if r["peer"] else None
        ceil = rate / r["macs_per_image"]
        r.update(project_median=ours, peer_median=peer, ratio=None if peer is None else ours / peer,
                 ceiling=ceil, of_ceiling=ours / ceil)
        print(f"{r['model']:9s} {r['images']:6d} {ours:9.0f} " +
              (f"{peer:7.0f} {ours / peer:5.2f}x" if peer else f"{'-':>7s} {'-':>6s}") +
              f" {ceil:9.0f} {100 * ours / ceil:9.1f}% {statistics.median(r['load']):5.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": cpus(), "gemm_rates": rates, "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()
