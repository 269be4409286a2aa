"""Run layers on :class:`sysconv.hw.ConvEngine` in Amaranth's simulator, with
:class:`EngineBench`."""

from sysconv.hw.engine import ConvEngine, Phase
from sysconv.sim.amaranth_streams import simulate
from sysconv.sim.cycle_streams import StreamMismatch
from sysconv.sim.engine.bench import EngineBench

__all__ = ["run_engine_amaranth"]


def run_engine_amaranth(runs, *, idle=0.0, backpressure=0.0, seed=0, vcd_path=None):
    """Simulate ``runs`` back to back; returns the finished bench (raises on a mismatch, and
    if the engine's ``error`` flag is up at the end, as the cocotb testbench does)."""
    dut = ConvEngine(runs[0].engine)
    bench = EngineBench(runs, idle=idle, backpressure=backpressure, seed=seed)
    o_data = dut.o.payload.data.as_value()
    i_data = dut.i.payload.data.as_value()

    async def testbench(ctx):
        while not bench.done:
            inputs = bench.tick(
                p_ready=ctx.get(dut.p.ready),
                i_ready=ctx.get(dut.i.ready),
                o_valid=ctx.get(dut.o.valid),
                o_data=ctx.get(o_data),
                o_last=ctx.get(dut.o.payload.last),
            )
            ctx.set(dut.p.valid, inputs["p_valid"])
            ctx.set(dut.p.payload.data, inputs["p_data"])
            ctx.set(dut.p.payload.last, inputs["p_last"])
            ctx.set(dut.i.valid, inputs["i_valid"])
            ctx.set(i_data, inputs["i_data"])
            ctx.set(dut.i.payload.last, inputs["i_last"])
            ctx.set(dut.o.ready, inputs["o_ready"])
            await ctx.tick()
            # The image ends once its output is out and trailing words are into the pool: the
            # engine leaves OUTPUT.
            if bench.layer_complete() and ctx.get(dut.phase) != Phase.OUTPUT:
                bench.layer_done(ctx.get(dut.compute_cycles), ctx.get(dut.layer_cycles))
        if ctx.get(dut.error):
            raise StreamMismatch(bench.cycle, "the engine raised its error flag")

    simulate(dut, testbench, vcd_path=vcd_path)
    return bench
