# amaranth: UnusedElaboratable=no
"""The whole-network accelerator, generated from a model file (docs/accelerator.md).

Layer: ``hw`` (Amaranth). :class:`Accelerator` elaborates one
:class:`~augsnn.hw.neuron_core.NeuronCore` per weighted layer of a
:class:`~augsnn.golden.model.Model`, with its weights in read-only memories, event queues
between the layers, the first layer's input current computed once per image, and the time
step sequencing of docs/golden-model.md; :func:`write_verilog` writes its Verilog and weight
files. The layout of neurons and weights and every check are in :mod:`augsnn.hw.lanes.plan`; the blocks
in :mod:`augsnn.hw.lanes` (one file each).

Streams (Verilog names after Amaranth's flattening in brackets):

* ``i`` (``i__valid``, ``i__ready``, ``i__payload[7:0]``): one image per frame of bytes,
  taken apart by :class:`~augsnn.hw.frames.FrameReceiver`: the header (``T``, time steps,
  0 counts as 1; the early-exit margin; ``t_min``; two bytes each, least significant
  first), then the ``C*H*W`` pixels in C, H, W order.
* ``o`` (``o__payload`` = ``{last, data[31:0]}``): one result frame per image, 32-bit
  words, sent by :class:`~augsnn.hw.frames.ResultSender`: the class (argmax of the output
  counts, ties to the lowest index), the ``n_classes`` accumulated output coefficients
  (signed), the events (non-zero spikes) of every weighted layer, the steps run, the cycles
  of the image (from its first input byte, or from the answer before it when its frame came
  in while that image ran, to its first result word); ``last`` marks the final word. The
  next frame is taken while an image runs (two images in flight: docs/accelerator.md,
  "Image overlap").
* ``trace<l>`` (only with ``trace=True``): the spike beats of core ``l`` as they leave it
  (NeuronCore output layout: ``index``, ``coef[lanes]``, ``done``), one per cycle at most,
  without back-pressure (no ``ready``: the receiver takes every beat). For testbenches: the
  full per-step state of every layer.
"""

from __future__ import annotations

from pathlib import Path

from amaranth.hdl import Array, Cat, Module, Mux, ResetInserter, Signal, signed, unsigned
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out, connect

from ..dsp import check_hard_mult
from ..emit import COPY_ATTR
from ..frames import FrameReceiver, ResultSender, result_layout
from ..neuron_core import NeuronCore
from ..rom import check_rom_backend
from ..skid import Skid
from ..plan import T_BITS, WORD_BITS
from .fanout import FanOut
from .first_layer import FirstLayer
from .layouts import beat_layout, core_output_layout, event_layout, popcount
from .plan import AccelPlan, plan as make_plan
from .serializer import EventSerializer
from .walk import beat_shape, producer_walk

__all__ = ["Accelerator", "write_verilog", "trace_signature", "plan_for"]

#: Entries of each layer's event-count queue (how many steps a layer may run ahead of the
#: output layer before it waits: ``SNAP_DEPTH - 4``).
SNAP_DEPTH = 8


def trace_signature(lp) -> wiring.Signature:
    """A ``trace<l>`` port: ``valid`` and ``payload`` (NeuronCore output), no ``ready``.

    Not ``stream.Signature(..., always_ready=True)``: its ``ready`` is a constant, which
    Amaranth 0.5's Verilog back end refuses as a port of the top-level component (the
    accelerator is the top of the simulated design)."""
    return wiring.Signature({"valid": Out(1), "payload": Out(core_output_layout(lp))})


def plan_for(model, *, lanes: int | tuple = 8, taps: int | tuple = 1, padding: bool = True,
             memory_budget_bits: int | None = None) -> AccelPlan:
    """Check ``model`` and lay it out (:func:`augsnn.hw.lanes.plan.plan`)."""
    return make_plan(model, lanes=lanes, taps=taps, padding=padding,
                     memory_budget_bits=memory_budget_bits)


