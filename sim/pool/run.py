"""One standalone max-pooling run on any simulator: what ``sysconv sim pool`` and the tests
call."""

from sysconv.hw.verilog import to_verilog
from sysconv.sim import ON_FAILURE, SIMULATORS, Result, runner, waves_on_failure
from sysconv.sim.cycle_streams import StreamMismatch
from sysconv.sim.pool.amaranth_sim import pool_for, run_pool_amaranth

__all__ = ["run_pool"]

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
    built = runner.build(to_verilog(pool_for(scenario), TOPLEVEL), TOPLEVEL, simulator)
    result, wave_path = runner.run_scenario(
        built, "sysconv.sim.pool.tb", test_dir, scenario.to_json(), waves=waves
    )
    return Result(
        result["status"], simulator, result["message"], result.get("cycles", 0), wave_path
    )
