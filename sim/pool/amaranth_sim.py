"""The max-pooling unit in Amaranth's simulator, driven and checked by
:class:`~sysconv.sim.pool.bench.PoolBench` cycle by cycle."""

from sysconv.hw.maxpool import MaxPool2d
from sysconv.sim.amaranth_streams import simulate
from sysconv.sim.pool.bench import PoolBench

__all__ = ["pool_for", "run_pool_amaranth"]


def pool_for(scenario):
    return MaxPool2d(
        lanes=scenario.lanes,
        max_width=scenario.max_width,
        max_channels=scenario.max_channels,
        max_size=scenario.max_size,
    )


def run_pool_amaranth(scenario, vcd_path=None):
    """Run ``scenario`` on the unit in Amaranth's simulator, every output checked by
    :class:`~sysconv.sim.pool.bench.PoolBench`; returns the cycles simulated. Raises
    :class:`~sysconv.sim.cycle_streams.StreamMismatch` at the first difference."""
    dut = pool_for(scenario)
    bench = PoolBench(scenario)
    i_data, o_data = dut.i.payload.data.as_value(), dut.o.payload.data.as_value()

    async def testbench(ctx):
        for name in ("height", "width", "channels", "size", "stride"):
            ctx.set(getattr(dut, name), getattr(scenario, name))
        while not bench.done:
            inputs = bench.tick(
                i_ready=ctx.get(dut.i.ready),
                o_valid=ctx.get(dut.o.valid),
                o_data=ctx.get(o_data),
                o_last=ctx.get(dut.o.payload.last),
            )
            ctx.set(dut.i.valid, inputs["i_valid"])
            ctx.set(i_data, inputs["i_data"])
            ctx.set(dut.i.payload.last, inputs["i_last"])
            ctx.set(dut.o.ready, inputs["o_ready"])
            await ctx.tick()
        bench.finish()

    simulate(dut, testbench, vcd_path=vcd_path)
    return bench.cycle
