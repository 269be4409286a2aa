"""Run layers on :class:`sysconv.hw.ConvEngine` in Amaranth's simulator, with
:class:`EngineBench`."""

from sysconv.hw.engine import ConvEngine, Phase
from sysconv.sim.amaranth_streams import Ports, simulate
from sysconv.sim.cycle_streams import StreamMismatch
from sysconv.sim.engine.bench import EngineBench

__all__ = ["run_engine_amaranth"]


def run_engine_amaranth(runs, *, idle=0.0, backpressure=0.0, seed=0, vcd_path=None):
    """Simulate ``runs`` back to back; returns the finished bench (raises on a mismatch, and
    if the engine's ``error`` flag is up at the end, as the cocotb testbench does)."""
    dut = ConvEngine(runs[0].engine)
    bench = EngineBench(runs, idle=idle, backpressure=backpressure, seed=seed)
    ports = Ports(
        outputs={
            "p_ready": dut.p.ready,
            "i_ready": dut.i.ready,
            "o_valid": dut.o.valid,
            "o_data": dut.o.payload.data.as_value(),
            "o_last": dut.o.payload.last,
        },
        inputs={
            "p_valid": dut.p.valid,
            "p_data": dut.p.payload.data,
            "p_last": dut.p.payload.last,
            "i_valid": dut.i.valid,
            "i_data": dut.i.payload.data.as_value(),
            "i_last": dut.i.payload.last,
            "o_ready": dut.o.ready,
        },
    )

    async def testbench(ctx):
        while not bench.done:
            ports.write(ctx, bench.tick(**ports.read(ctx)))
            await ctx.tick()
            # The image ends once its output is out and trailing words are into the pool: the
            # engine leaves OUTPUT.
            if bench.layer_complete() and ctx.get(dut.phase) != Phase.OUTPUT:
                bench.layer_done(ctx.get(dut.compute_cycles), ctx.get(dut.layer_cycles))
        if ctx.get(dut.error):
            raise StreamMismatch(bench.cycle, "the engine raised its error flag")

    simulate(dut, testbench, vcd_path=vcd_path)
    return bench
