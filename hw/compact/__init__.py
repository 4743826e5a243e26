"""The compact engine: a whole SNN on one datapath with two single-port banks (iCE40 UP5K).

:mod:`.plan` checks and lays out a model (no Amaranth); the units, each a
``wiring.Component``: :mod:`.bank` one memory bank, :mod:`.scatter` the spike-map scan and
its groups, :mod:`.lanes` the 8 multiplier lanes, :mod:`.update` the update pass's neuron
walk (and the wiring of the pass), :mod:`.fire` the neuron update pipeline,
:mod:`.writeback` the results' write side; the frames are :mod:`augsnn.hw.frames`' shared
receiver and sender; :mod:`.accelerator` the engine that connects them.
docs/compact-engine.md describes the schedule.
"""
