from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..family import is_ecp5
from ._common import Count, EnginePart, beat, read_port, register_layout, skid

__all__ = ["OutputReader"]


class OutputReader(EnginePart):
    """Reads the output buffer out as a stream: words ``base .. base + out_words - 1``,
    ``last`` on the last.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    active : In(1)
        The engine is in its ``OUTPUT`` phase. While low, the reader is back at word 0 and
        ``o.valid`` is low; the buffer must not be written while ``active`` is high (nor, on
        the ECP5, in the cycle before it rises).
    base : In(range(output_depth))
        The address of the tensor's first word (its bank); steady from the cycle before
        ``active`` rises to the cycle it falls.
    regs : In(register_layout(config))
        The layer's registers (``out_words``).
    read : In(ReadPort.Signature(...)) of the output buffer
        Registered (:meth:`~sysconv.hw.ram.BlockRAM.read_port` with ``registered``) where
        :meth:`registered_read` says.
    o : Out(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), cols), "last": 1})))
        The words. Word 0 is offered in the second cycle of ``active``; throughput one word a
        cycle while ``o.ready``. Valid held and payload steady until taken.

    Elaborated for an ECP5 (``platform.family == "ecp5"``), the buffer is read a word ahead
    and its output registered (the read port's register), with a skid buffer after it: the
    same stream, cycle for cycle.
    """

    @staticmethod
    def registered_read(platform):
        """Whether the reader elaborated for ``platform`` takes a registered read port (on the
        ECP5)."""
        return is_ecp5(platform)

    def __init__(self, config):
        self.check_parameters(config)
        words = data.ArrayLayout(signed(8), config.cols)
        super().__init__(
            config,
            {
                "active": In(1),
                "base": In(range(config.output_depth)),
                "regs": In(register_layout(config)),
                "read": read_port(config.output_depth, words),
                "o": Out(stream.Signature(beat(words))),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg, reg = self._config, self.regs
        output_read = self.read

        out_addr = Count(reg["out_words"], "out_addr", range(cfg.output_depth + 1))
        out_valid = Signal()
        out_last = Signal()
        out_more = Signal()  # out_addr < out_words
        out_advance = Signal()
        o_fire = Signal()
        m.d.comb += o_fire.eq(self.o.valid & self.o.ready)
        if self.registered_read(platform):
            # A DP16KD's output is valid 5.8 ns after the clock, too late to cross the device
            # into the pooling unit's logic at 100 MHz, so the read port is registered (the
            # DP16KDs' own output register, valid 0.96 ns after the clock: Fmax) and the
            # block RAMs are read a word ahead, at `out_succ` (the address of word
            # out_addr + 1, unused past the last word; before the output phase the address is
            # word 0's, `base`, so that its first cycle finds word 0 read): `out_data`, the
            # port's register, takes their output when the word would have been read. The
            # address comes from registers only, `base` or `out_succ`, with no adder (on the
            # engine alone, the adder's routes to the 32 block RAMs' address pins across the
            # device were the critical path on a seed).
            # A word offered and not taken moves into `held` (a skid buffer) while the next
            # is read, and the reading advances whenever `held` is empty: the stream's ready
            # reaches `held` and the stream's outputs, not the block RAMs' enables, the
            # address and `out_data` (on the engine alone, the pooling unit's ready into them
            # was the critical path on a seed). The same stream, cycle for cycle. The buffer
            # is not written in the output phase, nor in the compute phase's last cycle. (On
            # the iCE40 the extra enable on the way from the pooling unit's i.ready costs
            # more than it saves.)
            out_succ = Signal(range(cfg.output_depth + 1))
            out_data = output_read.data
            held_valid = Signal()
            held_data = Signal(data.ArrayLayout(signed(8), cfg.cols), reset_less=True)
            held_last = Signal(reset_less=True)
            m.d.comb += [
                out_advance.eq(~held_valid),
                output_read.addr.eq(Mux(~self.active, self.base, out_succ)),
                output_read.en.eq(out_advance),
                self.o.valid.eq(held_valid | out_valid),
                self.o.payload.data.eq(Mux(held_valid, held_data, out_data)),
                self.o.payload.last.eq(Mux(held_valid, held_last, out_last)),
            ]
            with m.If(~self.active):
                m.d.sync += [out_succ.eq(self.base + 1), held_valid.eq(0)]
            with m.Else():
                with m.If(out_advance & out_more):
                    m.d.sync += out_succ.eq(out_succ + 1)
                skid(
                    m, held_valid, o_fire, out_valid, [(held_data, out_data), (held_last, out_last)]
                )
        else:
            m.d.comb += [
                out_advance.eq(~out_valid | o_fire),
                output_read.addr.eq(out_addr.value + self.base),
                output_read.en.eq(out_advance),
                self.o.valid.eq(out_valid),
                self.o.payload.data.eq(output_read.data),
                self.o.payload.last.eq(out_last),
            ]
        with m.If(~self.active):
            m.d.sync += [*out_addr.restart(), out_valid.eq(0), out_more.eq(reg["out_words"] != 0)]
        with m.Elif(out_advance):
            m.d.sync += [out_valid.eq(out_more), out_last.eq(out_addr.last)]
            with m.If(out_more):
                m.d.sync += [*out_addr.step(), out_more.eq(~out_addr.last)]
        return m
