"""One standalone max-pooling run on any simulator: what ``sysconv sim pool`` and the tests
call."""

from sysconv.hw.verilog import to_verilog
from sysconv.sim import ON_FAILURE, SIMULATORS, Result, runner, waves_on_failure
from sysconv.sim.cycle_streams import StreamMismatch
from sysconv.sim.pool.amaranth_sim import pool_for, run_pool_amaranth

__all__ = ["run_pool", "run_pools"]

TOPLEVEL = "sysconv_maxpool"


@waves_on_failure
def run_pool(scenario, simulator, test_dir, *, waves=ON_FAILURE):
    """Run ``scenario`` on the unit on ``simulator``; never raises on a mismatch. A waveform only of
    a failing run unless ``waves`` says otherwise (:func:`~sysconv.sim.waves_on_failure`)."""
    test_dir = runner.prepare(simulator, test_dir, SIMULATORS)
    if simulator == "amaranth":
        wave_path = str(test_dir / "waves.vcd") if waves else None
        try:
            cycles = run_pool_amaranth(scenario, wave_path)
        except StreamMismatch as mismatch:
            return Result("fail", simulator, str(mismatch), mismatch.cycle, wave_path)
        return Result("pass", simulator, "", cycles, wave_path)
    results, wave_path = runner.run_scenarios(
        _build(scenario, simulator),
        "sysconv.sim.pool.tb",
        test_dir,
        [scenario.to_json()],
        waves=waves,
    )
    return _result(simulator, results[0], wave_path)


def run_pools(scenarios, simulator, test_dir):
    """Run ``scenarios``, which share the unit's parameters (``lanes``, ``max_width``,
    ``max_channels``, ``max_size``), on ``simulator``: a :class:`~sysconv.sim.Result` each, as
    :func:`run_pool` gives. Icarus and Verilator run them all in one simulator process; a
    scenario that fails there is run again alone, writing its waveform in
    ``test_dir/<index>/``."""
    if len({_unit(s) for s in scenarios}) > 1:
        raise ValueError(
            "scenarios run together must share the unit's lanes, max_width, max_channels and "
            "max_size"
        )
    test_dir = runner.prepare(simulator, test_dir, SIMULATORS)
    if simulator == "amaranth":
        return [run_pool(s, simulator, test_dir / str(n)) for n, s in enumerate(scenarios)]
    return runner.run_together(
        scenarios,
        _build(scenarios[0], simulator),
        "sysconv.sim.pool.tb",
        test_dir,
        to_result=lambda result: _result(simulator, result, None),
        rerun=lambda scenario, folder: run_pool(scenario, simulator, folder, waves=True),
    )


def _unit(scenario):
    return (scenario.lanes, scenario.max_width, scenario.max_channels, scenario.max_size)


def _build(scenario, simulator):
    return runner.build(to_verilog(pool_for(scenario), TOPLEVEL), TOPLEVEL, simulator)


def _result(simulator, result, wave_path):
    return Result(
        result["status"], simulator, result["message"], result.get("cycles", 0), wave_path
    )
