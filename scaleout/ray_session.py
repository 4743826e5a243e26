"""The Ray instance of a scale-out run: a small local one by default, or a cluster.

Layer: ``scaleout``. Imports Ray only when called.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["ray_session"]

#: Object store of a local instance: the runs move small arrays only (chunks of results).
LOCAL_OBJECT_STORE_BYTES = 128 * 2 ** 20


@contextlib.contextmanager
def ray_session(workers: int, address: str | None = None):
    """Connect to Ray for the duration of the block; yields the ``ray`` module.

    ``address`` None: start a local instance with ``workers`` CPUs (no dashboard, a small
    object store; it is shut down at the end). ``address`` given (``auto``, ``HOST:PORT`` of
    ``ray start --head``, or ``ray://HOST:10001``): connect to that cluster, whose CPUs decide
    how many tasks run at once. An instance already running in this process (tests, a
    notebook) is used as it is and left running.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be an integer >= 1, not {workers!r}")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    if ray.is_initialized():
        yield ray
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    try:
        yield ray
    finally:
        ray.shutdown()
