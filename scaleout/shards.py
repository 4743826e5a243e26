"""``augsnn sim --workers K``: the test images sharded into chunks over Ray actors.

Layer: ``scaleout`` (uses ``sim`` and ``golden``; Ray is imported when a run starts).

Each actor (:class:`SimWorker`) gets the model (its arrays, checked against the driver's
digest), builds the Verilator model once or takes it from the build cache
(:mod:`augsnn.sim.cache`; a file lock makes actors on one machine build it once), and then
simulates the chunks it is handed: it loads the chunk's test images from its own data-set
cache, checks their SHA-256 against the driver's, runs them through the RTL and compares
them with the golden model (:func:`augsnn.scaleout.merge.simulate_chunk`). The driver hands
out one chunk per actor at a time, writes every finished chunk to the checkpoint folder
(:class:`augsnn.scaleout.checkpoint.Checkpoints`), keeps one progress bar over all images,
and merges the chunks into the report of one process (:func:`merge_reports`).

A dying actor: the actor is restartable (``max_restarts``) and its calls are retried by Ray
(``max_task_retries``); a chunk whose actor is gone for good is handed to a fresh actor, up to
:data:`MAX_ATTEMPTS` times per chunk.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .checkpoint import Checkpoints
from .merge import merge_reports, simulate_chunk

__all__ = ["ShardedRun", "SimWorker", "run_sharded", "default_chunk", "chunk_ranges",
           "images_digest", "MAX_ATTEMPTS"]

#: Attempts per chunk (Ray's own retries of a restarted actor come on top).
MAX_ATTEMPTS = 3
#: Restarts of a killed actor, and retries of its calls, done by Ray itself.
ACTOR_RESTARTS = 2


def default_chunk(images: int, workers: int) -> int:
    """Images per chunk: about four chunks per worker (balance, little lost on a failure),
    at most 50 (a checkpoint every ~90 s of Net2), at least one."""
    return max(1, min(50, math.ceil(images / (4 * workers))))


def chunk_ranges(images: int, chunk: int) -> list[tuple[int, int]]:
    """``(start, stop)`` positions of each chunk in the run's images."""
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"--chunk must be an integer >= 1, not {chunk!r}")
    return [(s, min(images, s + chunk)) for s in range(0, images, chunk)]


def images_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of a chunk's pixels and labels (the driver's copy against the worker's)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


class SimWorker:
    """A Ray actor: one Verilator build, then chunks of images (see the module docstring)."""

    def __init__(self, model, digest: str, options: dict, cache_dir, dataset, generator: str):
        from augsnn.sim import accelerator as accel
        from augsnn.sim.cache import generator_key
        if model.digest() != digest:
            raise ValueError(f"the model arrived with digest {model.digest()}, not {digest}")
        here = generator_key().hexdigest()
        if here != generator:
            raise ValueError(f"{socket.gethostname()}: this worker's generator sources or tools "
                             f"(hw/, Verilator, Amaranth, cocotb) differ from the driver's "
                             f"(key {here[:16]}, driver {generator[:16]}): install the same "
                             f"augsnn on every node")
        self.model, self.options, self.dataset = model, dict(options), dataset
        t0 = time.time()
        self.bld = accel.build(model, cache_dir=cache_dir, quiet=True, **self.options)
        self.info = {"pid": os.getpid(), "host": socket.gethostname(),
                     "build_dir": str(self.bld.dir), "build_cached": self.bld.cached,
                     "build_seconds": round(time.time() - t0, 1)}

    def describe(self) -> dict:
        return dict(self.info)

    def run_chunk(self, cid: int, offset: int, n: int, T: int, digest: str,
                  early_exit=None) -> dict:
        from augsnn.golden.evaluate import load_test_images
        x, y, idx = load_test_images(self.model, self.dataset, n, offset)
        got = images_digest(x, y)
        if got != digest:
            raise ValueError(f"chunk {cid}: the test images {offset}..{offset + n - 1} on "
                             f"{self.info['host']} have SHA-256 {got[:16]}, the driver's "
                             f"{digest[:16]} (its data-set cache differs)")
        rule = None
        if early_exit is not None:
            from augsnn.golden.early_exit import ExitRule
            rule = ExitRule(*early_exit)
        chunk = simulate_chunk(self.model, self.bld, x, y, idx, T, rule)
        chunk.update(chunk=cid, worker=self.info)
        return chunk


