"""The registered multiplier's latency in its fabric form (Amaranth's simulator): the product of
every pair of operands appears ``latency`` cycles after them, with or without input registers.
Its ECP5 form (a ``MULT18X18D``) is checked inside the array against the golden model
(``tests/test_systolic_array.py``) and the requantiser (``tests/test_requant.py``)."""

import random

import pytest
from amaranth.hdl import signed, unsigned
from amaranth.sim import Simulator

from sysconv.hw.registered_multiplier import RegisteredMultiplier


@pytest.mark.parametrize("input_registers", [False, True])
def test_product_comes_latency_cycles_after_its_operands(input_registers):
    dut = RegisteredMultiplier(signed(8), unsigned(9), input_registers=input_registers)
    assert dut.latency == (2 if input_registers else 1)
    rng = random.Random(1)
    operands = [(rng.randint(-128, 127), rng.randint(0, 511)) for _ in range(40)]
    operands[:4] = [(-128, 511), (127, 511), (-128, 0), (-1, 1)]
    seen = []

    async def bench(ctx):
        for a, b in operands + [(0, 0)] * dut.latency:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            seen.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # seen[n] is p in cycle n + 1.
    assert seen[dut.latency - 1 :][: len(operands)] == [a * b for a, b in operands]
