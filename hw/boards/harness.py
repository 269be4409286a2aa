"""A register harness that puts a block with many ports on a device with few pins, to measure
the block's own Fmax: its inputs come from a shift register fed by one pin, its outputs are
registered and folded into one pin by a pipelined XOR tree.

Every path that starts or ends at the block's ports then starts or ends at a register of the
harness next to it, as in an out-of-context run: what limits the clock is the block itself.
"""

from amaranth.hdl import Cat, Const, Module, Signal, ValueCastable
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RegisterHarness"]


class RegisterHarness(wiring.Component):
    """Wrap ``block`` (a :class:`wiring.Component` whose ports are plain signals, such as
    :class:`sysconv.hw.top.Accelerator`) between registers.

    Members
    -------
    din : In(1)
        Shifts into a register as wide as all of the block's inputs together, one bit a cycle.
    dout : Out(1)
        The XOR of every output bit of the block, registered at every level of the tree, so it
        depends on all of them (synthesis keeps the whole block).
    """

    def __init__(self, block):
        if not isinstance(block, wiring.Component):
            raise TypeError(f"block must be a wiring.Component, not {block!r}")
        self._block = block
        super().__init__({"din": In(1), "dout": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = block = self._block
        inputs, outputs = [], []
        for _path, member, value in block.signature.flatten(block):
            value = value.as_value() if isinstance(value, ValueCastable) else value
            if isinstance(value, Const):
                continue
            (inputs if member.flow == wiring.In else outputs).append(value)

        width = sum(len(value) for value in inputs)
        chain = Signal(max(width, 1), reset_less=True)
        m.d.sync += chain.eq(Cat(self.din, chain[:-1]))
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(chain[offset : offset + len(value)])
            offset += len(value)

        level = Signal(sum(len(value) for value in outputs), reset_less=True)
        m.d.sync += level.eq(Cat(*outputs))
        while len(level) > 1:
            folded = Signal((len(level) + 3) // 4, reset_less=True)
            m.d.sync += folded.eq(Cat(*(level[k : k + 4].xor() for k in range(0, len(level), 4))))
            level = folded
        m.d.comb += self.dout.eq(level)
        return m
