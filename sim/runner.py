"""Glue between the generated Verilog and ``cocotb_tools.runner``: cached builds, one test
folder per run, waveforms, results.

Builds live in ``<build root>/sim/<simulator>/<top>-<hash>/``, keyed by the Verilog text, the
simulator and its version, and whether waveforms are compiled in; a build that exists is
reused, and a file lock keeps parallel pytest workers from building the same thing twice.
The build root is ``$SYSCONV_BUILD_DIR``, or ``build/`` in the working directory.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import toolchain

__all__ = ["SIMULATORS", "build_root", "Build", "build", "run_cocotb",
           "run_scenario", "prepare"]

SIMULATORS = ("icarus", "verilator")
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
    return Path(os.environ.get("SYSCONV_BUILD_DIR", "build")).resolve()


def _tool(simulator):
    if simulator == "icarus":
        return toolchain.icarus()
    if simulator == "verilator":
        return toolchain.verilator()
    raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")


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
    waves: bool


def build(verilog_text, toplevel, simulator, *, waves=True):
    """Compile ``verilog_text`` (top module ``toplevel``) for ``simulator``, or reuse the build."""
    from cocotb_tools.runner import get_runner

    tool = _tool(simulator)
    tool.activate()
    key = hashlib.sha256("\0".join(
        [verilog_text, simulator, tool.version, str(waves)]).encode()).hexdigest()[:16]
    directory = build_root() / "sim" / simulator / f"{toplevel}-{key}"
    done = directory / "BUILT"
    with _locked(directory.with_name(directory.name + ".lock")):
        if not done.exists():
            directory.mkdir(parents=True, exist_ok=True)
            sources = [directory / f"{toplevel}.v"]
            sources[0].write_text(verilog_text)
            build_args = []
            if simulator == "icarus" and waves:
                sources.append(directory / "sysconv_waves.v")
                sources[1].write_text(_ICARUS_WAVES.format(top=toplevel))
                build_args = ["-s", "sysconv_waves"]
            elif simulator == "verilator":
                # Amaranth's Verilog widens operands implicitly; these warnings are not errors.
                build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3"]
            runner = get_runner(simulator)
            runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=directory,
                         build_args=build_args, timescale=TIMESCALE,
                         waves=waves and simulator == "verilator",
                         log_file=directory / "build.log")
            done.write_text(json.dumps({"tool": tool.version}))
    return Build(simulator, toplevel, directory, waves)


def run_cocotb(built, test_module, test_dir, *, env=None, waves=True):
    """Run cocotb module ``test_module`` on ``built`` in ``test_dir``.

    Returns the waveform path (``None`` without waves). The test module reports through files
    it writes in ``test_dir``; the runner's own pass/fail goes to ``results.xml`` there.
    """
    from cocotb_tools.runner import get_runner

    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    _tool(built.simulator).activate()
    runner = get_runner(built.simulator)
    waves = waves and built.waves
    wave_path = None
    kwargs = {}
    if waves and built.simulator == "icarus":
        wave_path = test_dir / "waves.fst"
        kwargs = {"plusargs": [f"+sysconv_waves={wave_path}"], "waves": True}
    elif waves:
        wave_path = test_dir / "waves.vcd"
        kwargs = {"test_args": ["--trace", "--trace-file", str(wave_path)]}
    extra_env = {"SYSCONV_TEST_DIR": str(test_dir), **(env or {})}
    try:
        runner.test(test_module=test_module, hdl_toplevel=built.toplevel,
                    hdl_toplevel_lang="verilog", build_dir=built.directory, test_dir=test_dir,
                    extra_env=extra_env, timescale=TIMESCALE,
                    results_xml=str(test_dir / "results.xml"), log_file=test_dir / "sim.log",
                    **kwargs)
    except SystemExit:
        pass  # cocotb's way of saying a test failed; the test module's files say how
    return wave_path


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
        result = {"status": "fail",
                  "message": f"the simulation ended without a result; see {test_dir / 'sim.log'}"}
    return result, (str(wave_path) if wave_path else None)


def prepare(simulator, test_dir, allowed=SIMULATORS):
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
