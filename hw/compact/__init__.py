"""The compact engine: a whole SNN on one datapath with two single-port banks (iCE40 UP5K).

:mod:`.plan` checks and lays out a model (no Amaranth), :mod:`.bank` is one memory bank,
:mod:`.fire` the neuron update pipeline, :mod:`.lanes` the 8 multiplier lanes (scatter),
:mod:`.update` the update pass, :mod:`.accelerator` the engine; docs/compact-engine.md
describes the schedule.
"""
