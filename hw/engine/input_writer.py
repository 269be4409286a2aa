from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ._common import Count, EnginePart, beat, register_layout, write_port

__all__ = ["InputWriter"]


class InputWriter(EnginePart):
    """Writes the input tensor into the input buffer, a word (one channel group of a pixel) a
    beat, in stream order from address ``base``, lanes past ``in_channels`` zeroed.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    i : In(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), rows), "last": 1})))
        The tensor, HWC raster order, ``groups`` beats a pixel, ``in_words`` beats. Ready
        exactly while ``active``: throughput one beat a cycle.
    active : In(1)
        The engine takes an input tensor. While low, the writer is back at the first word;
        while high it takes tensor after tensor.
    base : In(range(input_depth))
        The address of the tensor's first word (its bank), taken while ``active`` is low.
    next_base : In(range(input_depth))
        The address of the next tensor's first word, taken with a tensor's last beat: while
        ``active`` stays high, the next tensor goes in from there.
    regs : In(register_layout(config))
        The layer's registers (``in_words``, ``groups``, ``in_channels``).
    write : In(WritePort.Signature(...)) of the input buffer
        The beat taken, written in the same cycle (no latency).
    done : Out(1)
        The tensor's last beat (by its length, not its ``last``) is taken in this cycle.
    error : Out(1)
        A beat is taken whose ``last`` is not set exactly on the tensor's last beat.
    """

    def __init__(self, config):
        self.check_parameters(config)
        lanes = data.ArrayLayout(signed(8), config.rows)
        super().__init__(
            config,
            {
                "i": In(stream.Signature(beat(lanes))),
                "active": In(1),
                "base": In(range(config.input_depth)),
                "next_base": In(range(config.input_depth)),
                "regs": In(register_layout(config)),
                "write": write_port(config.input_depth, lanes),
                "done": Out(1),
                "error": Out(1),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg, reg = self._config, self.regs
        rows = cfg.rows

        i_fire = Signal()
        m.d.comb += [
            self.i.ready.eq(self.active),
            i_fire.eq(self.i.valid & self.i.ready),
        ]
        in_count = Count(reg["in_words"], "in_count")
        # The word's address, a register stepped with the beats (Fmax: the bank's base, from
        # the engine's sequencing, through an adder into the block RAMs' address was the ECP5
        # engine alone's critical path on a seed).
        addr = Signal(range(cfg.input_depth))
        in_group = Count(reg["groups"], "in_group")
        in_channel_base = Signal(range(cfg.max_groups * rows + 1))
        m.d.comb += [
            self.write.addr.eq(addr),
            self.write.en.eq(i_fire),
            self.done.eq(i_fire & in_count.last),
            self.error.eq(i_fire & (self.i.payload.last != in_count.last)),
        ]
        # Whether each lane holds a channel (in_channel_base + lane < in_channels), a
        # flip-flop per lane worked out a step ahead: the compares for the first channel
        # group and for the next are made on registers, and the handshake only picks one, so
        # that no adder and compare sit before the block RAMs' write data or after the
        # handshake (Fmax: on the ECP5 engine alone, each was the critical path on a seed).
        lane_on = Signal(rows)
        for lane in range(rows):
            m.d.comb += self.write.data[lane].eq(Mux(lane_on[lane], self.i.payload.data[lane], 0))
        first = [lane < reg["in_channels"] for lane in range(rows)]
        following = [in_channel_base + rows + lane < reg["in_channels"] for lane in range(rows)]
        with m.If(~self.active):
            m.d.sync += [*in_count.restart(), *in_group.restart(), addr.eq(self.base)]
        with m.Elif(i_fire):
            m.d.sync += [
                *in_count.step(),
                *in_group.step(),
                addr.eq(Mux(in_count.last, self.next_base, addr + 1)),
            ]
        with m.If(~self.active | (i_fire & in_group.last)):
            m.d.sync += [in_channel_base.eq(0), lane_on.eq(Cat(*first))]
        with m.Elif(i_fire):
            m.d.sync += [in_channel_base.eq(in_channel_base + rows), lane_on.eq(Cat(*following))]
        return m
