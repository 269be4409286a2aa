"""cocotb testbench for the generated ``SystolicArray`` Verilog (Icarus and Verilator).

Runs each scenario of the :class:`~sysconv.sim.batch.Batch` (reset between): :class:`ArrayBench`
on the design once per clock cycle, recording status, cycles, message and output trace. Ports
are read and written as packed vectors through cached handles, sampled at the falling edge: the
array's outputs depend only on registers, so they are settled there, and inputs written there
hold through the next rising edge.
"""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from sysconv.hw.lanes import unpack
from sysconv.sim.array.bench import ArrayBench, ArrayScenario, Mismatch, outputs_from_ports
from sysconv.sim.batch import Batch
from sysconv.sim.protocol import StreamChecker


@cocotb.test()
async def array_matches_golden_every_cycle(dut):
    batch = Batch()
    Clock(dut.clk, 10, unit="ns").start()
    for text in batch.scenarios:
        await _run(dut, ArrayScenario.from_json(text), batch)


async def _run(dut, scenario, batch):
    """Reset the array, then run ``scenario``'s bench on it; records the result in ``batch``."""
    bench = ArrayBench(scenario)
    clk, rst = dut.clk, dut.rst
    i_valid, i_payload, i_ready = dut.i__valid, dut.i__payload, dut.i__ready
    w_valid, w_payload, w_ready = dut.w__valid, dut.w__payload, dut.w__ready
    o_valid, o_payload, o_ready = dut.o__valid, dut.o__payload, dut.o__ready
    acc_width, cols = scenario.acc_width, scenario.cols

    def fail(message):
        batch.record(status="fail", cycles=bench.cycle, message=message, trace=bench.trace)

    rst.value = 1
    i_valid.value = w_valid.value = o_ready.value = 0
    await ClockCycles(clk, 2)
    await FallingEdge(clk)
    rst.value = 0
    checkers = [
        StreamChecker(
            clk,
            name=name,
            valid=getattr(dut, f"{name}__valid"),
            ready=getattr(dut, f"{name}__ready"),
            payload=[getattr(dut, f"{name}__payload")],
            on_violation=fail,
        ).start()
        for name in ("i", "w", "o")
    ]
    try:
        while not bench.done:
            valid = int(o_valid.value)
            lanes = unpack(o_payload.value.to_unsigned(), acc_width, cols) if valid else None
            inputs = bench.tick(
                outputs_from_ports(int(i_ready.value), int(w_ready.value), valid, lanes)
            )
            i_valid.value = inputs["i_valid"]
            i_payload.value = inputs["i_payload"]
            w_valid.value = inputs["w_valid"]
            w_payload.value = inputs["w_payload"]
            o_ready.value = inputs["o_ready"]
            await FallingEdge(clk)
        bench.finish()
    except Mismatch as mismatch:
        fail(str(mismatch))
        raise
    for checker in checkers:
        checker.stop()
    batch.record(status="pass", cycles=bench.cycle, message="", trace=bench.trace)