class Accelerator(wiring.Component):
    """Run a converted SNN on images: pixels in, class and spike counts out.

    Parameters
    ----------
    model : Model
        The converted network (``augsnn.golden.modelfile.load``).
    lanes : int or tuple of int
        Parallel synaptic updates per layer (and NeuronCore lanes): a power of two, 1..64,
        for every weighted layer or one per weighted layer (folding).
    taps : int or tuple of int
        Output columns a conv layer updates per beat (a power of two, at most the kernel):
        one count for every conv layer or one per weighted layer (dense layers 1); the
        layer's core has ``lanes * taps`` lanes (docs/accelerator.md, "Folding").
    padding : bool
        Pad layers whose channel count their lanes do not divide (``False``: refuse them).
    memory_budget_bits : int or None
        Refuse a model needing more on-chip memory bits.
    trace : bool
        Add the ``trace<l>`` ports (every layer's spikes, for verification).
    rom_backend : str
        ``"readmemh"`` (weight memories read ``rom_files``) or ``"memory"`` (inline).
    rom_files : list of str
        The ``$readmemh`` file of each weighted layer, as written in the Verilog (default
        ``weights<l>.hex``).
    hard_mult : str or None
        ``"ecp5"``: each product in a MULT18X18D with its own input and output registers
        (the ECP5 board build; :func:`~augsnn.hw.dsp.registered_product`); ``None``: the
        portable registers and ``*`` (same cycles, same values).

    Members
    -------
    i : In(stream(unsigned(8)))
    o : Out(stream(result_layout()))
    busy : Out(1)
        An image is in progress (from its first byte to its last result word) or a unit
        still holds work.
    trace<l> : Out(stream(NeuronCore output layout of layer l))

    Raises
    ------
    TypeError, ValueError
        The model or an option cannot be built (raised before any elaboration).
    """

    def __init__(self, model, *, lanes: int | tuple = 8, taps: int | tuple = 1,
                 padding: bool = True, memory_budget_bits: int | None = None,
                 trace: bool = False, rom_backend: str = "readmemh", rom_files=None,
                 hard_mult: str | None = None):
        self._plan = plan_for(model, lanes=lanes, taps=taps, padding=padding,
                              memory_budget_bits=memory_budget_bits)
        if not isinstance(trace, bool):
            raise TypeError(f"trace must be a bool, not {trace!r}")
        self._trace = trace
        self._rom_backend = check_rom_backend(rom_backend)
        self._hard_mult = check_hard_mult(hard_mult)
        n = len(self._plan.layers)
        self._rom_files = [str(f) for f in rom_files] if rom_files is not None else [
            f"weights{l}.hex" for l in range(n)]
        if len(self._rom_files) != n:
            raise ValueError(f"rom_files must name {n} files, not {len(self._rom_files)}")
        ports = {
            "i": In(stream.Signature(unsigned(8))),
            "o": Out(stream.Signature(result_layout())),
            "busy": Out(1),
        }
        if trace:
            for lp in self._plan.layers:
                ports[f"trace{lp.number}"] = Out(trace_signature(lp))
        super().__init__(ports)

    plan = property(lambda self: self._plan)
    trace = property(lambda self: self._trace)
    rom_files = property(lambda self: list(self._rom_files))

    def cores(self) -> list[NeuronCore]:
        """The NeuronCore of each weighted layer (fresh instances, same parameters)."""
        out = []
        for lp in self._plan.layers:
            n = lp.neuron
            out.append(NeuronCore(
                coef_bits=n.coef_bits, current_bits=lp.current_bits, pot_bits=n.pot_bits,
                theta_p=n.theta_p, theta_n=n.theta_n, neurons=lp.neurons, lanes=lp.core_lanes,
                v_init=n.v_init, acc_bits=lp.acc_bits))
        return out

    def elaborate(self, platform):
        m = Module()
        p = self._plan
        layers = p.layers
        nl = len(layers)

        cores = self.cores()
        # ``abort``: a one-cycle pulse that drops the rest of an image that exited early: every
        # block of the datapath goes back to its reset state (memories keep their contents;
        # the next image's CLEAR resets the membranes, FirstLayer zeroes its current). The
        # control sets ``abort_set``; each block gets its own register of it, all equal (kept
        # apart in the board build): one register for the whole die was a route of 8.5 ns
        # to a FanOut's FIFO at a 100 MHz target (ECP5).
        abort_set = Signal()

        def abort(unit):
            a = Signal(name=f"abort_{unit}", attrs={COPY_ATTR: 1})
            m.d.sync += a.eq(abort_set)
            return a

        fans = []
        for lp, core in zip(layers, cores):
            m.submodules[f"core{lp.number}"] = ResetInserter(abort(f"core{lp.number}"))(core)
            fan = FanOut(lp, rom_backend=self._rom_backend, init_file=self._rom_files[lp.number],
                         hard_mult=self._hard_mult, clearable=lp.number > 0)
            # FanOut 0 belongs to the loader (the next image's pixels): an abort spares it.
            m.submodules[f"fanout{lp.number}"] = fan if lp.number == 0 else \
                ResetInserter(abort(f"fanout{lp.number}"))(fan)
            fans.append(fan)
        m.submodules.first = first = FirstLayer(layers[0], t_bits=T_BITS)
        m.d.comb += first.abort.eq(abort("first"))
        connect(m, fans[0].o, first.acc)
        # Two skid buffers (registered ``ready``) between FirstLayer and core 0: core 0's
        # ``ready`` no longer reaches FirstLayer's sweep registers, and each signal that
        # crosses from one to the other starts at a flip-flop of a skid (the placer puts
        # FirstLayer and core 0 far apart; with one skid, core 0's ready and FirstLayer's
        # valid met in one LUT placed away from both: 11.8 ns at a 100 MHz target).
        first_skids = [Skid(cores[0].i.payload.shape()) for _ in range(2)]
        for k, skid in enumerate(first_skids):
            m.submodules[f"first_skid{k}"] = ResetInserter(abort(f"first_skid{k}"))(skid)
        connect(m, first.o, first_skids[0].i)
        connect(m, first_skids[0].o, first_skids[1].i)
        connect(m, first_skids[1].o, cores[0].i)

        def core_out(l, ready):
            """The output of core ``l`` as seen by its consumer, forked to ``trace<l>``."""
            o = cores[l].o
            if not self._trace:
                m.d.comb += o.ready.eq(ready)
                return o.valid
            t = getattr(self, f"trace{l}")
            m.d.comb += [t.payload.eq(o.payload), t.valid.eq(o.valid & ready), o.ready.eq(ready)]
            return o.valid

        # The events of layer l < L-1 are counted where walk l+1 takes them; after each of its
        # steps the running count goes into a queue, read when the output layer ends that step
        # (the earlier layers run ahead), so an early exit reports the events of the steps run.
        walks = [None]
        snaps = []
        events = [Signal(WORD_BITS, name=f"events{l}") for l in range(nl)]
        for lp in layers[1:]:
            prod = layers[lp.number - 1]
            _, h, w = lp.grid
            beat_lanes, beat_taps = beat_shape(prod)
            beat = beat_layout(prod.groups, h, w, lp.in_bits, beat_lanes)
            walk = producer_walk(prod, beat)
            ser = EventSerializer(beat=beat, event=event_layout(lp.grid, lp.in_bits),
                                  lanes=beat_lanes // beat_taps, taps=beat_taps)
            m.submodules[f"walk{lp.number}"] = ResetInserter(abort(f"walk{lp.number}"))(walk)
            m.submodules[f"serial{lp.number}"] = ResetInserter(abort(f"serial{lp.number}"))(ser)
            snap = fifo.SyncFIFO(width=WORD_BITS, depth=SNAP_DEPTH)
            abort_snap = abort(f"snap{prod.number}")
            m.submodules[f"snap{prod.number}"] = ResetInserter(abort_snap)(snap)
            hold = Signal(name=f"snap_hold{prod.number}")
            m.d.sync += hold.eq(snap.level >= SNAP_DEPTH - 4)
            # A skid buffer between the core and the walk: the walk's ``ready`` (through the
            # serializer's) no longer reaches the core's output FIFO and credits (timing).
            skid = Skid(core_output_layout(prod))
            m.submodules[f"skid{prod.number}"] = ResetInserter(abort(f"skid{prod.number}"))(skid)
            m.d.comb += [skid.i.payload.eq(cores[prod.number].o.payload),
                         skid.i.valid.eq(core_out(prod.number, skid.i.ready)),
                         walk.i.payload.eq(skid.o.payload),
                         walk.i.valid.eq(skid.o.valid & ~hold),
                         skid.o.ready.eq(walk.i.ready & ~hold)]
            # A beat taken at cycle c is in events[l] from cycle c+4 (the walk counts it three
            # cycles later): the count four cycles after the done beat is exactly that of
            # the steps up to it.
            d = [Signal(name=f"snap_d{n}_{prod.number}") for n in (1, 2, 3, 4)]
            m.d.sync += [d[0].eq(walk.i.valid & walk.i.ready & walk.i.payload.done)]
            m.d.sync += [d[n].eq(d[n - 1] & ~abort_snap) for n in (1, 2, 3)]
            m.d.comb += [snap.w_data.eq(events[prod.number]), snap.w_en.eq(d[3])]
            m.d.sync += events[prod.number].eq(events[prod.number] + walk.events)
            connect(m, walk.o, ser.i)
            connect(m, ser.o, fans[lp.number].i)
            connect(m, fans[lp.number].o, cores[lp.number].i)
            walks.append(walk)
            snaps.append(snap)
        self._control(m, first, fans, walks, snaps, cores, events, abort_set, abort("out_skid"),
                      core_out)
        return m

    def _control(self, m, first, fans, walks, snaps, cores, events, abort_set, abort_out,
                 core_out):
        """The image frame in, the steps and the early-exit decision, the result frame out."""
        p = self._plan
        nl = len(p.layers)
        last = p.layers[-1]
        m.submodules.receiver = rx = FrameReceiver(p.grid)
        m.submodules.sender = tx = ResultSender(p.result_words)
        wiring.connect(m, wiring.flipped(self.i), rx.i)
        wiring.connect(m, tx.o, wiring.flipped(self.o))
        # Two images in flight: the *loader* takes a frame's header and pixels (FanOut 0 into
        # FirstLayer's loading bank) while the *run* side steps the image before it; the
        # loaded image is handed over (banks swapped, the next frame let in) once the run side
        # has sent the previous answer (docs/accelerator.md, "Image overlap").
        ld_steps, ld_margin, ld_t_min = (Signal(T_BITS, name=f"load_{n}")
                                         for n in ("steps", "margin", "t_min"))
        steps = Signal(T_BITS)
        margin = Signal(T_BITS)
        t_min = Signal(T_BITS)
        handover = Signal()
        run_idle = Signal()
        load_idle = Signal()
        dones = Signal(T_BITS)
        cycles = Signal(WORD_BITS)
        result_cycles = Signal(WORD_BITS)
        counting = Signal()
        counts = [Signal(signed(WORD_BITS), name=f"count{n}") for n in range(p.n_classes)]
        ev_snap = [Signal(WORD_BITS, name=f"events_at_exit{l}") for l in range(nl - 1)]
        pred = Signal(range(max(2, p.n_classes)))
        best = Signal(signed(WORD_BITS))
        second = Signal(signed(WORD_BITS))
        has_second = Signal()
        cand = Signal(signed(WORD_BITS))
        cand_n = Signal(range(max(2, p.n_classes)))
        cand_valid = Signal()
        phase = Signal()        # SCAN: 0 fetch a count (and apply the last compare), 1 compare
        gt_best, gt_second, cmp_valid = Signal(), Signal(), Signal()
        an = Signal(range(p.n_classes + 1))
        gap = Signal(signed(WORD_BITS + 1))
        stop = Signal()         # the image stops at this step (T reached or the rule holds)
        snaps_ready = Signal()  # every event-count queue has this step's entry (registered)

        m.d.comb += [rx.done.eq(handover), first.start.eq(handover), first.steps.eq(steps)]
        # The later FanOuts' CLEAR from a register, a cycle after the handover (their first
        # events come many cycles later): the handover's logic (loader, first layer, run
        # side) straight into registers of FanOuts across the die was the critical path of
        # the 8,16,8 design at 100 MHz (74.3 MHz).
        clear = Signal(name="fan_clear")
        m.d.sync += clear.eq(handover)
        for fan in fans[1:]:
            m.d.comb += fan.clear.eq(clear)

        self._loader(m, rx, fans[0], first, handover, run_idle, load_idle,
                     ld_steps, ld_margin, ld_t_min)

        # Cycles of an image: from its frame's first byte, or from the previous image's
        # decision if the frame came in before it (the images then overlap: the words add up
        # to the run's cycles), to its own decision.
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(rx.start & ~counting):
            m.d.sync += [cycles.eq(1), counting.eq(1)]

        # Output layer: counts, events, steps (its beats come only while running).
        # Its beats are registered here before anything uses them (the output core sits far
        # from the control: its output into the step counter and the counts' adders was the
        # critical path of 8,32,8 at 100 MHz, 68 MHz). ``hold``: the registered beat ends a
        # step, so nothing more is taken until the run state machine has left RUN.
        # A skid buffer after the output core, as after the others: the control's ``ready``
        # reaches the core's output logic only through a register.
        running = Signal()
        hold = Signal()
        out_skid = Skid(cores[-1].o.payload.shape())
        m.submodules.out_skid = ResetInserter(abort_out)(out_skid)
        m.d.comb += [out_skid.i.payload.eq(cores[-1].o.payload),
                     out_skid.i.valid.eq(core_out(last.number, out_skid.i.ready)),
                     out_skid.o.ready.eq(running & ~hold)]
        take = Signal(name="out_take")
        beat = Signal(cores[-1].o.payload.shape(), name="out_beat", reset_less=True)
        m.d.sync += [take.eq(out_skid.o.valid & running & ~hold), beat.eq(out_skid.o.payload)]
        m.d.comb += hold.eq(take & beat.done)
        real = Cat((beat.index + k < last.out_channels) & (beat.coef[k] != 0)
                   for k in range(last.lanes))
        n_out = popcount(m, real, "out_events")
        # The output events are added one cycle later (a register between the popcount and
        # the 32-bit add, for timing); the result is read many cycles after the last beat.
        n_out_q = Signal.like(n_out, name="out_events_q")
        m.d.sync += n_out_q.eq(Mux(take & ~beat.done, n_out, 0))
        m.d.sync += events[-1].eq(events[-1] + n_out_q)
        with m.If(take & ~beat.done):
            for n in range(p.n_classes):
                r, k = divmod(n, last.lanes)
                with m.If(beat.index == r * last.lanes):
                    m.d.sync += counts[n].eq(counts[n] + beat.coef[k])

        m.d.comb += self.busy.eq(~run_idle | ~load_idle | first.acc_busy | first.running
                                 | Cat(f.busy for f in fans).any()
                                 | Cat(w.busy for w in walks[1:]).any())
        counts_a = Array(counts)
        words = Array([pred, *counts, *ev_snap, events[-1], dones, result_cycles])
        early = Signal()       # the rule is on (margin != 0) and t_min steps have run
        with m.FSM(name="run"):
            with m.State("IDLE"):
                m.d.comb += run_idle.eq(1)
                with m.If(handover):
                    m.d.sync += [dones.eq(0), steps.eq(ld_steps), margin.eq(ld_margin),
                                 t_min.eq(ld_t_min)]
                    m.d.sync += [c.eq(0) for c in counts]
                    m.d.sync += [e.eq(0) for e in events]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += running.eq(1)
                with m.If(take & beat.done):
                    m.d.sync += dones.eq(dones + 1)
                    m.next = "STEP"
            with m.State("STEP"):
                # The output layer ended step ``dones``: take every earlier layer's event count
                # at that step, then decide (at T, or by the rule once it applies). ``ready``
                # from a register (the queues sit by their walks, far from here; once a queue
                # has an entry it keeps it until read here).
                m.d.sync += snaps_ready.eq(Cat(s.r_rdy for s in snaps).all() if snaps else 1)
                with m.If(snaps_ready):
                    for s, e in zip(snaps, ev_snap):
                        m.d.comb += s.r_en.eq(1)
                        m.d.sync += e.eq(s.r_data)
                    m.d.sync += snaps_ready.eq(0)
                    m.d.sync += [early.eq((margin != 0) & (dones >= t_min)),
                                 an.eq(0), pred.eq(0), cand_valid.eq(0), has_second.eq(0),
                                 phase.eq(0), cmp_valid.eq(0)]
                    with m.If((dones == steps) | ((margin != 0) & (dones >= t_min))):
                        m.next = "SCAN"
                    with m.Else():
                        m.next = "RUN"
            with m.State("SCAN"):
                # Leader (the first largest count) and runner-up (the largest of the others),
                # two cycles a class: fetch counts[an] into a register (and apply the compares
                # of the count before), then compare it with the best and the runner-up so far
                # into registers (two 32-bit compares into the updates in one cycle was a
                # path of 9.3 ns out of context, ECP5).
                m.d.sync += phase.eq(~phase)
                with m.If(~phase):
                    m.d.sync += [cand.eq(counts_a[an]), cand_n.eq(an),
                                 cand_valid.eq(an < p.n_classes), an.eq(an + 1)]
                    with m.If(cmp_valid & gt_best):
                        m.d.sync += [best.eq(cand), pred.eq(cand_n), second.eq(best),
                                     has_second.eq(cand_n != 0)]
                    with m.Elif(cmp_valid & gt_second):
                        m.d.sync += [second.eq(cand), has_second.eq(1)]
                    with m.If(an == p.n_classes):
                        m.next = "GAP"
                with m.Else():
                    m.d.sync += [gt_best.eq((cand_n == 0) | (cand > best)),
                                 gt_second.eq(~has_second | (cand > second)),
                                 cmp_valid.eq(cand_valid)]
            with m.State("GAP"):
                m.d.sync += gap.eq(best - second)
                m.next = "RULE"
            with m.State("RULE"):
                # A tie (gap 0) never stops an image; without a runner-up the rule holds. (The
                # rule in a register of its own: the gap's compare into the abort and the
                # cycle counter in one cycle was a path of 8.5 ns out of context, ECP5.)
                m.d.sync += stop.eq((dones == steps) | (early & (~has_second | (gap >= margin))))
                m.next = "DECIDE"
            with m.State("DECIDE"):
                with m.If(stop):
                    m.d.comb += abort_set.eq(dones != steps)
                    m.d.sync += result_cycles.eq(cycles + 1)
                    # The next image's cycles start here if its frame has begun.
                    with m.If(~load_idle | rx.start):
                        m.d.sync += [cycles.eq(0), counting.eq(1)]
                    with m.Else():
                        m.d.sync += counting.eq(0)
                    m.next = "RESULT"
                with m.Else():
                    m.next = "RUN"
            with m.State("RESULT"):
                m.d.comb += [tx.i.valid.eq(1), tx.i.payload.eq(words[tx.index])]
                with m.If(tx.done):
                    m.next = "IDLE"


    @staticmethod
    def _loader(m, rx, fan0, first, handover, run_idle, load_idle, ld_steps, ld_margin,
                ld_t_min):
        """The loader: a frame's header, then its non-zero pixels as events into FanOut 0 (a
        zero pixel waits for FanOut 0 too, so the frame moves at the same pace whatever the
        image); ``handover`` once every pixel is integrated and the run side is free."""
        ev, pix = fan0.i.payload, rx.pixels.payload
        free = Signal(name="load_free")     # the handover's condition, registered (LOADED)
        m.d.comb += [
            rx.pixels.ready.eq(fan0.i.ready),
            fan0.i.valid.eq(rx.pixels.valid & (pix.value != 0)),
            ev.c.eq(pix.c), ev.y.eq(pix.y), ev.x.eq(pix.x), ev.coef.eq(pix.value),
            ev.done.eq(0),
        ]
        with m.FSM(name="load"):
            with m.State("IDLE"):
                m.d.comb += load_idle.eq(1)
                with m.If(rx.start):
                    m.next = "HEADER"
            with m.State("HEADER"):
                with m.If(rx.header.valid):
                    hd = rx.header.payload
                    m.d.sync += [ld_steps.eq(Mux(hd.t == 0, 1, hd.t)), ld_margin.eq(hd.margin),
                                 ld_t_min.eq(hd.t_min)]
                    m.next = "PIXELS"
            with m.State("PIXELS"):
                with m.If(rx.pixels.valid & rx.pixels.ready & rx.pixels.payload.last):
                    m.next = "LOADED"
            with m.State("LOADED"):
                # Every pixel integrated (nothing left in FanOut 0 or FirstLayer's pipeline),
                # and the run side free: hand the image over. The condition is registered
                # first (its inputs come from units across the die, and the handover goes back
                # to them): in LOADED each part of it, once true, stays true until the
                # handover, so the registered value is never stale here; it is cleared with
                # the handover, and set only in LOADED.
                m.d.sync += free.eq(~fan0.busy & ~first.acc_busy & run_idle & ~first.running)
                with m.If(free):
                    m.d.comb += handover.eq(1)
                    m.d.sync += free.eq(0)
                    m.next = "IDLE"


def write_verilog(model, path, *, lanes: int | tuple = 8, taps: int | tuple = 1,
                  name: str = "top", hex_dir=None, absolute_paths: bool = False,
                  **options) -> dict:
    """Write the accelerator's Verilog to ``path`` and its weight memories beside it.

    The Verilog file holds the accelerator (top module ``name``) and the ROM module
    (:data:`~augsnn.hw.rom.ROM_VERILOG`); the weights of weighted layer ``l`` go to
    ``<stem>_weights<l>.hex`` in ``hex_dir`` (default: the folder of ``path``), named in the
    Verilog by file name only (relative to the simulator's or synthesiser's working folder)
    or, with ``absolute_paths=True``, by absolute path.

    Parameters
    ----------
    model : Model
    path : path of the ``.v`` file
    lanes : int or tuple of int
    taps : int or tuple of int
        Output columns per beat of the conv layers (:class:`Accelerator`).
    options
        Further :class:`Accelerator` parameters (``padding``, ``memory_budget_bits``,
        ``trace``).

    Returns
    -------
    dict
        ``verilog`` (path), ``hex`` (list of paths), ``plan`` (the :class:`AccelPlan`).

    Raises
    ------
    TypeError, ValueError
        The model or an option cannot be built (nothing is written; the files are written
        atomically by :mod:`augsnn.hw.emit`).
    """
    from ..emit import rom_files, verilog_text, write_files
    from .engine import ENGINE
    path = Path(path)
    hex_dir = Path(hex_dir) if hex_dir is not None else path.parent
    accel_plan = plan_for(model, lanes=lanes, taps=taps, padding=options.get("padding", True),
                          memory_budget_bits=options.get("memory_budget_bits"))
    files = {hex_dir / fname: text
             for fname, text in rom_files(accel_plan, prefix=f"{path.stem}_").items()}
    names = [str(h.resolve()) if absolute_paths else h.name for h in files]
    accel = Accelerator(model, lanes=lanes, taps=taps, rom_files=names, **options)
    text = verilog_text(accel, name=name, extra=ENGINE.extra_verilog)
    hex_paths = write_files(files)
    write_files({path: text})
    return {"verilog": path, "hex": hex_paths, "plan": accel_plan}
