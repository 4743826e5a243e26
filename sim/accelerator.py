# amaranth: UnusedElaboratable=no
"""Run the generated accelerator on images with Verilator and compare it with the golden model.

Layer: ``sim`` (uses ``golden`` and ``hw``). The flow of ``augsnn sim``:

1. :func:`build` writes the Verilog of an engine's design (:mod:`augsnn.hw.engine`; with
   ``trace`` ports) and its weight files and builds it with Verilator
   (:mod:`augsnn.sim.runner`) in the build cache (:mod:`augsnn.sim.cache`), keyed by a hash
   of the model, the options, the generator sources (all of ``hw/``, ``sim/runner.py``, the
   simulation wrapper) and the tool versions, so that a second run does not rebuild.
   :func:`build_bundle` puts several accelerators into one build (tests).
2. :func:`run_images` drives images through the cocotb testbench
   (:mod:`augsnn.sim.accelerator_tb`) and decodes what it saved into an :class:`AccelRun`:
   class, output counts, events and cycles per image, and every layer's spikes at every
   step.
3. :func:`compare` checks all of it against :func:`augsnn.golden.network.simulate` (full
   state: every layer, every step, every neuron) and measures the cycles against the
   engine's cycle model (``plan.cycles``; docs/accelerator.md, docs/compact-engine.md).
"""

from __future__ import annotations

import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from augsnn.golden.early_exit import ExitRule

from .cache import default_cache_dir, generator_key

__all__ = ["Build", "AccelRun", "build", "build_bundle", "run_images", "run_parts", "compare",
           "default_cache_dir", "save_outputs"]


def _build_key(parts: dict, bundle: bool) -> str:
    h = generator_key()
    h.update(inspect.getsource(_sim_top).encode())     # the simulation wrapper
    h.update(repr(bundle).encode())
    for name in sorted(parts):
        model, options = parts[name]
        h.update(name.encode())
        h.update(json.dumps(options, sort_keys=True).encode())
        h.update(model.digest().encode())
    return h.hexdigest()[:16]


@dataclass
class PartInfo:
    """One accelerator of a build: its port prefix, plan and options."""

    name: str
    prefix: str
    model: object
    plan: object
    lanes: int
    trace: bool
    engine: object = None
    taps: int | tuple = 1


@dataclass
class Build:
    """A Verilator build of one accelerator or a bundle of them (:mod:`augsnn.sim.cache`)."""

    dir: Path
    runner: object
    parts: dict
    seconds: float
    cached: bool
    key: str

    def part(self, name: str | None = None) -> PartInfo:
        if name is None:
            if len(self.parts) != 1:
                raise ValueError(f"this build holds {len(self.parts)} accelerators; name one of "
                                 f"{sorted(self.parts)}")
            return next(iter(self.parts.values()))
        return self.parts[name]


def _sim_top(component):
    """Wrap ``component`` for simulation: same ports, plus ``clk`` and a registered ``rst``.

    Yosys writes every register's next-state logic with the synchronous reset folded in,
    so with ``rst`` a top-level input, Verilator re-evaluates all of it on every ``eval``
    (both clock edges). Registering ``rst`` here (one cycle of reset latency) leaves only
    the logic of the real inputs in that region: about twice the simulation speed. The
    hardware itself is unchanged.
    """
    from amaranth.hdl import ClockDomain, Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In

    class SimTop(wiring.Component):
        def __init__(self):
            super().__init__({**dict(component.signature.members), "clk": In(1), "rst": In(1)})

        def elaborate(self, platform):
            m = Module()
            m.domains.sync = sync = ClockDomain("sync")
            m.domains.por = por = ClockDomain("por", reset_less=True)
            rst = Signal(init=1)
            m.d.comb += [sync.clk.eq(self.clk), por.clk.eq(self.clk), sync.rst.eq(rst)]
            m.d.por += rst.eq(self.rst)
            m.submodules.dut = component
            for name, member in component.signature.members.items():
                if member.is_signature:
                    wiring.connect(m, wiring.flipped(getattr(self, name)),
                                   getattr(component, name))
                elif member.flow == wiring.Out:
                    m.d.comb += getattr(self, name).eq(getattr(component, name))
                else:
                    m.d.comb += getattr(component, name).eq(getattr(self, name))
            return m

    return SimTop()


