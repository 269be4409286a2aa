"""BlockRAM: the engine's and the pooling unit's buffers. Reads and writes against a model,
with and without the output register, in Amaranth's simulator and (the ECP5's DP16KDs) on
Icarus; the slicing, the poisoned read-during-write that simulation uses to show no such read is
used, and that Yosys maps it to bare block RAM (no read-old-data emulation, the output register
in the block)."""

import json
import random

import pytest
from amaranth.hdl import Fragment, Module, Shape, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from sysconv import tools
from sysconv.build import _synth_cells
from sysconv.hw.ram import BLOCK_RAM_BITS, BlockRAM, dp16kd_columns, poisoned_collisions
from sysconv.hw.verilog import to_verilog
from sysconv.sim import runner
from sysconv.sim.ecp5_models import models_for


def ecp5():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    return ULX3S_85F_Platform()


class Harness(wiring.Component):
    """A BlockRAM with one write and one read port (``registered`` or not), as ports of a
    component."""

    def __init__(self, shape, depth, sliced, registered=False):
        self.ram = BlockRAM(shape=shape, depth=depth, sliced=sliced)
        self.write = self.ram.write_port()
        self.read = self.ram.read_port(registered=registered)
        super().__init__(
            {
                "w_addr": In(range(depth)),
                "w_data": In(shape),
                "w_en": In(1),
                "r_addr": In(range(depth)),
                "r_en": In(1),
                "r_data": Out(shape),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = self.ram
        m.d.comb += [
            self.write.addr.eq(self.w_addr),
            self.write.data.eq(self.w_data),
            self.write.en.eq(self.w_en),
            self.read.addr.eq(self.r_addr),
            self.read.en.eq(self.r_en),
            self.r_data.eq(self.read.data),
        ]
        return m


def run(harness, steps, *, poisoned):
    """``steps``: per cycle ``(write, read)``, ``write`` as ``(addr, value)`` or None, ``read``
    an address or None (enable low); returns the read port's data after each cycle."""
    seen = []

    async def testbench(ctx):
        for write, read in steps:
            ctx.set(harness.w_en, write is not None)
            if write is not None:
                ctx.set(harness.w_addr, write[0])
                ctx.set(Value.cast(harness.w_data), write[1])
            ctx.set(harness.r_en, read is not None)
            if read is not None:
                ctx.set(harness.r_addr, read)
            await ctx.tick()
            seen.append(ctx.get(Value.cast(harness.r_data)))

    if poisoned:
        with poisoned_collisions():
            sim = Simulator(harness)
    else:
        sim = Simulator(harness)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return seen


SHAPES = [
    (unsigned(6), 16, False),
    (data.ArrayLayout(signed(8), 8), 4096, True),  # 16 slices of 4 bits
    (data.ArrayLayout(signed(8), 3), 1000, True),  # 24 bits, slices of 16: one of 8
    (data.ArrayLayout(signed(8), 2), 64, True),  # fits one block RAM: not sliced
]


def random_steps(shape, depth):
    """300 cycles of random writes and reads (no read of the address written in its cycle:
    its data is undefined), and the data the read port holds after each: ``(steps,
    expected)``, ``expected`` a list of ``(unregistered, registered)`` values, None until a
    read has come through."""
    width = Shape.cast(shape).width
    rng = random.Random(depth)
    model, steps, expected = {}, [], []
    latch = out = None  # the read's output, and the register after it
    for _ in range(300):
        write = (rng.randrange(depth), rng.getrandbits(width)) if rng.random() < 0.6 else None
        read = rng.choice(sorted(model)) if model and rng.random() < 0.7 else None
        if write is not None and read == write[0]:
            read = None
        steps.append((write, read))
        if read is not None:  # en high: both stages advance; low: both hold
            latch, out = model[read], latch
        expected.append((latch, out))
        if write is not None:
            model[write[0]] = write[1]
    return steps, expected


def check_seen(seen, expected, registered):
    for n, (got, want) in enumerate(zip(seen, expected, strict=True)):
        want = want[registered]
        if want is not None:
            assert got == want, f"cycle {n}: read {got}, expected {want:#x}"


@pytest.mark.parametrize("shape, depth, sliced", SHAPES)
@pytest.mark.parametrize("poisoned", [False, True])
@pytest.mark.parametrize("registered", [False, True])
def test_reads_what_was_written(shape, depth, sliced, poisoned, registered):
    steps, expected = random_steps(shape, depth)
    seen = run(Harness(shape, depth, sliced, registered), steps, poisoned=poisoned)
    check_seen(seen, expected, registered)


@pytest.mark.parametrize(
    "shape, depth, sliced, blocks",
    [
        (*SHAPES[0], 1),  # 6 bits in the 9-bit mode
        (*SHAPES[1], 16),  # 16 slices of 4 bits, each a block in the 4-bit mode
        (*SHAPES[2], 2),  # 16 bits in the 18-bit mode, 8 in the 9-bit one
        (*SHAPES[3], 1),  # 16 bits in the 18-bit mode
    ],
)
def test_ecp5_registered_reads_what_was_written(shape, depth, sliced, blocks, test_dir):
    # DP16KDs with their output register, under sim.ecp5_models' model, on Icarus.
    verilog = to_verilog(Harness(shape, depth, sliced, registered=True), "ram", platform=ecp5())
    assert verilog.count("DP16KD #(") == blocks
    assert verilog.count('.REGMODE_B("OUTREG")') == blocks
    steps, expected = random_steps(shape, depth)
    test_dir.mkdir(parents=True, exist_ok=True)
    (test_dir / "steps.json").write_text(json.dumps(steps))
    built = runner.build(verilog + models_for(verilog), "ram", "icarus")
    runner.run_cocotb(built, "sysconv.sim.ram.tb", test_dir, waves=False)
    seen = json.loads((test_dir / "seen.json").read_text())
    check_seen(seen, expected, registered=True)


@pytest.mark.parametrize(
    "width, depth, columns",
    [
        (8, 1152, [(8, 9)]),  # the 9-bit mode holds 2048 words
        (2, 4608, [(2, 2)]),
        (4, 4096, [(4, 4)]),
        (1, 16384, [(1, 1)]),
        (6, 16, [(6, 9)]),  # one block: the narrowest mode that takes the word
        (40, 1000, [(18, 18), (18, 18), (4, 18)]),
        (24, 2000, [(9, 9), (9, 9), (6, 9)]),
        (3, 5000, [(2, 2), (1, 2)]),  # 4 bits hold 4096 words: two 2-bit blocks
    ],
)
def test_dp16kd_columns(width, depth, columns):
    assert dp16kd_columns(width, depth) == columns


def test_dp16kd_columns_past_the_deepest_mode():
    with pytest.raises(ValueError, match=r"^a DP16KD holds at most 16384 words, not 16385$"):
        dp16kd_columns(1, 16385)


def test_read_that_meets_a_write_is_poisoned_only_in_the_checking_simulation():
    steps = [((5, 0b0011), None), ((5, 0b1001), 5), (None, None), (None, 5), ((7, 1), 5)]
    plain = run(Harness(unsigned(4), 16, False), steps, poisoned=False)
    poisoned = run(Harness(unsigned(4), 16, False), steps, poisoned=True)
    # The Verilog's (and the simulator's) read-old-data, which the hardware does not keep...
    assert plain[1:] == [0b0011, 0b0011, 0b1001, 0b1001]
    # ...is the complement when poisoned, while the enable holds the data; later reads are
    # clean.
    assert poisoned[1:] == [0b1100, 0b1100, 0b1001, 0b1001]


def test_slices_are_as_narrow_as_a_block_ram_holds():
    def memories(shape, depth, sliced):
        fragment = Fragment.get(Harness(shape, depth, sliced), None)
        ram = fragment.subfragments[0][0]
        return [
            sub
            for sub, _name, _loc in ram.subfragments
            if isinstance(sub, Memory) or type(sub).__name__ == "MemoryInstance"
        ]

    layout = data.ArrayLayout(signed(8), 8)
    assert len(memories(layout, 8192, True)) == 32  # 2 bits at 8192 words
    assert len(memories(layout, 2048, True)) == 8  # 8 bits at 2048
    assert len(memories(layout, 8192, False)) == 1
    assert len(memories(layout, BLOCK_RAM_BITS // 64, True)) == 1


@pytest.mark.parametrize(
    "shape, depth, sliced",
    [
        (unsigned(2), 8192, False),
        (data.ArrayLayout(signed(8), 2), 4096, True),
    ],
)
@pytest.mark.parametrize("registered", [False, True])
def test_ecp5_synthesis_is_bare_block_ram(shape, depth, sliced, registered, tmp_path):
    """Yosys keeps read-old-data, which a DP16KD does not give across its ports, with flip-flops
    and LUTs around it, unless the memory carries no_rw_check: the BlockRAM is block RAM and
    nothing else. Registered, elaborated for the ECP5: the output register is the DP16KDs'."""
    harness = Harness(shape, depth, sliced, registered)
    platform = ecp5() if registered else None
    (tmp_path / "ram.v").write_text(to_verilog(harness, "ram", platform=platform))
    tools.run(
        [
            tools.find("yosys"),
            "-q",
            "-p",
            "read_verilog ram.v; synth_ecp5 -top ram; tee -q -o stat.json stat -json",
        ],
        tmp_path,
        "yosys.log",
        step="synthesis of the RAM",
        cache=True,
    )
    cells = _synth_cells(tmp_path / "stat.json")
    width = Shape.cast(shape).width
    assert cells == {"DP16KD": width * depth // BLOCK_RAM_BITS}, cells
