"""Simulator builds for the speed testbench (``speed=True`` in :mod:`sysconv.sim.engine_run`).

cocotb's Verilator runner makes every signal of the design public (``--public-flat-rw``) so that
a testbench may reach any of them; Verilator then keeps every internal signal as written and
cannot optimise across modules, and the engine's model runs about five times slower. The speed
testbench touches only the top module's ports, so this build turns the flag off again
(``--no-public-flat-rw``, after the runner's) and makes only the top module's signals public,
with a Verilator configuration file. No waveforms either. On Icarus the build is
``runner.build(..., waves=False)``.

Builds are cached like :func:`sysconv.sim.runner.build`'s, in ``<build root>/sim/<simulator>/``
under their own key.
"""

import hashlib
import json

from . import runner

__all__ = ["build_for_speed"]

_TOP_PUBLIC = """\
`verilator_config
public_flat_rw -module "{top}" -var "*"
"""


def build_for_speed(verilog_text, toplevel, simulator):
    """Compile ``verilog_text`` (top module ``toplevel``) for speed, or reuse the build."""
    if simulator != "verilator":
        return runner.build(verilog_text, toplevel, simulator, waves=False)
    from cocotb_tools.runner import get_runner

    tool = runner._tool(simulator)
    tool.activate()
    key = hashlib.sha256("\0".join(
        [verilog_text, simulator, tool.version, "speed"]).encode()).hexdigest()[:16]
    directory = runner.build_root() / "sim" / simulator / f"{toplevel}-speed-{key}"
    done = directory / "BUILT"
    with runner._locked(directory.with_name(directory.name + ".lock")):
        if not done.exists():
            directory.mkdir(parents=True, exist_ok=True)
            source = directory / f"{toplevel}.v"
            source.write_text(verilog_text)
            config = directory / "top_public.vlt"
            config.write_text(_TOP_PUBLIC.format(top=toplevel))
            build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3",
                          "--no-public-flat-rw", str(config)]
            get_runner(simulator).build(
                sources=[source], hdl_toplevel=toplevel, build_dir=directory,
                build_args=build_args, timescale=runner.TIMESCALE, waves=False,
                log_file=directory / "build.log")
            done.write_text(json.dumps({"tool": tool.version}))
    return runner.Build(simulator, toplevel, directory, False)
