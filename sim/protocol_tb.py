"""cocotb module for tests/test_protocol.py: attach :class:`StreamChecker` to a deliberately
misbehaving stream source and record the violation it reports (the checker then fails the
cocotb test, as it does in every testbench)."""

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from sysconv.sim.protocol import StreamChecker


@cocotb.test()
async def checker_reports_the_violation(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.ready.value = 0
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    def record(message):
        (test_dir / "result.json").write_text(json.dumps({"status": "fail", "message": message}))

    checker = StreamChecker(
        dut.clk,
        name="bad",
        valid=dut.valid,
        ready=dut.ready,
        payload=[dut.data],
        last=dut.last,
        on_violation=record,
    )
    checker.expect(3)
    checker.expect(3)
    checker.start()
    for cycle in range(40):
        dut.ready.value = int(cycle % 3 == 2)  # mostly not ready: offers must be held
        await FallingEdge(dut.clk)
        if checker.violation:
            break
    if not checker.violation:
        (test_dir / "result.json").write_text(json.dumps({"status": "pass", "message": ""}))
