"""A foreign NIR graph end to end: snnTorch trains an IF network, exports NIR, augsnn runs it.

Usage: ``python bench/nir_snntorch.py [--hidden 16] [--T 8] [--batches 100] [--images 10000]
[--rtl-images 20] [--seed 0]``.

snnTorch 1.0.0 trains ``784-H-10`` (``H = 0``: ``784-10``) of ``Leaky(beta=1)`` neurons
(integrate-and-fire, subtractive reset, threshold 1) with surrogate gradients through T
steps of constant input current ``pixels / 255`` (cross-entropy on the output spike counts,
Adam 2e-3, ``--batches`` batches of 128 MNIST training images); exports it with
``snntorch.export_nir.export_to_nir``; ``augsnn convert`` reads the ``.nir`` (8-bit weights);
then it prints the accuracy of snnTorch's own simulation and of the golden model on the
first ``--images`` test images, how often their classes agree, and the RTL (Verilator)
mismatches against the golden model on the first ``--rtl-images`` images. The same flow, at
500 and 3 images, is ``tests/test_frontends_nir.py::test_snntorch_if_network_in_golden_model_and_rtl``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--T", type=int, default=8)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--rtl-images", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import nir
    import snntorch as snn
    import torch
    from snntorch import utils as snn_utils
    from snntorch.export_nir import export_to_nir

    from augsnn.golden import datasets, modelfile
    from augsnn.golden.network import simulate
    from augsnn.sim.accelerator import compare, run_images

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # as the test: tiny products, and results depend on the threads

    def leaky(n, out=False):
        return snn.Leaky(beta=torch.ones(n), threshold=torch.ones(n), init_hidden=True,
                         output=out, reset_mechanism="subtract")
    mods = [torch.nn.Flatten()]
    width = 784
    for n in ([args.hidden] if args.hidden else []) + [10]:
        mods += [torch.nn.Linear(width, n, bias=False), leaky(n, n == 10)]
        width = n
    net = torch.nn.Sequential(*mods)

    def counts(x):
        snn_utils.reset(net)
        total = 0
        for _ in range(args.T):
            spk, _ = net(x)
            total = total + spk
        return total

    x_tr, y_tr = datasets.load_dataset("mnist", "train")
    x_te, y_te = datasets.load_dataset("mnist", "test")
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    t0 = time.time()
    for b in range(args.batches):
        s = b * 128
        loss = torch.nn.functional.cross_entropy(
            counts(torch.from_numpy(x_tr[s:s + 128]).float() / 255),
            torch.from_numpy(y_tr[s:s + 128].astype(np.int64)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"snnTorch training: {time.time() - t0:.1f} s")
    n = args.images
    with torch.no_grad():
        own = np.concatenate([counts(torch.from_numpy(x_te[s:min(n, s + 1000)]).float() / 255)
                              .argmax(1).numpy() for s in range(0, n, 1000)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    with tempfile.TemporaryDirectory() as tmp:
        nir.write(f"{tmp}/snntorch.nir", graph)
        subprocess.run([sys.executable, "-m", "augsnn", "convert", f"{tmp}/snntorch.nir",
                        "--dataset", "mnist", "-o", f"{tmp}/snt.npz"], check=True)
        model = modelfile.load(Path(tmp) / "snt.npz")
    golden = simulate(model, x_te[:n], args.T).pred_per_step[-1]
    acc_own = float((own == y_te[:n]).mean())
    acc_golden = float((golden == y_te[:n]).mean())
    print(f"{n} test images, T = {args.T}: snnTorch {acc_own:.2%}, golden model "
          f"{acc_golden:.2%} ({(acc_golden - acc_own) * 100:+.2f} points), same class on "
          f"{(own == golden).mean():.2%}")
    k = args.rtl_images
    if k:
        t0 = time.time()
        run = run_images(model, x_te[:k], args.T, lanes=8, quiet=True)
        rep = compare(model, x_te[:k], run, labels=y_te[:k])
        print(f"RTL (Verilator, 8 lanes) vs golden on {k} images: {rep['mismatches']} "
              f"mismatches ({rep['spike_mismatches']} spike mismatches over every layer and "
              f"step), {time.time() - t0:.0f} s with the build")
    return 0


if __name__ == "__main__":
    sys.exit(main())
