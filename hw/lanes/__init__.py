"""The lane accelerator: one NeuronCore per weighted layer, every layer its own units.

Layer: ``hw`` (Amaranth). Each block is a ``wiring.Component`` with ``amaranth.lib.stream``
ports; the neuron arithmetic lives only in :class:`~augsnn.hw.neuron_core.NeuronCore` (its
expressions in :mod:`augsnn.hw.arith`), the frames in :mod:`augsnn.hw.frames`. The data flow
of one layer ``l`` (layout conventions: :mod:`augsnn.hw.lanes.plan`)::

    core[l-1].o -> Walk/PoolWalk -> EventSerializer -> FanOut[l] -> core[l].i
    pixels ------------------------------------------> FanOut[0] -> FirstLayer -> core[0].i

* ``Walk`` (``walk.py``; ``PoolWalk`` in ``pool_walk.py`` with sum-pooling, the one of the
  two that ``producer_walk`` picks) turns the spike beats of the layer before (row, ``lanes``
  coefficients) into beats with coordinates ``(g, y, x)``; with sum-pooling it adds the
  coefficients of each pooling window in a small double-buffered memory and emits only the
  non-zero pooled values.
* :class:`EventSerializer` emits the non-zero lanes of a beat one event ``(c, y, x, coef)``
  per cycle.
* :class:`FanOut` turns an event into its synaptic updates: ``lanes`` updates (one weight word
  times the coefficient) per cycle, ``ceil(out_channels / lanes)`` beats per output position
  the event feeds.
* :class:`FirstLayer` keeps the first layer's input current (pixels times weights, computed
  once per image), and every step integrates it into core 0 (one pass over the rows) and
  fires.

Every block registers its outputs; ready signals reach back at most through one block.
"""
