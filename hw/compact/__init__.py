"""The compact engine: a whole SNN on one datapath with two single-port banks (iCE40 UP5K).

:mod:`.plan` checks and lays out a model (no Amaranth), :mod:`.bank` is one memory bank,
:mod:`.accelerator` the engine; docs/compact-engine.md describes the schedule.
"""
