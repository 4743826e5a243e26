"""``augsnn zoo list | build | doc`` and ``augsnn paper``: the reproduction sub-commands.

Imports nothing heavy at module level: torch and matplotlib are loaded by the handlers that
train, convert or plot (``zoo list`` reads the manifests only).
"""

from __future__ import annotations

from pathlib import Path

from augsnn.golden.modelfile import ZOO_DIR, zoo_manifest, zoo_names

from .paper_numbers import NETS_HERE
from .zoo import PLAN


def register(sub) -> None:
    _register_zoo(sub)
    _register_paper(sub)


def _register_zoo(sub) -> None:
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
    from .zoo import build
    build(args.net, args.methods, workdir=Path(args.workdir), checkpoint=args.checkpoint,
          seed=args.seed, out_dir=Path(args.out_dir))
    return 0


def cmd_doc(args) -> int:
    from .zoo_docs import write_docs
    out = write_docs(Path(args.docs), Path(args.readme) if args.readme else None)
    print(f"wrote {out}")
    return 0


def _register_paper(sub) -> None:
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
    from .paper import run
    out = run(workdir=Path(args.workdir), docs=Path(args.docs), quick=args.quick,
              checkpoints=Path(args.checkpoints) if args.checkpoints else None,
              zoo_dir=Path(args.zoo_dir), rebuild=args.rebuild, progress=not args.no_progress,
              nets=tuple(args.nets))
    print(f"wrote {out}")
    return 0
