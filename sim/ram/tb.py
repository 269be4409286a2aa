"""cocotb testbench for a BlockRAM with one write and one read port as a component's ports
(``w_addr``, ``w_data``, ``w_en``, ``r_addr``, ``r_en``, ``r_data``; tests/test_ram.py).

Replays ``steps.json`` in ``$SYSCONV_TEST_DIR``, one step a cycle: per step ``[write, read]``,
``write`` as ``[addr, value]`` or null, ``read`` an address or null (enable low). Inputs are
written at the falling edge and hold through the rising one; ``r_data`` is sampled after
each rising edge into ``seen.json``: an integer, or null where a bit is not 0 or 1.
"""

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


@cocotb.test()
async def replay_steps(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    steps = json.loads((test_dir / "steps.json").read_text())
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 0
    dut.w_en.value = dut.r_en.value = 0
    seen = []
    for write, read in steps:
        await FallingEdge(dut.clk)
        dut.w_en.value = int(write is not None)
        if write is not None:
            dut.w_addr.value, dut.w_data.value = write
        dut.r_en.value = int(read is not None)
        if read is not None:
            dut.r_addr.value = read
        await RisingEdge(dut.clk)
        await ReadOnly()
        value = dut.r_data.value
        seen.append(value.to_unsigned() if value.is_resolvable else None)
    (test_dir / "seen.json").write_text(json.dumps(seen))
