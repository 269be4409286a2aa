"""Run an :class:`~sysconv.sim.array.bench.ArrayScenario` on :class:`sysconv.hw.SystolicArray` in
Amaranth's own simulator (no Verilog), with the same bench the cocotb testbench uses."""

from sysconv.hw import SystolicArray
from sysconv.hw.lanes import unpack
from sysconv.sim.amaranth_streams import Ports, simulate
from sysconv.sim.array.bench import ArrayBench, outputs_from_ports

__all__ = ["run_array_amaranth"]


def run_array_amaranth(scenario, *, vcd_path=None):
    """Simulate; returns the finished :class:`ArrayBench` (raises :class:`Mismatch`)."""
    s = scenario
    dut = SystolicArray(
        s.rows, s.cols, act_width=s.act_width, weight_width=s.weight_width, acc_width=s.acc_width
    )
    bench = ArrayBench(s)
    ports = Ports(
        outputs={
            "i_ready": dut.i.ready,
            "w_ready": dut.w.ready,
            "o_valid": dut.o.valid,
            "o_payload": dut.o.payload.as_value(),
        },
        inputs={
            "i_valid": dut.i.valid,
            "i_payload": dut.i.payload.as_value(),
            "w_valid": dut.w.valid,
            "w_payload": dut.w.payload.as_value(),
            "o_ready": dut.o.ready,
        },
    )

    async def testbench(ctx):
        while not bench.done:
            out = ports.read(ctx)
            lanes = unpack(out["o_payload"], s.acc_width, s.cols) if out["o_valid"] else None
            outputs = outputs_from_ports(out["i_ready"], out["w_ready"], out["o_valid"], lanes)
            ports.write(ctx, bench.tick(outputs))
            await ctx.tick()
        bench.finish()

    simulate(dut, testbench, vcd_path=vcd_path)
    return bench
