from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ._common import Count, EnginePart, constants_layout, read_port, register_layout, write_port

__all__ = ["Accumulator"]


class Accumulator(EnginePart):
    """Accumulates the array's results over a column tile's passes in the accumulator buffer;
    the last pass's sums go on, with the tile's biases and requantisation constants, to the
    requantiser.

    Results arrive pass by pass, ``pixels`` a pass, ``row_tiles`` passes a column tile,
    ``col_tiles`` tiles. A pixel's sum is read again ``pixels`` results later, before the
    write of the sum before it when that is 1 to 3 results later: then the sum is taken from
    the pipeline, chosen a cycle ahead, so that the accumulator's read goes into a register
    with no logic after the block RAMs (Fmax). The sum is written from a register, a cycle
    after it is made: the adder's carry chain and the route to the block RAMs in two cycles.
    The requantiser takes the sum from that register too, so that its bias adder does not
    follow the accumulator's in the same cycle (Fmax: the two carry chains were the iCE40
    engine's critical path, and one of the ECP5 engine's).

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    active : In(1)
        The engine is in its ``COMPUTE`` phase. While low, the counts hold their start values.
    regs : In(register_layout(config))
        The layer's registers (``pixels``, ``row_tiles``, ``col_tiles``).
    i : In(stream.Signature(ArrayLayout(signed(acc_width), cols)))
        The array's results. Always ready: one a cycle.
    acc_read, acc_write : In(ReadPort.Signature(...)), In(WritePort.Signature(...))
        The accumulator buffer, its read port registered
        (:meth:`~sysconv.hw.ram.BlockRAM.read_port` with ``registered``, ``en`` left high): a
        result's partial sum is read in the cycle the result is taken, and its new sum written
        three cycles later.
    bias_read : In(ReadPort.Signature(...)) of the bias buffer (``constants_layout(config)``)
        The column tile's constants, read in the cycle after a result is taken (its output
        goes straight into the register the requantiser reads).
    o : Out(stream.Signature(StructLayout({"acc", "bias", "multiplier", "shift"}), \
always_ready=True))
        The sums of a column tile's last pass with their constants, :data:`latency` cycles
        after their result was taken, from registers; one a cycle.
    last : Out(1)
        The layer's last result is taken in this cycle.
    """

    # A result's accumulator read, its sum, the sum registered (golden.perf.ACC_LATENCY).
    latency = 3

    def __init__(self, config):
        self.check_parameters(config)
        cols, acc_width = config.cols, config.acc_width
        sums = data.ArrayLayout(signed(acc_width), cols)
        constants = constants_layout(config)
        super().__init__(
            config,
            {
                "active": In(1),
                "regs": In(register_layout(config)),
                "i": In(stream.Signature(sums)),
                "acc_read": read_port(config.acc_depth, sums),
                "acc_write": write_port(config.acc_depth, sums),
                "bias_read": read_port(config.max_col_tiles, constants),
                "o": Out(
                    stream.Signature(
                        data.StructLayout(
                            {"acc": sums, **{name: f.shape for name, f in constants}}
                        ),
                        always_ready=True,
                    )
                ),
                "last": Out(1),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg, reg = self._config, self.regs
        cols = cfg.cols
        acc_read, acc_write, bias_read = self.acc_read, self.acc_write, self.bias_read

        # Four stages: a result leaves the array (its accumulator is read), `s1` (the block
        # RAM's output; the constants are read), `s2` (that output registered as it is, in
        # the read port: on the ECP5 the DP16KDs' output register, Fmax; the sum),
        # `s3` (the sum and the constants registered, the sum written back, both offered to
        # the requantiser: Fmax). `s2_bypass` and `s2_use` choose the sum a cycle ahead when
        # the read came before the write of the sum before it, or met it.
        r_pix = Count(reg["pixels"], "r_pix", range(cfg.acc_depth))
        r_tile = Count(reg["row_tiles"], "r_tile")
        r_col_tile = Count(reg["col_tiles"], "r_col_tile", range(max(cfg.max_col_tiles, 2)))
        r_first = Signal()  # r_tile == 0
        s1_valid = Signal()
        s1_first = Signal(reset_less=True)
        s1_last = Signal(reset_less=True)
        s1_pix = Signal.like(r_pix.value, reset_less=True)
        s1_result = Signal.like(self.i.payload, reset_less=True)
        s2_valid = Signal()
        s2_first = Signal(reset_less=True)
        s2_last = Signal(reset_less=True)
        s2_pix = Signal.like(r_pix.value, reset_less=True)
        s2_result = Signal.like(self.i.payload, reset_less=True)
        s2_acc = acc_read.data
        s3_valid = Signal()
        s3_pix = Signal.like(r_pix.value, reset_less=True)
        s3_last = Signal(reset_less=True)
        s3_bias = Signal(constants_layout(cfg), reset_less=True)
        s1_meet = Signal(reset_less=True)  # the read came before the write of `s2`'s sum
        s1_meet3 = Signal(reset_less=True)  # the read met the write of `s3`'s sum
        s2_use = Signal(reset_less=True)  # the sum is s2_bypass, not s2_acc
        s2_bypass = Signal.like(acc_read.data, reset_less=True)
        sums = Signal.like(acc_read.data)  # the sum `s2` makes
        sums_r = Signal.like(acc_read.data, reset_less=True)  # the sum `s2` made last cycle
        sums_rr = Signal.like(acc_read.data, reset_less=True)  # the sum `s2` made before
        s1_col_tile = Signal.like(r_col_tile.value, reset_less=True)
        o_fire = Signal()
        m.d.comb += [
            self.i.ready.eq(1),
            o_fire.eq(self.i.valid),
            acc_read.addr.eq(r_pix.value),
            bias_read.addr.eq(s1_col_tile),
            self.last.eq(o_fire & r_pix.last & r_tile.last & r_col_tile.last),
        ]
        m.d.sync += [
            s1_valid.eq(o_fire),
            s1_first.eq(r_first),
            s1_last.eq(r_tile.last),
            s1_pix.eq(r_pix.value),
            s1_col_tile.eq(r_col_tile.value),
            s1_result.eq(self.i.payload),
            s2_valid.eq(s1_valid),
            s2_first.eq(s1_first),
            s2_last.eq(s1_last),
            s2_pix.eq(s1_pix),
            s2_result.eq(s1_result),
            s3_valid.eq(s2_valid),
            s3_pix.eq(s2_pix),
            s3_last.eq(s2_last),
            s3_bias.eq(bias_read.data),
        ]
        with m.If(~self.active):
            m.d.sync += [*r_pix.restart(), *r_tile.restart(), *r_col_tile.restart(), r_first.eq(1)]
        with m.Elif(o_fire):
            m.d.sync += r_pix.step()
            with m.If(r_pix.last):
                m.d.sync += [*r_tile.step(), r_first.eq(r_tile.last)]
                with m.If(r_tile.last):
                    m.d.sync += r_col_tile.step()
        forward = s2_valid & (s2_pix == s1_pix)
        m.d.sync += [
            s1_meet.eq(s2_valid & (s2_pix == r_pix.value)),
            s1_meet3.eq(s3_valid & (s3_pix == r_pix.value)),
            s2_use.eq(forward | s1_meet | s1_meet3),
            s2_bypass.eq(Mux(forward, sums, Mux(s1_meet, sums_r, sums_rr))),
            sums_r.eq(sums),
            sums_rr.eq(sums_r),
        ]
        for lane in range(cols):
            total = Signal(signed(cfg.acc_width), name=f"sum_{lane}")
            m.d.comb += [
                total.eq(
                    Mux(s2_first, 0, Mux(s2_use, s2_bypass[lane], s2_acc[lane])) + s2_result[lane]
                ),
                sums[lane].eq(total),
            ]
        m.d.comb += [
            acc_write.data.eq(sums_r),
            acc_write.addr.eq(s3_pix),
            acc_write.en.eq(s3_valid),
            self.o.valid.eq(s3_valid & s3_last),
            self.o.payload.acc.eq(sums_r),
            self.o.payload.bias.eq(s3_bias.bias),
            self.o.payload.multiplier.eq(s3_bias.multiplier),
            self.o.payload.shift.eq(s3_bias.shift),
        ]
        return m
