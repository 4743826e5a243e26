"""The suite's shared set-up: one Verilator cache, and the order of the tests.

``make test`` runs the suite on every logical CPU (``pytest -n logical --dist load
--maxschedchunk 1``: each worker holds the test it runs and one more, and takes the next test
of the list when it starts one). Its time is a few long tests (two real FPGA builds, then
Verilator builds and runs of whole networks) and many short ones, so the long ones go first:
the real builds occupy one worker (the ECP5 build is about 20 minutes on a 2-core machine)
while the others run the rest. A run without ``-n`` runs the same order in one process.

Every test and every command the tests start builds its Verilator models in one cache,
``sim_build/verilator`` beside ``tests/`` (``$AUGSNN_SIM_CACHE`` when set): a design that two
tests need is built once, and workers building the same design wait for each other
(``augsnn.sim.cache``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("AUGSNN_SIM_CACHE",
                      str(Path(__file__).resolve().parent.parent / "sim_build" / "verilator"))


def _rank(item: pytest.Item) -> int:
    """0: a real synthesis + place-and-route, 1: other tests marked slow, 2: the rest."""
    if item.get_closest_marker("slow") is None:
        return 2
    return 0 if getattr(item, "originalname", "") == "test_real_build" else 1


def pytest_collection_modifyitems(config, items):
    items.sort(key=_rank)         # stable: the files' own order within each rank
