"""The max-pooling unit in Amaranth's simulator, driven and checked by
:class:`~sysconv.sim.pool.bench.PoolBench` cycle by cycle."""

from sysconv.hw.maxpool import MaxPool2d
from sysconv.sim.amaranth_streams import Ports, simulate
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
    ports = Ports(
        outputs={
            "i_ready": dut.i.ready,
            "o_valid": dut.o.valid,
            "o_data": dut.o.payload.data.as_value(),
            "o_last": dut.o.payload.last,
        },
        inputs={
            "i_valid": dut.i.valid,
            "i_data": dut.i.payload.data.as_value(),
            "i_last": dut.i.payload.last,
            "o_ready": dut.o.ready,
        },
    )

    async def testbench(ctx):
        for name in ("height", "width", "channels", "size", "stride"):
            ctx.set(getattr(dut, name), getattr(scenario, name))
        while not bench.done:
            ports.write(ctx, bench.tick(**ports.read(ctx)))
            await ctx.tick()
        bench.finish()

    simulate(dut, testbench, vcd_path=vcd_path)
    return bench.cycle
