from itertools import pairwise

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..family import is_ecp5
from ._common import Count, EnginePart, constants_layout, read_port, register_layout, write_port

__all__ = ["Accumulator"]


class Accumulator(EnginePart):
    """Accumulates the array's results over a column tile's passes in the accumulator buffer;
    the last pass's sums go on, with the tile's biases and requantisation constants, to the
    requantiser.

    Results arrive pass by pass, ``pixels`` a pass, ``row_tiles`` passes a column tile,
    ``col_tiles`` tiles. A pixel's sum is read again ``pixels`` results later, and 2 or more
    cycles later (a set's first vector follows the previous set's last by 2 cycles or more),
    before the write of the sum before it when that was taken 2 to 4 cycles before (on the ECP5;
    elsewhere 2): then the sum is taken from the pipeline's registers, chosen a cycle ahead. On
    the ECP5 the accumulator's read goes into the DP16KDs' output register and then a flip-flop
    before the adders, so that the route from the block RAMs across the device and the adders'
    carry chains take a cycle each (Fmax); elsewhere the read is two cycles later instead,
    straight into the adders: the same cycles with fewer flip-flops. The sum is written from a
    register, a cycle after it is made: the adder's carry chain and the route to the block RAMs
    in two cycles. The requantiser takes the sum from that register too, so that its bias adder
    does not follow the accumulator's in the same cycle (Fmax: the two carry chains were the
    iCE40 engine's critical path, and one of the ECP5 engine's).

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
        The accumulator buffer, ``en`` of the read port left high. On the ECP5 the read port
        is registered (:meth:`registered_read`; :meth:`~sysconv.hw.ram.BlockRAM.read_port`
        with ``registered``) and a result's partial sum read in the cycle the result is taken,
        then registered once more, in the fabric; elsewhere it is read two cycles later. Its
        new sum is written four cycles after the result is taken.
    bias_read : In(ReadPort.Signature(...)) of the bias buffer (``constants_layout(config)``)
        The column tile's constants, read two cycles after a result is taken (its output
        goes straight into the register the requantiser reads).
    o : Out(stream.Signature(StructLayout({"acc", "bias", "multiplier", "shift"}), \
always_ready=True))
        The sums of a column tile's last pass with their constants, :data:`latency` cycles
        after their result was taken, from registers; one a cycle.
    last : Out(1)
        The layer's last result is taken in this cycle.
    """

    # A result's accumulator read, its output registered twice, the sum registered
    # (golden.perf.ACC_LATENCY).
    latency = 4

    @staticmethod
    def registered_read(platform):
        """Whether the accumulator elaborated for ``platform`` takes a registered read port
        (on the ECP5)."""
        return is_ecp5(platform)

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
        acc_read, acc_write, bias_read = self.acc_read, self.acc_write, self.bias_read

        # Five stages, `s[0]` to `s[4]`: a result leaves the array, and `s[3]` makes its sum
        # from the accumulator read in `s[read]`. On the ECP5 the read is in `s[0]`: the
        # block RAM's output in `s[1]`, its output register (the read port's) in `s[2]` and
        # a flip-flop in `s[3]`, so that the route from the DP16KDs across the device has a
        # cycle to itself (Fmax). Elsewhere the read is in `s[2]`, the block RAM's output in
        # `s[3]`: the same cycles without the flip-flops (the iCEBreaker's logic cells).
        # `s[4]` holds the sum and the constants: the sum is written back, both offered to
        # the requantiser (Fmax). A pixel's result comes 2 or more cycles after the one
        # before (a set's first vector at least 2 cycles after the last set's last:
        # golden.perf), and a read comes before the writes of the sums of the results taken
        # 2 to `forward` cycles before it: `meet[j - 2]`, the result taken `j` cycles before
        # is of the same pixel, is worked out as the result is taken, and `s[2]` picks that
        # sum (`bypass`, the newest) from the pipeline for `s[3]` a cycle ahead.
        r_pix = Count(reg["pixels"], "r_pix", range(cfg.acc_depth))
        r_tile = Count(reg["row_tiles"], "r_tile")
        r_col_tile = Count(reg["col_tiles"], "r_col_tile", range(max(cfg.max_col_tiles, 2)))
        r_first = Signal()  # r_tile == 0
        # The next result is the layer's last (r_pix.last & r_tile.last & r_col_tile.last), a
        # flip-flop worked out a step ahead (Fmax: the three, after the array's handshake, into
        # the engine's sequencing was the ECP5 engine alone's critical path on a seed).
        r_end = Signal()
        depth = self.latency + 1
        read = 0 if self.registered_read(platform) else 2
        forward = self.latency - read
        stage = data.StructLayout(
            {
                "first": 1,
                "last": 1,
                "pix": r_pix.value.shape(),
                "col_tile": r_col_tile.value.shape(),
                "meet": forward - 1,
                "result": self.i.payload.shape(),
            }
        )
        valid = [Signal(name=f"s{n}_valid") for n in range(depth)]
        s = [Signal(stage, name=f"s{n}", reset_less=True) for n in range(depth)]
        o_fire = Signal()
        m.d.comb += [
            self.i.ready.eq(1),
            o_fire.eq(self.i.valid),
            valid[0].eq(o_fire),
            s[0].first.eq(r_first),
            s[0].last.eq(r_tile.last),
            s[0].pix.eq(r_pix.value),
            s[0].col_tile.eq(r_col_tile.value),
            s[0].result.eq(self.i.payload),
            acc_read.addr.eq(s[read].pix),
            bias_read.addr.eq(s[2].col_tile),
            self.last.eq(o_fire & r_end),
        ]
        for j in range(2, forward + 1):
            m.d.comb += s[0].meet[j - 2].eq(valid[j] & (s[j].pix == r_pix.value))
        for pipeline in (valid, s):
            m.d.sync += [after.eq(before) for before, after in pairwise(pipeline)]
        tile_last = Mux(r_pix.last, r_tile.last_after_step(), r_tile.last)
        col_tile_last = Mux(r_pix.last & r_tile.last, r_col_tile.last_after_step(), r_col_tile.last)
        with m.If(~self.active):
            m.d.sync += [
                *r_pix.restart(),
                *r_tile.restart(),
                *r_col_tile.restart(),
                r_first.eq(1),
                r_end.eq((reg["pixels"] == 1) & (reg["row_tiles"] == 1) & (reg["col_tiles"] == 1)),
            ]
        with m.Elif(o_fire):
            m.d.sync += [
                *r_pix.step(),
                r_end.eq(r_pix.last_after_step() & tile_last & col_tile_last),
            ]
            with m.If(r_pix.last):
                m.d.sync += [*r_tile.step(), r_first.eq(r_tile.last)]
                with m.If(r_tile.last):
                    m.d.sync += r_col_tile.step()

        # `made[k]`: the sum `s[3]` made `k` cycles before (`made[0]` this cycle, the adders'
        # output; `made[1]` the sum's register, `s[4]`'s); with `s[2]` the result `j` cycles
        # before it is in stage `j + 2`, its sum `made[j - 1]`.
        made = [
            Signal.like(acc_read.data, name=f"made{k}", reset_less=True) for k in range(forward)
        ]
        m.d.sync += [after.eq(before) for before, after in pairwise(made)]
        if read == 0:
            acc = Signal.like(acc_read.data, reset_less=True)
            m.d.sync += acc.eq(acc_read.data)
        else:
            acc = acc_read.data
        use = Signal(reset_less=True)  # the sum is `bypass`, not `acc`
        bypass = Signal.like(acc_read.data, reset_less=True)
        newest = made[forward - 1]
        for j in reversed(range(2, forward)):
            newest = Mux(s[2].meet[j - 2], made[j - 1], newest)
        m.d.sync += [use.eq(s[2].meet.any()), bypass.eq(newest)]
        for lane in range(cfg.cols):
            total = Signal(signed(cfg.acc_width), name=f"sum_{lane}")
            m.d.comb += [
                total.eq(Mux(s[3].first, 0, Mux(use, bypass[lane], acc[lane])) + s[3].result[lane]),
                made[0][lane].eq(total),
            ]
        bias = Signal(constants_layout(cfg), reset_less=True)
        m.d.sync += bias.eq(bias_read.data)
        m.d.comb += [
            acc_write.data.eq(made[1]),
            acc_write.addr.eq(s[4].pix),
            acc_write.en.eq(valid[4]),
            self.o.valid.eq(valid[4] & s[4].last),
            self.o.payload.acc.eq(made[1]),
            self.o.payload.bias.eq(bias.bias),
            self.o.payload.multiplier.eq(bias.multiplier),
            self.o.payload.shift.eq(bias.shift),
        ]
        return m
