"""See inside a design for the unbounded proofs: memories as register files, signals by name.

Layer: ``sim`` (formal verification, docs/formal.md). An inductive proof needs invariants on
a design's state, including its memories, but Amaranth gives no way to read a memory's rows
in a design (``MemoryData`` rows exist for the simulator only) and keeps a component's
internal signals local to its ``elaborate``. :func:`elaborate_open` elaborates a component
with every :class:`amaranth.lib.memory.Memory` that ``augsnn.hw.neuron_core`` and
``amaranth.lib.fifo`` create replaced by :class:`RegFileMemory`, a register file with the
same ports and the same documented behaviour (a synchronous read port returns, one clock
edge later, the row as it was before that edge's write; a write takes effect at the clock
edge; rows start at ``init``), which is also what Yosys' ``memory_map`` makes of the
memories in the bounded checks. It returns the fragment, the register files, and the
design's signals by hierarchical name. ``tests/test_formal.py`` checks in simulation that a
core elaborated this way behaves cycle for cycle like the real one.
"""

from __future__ import annotations

import contextlib
import types

from amaranth.hdl import Elaboratable, Fragment, Module, Shape, Signal
from amaranth.hdl._ast import SignalSet

__all__ = ["RegFileMemory", "elaborate_open", "fsm_encoding"]


class _Port:
    def __init__(self, *, addr_width, shape, en_init):
        self.addr = Signal(max(1, addr_width))
        self.data = Signal(shape)
        self.en = Signal(init=en_init)


class RegFileMemory(Elaboratable):
    """Stand-in for :class:`amaranth.lib.memory.Memory`: ``rows`` are plain signals.

    Supports what the core and the FIFOs use: one write port without granularity and
    synchronous (``"sync"``) read ports without transparency.
    """

    created: list | None = None    # set by :func:`elaborate_open` to collect the instances

    def __init__(self, *, shape, depth, init, attrs=None, src_loc_at=0):
        self.shape, self.depth = Shape.cast(shape), depth
        init = list(init)
        init += [0] * (depth - len(init))
        self.rows = [Signal(self.shape, init=v, name=f"row{n}") for n, v in enumerate(init)]
        self._addr_width = max(0, (depth - 1).bit_length())
        self.read_ports, self.write_ports = [], []
        if RegFileMemory.created is not None:
            RegFileMemory.created.append(self)

    def read_port(self, *, domain="sync", transparent_for=()):
        if domain != "sync" or transparent_for:
            raise NotImplementedError("RegFileMemory: only synchronous, non-transparent reads")
        port = _Port(addr_width=self._addr_width, shape=self.shape, en_init=1)
        self.read_ports.append(port)
        return port

    def write_port(self, *, domain="sync", granularity=None):
        if domain != "sync" or granularity is not None or self.write_ports:
            raise NotImplementedError("RegFileMemory: one synchronous write port, no granularity")
        port = _Port(addr_width=self._addr_width, shape=self.shape, en_init=0)
        self.write_ports.append(port)
        return port

    def elaborate(self, platform):
        m = Module()
        for wp in self.write_ports:
            with m.If(wp.en):
                with m.Switch(wp.addr):
                    for n, row in enumerate(self.rows):
                        with m.Case(n):
                            m.d.sync += row.eq(wp.data)
        for rp in self.read_ports:
            with m.If(rp.en):
                with m.Switch(rp.addr):
                    for n, row in enumerate(self.rows):
                        with m.Case(n):
                            m.d.sync += rp.data.eq(row)
                    with m.Default():
                        m.d.sync += rp.data.eq(0)      # past the last row: never read here
        return m


@contextlib.contextmanager
def _patched():
    from amaranth.lib import fifo

    from augsnn.hw import neuron_core

    saved = (neuron_core.memory, fifo.Memory)
    neuron_core.memory = types.SimpleNamespace(Memory=RegFileMemory)
    fifo.Memory = RegFileMemory
    RegFileMemory.created = []
    try:
        yield RegFileMemory.created
    finally:
        neuron_core.memory, fifo.Memory = saved
        RegFileMemory.created = None


def _signals(fragment, path=(), out=None):
    out = {} if out is None else out
    found = SignalSet()
    for stmts in fragment.statements.values():
        for stmt in stmts:
            found |= stmt._lhs_signals()
            found |= stmt._rhs_signals()
    for sig in found:
        key = "/".join(path + (sig.name,))
        if out.get(key, sig) is not sig:
            # The same name twice in one fragment: keep neither (a lookup must be unique).
            out[key] = None
        else:
            out[key] = sig
    for sub, name, *_ in fragment.subfragments:
        _signals(sub, path + (name or "?",), out)
    return out


def elaborate_open(component, platform=None):
    """Elaborate ``component`` with register-file memories.

    Returns ``(fragment, memories, signals)``: ``memories`` the :class:`RegFileMemory`
    instances in order of creation, ``signals`` a dict from ``"sub/name"`` (submodule path
    and signal name) to the signal.
    """
    with _patched() as created:
        frag = Fragment.get(component, platform)
        memories = list(created)
    return frag, memories, _signals(frag)


def lookup(signals, name):
    """The signal ``name`` (a full ``"sub/name"`` key, or a unique last part)."""
    if name in signals:
        if signals[name] is None:
            raise KeyError(f"signal {name!r} is not unique")
        return signals[name]
    hits = [k for k in signals if k.rsplit("/", 1)[-1] == name]
    if len(hits) != 1 or signals[hits[0]] is None:
        raise KeyError(f"signal {name!r}: {len(hits)} matches ({', '.join(hits[:4])})")
    return signals[hits[0]]


def fsm_encoding(state_signal) -> dict:
    """``{state name: value}`` of an Amaranth FSM's state signal (from its decoder)."""
    enc = {}
    for n in range(1 << len(state_signal)):
        try:
            text = state_signal.decoder(n)
        except KeyError:
            continue
        name, _, value = text.rpartition("/")
        if name and value == str(n):
            enc[name] = n
    return enc
