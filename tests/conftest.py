"""The suite's shared set-up: one Verilator cache, and the order of the tests.

``make test`` runs the suite on every core (``pytest -n auto --dist worksteal``). Its time is
a few long tests (a real ECP5 build, Verilator builds and runs of whole networks) and many
short ones, so the long tests go first: each worker starts one early and the short ones fill
the other worker meanwhile (``worksteal``: an idle worker takes pending tests from a busy
one). A run without ``-n`` runs the same order in one process.

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
