"""One standalone max-pooling run on any simulator: what ``sysconv sim pool`` and the tests
call."""

from dataclasses import dataclass

from sysconv.hw.maxpool import MaxPool2d
from sysconv.hw.verilog import to_verilog

from . import runner
from .cycle_streams import StreamMismatch

__all__ = ["PoolResult", "run_pool", "ALL_SIMULATORS"]

ALL_SIMULATORS = ("icarus", "verilator", "amaranth")
TOPLEVEL = "sysconv_maxpool"


@dataclass
class PoolResult:
    status: str
    simulator: str
    cycles: int
    message: str
    waves: str | None


def pool_for(scenario):
    return MaxPool2d(lanes=scenario.lanes, max_width=scenario.max_width,
                     max_channels=scenario.max_channels, max_size=scenario.max_size)


def run_pool(scenario, simulator, test_dir, *, waves=True):
    """Run ``scenario`` on the unit on ``simulator``; never raises on a mismatch."""
    test_dir = runner.prepare(simulator, test_dir, ALL_SIMULATORS)
    if simulator == "amaranth":
        wave_path = str(test_dir / "waves.vcd") if waves else None
        try:
            cycles = _run_amaranth(scenario, wave_path)
        except StreamMismatch as mismatch:
            return PoolResult("fail", simulator, mismatch.cycle, str(mismatch), wave_path)
        return PoolResult("pass", simulator, cycles, "", wave_path)
    built = runner.build(to_verilog(pool_for(scenario), TOPLEVEL), TOPLEVEL, simulator,
                         waves=waves)
    result, wave_path = runner.run_scenario(built, "sysconv.sim.cocotb_pool", test_dir,
                                            scenario.to_json(), waves=waves)
    return PoolResult(result["status"], simulator, result.get("cycles", 0), result["message"],
                      wave_path)


def _run_amaranth(scenario, vcd_path):
    from .amaranth_streams import simulate
    from .pool_bench import PoolBench

    dut = pool_for(scenario)
    bench = PoolBench(scenario)
    i_data, o_data = dut.i.payload.data.as_value(), dut.o.payload.data.as_value()

    async def testbench(ctx):
        for name in ("height", "width", "channels", "size", "stride"):
            ctx.set(getattr(dut, name), getattr(scenario, name))
        while not bench.done:
            inputs = bench.tick(i_ready=ctx.get(dut.i.ready), o_valid=ctx.get(dut.o.valid),
                                o_data=ctx.get(o_data), o_last=ctx.get(dut.o.payload.last))
            ctx.set(dut.i.valid, inputs["i_valid"])
            ctx.set(i_data, inputs["i_data"])
            ctx.set(dut.i.payload.last, inputs["i_last"])
            ctx.set(dut.o.ready, inputs["o_ready"])
            await ctx.tick()
        bench.finish()

    simulate(dut, testbench, vcd_path=vcd_path)
    return bench.cycle
