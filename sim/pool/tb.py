"""cocotb testbench for the generated ``sysconv_maxpool`` Verilog (Icarus and Verilator).

For each scenario of the :class:`~sysconv.sim.batch.Batch`, sets the unit's configuration
inputs, resets it and runs :class:`PoolBench` once per clock cycle (packed vectors through
cached handles, sampled at the falling edge: the unit's valid/ready outputs depend on registers
only), recording the result.
"""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from sysconv.sim.batch import Batch
from sysconv.sim.cycle_streams import StreamMismatch
from sysconv.sim.pool.bench import PoolBench, PoolScenario
from sysconv.sim.protocol import StreamChecker


@cocotb.test()
async def maxpool_matches_golden(dut):
    batch = Batch()
    Clock(dut.clk, 10, unit="ns").start()
    for text in batch.scenarios:
        await _run(dut, PoolScenario.from_json(text), batch)


async def _run(dut, scenario, batch):
    """Configure and reset the unit, then run ``scenario``'s bench on it; records the result
    in ``batch``."""
    bench = PoolBench(scenario)
    data_bits = 8 * scenario.lanes
    i_valid, i_payload, i_ready = dut.i__valid, dut.i__payload, dut.i__ready
    o_valid, o_payload, o_ready = dut.o__valid, dut.o__payload, dut.o__ready
    for name in ("height", "width", "channels", "size", "stride"):
        getattr(dut, name).value = getattr(scenario, name)

    dut.rst.value = 1
    i_valid.value = o_ready.value = 0
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    def fail(message):
        batch.record(status="fail", message=message, cycles=bench.cycle)

    checkers = [
        StreamChecker(
            dut.clk,
            name=name,
            valid=getattr(dut, f"{name}__valid"),
            ready=getattr(dut, f"{name}__ready"),
            payload=[getattr(dut, f"{name}__payload")],
            on_violation=fail,
        ).start()
        for name in ("i", "o")
    ]
    try:
        while not bench.done:
            valid = int(o_valid.value)
            word = o_payload.value.to_unsigned() if valid else 0
            inputs = bench.tick(
                i_ready=int(i_ready.value),
                o_valid=valid,
                o_data=word & ((1 << data_bits) - 1),
                o_last=(word >> data_bits) & 1,
            )
            i_valid.value = inputs["i_valid"]
            i_payload.value = inputs["i_data"] | (int(inputs["i_last"]) << data_bits)
            o_ready.value = inputs["o_ready"]
            await FallingEdge(dut.clk)
        bench.finish()
    except StreamMismatch as mismatch:
        fail(str(mismatch))
        raise
    for checker in checkers:
        checker.stop()
    batch.record(
        status="pass",
        message="",
        cycles=bench.cycle,
        output_cycles=bench.sink.cycles,
        first_input=bench.source.cycles[0],
    )
