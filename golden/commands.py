"""``augsnn train | convert | eval``: the Python-model sub-commands.

Imports nothing heavy at module level: torch is loaded only by ``train`` and ``convert``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path


def _command_line() -> str:
    return "augsnn " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def register(sub) -> None:
    p = sub.add_parser("train", help="train one of the paper's ANNs (net1..net6) or a topology")
    p.add_argument("net", help="net1 .. net6, or a topology string such as 12c5-p2-10")
    p.add_argument("--dataset", help="mnist | fashion-mnist | cifar10 (default: the net's own)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the net's own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--act", choices=("leaky", "relu"), default="leaky",
                   help="activation: LeakyReLU (Aug/TerMapping) or ReLU (DataNorm baseline)")
    p.add_argument("--alpha", type=float, default=0.125, help="LeakyReLU negative slope")
    p.add_argument("--dropout", type=float, help="dropout after dense hidden layers")
    p.add_argument("--shift", type=int, help="random +-pixel shifts during training "
                                             "(default: the net's own, else 2)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the net's own, else 2e-3)")
    p.add_argument("--in-dropout", type=float,
                   help="dropout on the input pixels of an MLP (default: the net's own, else 0)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="random left-right flips during training (default: the net's own, else no)")
    p.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing (default 0)")
    p.add_argument("--weight-decay", type=float,
                   help="decoupled weight decay, AdamW (default 0: plain Adam)")
    p.add_argument("--ema", type=float,
                   help="keep and save an exponential moving average of the weights with this "
                        "decay per step, e.g. 0.999 (default 0: the last weights)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("-o", "--output", required=True, help="checkpoint file to write (.pt)")
    p.set_defaults(func=cmd_train, checked_outputs=("output",))

    p = sub.add_parser("convert", help="convert a trained ANN (checkpoint, module, ONNX) or a NIR "
                                       "IF network into an integer SNN model file")
    p.add_argument("checkpoint", help="checkpoint from `augsnn train`, a bare state dict with "
                                      "--arch, a whole pickled module (--trust-checkpoint), an "
                                      ".onnx file or a .nir graph (docs/frontends.md)")
    p.add_argument("--method", choices=("aug", "ter", "datanorm"),
                   help="conversion method (required but for .nir, which is datanorm: M = 1)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="load a whole pickled module (weights_only=False: runs code from the file)")
    p.add_argument("--input-scale", type=float, default=1 / 255,
                   help=".nir: the graph's input is the pixels times this (default 1/255)")
    p.add_argument("--arch", help="topology string for a bare state dict")
    p.add_argument("--act", choices=("leaky", "relu"), default="leaky", help="with --arch")
    p.add_argument("--alpha", type=float, default=0.125, help="with --arch: LeakyReLU slope")
    p.add_argument("--dataset", help="calibration/evaluation data set (default: checkpoint's)")
    p.add_argument("--weight-bits", type=int, default=8)
    p.add_argument("--coef-bits", type=int, help="default: 8 for aug, 2 for ter/datanorm")
    p.add_argument("--pot-bits", type=int, help="membrane width (default: derived per layer)")
    p.add_argument("--pow2-theta", action="store_true", help="power-of-two positive thresholds")
    p.add_argument("--output-mode", choices=("spiking", "membrane"), default="spiking")
    p.add_argument("--name", help="model name (default: the output file's stem)")
    p.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    p.set_defaults(func=cmd_convert, checked_outputs=("output",), inputs=("checkpoint",))

    from .evaluate import register_eval
    register_eval(sub)
    _harden_eval(sub.choices["eval"])


def _harden_eval(parser) -> None:
    """``eval``: refuse ``--T 0`` and ``--batch-size 0``; outputs checked and atomic (cli)."""
    run = parser.get_default("func")

    def checked(args) -> int:
        if args.T is not None and args.T < 1:
            raise ValueError(f"--T must be >= 1, not {args.T}")
        if args.batch_size is not None and args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, not {args.batch_size}")
        return run(args)

    parser.set_defaults(func=checked, outputs=("json", "plot", "save_outputs"),
                        inputs=("model",))


def _load_checkpoint(args):
    """``ann.load_checkpoint``, every way a checkpoint can be unusable a ValueError naming it."""
    from . import ann
    path = args.checkpoint
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise ValueError(f"{path}: empty file, not a checkpoint")
    try:
        return ann.load_checkpoint(path, arch=args.arch, act=args.act, alpha=args.alpha,
                                   trust=args.trust_checkpoint)
    except (ValueError, OSError):
        raise
    except (RuntimeError, KeyError, TypeError, IndexError, AttributeError, EOFError) as exc:
        why = " ".join(str(exc).split())[:300]
        raise ValueError(f"{path}: not a usable checkpoint ({type(exc).__name__}: {why})") from None


def cmd_train(args) -> int:
    from . import ann
    extra = {k: getattr(args, k) for k in ann.TRAIN_OPTIONS}
    meta = ann.train_net(args.net, args.output, dataset=args.dataset, epochs=args.epochs,
                         seed=args.seed, act=args.act, alpha=args.alpha, dropout=args.dropout,
                         shift=args.shift, lr=args.lr, in_dropout=args.in_dropout,
                         flip=args.flip, threads=args.threads, command=_command_line(), **extra)
    print(f"test accuracy {meta['test_accuracy'] * 100:.2f}%; wrote {Path(args.output)}")
    return 0


def cmd_convert(args) -> int:
    from . import ann, modelfile
    out = Path(args.output)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")
    suffix = Path(args.checkpoint).suffix.lower()
    if suffix == ".nir":
        from augsnn.frontends.commands import convert_nir
        return convert_nir(args, out, _command_line())
    if args.method is None:
        raise ValueError("--method is required (aug, ter or datanorm)")
    if suffix == ".onnx":
        from augsnn.frontends.commands import convert_onnx
        return convert_onnx(args, out, _command_line())
    net, ck = _load_checkpoint(args)
    for src, dst in ck.get("key_mapping", ()):
        print(f"state dict: {src} -> {dst}")
    dataset = args.dataset or ck.get("meta", {}).get("dataset")
    if dataset is None:
        raise ValueError("--dataset is needed for a bare state dict")
    model = ann.convert_module(net, args.method, dataset=dataset, name=args.name or out.stem,
                           weight_bits=args.weight_bits, coef_bits=args.coef_bits,
                           pot_bits=args.pot_bits, pow2_theta=args.pow2_theta,
                           output=args.output_mode,
                           meta={"checkpoint": str(args.checkpoint), "command": _command_line(),
                                 "train": {k: v for k, v in ck.get("meta", {}).items()
                                           if k != "history"}})
    modelfile.save(model, out)
    print(model.summary())
    print(f"ANN accuracy {model.meta['ann_accuracy'] * 100:.2f}% on {dataset} test; wrote {out}")
    return 0