def _options(options: dict) -> dict:
    opts = {"lanes": 8, "trace": True, "padding": True, "engine": "lanes"}
    opts.update(options)
    if opts.get("taps", 1) == 1:
        opts.pop("taps", None)          # taps 1: the build key of the design without taps
    return opts


def build_bundle(parts: dict, *, cache_dir=None, quiet: bool = False) -> Build:
    """Build several accelerators into one Verilator model (ports prefixed ``name__``).

    Parameters
    ----------
    parts : dict of str to (Model, dict)
        Per accelerator: the model and its options: ``engine`` (a name of
        :func:`augsnn.hw.engine.engine_names`, default ``"lanes"``), ``trace``, and the engine's own (``lanes``, ``padding``; an engine
        ignores options it does not take).
    """
    return _build({name: (model, _options(opts)) for name, (model, opts) in parts.items()},
                  bundle=True, cache_dir=cache_dir, quiet=quiet)


def build(model, *, lanes: int = 8, trace: bool = True, padding: bool = True, cache_dir=None,
          quiet: bool = False, engine: str = "lanes", taps: int | tuple = 1) -> Build:
    """Build (or find in the cache) the Verilator model of the accelerator for ``model``.

    ``engine`` names the design (:mod:`augsnn.hw.engine`): ``"lanes"``, or ``"compact"``
    (the iCE40 UP5K design; ``lanes``, ``taps`` and ``padding`` do not apply). ``taps``: output
    columns per beat of the conv layers (lane engine, docs/accelerator.md "Folding").

    Raises
    ------
    TypeError, ValueError
        The accelerator cannot be built for this model (before any file is written).
    """
    opts = _options({"lanes": lanes, "trace": trace, "padding": padding, "engine": engine,
                     "taps": taps})
    return _build({"accel": (model, opts)}, bundle=False, cache_dir=cache_dir, quiet=quiet)


def _build(parts: dict, *, bundle: bool, cache_dir, quiet: bool) -> Build:
    from augsnn.hw.emit import rom_files, verilog_text, write_files
    from augsnn.hw.engine import get_engine
    from augsnn.sim import runner as sim_runner

    from .cache import cached_build

    infos = {}
    for name, (model, opts) in parts.items():   # refuse a bad model before writing anything
        engine = get_engine(opts["engine"])
        taps = opts.get("taps")
        p = engine.plan(model, **engine.select(lanes=opts["lanes"], taps=taps,
                                               padding=opts["padding"]))
        infos[name] = PartInfo(name=name, prefix=f"{name}__" if bundle else "", model=model,
                               plan=p, lanes=p.lanes, trace=opts["trace"], engine=engine,
                               taps=getattr(p, "taps", 1))
    key = _build_key(parts, bundle)
    label = "-".join(sorted(parts)) if bundle else next(iter(parts.values()))[0].name

    def make_verilog(folder: Path) -> str:
        comps, extra = {}, {}
        for name, info in infos.items():
            files = {folder / f: text
                     for f, text in rom_files(info.plan, prefix=f"{name}_").items()}
            write_files(files)
            comps[name] = info.engine.component(
                info.model, trace=info.trace, rom_files=[str(f) for f in files],
                **info.engine.select(lanes=info.lanes, padding=parts[name][1]["padding"],
                                     taps=info.taps if info.taps != 1 else None))
            extra[info.engine.name] = info.engine.extra_verilog
        top = _sim_top(sim_runner.Bundle(comps) if bundle else next(iter(comps.values())))
        return verilog_text(top, name="top", extra="\n".join(e for e in extra.values() if e))

    c = cached_build(label, key, make_verilog, cache_dir=cache_dir, quiet=quiet,
                     info={"parts": sorted(parts)})
    return Build(dir=c.dir, runner=c.runner, parts=infos, seconds=c.seconds, cached=c.cached,
                 key=key)


