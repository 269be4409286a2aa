"""Run the board top (engine + UART host link) in cocotb, with the host driver on a UART
model: what ``tests/test_board.py`` calls.

The simulated clock is 100 MHz and the UART runs at ``clock / divisor`` (8 cycles a bit by
default), so a byte takes 80 cycles and a small layer's whole exchange a few ten thousand.
"""

import json
from pathlib import Path

from sysconv.hw.boards.board_top import BoardCore
from sysconv.hw.verilog import to_verilog
from sysconv.sim import ON_FAILURE, Result, runner, waves_on_failure
from sysconv.sim.engine.run import scenario_json

__all__ = ["run_board", "TOPLEVEL", "SIM_CLOCK_HZ"]

TOPLEVEL = "sysconv_board"
SIM_CLOCK_HZ = 100_000_000


@waves_on_failure
def run_board(
    runs, simulator, test_dir, *, divisor=8, frame_timeout=4000, max_frame=4096, waves=ON_FAILURE
):
    """Build ``BoardCore`` for ``runs[0].engine`` and run every check of :mod:`sysconv.sim.board.tb`
    with ``runs`` as the layers. The :class:`~sysconv.sim.Result`'s ``details["checks"]`` lists
    every check's outcome. A waveform only of a failing run unless ``waves`` says otherwise
    (:func:`~sysconv.sim.waves_on_failure`)."""
    engine = runs[0].engine
    baud = SIM_CLOCK_HZ // divisor
    core = BoardCore(engine, clock_hz=SIM_CLOCK_HZ, baud=baud, frame_timeout=frame_timeout)
    built = runner.build(to_verilog(core, TOPLEVEL), TOPLEVEL, simulator)
    scenario = json.loads(scenario_json(runs))
    # The driver's slack: longer than the frame timeout and any layer's compute phase.
    timeout_s = (frame_timeout + 20_000) / SIM_CLOCK_HZ
    scenario["board"] = dict(
        clock_hz=SIM_CLOCK_HZ,
        baud=baud,
        divisor=core.divisor,
        frame_timeout=frame_timeout,
        max_frame=max_frame,
        timeout_s=timeout_s,
    )
    result, wave_path = runner.run_scenario(
        built, "sysconv.sim.board.tb", Path(test_dir), json.dumps(scenario), waves=waves
    )
    return Result(
        result["status"],
        simulator,
        result["message"],
        result.get("cycles", 0),
        wave_path,
        {"checks": result.get("checks", [])},
    )