@dataclass
class ShardedRun:
    """What :func:`run_sharded` returns: the merged report, the per-image arrays, counts."""

    report: dict
    arrays: dict
    chunks: int
    resumed: list
    simulated: list
    attempts: dict
    workers: list = field(default_factory=list)
    build_seconds: float = 0.0
    build_cached: bool = True
    build_dir: str = ""
    seconds: float = 0.0

    @property
    def compare_seconds(self) -> float:
        return self.arrays.get("compare_seconds", 0.0)


def run_sharded(model, *, T: int, images: int, offset: int = 0, dataset=None,
                options: dict, workers: int, checkpoint, resume: bool = False, chunk=None,
                cache_dir=None, address=None, progress: bool = True, on_chunk=None,
                early_exit=None) -> ShardedRun:
    """Simulate test images ``offset .. offset+images`` on ``workers`` Ray actors.

    Parameters
    ----------
    options : dict
        :func:`augsnn.sim.accelerator.build`'s options (``lanes``, ``trace``, ``padding``,
        ``engine``); they name the build (the cache key) and go into the manifest.
    early_exit : ExitRule or None
        Sent with every image (:func:`augsnn.sim.accelerator.run_images`).
    checkpoint : path
        Checkpoint folder; ``resume`` takes its finished chunks when its manifest matches.
    on_chunk : callable(event, pool) or None
        Called after each chunk is checkpointed and its actor handed the next one, with
        ``{"chunk", "actor" (index in ``pool.actors``), "worker", "done", "total"}`` and the
        actor pool: the hook of the kill and interrupt tests.
    """
    from augsnn.golden.evaluate import load_test_images

    from .ray_session import ray_session
    x, y, _ = load_test_images(model, dataset, images, offset)
    chunk = default_chunk(images, workers) if chunk is None else chunk
    ranges = chunk_ranges(images, chunk)
    digests = [images_digest(x[a:b], y[a:b]) for a, b in ranges]
    manifest = {"version": 1, "model": model.name, "model_digest": model.digest(), "T": int(T),
                "options": options, "dataset": dataset or model.meta.get("dataset"),
                "offset": offset, "images": images, "chunk": chunk,
                "early_exit": None if early_exit is None else [early_exit.margin,
                                                               early_exit.t_min],
                "images_sha256": hashlib.sha256("".join(digests).encode()).hexdigest()}
    store = Checkpoints(checkpoint, manifest, resume=resume)
    resumed = [c for c in store.done() if c < len(ranges)] if resume else []
    todo = [c for c in range(len(ranges)) if c not in set(resumed)]
    print(f"augsnn sim: {images} images in {len(ranges)} chunks of <= {chunk}: "
          f"{len(resumed)} from the checkpoints in {store.folder}, {len(todo)} to simulate on "
          f"{workers} worker(s)", file=sys.stderr, flush=True)
    t0 = time.time()
    pool = _Pool(model, options, cache_dir, dataset, workers)
    attempts = {}
    if todo:
        with ray_session(workers, address) as ray:
            try:
                pool.start(ray, min(workers, len(todo)))
                _dispatch(ray, pool, store, todo, ranges, digests, T, attempts, progress,
                          len(resumed), images, on_chunk)
            finally:      # free their CPUs now, also in a Ray instance that lives on
                pool.stop()
    chunks = [store.load(c) for c in range(len(ranges))]
    report = merge_reports(chunks)
    infos = pool.infos
    arrays = {k: np.concatenate([c[k] for c in chunks], axis=1 if k in ("events", "out")
                                else 0) for k in ("index", "label", "pred", "counts", "events",
                                                  "cycles", "out")}
    arrays["compare_seconds"] = round(sum(c["compare_seconds"] for c in chunks), 1)
    return ShardedRun(
        report=report, arrays=arrays, chunks=len(ranges), resumed=resumed, simulated=todo,
        attempts=attempts, workers=infos,
        build_seconds=max((i["build_seconds"] for i in infos), default=0.0),
        build_cached=all(i["build_cached"] for i in infos),
        build_dir=infos[0]["build_dir"] if infos else chunks[0]["worker"]["build_dir"],
        seconds=round(time.time() - t0, 1))