@dataclass
class AccelRun:
    """What the accelerator produced for a set of images.

    Members
    -------
    pred, counts, events, cycles : arrays (N,), (N, classes), (L, N), (N,)
        From the result stream: class, accumulated output coefficients, events of every
        weighted layer, the image's cycles (docs/accelerator.md, "Streams").
    spikes : list of L lists (per image) of (steps, neurons) int arrays, or None
        Every layer's spikes at every step in the core's neuron layout (trace ports).
    steps : int array (L, N)
        ``done`` beats seen per layer and image (T; with early exit at least ``used``: the
        earlier layers may have run ahead before the image stopped).
    used : int array (N,)
        The steps each image ran (the answer's steps word: T, or fewer with early exit).
    rule : ExitRule or None
        The early-exit rule sent with the images.
    sim_seconds : float
        Wall time of the simulation.
    """

    T: int
    plan: object
    pred: np.ndarray
    counts: np.ndarray
    events: np.ndarray
    cycles: np.ndarray
    spikes: list | None
    steps: np.ndarray | None
    sim_seconds: float
    build: Build | None = field(default=None, repr=False)
    used: np.ndarray | None = None
    rule: object = None

    @property
    def out(self) -> np.ndarray | None:
        """Output-layer coefficients per step, ``(T, N, classes)`` (needs the trace)."""
        if self.spikes is None:
            return None
        last = self.plan.layers[-1]
        n = self.plan.n_classes
        out = np.zeros((self.T, len(self.pred), n), dtype=np.int64)
        idx = last.neuron_index()
        for b, s in enumerate(self.spikes[-1]):
            steps = min(self.T, s.shape[0])
            out[:steps, b] = s[:steps][:, idx]
        return out


def _decode(payload: np.ndarray, widths: list) -> list:
    """Split little-endian payload bytes ``(N, nbytes)`` into unsigned fields (LSB first)."""
    bits = np.unpackbits(payload, axis=1, bitorder="little")
    out, pos = [], 0
    for w in widths:
        chunk = bits[:, pos:pos + w].astype(np.int64)
        out.append(chunk @ (1 << np.arange(w, dtype=np.int64)) if w else np.zeros(len(bits),
                                                                                   np.int64))
        pos += w
    return out


def _signed(values: np.ndarray, width: int) -> np.ndarray:
    return np.where(values >= 1 << (width - 1), values - (1 << width), values)


def _trace_widths(lp) -> tuple[int, int, int]:
    index_bits = max(1, (lp.neurons - 1).bit_length())
    return index_bits, lp.neuron.coef_bits, getattr(lp, "core_lanes", lp.lanes)


def _unpack_part(plan, T: int, n_images: int, data: dict, trace: bool) -> tuple:
    res = data["results"].astype(np.int64)
    nc, nl = plan.n_classes, len(plan.layers)
    pred = res[:, 0]
    counts = _signed(res[:, 1:1 + nc], 32)
    events = res[:, 1 + nc:1 + nc + nl].T.copy()
    cycles = res[:, -1]
    used = res[:, -2]
    if not trace:
        return pred, counts, events, cycles, used, None, None
    spikes, steps = [], np.zeros((nl, n_images), dtype=np.int64)
    for l, lp in enumerate(plan.layers):
        ib, cb, L = _trace_widths(lp)
        img = data[f"trace{l}_image"]
        fields = _decode(data[f"trace{l}_payload"], [ib] + [cb] * L + [1])
        index, done = fields[0], fields[-1]
        coef = np.stack([_signed(f, cb) for f in fields[1:-1]], axis=1) if len(img) else \
            np.zeros((0, L), np.int64)
        per_image = []
        for b in range(n_images):
            sel = np.nonzero(img == b)[0]
            d = done[sel]
            step = np.cumsum(d) - d
            steps[l, b] = int(d.sum())
            arr = np.zeros((max(T, int(d.sum()) + 1), lp.neurons), dtype=np.int32)
            beat = sel[d == 0]
            st = step[d == 0]
            for k in range(L):
                arr[st, index[beat] + k] = coef[beat, k]
            per_image.append(arr)
        spikes.append(per_image)
    return pred, counts, events, cycles, used, spikes, steps


