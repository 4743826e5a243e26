"""Early-exit rule scan: accuracy, mean steps and synops per image over a grid of rules.

Usage: ``python bench/early_exit_scan.py [--model net2-aug] [--T 8] [--images 10000]
[--margins 4,6,8,10,12,16] [--t-min 1,2,3,4]``. One golden run of ``T`` steps; every rule is
cut from it (golden/early_exit.py), so the table is exact for each rule. Prints a markdown
table: the accuracy change against the fixed-T accuracy and the share of the fixed-T synops.
"""

from __future__ import annotations

import argparse

from augsnn.golden.datasets import load_dataset
from augsnn.golden.early_exit import ExitRule, apply
from augsnn.golden.modelfile import load
from augsnn.golden.network import simulate


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="net2-aug")
    p.add_argument("--T", type=int, default=None, help="T_max (default: the model's T)")
    p.add_argument("--images", type=int, default=10000)
    p.add_argument("--margins", type=_ints, default=[4, 6, 8, 10, 12, 16])
    p.add_argument("--t-min", type=_ints, default=[1, 2, 3, 4])
    args = p.parse_args()
    model = load(args.model)
    T = args.T or int(model.meta["T"])
    x, y = load_dataset(model.meta.get("dataset", "mnist"), "test")
    x, y = x[:args.images], y[:args.images]
    run = simulate(model, x, T)
    base = float((run.pred == y).mean())
    synops = float(run.synops.sum(axis=(0, 1)).mean())
    print(f"{model.name}, T_max={T}, {len(y)} test images: fixed-T accuracy {base * 100:.2f}%, "
          f"{synops:,.0f} synops/image")
    print("| margin | t_min | accuracy | change | mean steps | synops vs fixed T |")
    print("|---|---|---|---|---|---|")
    for margin in args.margins:
        for t_min in args.t_min:
            ex = apply(run, ExitRule(margin, t_min))
            acc = float((ex.pred == y).mean())
            share = float(ex.synops.sum(axis=0).mean()) / synops
            print(f"| {margin} | {t_min} | {acc * 100:.2f}% | {(acc - base) * 100:+.2f} | "
                  f"{ex.steps.mean():.2f} | {share * 100:.1f}% |")


if __name__ == "__main__":
    main()
