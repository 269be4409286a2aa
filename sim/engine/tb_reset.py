"""cocotb testbench: reset in the middle of a layer, then a new layer.

Reads ``scenario.json`` (two layers, and ``reset_phase``: the engine phase, 1 input,
2 compute or 3 output, in which to reset, ``reset_delay`` cycles into it). Sends the first
layer, asserts ``rst`` for 3 cycles in the middle of it, then runs the second layer, whose
output must be exactly its golden result: nothing of the interrupted layer may leak through.
"""

import os
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge
from cocotbext.axi import AxiStreamFrame

from sysconv.sim.engine.layer import runs_from_json
from sysconv.sim.engine.tb import TB, _to_bytes, write_result


@cocotb.test()
async def reset_mid_layer_then_new_layer(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    runs, scenario = runs_from_json((test_dir / "scenario.json").read_text())
    interrupted, fresh = runs
    engine = fresh.engine
    tb = TB(dut, scenario)
    await tb.reset()
    tb.check_streams(lambda message: write_result(test_dir, status="fail", message=message))
    await tb.param.send(AxiStreamFrame(_to_bytes(interrupted.packet(), engine.param_width)))
    await tb.source.send(AxiStreamFrame(_to_bytes(interrupted.input_beats(), 8 * engine.rows)))

    await ReadOnly()
    while int(dut.phase.value) != scenario["reset_phase"]:
        await RisingEdge(dut.clk)
        await ReadOnly()
    await ClockCycles(dut.clk, scenario["reset_delay"])
    await FallingEdge(dut.clk)
    for checker in tb.checkers.values():
        checker.stop()  # packets are cut short here
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    if not (tb.param.empty() and tb.source.empty()):
        write_result(test_dir, status="fail", message="the AXI sources kept data over reset")
        raise AssertionError("the AXI sources kept data over reset")
    tb.sink.clear()
    tb.check_streams(lambda message: write_result(test_dir, status="fail", message=message))
    for name, beats in (
        ("param", len(fresh.packet())),
        ("input", len(fresh.input_beats())),
        ("output", len(fresh.expected_beats())),
    ):
        tb.checkers[name].expect(beats)
    await tb.param.send(AxiStreamFrame(_to_bytes(fresh.packet(), engine.param_width)))
    await tb.source.send(AxiStreamFrame(_to_bytes(fresh.input_beats(), 8 * engine.rows)))
    frame = await tb.sink.recv()
    data = bytes(frame.tdata)
    words = [
        int.from_bytes(data[k : k + engine.cols], "little")
        for k in range(0, len(data), engine.cols)
    ]
    await ClockCycles(dut.clk, 20)
    status, message = "pass", ""
    if words != fresh.expected_beats():
        status, message = (
            "fail",
            (
                f"after reset in phase {scenario['reset_phase']}: the new "
                f"layer's output differs from its golden result "
                f"({len(words)} words, {len(fresh.expected_beats())} "
                "expected)"
            ),
        )
    elif not tb.sink.empty():
        status, message = "fail", "output words beyond the new layer's tensor"
    elif int(dut.error.value):
        status, message = "fail", "the engine raised its error flag"
    write_result(test_dir, status=status, message=message)
    assert status == "pass", message
