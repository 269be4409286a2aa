"""Run a board top in cocotb, with the host driver on a UART model: what
``tests/test_board.py`` calls.

Two tops:

- ``board=None``: :class:`~sysconv.hw.boards.board_top.BoardCore` (engine, UART, host link) on
  a 100 MHz clock the testbench drives, the UART at ``clock / divisor`` (8 cycles a bit by
  default);
- ``board="icebreaker"`` or ``"ulx3s-85f"``: :class:`~sysconv.hw.boards.board_top.ClockedBoard`
  as that board builds it: the testbench drives the board's oscillator; the device's PLL (its
  behavioural model, :mod:`sysconv.sim.ice40_models` or :mod:`sysconv.sim.ecp5_models`,
  Icarus only) makes the board's default clock, and the UART runs at the board's default
  rate. The ECP5 top is elaborated for the ECP5 (its PEs' ``MULT18X18D`` included).

A byte takes ``10 * divisor`` cycles, so a small layer's whole exchange takes a few ten
thousand.
"""

import json
from pathlib import Path

from sysconv.hw.boards.board_top import POWER_ON_DELAY_S, BoardCore, ClockedBoard
from sysconv.hw.boards.platforms import board_spec
from sysconv.hw.boards.pll import pll_settings
from sysconv.hw.verilog import to_verilog
from sysconv.sim import ON_FAILURE, Result, ecp5_models, ice40_models, runner, waves_on_failure
from sysconv.sim.engine.layer import runs_as_json, scenario_json

__all__ = ["run_board", "TOPLEVEL", "SIM_CLOCK_HZ"]

TOPLEVEL = "sysconv_board"
SIM_CLOCK_HZ = 100_000_000


@waves_on_failure
def run_board(
    runs,
    simulator,
    test_dir,
    *,
    board=None,
    divisor=8,
    frame_timeout=4000,
    max_frame=4096,
    network=None,
    waves=ON_FAILURE,
):
    """Build the top (see the module) for ``runs[0].engine`` and run every check of
    :mod:`sysconv.sim.board.tb` with ``runs`` as the layers, and ``network`` (layer runs
    chained as :func:`sysconv.compiler.chain` chains them, on an engine with an activation
    buffer) as the network-mode check's network. The
    :class:`~sysconv.sim.Result`'s ``details["checks"]`` lists every check's outcome,
    ``details["link"]`` the host driver's measure of the link while it ran the layers
    (:attr:`sysconv.hw.boards.host.Board.link_stats`). A waveform only of a failing run unless
    ``waves`` says otherwise (:func:`~sysconv.sim.waves_on_failure`)."""
    engine = runs[0].engine
    if board is None:
        clock_hz, osc_hz, baud = SIM_CLOCK_HZ, None, SIM_CLOCK_HZ // divisor
        core = BoardCore(engine, clock_hz=clock_hz, baud=baud, frame_timeout=frame_timeout)
        top, verilog = core, to_verilog(core, TOPLEVEL)
        startup_s = 0.0
    else:
        spec = board_spec(board)
        pll = pll_settings(spec.family, spec.osc_hz, spec.clock_hz)
        top = ClockedBoard(engine, pll=pll, baud=spec.baud, frame_timeout=frame_timeout)
        core = top.core
        clock_hz, osc_hz, baud = core.clock_hz, spec.osc_hz, spec.baud
        verilog = to_verilog(top, TOPLEVEL, platform=spec.platform_class()())
        models = ice40_models if spec.family == "ice40" else ecp5_models
        verilog += models.models_for(verilog)
        # Lock, the power-on delay, the reset synchroniser, with room to spare.
        startup_s = (models.LOCK_CYCLES + 2) / osc_hz + POWER_ON_DELAY_S + 16 / clock_hz
    built = runner.build(verilog, TOPLEVEL, simulator)
    scenario = json.loads(scenario_json(runs))
    # The driver's slack: longer than the frame timeout and any layer's compute phase.
    timeout_s = (frame_timeout + 20_000) / clock_hz
    scenario["board"] = dict(
        clock_hz=clock_hz,
        osc_hz=osc_hz,
        baud=baud,
        divisor=core.divisor,
        frame_timeout=frame_timeout,
        max_frame=max_frame,
        timeout_s=timeout_s,
        startup_s=startup_s,
    )
    if network is not None:
        scenario["network"] = runs_as_json(network)
    result, wave_path = runner.run_scenario(
        built, "sysconv.sim.board.tb", Path(test_dir), json.dumps(scenario), waves=waves
    )
    return Result(
        result["status"],
        simulator,
        result["message"],
        result.get("cycles", 0),
        wave_path,
        {"checks": result.get("checks", []), "link": result.get("link")},
    )
