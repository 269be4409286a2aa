"""One systolic-array comparison run on any simulator: what ``sysconv sim array`` and the
tests call."""

from sysconv.hw import SystolicArray
from sysconv.hw.verilog import to_verilog
from sysconv.sim import (
    HDL_SIMULATORS,
    ON_FAILURE,
    SIMULATORS,
    Result,
    ecp5_models,
    ice40_models,
    runner,
    waves_on_failure,
)
from sysconv.sim.array.amaranth_sim import run_array_amaranth
from sysconv.sim.array.bench import Mismatch

__all__ = ["run_array", "run_arrays"]

TOPLEVEL = "sysconv_array"


def array_for(scenario):
    s = scenario
    return SystolicArray(
        s.rows, s.cols, act_width=s.act_width, weight_width=s.weight_width, acc_width=s.acc_width
    )


@waves_on_failure
def run_array(scenario, simulator, test_dir, *, waves=ON_FAILURE, platform=None):
    """Run ``scenario`` on the array on ``simulator``; never raises on a mismatch. A waveform only
    of a failing run unless ``waves`` says otherwise (:func:`~sysconv.sim.waves_on_failure`). The
    :class:`~sysconv.sim.Result`'s ``details["trace"]`` has, per cycle, i.ready, w.ready, o.valid
    and o.payload (or None).

    With ``platform``, the array is elaborated for it (vendor primitives, such as the ECP5 PE's
    DSP block or the iCE40 PE pair's) and simulated with :mod:`sysconv.sim.ecp5_models` or
    :mod:`sysconv.sim.ice40_models`: Icarus and Verilator only."""
    test_dir = runner.prepare(
        simulator, test_dir, SIMULATORS if platform is None else HDL_SIMULATORS
    )
    if simulator == "amaranth":
        wave_path = test_dir / "waves.vcd" if waves else None
        try:
            bench = run_array_amaranth(scenario, vcd_path=wave_path)
        except Mismatch as mismatch:
            # The VCD is complete up to the mismatch: the simulator stopped there.
            return Result(
                "fail",
                simulator,
                str(mismatch),
                mismatch.cycle,
                str(wave_path) if waves else None,
                {"trace": []},
            )
        return Result(
            "pass",
            simulator,
            "",
            bench.cycle,
            str(wave_path) if waves else None,
            {"trace": bench.trace},
        )

    results, wave_path = runner.run_scenarios(
        _build(scenario, simulator, platform),
        "sysconv.sim.array.tb",
        test_dir,
        [scenario.to_json()],
        waves=waves,
    )
    return _result(simulator, results[0], wave_path)


def run_arrays(scenarios, simulator, test_dir, *, platform=None):
    """Run ``scenarios``, which share the array's parameters (``rows``, ``cols`` and the
    widths), on ``simulator``: a :class:`~sysconv.sim.Result` each, as :func:`run_array` gives.
    Icarus and Verilator run them all in one simulator process (starting one costs seconds,
    more than a scenario); a scenario that fails there is run again alone, writing its
    waveform in ``test_dir/<index>/``."""
    if len({(s.rows, s.cols, s.act_width, s.weight_width, s.acc_width) for s in scenarios}) > 1:
        raise ValueError("scenarios run together must share the array's rows, cols and widths")
    test_dir = runner.prepare(
        simulator, test_dir, SIMULATORS if platform is None else HDL_SIMULATORS
    )
    if simulator == "amaranth":
        return [run_array(s, simulator, test_dir / str(n)) for n, s in enumerate(scenarios)]
    return runner.run_together(
        scenarios,
        _build(scenarios[0], simulator, platform),
        "sysconv.sim.array.tb",
        test_dir,
        to_result=lambda result: _result(simulator, result, None),
        rerun=lambda scenario, folder: run_array(
            scenario, simulator, folder, waves=True, platform=platform
        ),
    )


def _build(scenario, simulator, platform):
    verilog_text = to_verilog(array_for(scenario), TOPLEVEL, platform=platform)
    models = ecp5_models.models_for(verilog_text) + ice40_models.models_for(verilog_text)
    return runner.build(verilog_text + models, TOPLEVEL, simulator)


def _result(simulator, result, wave_path):
    return Result(
        result["status"],
        simulator,
        result["message"],
        result.get("cycles", 0),
        wave_path,
        {"trace": result.get("trace", [])},
    )
