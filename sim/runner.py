"""Runner glue: Amaranth component -> Verilog -> Verilator build -> cocotb test -> results.

Layer: ``sim``. Generic: it knows nothing about neurons, so the whole-network testbench reuses
it. The flow is

1. :func:`write_verilog` (``amaranth.back.verilog``) of a component, or of a :class:`Bundle`
   of several components, so that one Verilator build serves several configurations (a
   build costs far more than a simulation on a 2-core machine);
2. :func:`build` with Verilator through ``cocotb_tools.runner``;
3. :func:`run` a cocotb test module, handing it a JSON *config* (any parameters) and
   collecting the JSON *results* it writes. Inside the test module, :func:`load_config` and
   :func:`save_results` are the other ends of these files.

The configuration travels through the file named by ``AUGSNN_SIM_CONFIG``, the results
through ``AUGSNN_SIM_RESULTS`` (environment variables set by :func:`run`).
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from .toolchain import setup_verilator

__all__ = ["Bundle", "write_verilog", "build", "run", "load_config", "save_results",
           "SIM_BUILD_ARGS"]

# Verilator options for simulation builds. Linting is a separate check (see
# ``augsnn.sim.lint``); here the generated code's style warnings are noise. -O1 keeps the
# C++ compile short, which dominates the run time of small testbenches.
SIM_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "-CFLAGS", "-O1")

_CONFIG_ENV = "AUGSNN_SIM_CONFIG"
_RESULTS_ENV = "AUGSNN_SIM_RESULTS"


class Bundle(wiring.Component):
    """Place several components side by side under one top level.

    Each part keeps its own ports, prefixed by its name: the port ``i.valid`` of part ``c0``
    is ``c0__i__valid`` in Verilog. All parts share ``clk`` and ``rst``.

    Parameters
    ----------
    parts : dict of str to wiring.Component
        The components, by name (a valid Verilog identifier, e.g. ``"c0"``).
    """

    def __init__(self, parts: dict):
        if not parts:
            raise ValueError("A bundle needs at least one part")
        for name, part in parts.items():
            if not isinstance(part, wiring.Component):
                raise TypeError(f"Part {name!r} must be a wiring.Component, not {part!r}")
        self._parts = dict(parts)
        super().__init__({name: Out(part.signature) for name, part in self._parts.items()})

    @property
    def parts(self) -> dict:
        return dict(self._parts)

    def elaborate(self, platform):
        from amaranth.hdl import Module
        m = Module()
        for name, part in self._parts.items():
            m.submodules[name] = part
            wiring.connect(m, wiring.flipped(getattr(self, name)), part)
        return m


def write_verilog(component, path, *, name: str = "top") -> Path:
    """Write the Verilog of ``component`` (top module ``name``) to ``path``; return the path."""
    from augsnn.hw.emit import verilog_text, write_files
    path = Path(path)
    write_files({path: verilog_text(component, name=name)})
    return path


def build(sources, *, build_dir, toplevel: str = "top", build_args=SIM_BUILD_ARGS,
          jobs: int | None = None):
    """Build Verilog ``sources`` with Verilator into ``build_dir``; return the cocotb runner.

    This is the build of ``cocotb_tools.runner``'s Verilator runner without
    ``--public-flat-rw``: only the top-level ports are reachable from cocotb. Making every
    net public (Yosys' Verilog has thousands of ``$`` temporaries) multiplies the C++ compile
    time many times over, and testbenches here touch ports only.
    """
    import subprocess
    setup_verilator()
    import cocotb_tools.config
    from cocotb_tools.runner import get_runner
    if isinstance(sources, (str, Path)):
        sources = [sources]
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    libs = cocotb_tools.config.libs_dir
    main = cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"
    subprocess.run([
        "verilator", "-cc", "--exe", "-Mdir", str(build_dir), "--top-module", toplevel,
        "--vpi", "--public-depth", "1", "--prefix", "Vtop", "-o", toplevel,
        "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
        *build_args, str(main), *(str(Path(s).resolve()) for s in sources),
    ], check=True, cwd=build_dir, stdout=subprocess.DEVNULL)
    subprocess.run([
        "make", "-j", str(jobs or os.cpu_count() or 1), "-C", str(build_dir), "-f", "Vtop.mk",
        "VM_TRACE=0",
    ], check=True, cwd=build_dir, stdout=subprocess.DEVNULL)
    runner = get_runner("verilator")
    runner.build_dir = build_dir
    return runner


_RUNS = itertools.count()     # numbers this process's runs (their file names)


def run(runner, *, test_module: str, build_dir, config: dict, toplevel: str = "top",
        name: str = "run", testcase=None, seed: int | None = None,
        extra_env: dict | None = None, log_file=None) -> dict:
    """Run the cocotb ``test_module`` on a built design; return the results it saved.

    Parameters
    ----------
    runner
        The runner returned by :func:`build`.
    test_module : str
        Importable name of the cocotb test module.
    build_dir : path
        The build folder given to :func:`build`; the config and results files go there too.
    config : dict
        JSON-serialisable parameters for the test module (read with :func:`load_config`).
    name : str
        Prefix of the config, results and XML files; each run adds its process id and a count,
        so that several runs, in several processes (``pytest -n``), share a build. The
        three files are removed when the run ends.
    testcase : str or list of str, optional
        Only these cocotb tests of the module.
    seed : int, optional
        cocotb's random seed.
    extra_env : dict, optional
        More environment variables for the simulator (e.g. ``COCOTB_LOG_LEVEL``).
    log_file : path, optional
        Send the simulator's output to this file instead of the terminal.

    Raises
    ------
    AssertionError
        A cocotb test failed; the message carries the failures the test module saved.
    """
    from cocotb_tools.check_results import get_results
    build_dir = Path(build_dir).resolve()
    name = f"{name}-{os.getpid()}-{next(_RUNS)}"
    config_path = build_dir / f"{name}.config.json"
    results_path = build_dir / f"{name}.results.json"
    xml_path = build_dir / f"{name}.results.xml"
    config_path.write_text(json.dumps(config))
    results_path.unlink(missing_ok=True)
    env = {**(extra_env or {}), _CONFIG_ENV: str(config_path), _RESULTS_ENV: str(results_path)}
    failure = None
    try:
        try:
            runner.test(test_module=test_module, hdl_toplevel=toplevel,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, extra_env=env,
                        results_xml=str(xml_path), testcase=testcase, seed=seed,
                        log_file=log_file)
        except SystemExit as exc:   # cocotb_tools exits on failing tests when run under pytest
            failure = f"cocotb exited with status {exc.code}"
        results = json.loads(results_path.read_text()) if results_path.exists() else {}
        if failure is None:
            num_tests, num_failed = get_results(xml_path)
            if num_failed or not num_tests:
                failure = f"{num_failed} of {num_tests} cocotb tests failed"
    finally:
        for path in (config_path, results_path, xml_path):
            path.unlink(missing_ok=True)
    if failure is not None:
        detail = "\n".join(str(e) for e in results.get("errors", []))
        raise AssertionError(f"{test_module}: {failure}\n{detail}".rstrip())
    return results


def load_config() -> dict:
    """In a cocotb test module: return the config that :func:`run` was given."""
    return json.loads(Path(os.environ[_CONFIG_ENV]).read_text())


def save_results(results: dict, *, merge: bool = True) -> None:
    """In a cocotb test module: save ``results`` for :func:`run` (merged into earlier saves)."""
    path = Path(os.environ[_RESULTS_ENV])
    if merge and path.exists():
        old = json.loads(path.read_text())
        old.update(results)
        results = old
    path.write_text(json.dumps(results, indent=1))
