"""``augsnn sim --workers K`` on a local Ray instance (issue 15): the sharded report is the
one-process report, a killed actor changes nothing, ``--resume`` skips finished chunks.

Net2-AugMapping at 8 lanes on 6 MNIST test images (2 workers against one process), and
tiny-aug at 16 lanes with early exit for the kill and resume tests (its chunks take a second:
the time goes to the failure paths, not to simulation); both built with exactly the options of
tests/test_accelerator.py (same build cache ``sim_build/accel``, so the Verilator builds are
shared). One local Ray instance (2 CPUs) serves the whole module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from augsnn.cli import main as cli_main
from augsnn.golden.early_exit import ExitRule
from augsnn.golden.modelfile import load
from augsnn.scaleout.merge import MERGE_RULES, merge_reports
from augsnn.scaleout.shards import chunk_ranges, default_chunk, run_sharded
from augsnn.sim.cache import default_cache_dir

CACHE = default_cache_dir()      # one Verilator cache for the suite (conftest.py)
IMAGES, OFFSET = 6, 40
# timing and the build's folder: fields allowed to differ between the runs
TIMING = {"sim_seconds", "build_seconds", "build_cached", "build_dir", "run_seconds",
          "compare_seconds"}
# The cycle figures: images overlap (the next frame comes in while an image runs), so an
# image's cycles depend on the image before it; a chunk starts with an empty accelerator, its
# first image counted from its own first byte (docs/scale-out.md). Checked by _same_cycles.
CYCLES = {"cycles_per_image", "cycles_min", "cycles_max", "efficiency", "critical_efficiency"}
SIM = ["sim", "net2-aug", "--images", str(IMAGES), "--offset", str(OFFSET), "--lanes", "8",
       "--cache-dir", str(CACHE), "--progress", "0"]
# tiny-aug with early exit (margin 5 of T=6: 2.17 steps per image on average)
TINY = ["sim", "tiny-aug", "--images", str(IMAGES), "--offset", str(OFFSET), "--lanes", "16",
        "--cache-dir", str(CACHE), "--progress", "0", "--T", "6", "--early-exit", "5"]
RULE = ExitRule(5)


def test_chunks_cover_the_images_once():
    assert chunk_ranges(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert default_chunk(100, 2) == 13 and default_chunk(6, 2) == 1
    assert default_chunk(10_000, 8) == 50
    with pytest.raises(ValueError, match="--chunk must be an integer >= 1, not 0"):
        chunk_ranges(5, 0)


def test_merge_refuses_a_report_key_it_does_not_know():
    chunk = {"report": {"model": "m", "new_field": 1}}
    with pytest.raises(RuntimeError, match=r"\['new_field'\]"):
        merge_reports([chunk])
    assert "first_mismatches" in MERGE_RULES


def test_a_worker_refuses_another_model_or_generator():
    """An actor checks what it was sent before building anything."""
    from augsnn.scaleout.shards import SimWorker
    from augsnn.sim.cache import generator_key
    model = load("tiny-aug")
    with pytest.raises(ValueError, match="arrived with digest"):
        SimWorker(model, "0" * 16, _tiny_options(), CACHE, None, generator_key().hexdigest())
    with pytest.raises(ValueError, match="differ from the driver's"):
        SimWorker(model, model.digest(), _tiny_options(), CACHE, None, "f" * 64)


@pytest.fixture(scope="module")
def ray_local():
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=128 * 2 ** 20)
    yield ray
    ray.shutdown()


def _one_process(d: Path, command: list) -> tuple[dict, dict]:
    """The one-process run (no Ray): its JSON report and saved outputs."""
    assert cli_main(command + ["--json", str(d / "r.json"),
                               "--save-outputs", str(d / "o.npz")]) == 0
    report = json.loads((d / "r.json").read_text())
    assert report["mismatches"] == 0 and report["images"] == IMAGES
    with np.load(d / "o.npz") as npz:
        outputs = {k: npz[k] for k in npz.files}
    return report, outputs


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _one_process(tmp_path_factory.mktemp("net2"), SIM)


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory):
    return _one_process(tmp_path_factory.mktemp("tiny"), TINY)


def _same_report(got: dict, want: dict) -> None:
    assert list(got) == list(want)                    # same keys in the same order
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING | CYCLES}  # noqa: E731
    assert json.dumps(strip(got)) == json.dumps(strip(want))


def _same_cycles(got, want, chunk: int) -> None:
    """Per-image cycles: the same as in one process except at each chunk's first image, which
    (no image before it to overlap, unless it is the run's first) takes more."""
    got, want = np.asarray(got), np.asarray(want)
    first = np.arange(len(want)) % chunk == 0
    np.testing.assert_array_equal(got[~first], want[~first])
    assert got[0] == want[0] and (got[first] >= want[first]).all(), (got, want)
    assert got.sum() > want.sum() or chunk >= len(want), (got, want)


def _same_outputs(path: Path, want: dict, chunk: int) -> None:
    with np.load(path) as npz:
        assert sorted(npz.files) == sorted(want)
        for k in want:
            assert npz[k].dtype == want[k].dtype, k
            if k == "cycles":
                _same_cycles(npz[k], want[k], chunk)
            else:
                np.testing.assert_array_equal(npz[k], want[k], err_msg=k)


@pytest.mark.slow
@pytest.mark.mnist
def test_two_workers_give_the_one_process_report(ray_local, reference, tmp_path, capsys):
    """``--workers 2``: same JSON (outputs and spikes compared on the workers), same saved
    outputs (class, counts, per-step outputs, events), the cycles per image as _same_cycles."""
    want, outputs = reference
    assert cli_main(SIM + ["--workers", "2", "--chunk", "3", "--checkpoint", str(tmp_path / "ck"),
                           "--json", str(tmp_path / "r.json"),
                           "--save-outputs", str(tmp_path / "o.npz")]) == 0
    assert "2 chunks: 0 from checkpoints, 2 simulated on 2 worker(s)" in capsys.readouterr().err
    _same_report(json.loads((tmp_path / "r.json").read_text()), want)
    _same_outputs(tmp_path / "o.npz", outputs, chunk=3)
    assert len(list((tmp_path / "ck").glob("chunk-*.npz"))) == 2


def _tiny_options():
    return {"lanes": 16, "trace": True, "padding": True, "engine": "lanes"}


@pytest.mark.slow
@pytest.mark.mnist
def test_a_killed_actor_changes_nothing(ray_local, tiny_reference, tmp_path):
    """An actor is killed (``ray.kill``) just after it was handed a chunk: Ray restarts it
    and reruns the chunk (or the driver hands it to a fresh actor); the report is the same."""
    killed = []

    def kill_the_other(event, pool):
        if not killed:
            assert event["done"] < event["total"] - 1        # it has a chunk in hand
            killed.append(event["worker"]["pid"])
            ray_local.kill(pool.actors[event["actor"]], no_restart=False)

    model = load("tiny-aug")
    r = run_sharded(model, T=6, images=IMAGES, offset=OFFSET, options=_tiny_options(),
                    workers=2, checkpoint=tmp_path / "ck", chunk=2, cache_dir=CACHE, progress=False,
                    on_chunk=kill_the_other, early_exit=RULE)
    assert killed
    pids = {w["pid"] for w in r.workers}
    assert killed[0] in pids and len(pids) >= 3        # a new process took over
    want, outputs = tiny_reference
    assert 1 <= r.report["mean_steps"] < 6                # the images stopped early
    _same_report(r.report, {k: v for k, v in want.items() if k in r.report})
    for k in ("pred", "counts", "out", "events"):
        np.testing.assert_array_equal(r.arrays[k], outputs[k], err_msg=k)
    _same_cycles(r.arrays["cycles"], outputs["cycles"], chunk=2)


@pytest.mark.slow
@pytest.mark.mnist
def test_resume_skips_the_finished_chunks(ray_local, tiny_reference, tmp_path, capsys):
    """A run interrupted after its first chunk; ``--resume`` simulates only the other two
    (counted) and gives the one-process report."""
    ck = tmp_path / "ck"

    def interrupt(event, pool):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sharded(load("tiny-aug"), T=6, images=IMAGES, offset=OFFSET,
                    options=_tiny_options(), workers=1, checkpoint=ck, chunk=2,
                    cache_dir=CACHE, progress=False, on_chunk=interrupt, early_exit=RULE)
    first = sorted(ck.glob("chunk-*.npz"))
    assert [p.name for p in first] == ["chunk-00000.npz"]
    stamp = first[0].stat().st_mtime_ns
    capsys.readouterr()
    rc = cli_main(TINY + ["--workers", "1", "--chunk", "2", "--checkpoint", str(ck), "--resume",
                          "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert re.search(r"3 chunks: 1 from checkpoints, 2 simulated on 1 worker", err), err
    assert first[0].stat().st_mtime_ns == stamp                  # not simulated again
    assert len(list(ck.glob("chunk-*.npz"))) == 3
    _same_report(json.loads((tmp_path / "r.json").read_text()), tiny_reference[0])
    # another run's checkpoints are refused by --resume, naming what differs
    rc = cli_main(TINY[:3] + ["5"] + TINY[4:] + ["--workers", "1", "--chunk", "2",
                                                 "--checkpoint", str(ck), "--resume"])
    assert rc == 2
    assert "differs in images: 6 there, 5 now" in capsys.readouterr().err