def run_parts(bld: Build, jobs: dict, *, progress: int = 10, quiet: bool = False,
              max_cycles_per_image: int = 2 ** 32 - 1) -> dict:
    """Run images through several accelerators of one build at once.

    Parameters
    ----------
    jobs : dict of str to (images, T) or (images, T, traffic)
        Per part name: uint8 images ``(N, *input_shape)``, the number of time steps and
        optionally ``traffic``: ``{"stall_in": p, "stall_out": p, "seed": s}`` (idle input
        cycles and result back-pressure, for handshake tests) and ``"early_exit": [margin,
        t_min]`` (the rule sent in every image header).

    Returns
    -------
    dict of str to :class:`AccelRun`
    """
    from augsnn.sim import runner as sim_runner
    tag = f"run{os.getpid()}-{time.time_ns() % 10**9}"
    cfg_parts, files = [], {}
    for name, (images, T, *traffic) in jobs.items():
        info = bld.part(name) if name in bld.parts else bld.part()
        images = np.asarray(images)
        _check_images(info, images, T)
        img_path = bld.dir / f"{tag}-{name}-images.npy"
        out_path = bld.dir / f"{tag}-{name}-out.npz"
        np.save(img_path, images.reshape(len(images), -1).astype(np.uint8))
        files[name] = (img_path, out_path)
        trace_bytes = []
        for lp in info.plan.layers:
            ib, cb, L = _trace_widths(lp)
            trace_bytes.append((ib + cb * L + 1 + 7) // 8)
        preamble = {"gaps": True} if info.engine.answer_gaps else {}
        frame = info.engine.weight_frame(info.plan)
        if frame:
            pre_path = bld.dir / f"{tag}-{name}-weights.npy"
            np.save(pre_path, np.frombuffer(frame, dtype=np.uint8))
            files[name] += (pre_path,)
            preamble.update(preamble=str(pre_path), preamble_words=1)
        cfg_parts.append({**preamble, "prefix": info.prefix, "images": str(img_path), "T": int(T),
                          "layers": len(info.plan.layers) if info.trace else 0,
                          "result_words": info.plan.result_words, "out": str(out_path),
                          "label": f"{info.model.name}" if len(jobs) == 1 else name,
                          "trace_bytes": trace_bytes, **(traffic[0] if traffic else {})})
    t0 = time.time()
    env = {"COCOTB_LOG_LEVEL": "WARNING", "OPENBLAS_NUM_THREADS": "1"}
    log_file = None
    if quiet:
        log_file = bld.dir / f"{tag}.log"
    try:
        sim_runner.run(bld.runner, test_module="augsnn.sim.accelerator_tb", build_dir=bld.dir,
                       name=tag, config={"parts": cfg_parts, "progress": progress,
                                         "max_cycles_per_image": max_cycles_per_image},
                       extra_env=env, log_file=log_file)
        wall = time.time() - t0
        runs = {}
        for name, (images, T, *_) in jobs.items():
            info = bld.part(name) if name in bld.parts else bld.part()
            with np.load(files[name][1]) as npz:
                data = {k: npz[k] for k in npz.files}
            checksum = info.engine.weight_checksum(info.plan)
            if checksum is not None:
                got = data["preamble_answer"].tolist()
                want = [checksum]
                if got != want:
                    raise RuntimeError(f"{info.model.name}: the {info.engine.title} answered the "
                                       f"weight frame with {got}, expected the checksum {want}")
            pred, counts, events, cycles, used, spikes, steps = _unpack_part(
                info.plan, int(T), len(images), data, info.trace)
            rule = (jobs[name][2] if len(jobs[name]) > 2 else {}).get("early_exit")
            runs[name] = AccelRun(T=int(T), plan=info.plan, pred=pred, counts=counts,
                                  events=events, cycles=cycles, spikes=spikes, steps=steps,
                                  sim_seconds=wall, build=bld, used=used,
                                  rule=ExitRule(*rule) if rule else None)
        return runs
    finally:
        for paths in files.values():
            for path in paths:
                path.unlink(missing_ok=True)
        if log_file is not None:
            log_file.unlink(missing_ok=True)


def _check_images(info: PartInfo, images: np.ndarray, T) -> None:
    shape = tuple(info.model.input_shape)
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 pixels, not {images.dtype}")
    if images.ndim != len(shape) + 1 or images.shape[1:] != shape:
        raise ValueError(f"images of shape {images.shape[1:]} do not match the model's input "
                         f"{shape}")
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T < 2 ** 16:
        raise ValueError(f"T must be an integer between 1 and 65535, not {T!r}")
    M = info.plan.layers[-1].neuron.M
    if T * M >= 2 ** 31:
        raise ValueError(f"T={T} times the output layer's largest coefficient {M} may overflow "
                         f"the 32-bit output counts")


def run_images(model, images, T: int, lanes: int = 8, *, trace: bool = True,
               build: Build | None = None, cache_dir=None, progress: int = 10,
               quiet: bool = False, early_exit=None, taps: int | tuple = 1) -> AccelRun:
    """Run uint8 ``images`` through the accelerator for ``T`` steps (building it if needed).

    This is the hook of ``augsnn demo``: the result has, per image, the class (``pred``),
    the output counts, the events of every layer, the steps run and the cycles, plus
    (``trace=True``) every layer's spikes at every step. ``early_exit``: an
    :class:`~augsnn.golden.early_exit.ExitRule` sent with every image (the engine must
    support it: ``engine.early_exit``). ``taps``: output columns per beat of the conv layers
    (lane engine; docs/accelerator.md, "Folding").
    """
    bld = build if build is not None else globals()["build"](model, lanes=lanes, trace=trace,
                                                              cache_dir=cache_dir, quiet=quiet,
                                                              taps=taps)
    name = next(iter(bld.parts)) if len(bld.parts) == 1 else None
    if name is None:
        raise ValueError("run_images needs a build of one accelerator; use run_parts")
    options = {}
    if early_exit is not None:
        engine = bld.part(name).engine
        if not getattr(engine, "early_exit", False):
            raise ValueError(f"the {engine.title} has no early exit")
        options["early_exit"] = [early_exit.margin, early_exit.t_min]
    return run_parts(bld, {name: (images, T, options)}, progress=progress, quiet=quiet)[name]


def compare(model, images, run: AccelRun, *, indices=None, labels=None, chunk: int = 25,
            max_report: int = 50) -> dict:
    """Compare an accelerator run with the golden model: every layer, step and neuron.

    Returns a JSON-able report: ``mismatches`` (count), ``first_mismatches`` (up to
    ``max_report``, each with image (test-set index), step, layer, neuron (index in the
    layer's output shape), expected, actual), per-layer counts, class/count/event checks,
    cycles per image, the efficiency bound and the efficiency.
    """
    from augsnn.golden.early_exit import apply as exit_apply
    from augsnn.golden.network import simulate
    images = np.asarray(images)
    n = len(images)
    T = run.T
    plan = run.plan
    indices = np.arange(n) if indices is None else np.asarray(indices)
    report_list = []
    per_layer = [0] * len(plan.layers)
    total = 0
    bad_class = bad_counts = bad_events = bad_steps = 0
    synops = []
    g_pred, g_counts, g_events = [], [], []

    def note(kind, **kw):
        if len(report_list) < max_report:
            report_list.append({"kind": kind, **kw})

    used_all = []
    for s in range(0, n, chunk):
        part = slice(s, min(n, s + chunk))
        g = simulate(model, images[part], T, trace=run.spikes is not None)
        # Expected per image: the golden run cut at its exit step (all T without a rule).
        B = part.stop - part.start
        if run.rule is not None:
            ex = exit_apply(g, run.rule)
            e_pred, e_counts, e_events, e_steps = ex.pred, ex.counts, ex.events, ex.steps
        else:
            e_pred, e_counts, e_events = g.pred, g.counts, g.events.sum(axis=1)
            e_steps = np.full(B, T, dtype=np.int64)
        ran = np.arange(T)[:, None] < e_steps[None, :]                    # (T, B)
        synops.append(g.synops * ran[None])
        used_all.append(e_steps)
        g_pred.append(e_pred)
        g_counts.append(e_counts)
        g_events.append(e_events)
        for b_local in range(B):
            b = s + b_local
            img_id = int(indices[b])
            u = int(e_steps[b_local])
            if run.used is not None and int(run.used[b]) != u:
                bad_steps += 1
                note("steps run", image=img_id, expected=u, actual=int(run.used[b]))
            if int(run.pred[b]) != int(e_pred[b_local]):
                bad_class += 1
                note("class", image=img_id, expected=int(e_pred[b_local]), actual=int(run.pred[b]))
            if not np.array_equal(run.counts[b], e_counts[b_local]):
                bad_counts += 1
                note("counts", image=img_id, expected=e_counts[b_local].tolist(),
                     actual=run.counts[b].tolist())
            ev = e_events[:, b_local]
            if not np.array_equal(run.events[:, b], ev):
                bad_events += 1
                note("events", image=img_id, expected=ev.tolist(), actual=run.events[:, b].tolist())
            if run.spikes is None:
                continue
            for l, lp in enumerate(plan.layers):
                # Every layer ends the steps run; with early exit the earlier layers may
                # have ended more (they run ahead), never fewer.
                if run.steps[l, b] != T if run.rule is None else run.steps[l, b] < u:
                    bad_steps += 1
                    note("steps", image=img_id, layer=l, expected=u, actual=int(run.steps[l, b]))
                hw = run.spikes[l][b]
                idx = lp.neuron_index()
                got = hw[:u][:, idx]                               # (u, *shape)
                exp = g.trace[l][:u, b_local]
                diff = np.argwhere(got != exp)
                # Spikes of padding neurons are not compared (they never leave the core).
                per_layer[l] += len(diff)
                total += len(diff)
                for d in diff[:max(0, max_report - len(report_list))]:
                    t, *neuron = (int(x) for x in d)
                    note("spike", image=img_id, step=t, layer=l, neuron=neuron,
                         expected=int(exp[tuple(d)]), actual=int(got[tuple(d)]))
                # Per-step output counts follow from the output layer's spikes; checked too.
            if run.spikes is not None:
                out = run.spikes[-1][b][:u][:, plan.layers[-1].neuron_index()]
                if not np.array_equal(np.cumsum(out, axis=0),
                                      np.cumsum(g.out[:u, b_local], axis=0)):
                    note("per-step counts", image=img_id)
    synops = np.concatenate(synops, axis=2)
    used = np.concatenate(used_all)
    bound = plan.cycles(synops, used)       # the engine's cycle model (bound)
    critical = plan.critical(synops, used)
    cycles = run.cycles.astype(np.int64)
    pred = np.concatenate(g_pred)
    labels_ok = None
    if labels is not None:
        labels_ok = float((run.pred == np.asarray(labels)).mean())
    mismatches = total + bad_class + bad_counts + bad_events + bad_steps
    return {
        "model": model.name, "images": n, "T": T, "lanes": plan.lanes,
        "taps": getattr(plan, "taps", 1),
        "mismatches": int(mismatches),
        "spike_mismatches": int(total),
        "spike_mismatches_per_layer": [int(x) for x in per_layer],
        "class_mismatches": bad_class, "count_mismatches": bad_counts,
        "event_mismatches": bad_events, "step_count_errors": bad_steps,
        "first_mismatches": report_list,
        "full_state_compared": run.spikes is not None,
        "accuracy": labels_ok,
        "golden_accuracy": None if labels is None else float((pred == np.asarray(labels)).mean()),
        "cycles_per_image": float(cycles.mean()),
        "cycles_min": int(cycles.min()), "cycles_max": int(cycles.max()),
        "bound_per_image": float(bound.mean()),
        "efficiency": float(bound.sum() / cycles.sum()),
        "critical_bound_per_image": float(critical.mean()),
        "critical_efficiency": float(critical.sum() / cycles.sum()),
        "synops_per_image": [float(x) for x in synops.sum(axis=1).mean(axis=1)],
        "events_per_image": [float(x) for x in run.events.mean(axis=1)],
        "early_exit": None if run.rule is None else run.rule.describe(),
        "mean_steps": float(used.mean()),
        "sim_seconds": round(run.sim_seconds, 1),
    }


def save_outputs(path, run: AccelRun, labels, indices) -> None:
    """Per-image outputs in the layout of :func:`augsnn.golden.evaluate.save_outputs`."""
    out = run.out
    if out is None:
        out = np.zeros((run.T, len(run.pred), run.plan.n_classes), dtype=np.int64)
    np.savez_compressed(path, index=np.asarray(indices), label=np.asarray(labels),
                        pred=run.pred.astype(np.int64), counts=run.counts.astype(np.int64),
                        out=out, events=run.events.astype(np.int64),
                        cycles=run.cycles.astype(np.int64))
