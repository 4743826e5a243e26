"""``augsnn prove``: the formal checks of the neuron core and the UART receiver.

Layer: ``sim``. Imports nothing heavy at import time (Amaranth is loaded by the handler).

    augsnn prove                         # the whole suite (a few minutes on 2 cores)
    augsnn prove --list                  # the checks, proof or bounded, what each asserts
    augsnn prove core-c2-proof-data      # one check by name (any name from --list)

SymbiYosys with ``smtbmc yices`` (docs/formal.md). A ``proof`` is unbounded (k-induction,
SBY ``mode prove``): every assertion holds at every cycle of every run. A ``bounded`` check
(SBY ``mode bmc``) holds at every cycle up to its depth after power-on, for every input
sequence; ``--list`` says why its depth covers what it checks. A mutant check passes when
its broken core is refuted; the counterexample trace (VCD) is kept in the work folder.

Exit status: 0 when every check gives its expected result, 1 when one does not, 2 on a
usage error or a missing tool.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

__all__ = ["register", "main"]


def register(subparsers) -> None:
    """Add the ``prove`` sub-command to the CLI's ``subparsers``."""
    p = subparsers.add_parser(
        "prove", help="formal checks of the neuron core and the UART receiver (SymbiYosys)",
        description="Formal checks with SymbiYosys, Yosys-SMTBMC and Yices (PyPI packages): "
                    "unbounded proofs (k-induction) of the neuron core against a reference "
                    "model of docs/golden-model.md for two small parameter sets, of its output "
                    "stream rules and FIFO, and of the UART receiver's stream rule; bounded "
                    "checks (labelled, with their depth) of the core's bounded wait and the "
                    "receiver's frames; cores with forwarding removed or a short drain that "
                    "must be refuted (docs/formal.md).")
    add_arguments(p)
    p.set_defaults(func=_handler)


def add_arguments(p) -> None:
    p.add_argument("checks", nargs="*", metavar="CHECK",
                   help="names of the checks to run (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--workdir", default=None,
                   help="keep the SBY work folders here (default: a temporary folder, kept "
                        "only when a check does not give its expected result)")


def _handler(args) -> int:
    from . import formal

    by_name = {job.name: job for job in formal.SUITE}
    if args.list:
        for job in formal.SUITE:
            print(f"{job.name:<40} {_kind(job):<18} {job.about}")
            if job.why_bounded:
                print(f"{'':<40} {'':<18} bounded: {job.why_bounded}")
        return 0
    unknown = [name for name in args.checks if name not in by_name]
    if unknown:
        print(f"augsnn prove: error: unknown check {unknown[0]!r}; one of: "
              f"{', '.join(by_name)}", file=sys.stderr)
        return 2
    jobs = [by_name[name] for name in args.checks] if args.checks else list(formal.SUITE)
    if args.workdir is not None:
        root = Path(args.workdir)
        if root.exists() and not root.is_dir():
            print(f"augsnn prove: error: --workdir {root} exists and is not a folder",
                  file=sys.stderr)
            return 2
        root.mkdir(parents=True, exist_ok=True)
        keep = True
    else:
        root = Path(tempfile.mkdtemp(prefix="augsnn-prove-"))
        keep = False
    bad = 0

    def progress(job, res):
        nonlocal bad
        good = (res.status == "PASS") == (job.expect == "pass")
        bad += not good
        if job.expect == "pass" and job.mode == "prove":
            what = (f"proven (k-induction, k={job.depth})" if res.ok
                    else "FAILS" if res.status == "FAIL" else "NOT PROVEN (induction)")
        elif job.expect == "pass":
            what = f"holds to depth {job.depth} (bounded)" if res.ok else "FAILS"
        else:
            what = (f"refuted at step {res.steps}" if not res.ok
                    else f"NOT refuted within depth {job.depth}")
        print(f"{job.name:<40} {what:<34} {res.seconds:6.1f} s  "
              f"{'ok' if good else 'UNEXPECTED'}", flush=True)
        if res.failed and (not good or job.expect == "fail"):
            for where in res.failed:
                print(f"    failed: {where}: {_source_line(where)}")
            if res.trace is not None and keep:
                print(f"    counterexample: {res.trace}")
            elif res.trace is not None:
                print("    counterexample: rerun with --workdir DIR to keep its trace (VCD)")

    try:
        formal.run_suite(jobs, root, progress=progress)
    except formal.FormalToolError as exc:
        print(f"augsnn prove: error: {exc}", file=sys.stderr)
        return 2
    if bad == 0 and not keep:
        import shutil
        shutil.rmtree(root, ignore_errors=True)
    elif bad:
        print(f"work folders kept in {root}")
    proofs = sum(job.mode == "prove" for job in jobs)
    print(f"{len(jobs) - bad} of {len(jobs)} checks gave the expected result ({proofs} "
          f"unbounded proofs, {len(jobs) - proofs} bounded checks or refutations)")
    return 0 if bad == 0 else 1


def _kind(job) -> str:
    if job.expect == "fail":
        return f"refute, depth {job.depth}"
    if job.mode == "prove":
        return f"proof, k={job.depth}"
    return f"bounded, depth {job.depth}"


def _source_line(where: str) -> str:
    """The source text of ``file:line`` (an assertion of a harness), or ``""``."""
    path, _, line = where.rpartition(":")
    try:
        return Path(path).read_text().splitlines()[int(line) - 1].strip()
    except (OSError, ValueError, IndexError):
        return ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="augsnn prove")
    add_arguments(p)
    return _handler(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