class _Pool:
    """The actors of a run; a dead one is replaced."""

    def __init__(self, model, options, cache_dir, dataset, workers):
        from augsnn.sim.cache import generator_key
        self.args = (model, model.digest(), options, cache_dir, dataset,
                     generator_key().hexdigest())
        self.workers = workers
        self.actors, self.infos = [], []
        self._ray = self._cls = None

    def start(self, ray, n: int) -> None:
        self._ray = ray
        self._cls = ray.remote(num_cpus=1, max_restarts=ACTOR_RESTARTS,
                               max_task_retries=ACTOR_RESTARTS)(SimWorker)
        # the model goes with each actor's creation (inline for small models: a restart needs
        # no object that may have gone out of scope)
        self.actors = [self._cls.remote(*self.args) for _ in range(n)]
        self.infos = _get_all(ray, [a.describe.remote() for a in self.actors])

    def stop(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)

    def replace(self, i: int) -> None:
        """Kill actor ``i`` for good (its CPU is freed) and start a fresh one in its place."""
        self._ray.kill(self.actors[i], no_restart=True)
        self.actors[i] = self._cls.remote(*self.args)


def _get_all(ray, refs):
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        raise RuntimeError(f"a simulation worker failed to start: {exc.cause}") from None
    except ray.exceptions.RayActorError as exc:     # its constructor raised, or it died
        text = " ".join(str(exc).split())
        raise RuntimeError(f"a simulation worker failed to start: {text[:600]}") from None


def _dispatch(ray, pool, store, todo, ranges, digests, T, attempts, progress, done_before,
              total_images, on_chunk):
    from tqdm import tqdm
    queue = deque(todo)
    inflight = {}
    bar = tqdm(total=total_images, initial=sum(b - a for c, (a, b) in enumerate(ranges)
                                                if c not in set(todo)),
               unit="image", desc="augsnn sim", file=sys.stderr, disable=not progress)

    def submit(i):
        if not queue:
            return
        cid = queue.popleft()
        a, b = ranges[cid]
        attempts[cid] = attempts.get(cid, 0) + 1
        ref = pool.actors[i].run_chunk.remote(cid, a + store.manifest["offset"], b - a, T,
                                              digests[cid], store.manifest["early_exit"])
        inflight[ref] = (cid, i)

    try:
        for i in range(len(pool.actors)):
            submit(i)
        finished = done_before
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            cid, i = inflight.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:   # the chunk itself failed: no retry
                raise RuntimeError(f"chunk {cid} (images {ranges[cid][0]}..{ranges[cid][1] - 1}"
                                   f" of the run) failed: {exc.cause}") from None
            except ray.exceptions.RayActorError as exc:  # its worker is gone for good
                if attempts[cid] >= MAX_ATTEMPTS:
                    raise RuntimeError(f"chunk {cid}: its worker died {attempts[cid]} times "
                                       f"({type(exc).__name__}); giving up") from None
                print(f"augsnn sim: chunk {cid}: worker lost ({type(exc).__name__}); handing it "
                      f"to a fresh worker", file=sys.stderr, flush=True)
                queue.appendleft(cid)
                pool.replace(i)
                submit(i)
                continue
            store.save(cid, result)
            finished += 1
            bar.update(ranges[cid][1] - ranges[cid][0])
            if result["worker"] not in pool.infos:
                pool.infos.append(result["worker"])
            submit(i)
            if on_chunk is not None:
                on_chunk({"chunk": cid, "actor": i, "worker": result["worker"],
                          "done": finished, "total": len(ranges)}, pool)
    finally:       # an interruption: the actors end with the Ray session (ray_session)
        bar.close()
