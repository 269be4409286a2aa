from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ._common import Count, EnginePart, register_layout, write_port

__all__ = ["WriteBack"]


class WriteBack(EnginePart):
    """Writes the requantised results into the output buffer in HWC order: the result of
    pixel ``p`` of column tile ``j`` (they come tile by tile, pixels in raster order) at word
    ``base + p * col_tiles + j``.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    active : In(1)
        The engine is in its ``COMPUTE`` phase. While low, the writer is back at the first
        word and ``done`` is low.
    base : In(range(output_depth))
        The address of the tensor's first word (its bank); steady from the cycle before
        ``active`` rises to the cycle it falls.
    regs : In(register_layout(config))
        The layer's registers (``pixels``, ``col_tiles``, ``out_words``).
    i : In(stream.Signature(ArrayLayout(signed(8), cols), always_ready=True))
        Requantised results, written in the cycle they come (no latency; one a cycle).
    write : In(WritePort.Signature(...)) of the output buffer
    done : Out(1)
        Every word of the layer's output is written: a register, set by the last write and
        cleared by a cycle without ``active``.
    """

    def __init__(self, config):
        self.check_parameters(config)
        words = data.ArrayLayout(signed(8), config.cols)
        super().__init__(
            config,
            {
                "active": In(1),
                "base": In(range(config.output_depth)),
                "regs": In(register_layout(config)),
                "i": In(stream.Signature(words, always_ready=True)),
                "write": write_port(config.output_depth, words),
                "done": Out(1),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg, reg = self._config, self.regs

        q_pix = Count(reg["pixels"], "q_pix")
        q_col_tile = Signal(range(cfg.max_col_tiles + 1))
        q_addr = Signal(range(cfg.output_depth + cfg.max_col_tiles + 1))
        q_count = Count(reg["out_words"], "q_count")
        q_done = Signal()  # every word written
        m.d.comb += [
            self.write.addr.eq(q_addr),
            self.write.data.eq(self.i.payload),
            self.write.en.eq(self.i.valid),
            self.done.eq(q_done),
        ]
        with m.If(~self.active):
            m.d.sync += [
                *q_pix.restart(),
                q_col_tile.eq(0),
                q_addr.eq(self.base),
                *q_count.restart(),
                q_done.eq(0),
            ]
        with m.Elif(self.i.valid):
            m.d.sync += [*q_count.step(), q_done.eq(q_count.last), *q_pix.step()]
            with m.If(q_pix.last):
                m.d.sync += [
                    q_col_tile.eq(q_col_tile + 1),
                    q_addr.eq(self.base + q_col_tile + 1),
                ]
            with m.Else():
                m.d.sync += q_addr.eq(q_addr + reg["col_tiles"])
        return m
