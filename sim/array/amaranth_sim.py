"""Run an :class:`~sysconv.sim.array.bench.ArrayScenario` on :class:`sysconv.hw.SystolicArray` in
Amaranth's own simulator (no Verilog), with the same bench the cocotb testbench uses."""

from sysconv.hw import SystolicArray
from sysconv.hw.lanes import unpack
from sysconv.sim.amaranth_streams import simulate
from sysconv.sim.array.bench import ArrayBench, outputs_from_ports

__all__ = ["run_array_amaranth"]


def run_array_amaranth(scenario, *, vcd_path=None):
    """Simulate; returns the finished :class:`ArrayBench` (raises :class:`Mismatch`)."""
    s = scenario
    dut = SystolicArray(
        s.rows, s.cols, act_width=s.act_width, weight_width=s.weight_width, acc_width=s.acc_width
    )
    bench = ArrayBench(s)
    i_payload, w_payload = dut.i.payload.as_value(), dut.w.payload.as_value()
    o_payload = dut.o.payload.as_value()

    async def testbench(ctx):
        while not bench.done:
            o_valid = ctx.get(dut.o.valid)
            lanes = unpack(ctx.get(o_payload), s.acc_width, s.cols) if o_valid else None
            inputs = bench.tick(
                outputs_from_ports(ctx.get(dut.i.ready), ctx.get(dut.w.ready), o_valid, lanes)
            )
            ctx.set(dut.i.valid, inputs["i_valid"])
            ctx.set(i_payload, inputs["i_payload"])
            ctx.set(dut.w.valid, inputs["w_valid"])
            ctx.set(w_payload, inputs["w_payload"])
            ctx.set(dut.o.ready, inputs["o_ready"])
            await ctx.tick()
        bench.finish()

    simulate(dut, testbench, vcd_path=vcd_path)
    return bench
