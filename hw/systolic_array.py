from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ._check import check_int
from .dual_multiplier import DualMultiplier
from .family import is_ice40
from .pe import ProcessingElement
from .registered_multiplier import RegisteredMultiplier
from .verilog import LOCAL

__all__ = ["SystolicArray"]


class SystolicArray(wiring.Component):
    """Weight-stationary systolic array computing ``o = i @ W`` for one vector per cycle.

    ``rows x cols`` processing elements (:class:`~hw.pe.ProcessingElement`), each a registered
    MAC that talks only to its neighbours: activations flow right, partial sums flow down, and
    weights shift down the columns. Each PE holds two weight banks, so the next weight set
    shifts in while the current one computes; every activation carries the bank it was
    accepted with, so the switch-over is exact to the vector.

    Parameters
    ----------
    rows : int
        Length of an activation vector (the reduction dimension), 1 to 256.
    cols : int
        Length of a result vector, 1 to 256.
    act_width, weight_width : int
        Signed widths of activations and weights, 2 to 32.
    acc_width : int
        Signed width of the partial sums and results, at most 64. It must hold the worst-case sum
        of ``rows`` products: at least :meth:`min_acc_width`.
    buffer_depth : int or None
        Depth of the output buffer, at least 2. ``None`` picks ``latency + 1``, the least that
        sustains one vector per cycle.

    Members
    -------
    i : In(stream.Signature(ArrayLayout(signed(act_width), rows)))
        Activation vectors; lane ``r`` goes to row ``r``. Not ready until a weight set has
        been loaded, nor while ``buffer_depth`` vectors are in flight or unread.
    w : In(stream.Signature(ArrayLayout(signed(weight_width), cols)))
        Weight sets, ``rows`` beats each, *last row first*: beat ``k`` of a set carries
        ``W[rows - 1 - k, :]``. A set takes effect for the activation vectors accepted after the
        cycle its last beat is accepted (a vector accepted in that same cycle still uses the
        previous set). A set shifts into the bank the set before the previous one used: ``w``
        is not ready until ``rows + cols - 1`` cycles after the last vector that used that
        bank was accepted, when it has passed every PE.
    o : Out(stream.Signature(ArrayLayout(signed(acc_width), cols)))
        Result vectors, ``o[c] = sum_r i[r] * W[r, c]``, in the order the activations came.

    Latency and throughput: the result of a vector accepted in cycle ``t`` is valid on ``o`` in
    cycle ``t + latency``, ``latency = rows + cols + 2`` (skew ``rows``, product register 1, PE
    column ``cols - 1`` hops, de-skew, and the buffer's 2), when ``o`` is not backpressured.
    One vector per cycle is sustained. ``o`` is buffered with credits, so ``o.ready`` reaches no
    PE: backpressure stops new activations at ``i`` instead of stalling the array, and the
    valid/ready outputs depend on registers only.

    On an iCE40 platform (``platform.family``, any case, is ``"ice40"``), with activations and
    weights at most 8 bits wide, the PEs share multipliers two by two, in row-major order (a
    last odd PE has one to itself): each pair's products are one
    :class:`~hw.dual_multiplier.DualMultiplier`, an ``SB_MAC16`` in 8x8 mode, so the UP5K's 8
    DSP blocks hold 16 PEs. On an ECP5 platform, with activations and weights that fit a
    ``MULT18X18D``, every PE but (0, 0) takes its operands a cycle early into its DSP block's
    input registers (:class:`~hw.pe.ProcessingElement`'s ``early_operands``: the activation and
    bank tag its left neighbour takes, the skew registers' inputs in column 0), and PE (0, 0)
    its weight alone, into a register of its own (``early_weight``: the weight of the bank the
    bank register will hold next). Same cycle behaviour.
    """

    def __init__(self, rows, cols, *, act_width=8, weight_width=8, acc_width=32, buffer_depth=None):
        self.check_parameters(
            rows=rows,
            cols=cols,
            act_width=act_width,
            weight_width=weight_width,
            acc_width=acc_width,
            buffer_depth=buffer_depth,
        )
        self._rows, self._cols = rows, cols
        self._act_width, self._weight_width, self._acc_width = act_width, weight_width, acc_width
        self._buffer_depth = (
            self.latency_of(rows, cols) + 1 if buffer_depth is None else buffer_depth
        )
        super().__init__(
            {
                "i": In(stream.Signature(data.ArrayLayout(signed(act_width), rows))),
                "w": In(stream.Signature(data.ArrayLayout(signed(weight_width), cols))),
                "o": Out(stream.Signature(data.ArrayLayout(signed(acc_width), cols))),
            }
        )

    @staticmethod
    def min_acc_width(rows, act_width, weight_width):
        """Narrowest signed width that holds any sum of ``rows`` products, ``(-2**(a-1))**2``
        being the largest product."""
        return (rows << (act_width + weight_width - 2)).bit_length() + 1

    @staticmethod
    def latency_of(rows, cols):
        return rows + cols + 2

    @classmethod
    def check_parameters(
        cls, *, rows, cols, act_width=8, weight_width=8, acc_width=32, buffer_depth=None
    ):
        check_int("rows", rows, 1, 256)
        check_int("cols", cols, 1, 256)
        check_int("act_width", act_width, 2, 32)
        check_int("weight_width", weight_width, 2, 32)
        check_int("acc_width", acc_width, 2, 64)
        minimum = cls.min_acc_width(rows, act_width, weight_width)
        if acc_width < minimum:
            raise ValueError(
                f"acc_width must be at least {minimum} to hold the sum of {rows} products of "
                f"signed {act_width}-bit activations and signed {weight_width}-bit weights, "
                f"not {acc_width}"
            )
        if buffer_depth is not None:
            check_int("buffer_depth", buffer_depth, 2, 65536)

    rows = property(lambda self: self._rows)
    cols = property(lambda self: self._cols)
    act_width = property(lambda self: self._act_width)
    weight_width = property(lambda self: self._weight_width)
    acc_width = property(lambda self: self._acc_width)
    buffer_depth = property(lambda self: self._buffer_depth)
    latency = property(lambda self: self.latency_of(self._rows, self._cols))

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._rows, self._cols

        # Control: the only registers with a reset.
        i_fire = Signal()
        w_fire = Signal()
        o_fire = Signal()
        in_flight = Signal(range(self._buffer_depth + 1))
        loaded = Signal()  # a weight set has been completed since reset
        # `loaded` and in_flight < buffer_depth: worked out a step ahead, from compares on
        # the count alone (it moves by at most one) and the handshakes (Fmax: the window
        # generator's counters' enables follow `i.ready`).
        i_ready = Signal()
        active = Signal()  # the bank new activations are tagged with
        beat = Signal(range(max(rows, 2)))  # beats of the weight set being loaded
        # Per bank, the cycles until the last vector that uses it has passed every PE.
        busy = [Signal(range(rows + cols), name=f"busy_{bank}") for bank in range(2)]
        # The bank being loaded (not `active`) is free: worked out a step ahead, from the
        # counts and the handshakes (Fmax: the count's compare and the bank select before
        # `w.ready`, into the weight sequencer's stream condition, was the ECP5 engine alone's
        # critical path on two seeds).
        w_ready = Signal(init=1)
        final_beat = Signal(init=int(rows == 1))  # beat == rows - 1

        m.d.comb += [
            self.i.ready.eq(i_ready),
            self.w.ready.eq(w_ready),
            i_fire.eq(self.i.valid & self.i.ready),
            w_fire.eq(self.w.valid & self.w.ready),
            o_fire.eq(self.o.valid & self.o.ready),
        ]
        m.d.sync += in_flight.eq(in_flight + i_fire - o_fire)
        room_next = Mux(
            i_fire & ~o_fire,
            in_flight < self._buffer_depth - 1,
            Mux(o_fire & ~i_fire, 1, in_flight < self._buffer_depth),
        )
        set_loaded = w_fire & final_beat  # a set's last beat is taken
        with m.If(w_fire):
            m.d.sync += final_beat.eq(Mux(final_beat, rows == 1, beat == rows - 2))
            with m.If(final_beat):
                m.d.sync += [beat.eq(0), active.eq(~active), loaded.eq(1)]
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        free_next = []  # per bank: its count is 0 after this cycle
        for bank, count in enumerate(busy):
            with m.If(i_fire & (active == bank)):
                m.d.sync += count.eq(rows + cols - 2)
            with m.Elif(count != 0):
                m.d.sync += count.eq(count - 1)
            # (count <= 1: always, where the count is a single bit)
            drained = count <= 1 if len(count) > 1 else 1
            free_next.append(Mux(i_fire & (active == bank), rows + cols == 2, drained))
        active_next = active ^ set_loaded
        m.d.sync += [
            w_ready.eq(Mux(active_next, free_next[0], free_next[1])),
            i_ready.eq((loaded | set_loaded) & room_next),
        ]

        # The grid.
        shared = is_ice40(platform) and max(self._act_width, self._weight_width) <= 8
        # Where the products are a DSP block's, every PE but (0, 0) takes its operands early,
        # into the block's input registers; PE (0, 0), whose activation cannot be known a
        # cycle ahead, its weight alone, into a register of its own.
        early = RegisteredMultiplier.on_dsp(
            platform, signed(self._act_width), signed(self._weight_width)
        )
        pes = [
            [
                ProcessingElement(
                    act_width=self._act_width,
                    weight_width=self._weight_width,
                    acc_width=self._acc_width,
                    shared_multiplier=shared,
                    early_operands=early and (r, c) != (0, 0),
                    early_weight=early and (r, c) == (0, 0),
                )
                for c in range(cols)
            ]
            for r in range(rows)
        ]
        if shared:
            flat = [pe for row in pes for pe in row]
            for n in range(0, len(flat), 2):
                m.submodules[f"mul_{n // 2}"] = mul = DualMultiplier(
                    act_width=self._act_width, weight_width=self._weight_width
                )
                for k, pe in enumerate(flat[n : n + 2]):
                    m.d.comb += [
                        mul.a[k].eq(pe.mul_a),
                        mul.b[k].eq(pe.mul_w),
                        pe.mul_p.eq(mul.p[k]),
                    ]
        for r in range(rows):
            for c in range(cols):
                pe = pes[r][c]
                m.submodules[f"pe_{r}_{c}"] = pe
                m.d.comb += [
                    pe.w_shift.eq(w_fire),
                    pe.w_bank.eq(~active),
                    pe.w_in.eq(self.w.payload[c] if r == 0 else pes[r - 1][c].w_out),
                    pe.psum_in.eq(Const(0) if r == 0 else pes[r - 1][c].psum_out),
                ]
                if c > 0:
                    m.d.comb += [
                        pe.a_in.eq(pes[r][c - 1].a_out),
                        pe.bank_in.eq(pes[r][c - 1].bank_out),
                    ]
                if c > 0 and early:
                    # What the left PE's registers take now, this PE's inputs next cycle.
                    m.d.comb += [
                        pe.a_early.eq(pes[r][c - 1].a_in),
                        pe.bank_early.eq(pes[r][c - 1].bank_in),
                    ]

        # Skew: row r sees the vector r cycles late, so that its partial sum meets it.
        for r in range(rows):
            a, bank = [self.i.payload[r]], [active]
            for k in range(r):
                a_next = Signal(signed(self._act_width), name=f"skew_{r}_{k}", reset_less=True)
                bank_next = Signal(name=f"skew_bank_{r}_{k}", reset_less=True, attrs=LOCAL)
                m.d.sync += [a_next.eq(a[-1]), bank_next.eq(bank[-1])]
                a.append(a_next)
                bank.append(bank_next)
            m.d.comb += [pes[r][0].a_in.eq(a[-1]), pes[r][0].bank_in.eq(bank[-1])]
            if early and r > 0:
                m.d.comb += [pes[r][0].a_early.eq(a[-2]), pes[r][0].bank_early.eq(bank[-2])]
        if early:
            # The bank register's next value: a set's last beat switches it.
            m.d.comb += pes[0][0].bank_early.eq(active_next)

        # De-skew: column c leaves c cycles after column 0, so delay it cols - 1 - c cycles.
        results = []
        for c in range(cols):
            psum = pes[rows - 1][c].psum_out
            for k in range(cols - 1 - c):
                psum_next = Signal(signed(self._acc_width), name=f"deskew_{c}_{k}", reset_less=True)
                m.d.sync += psum_next.eq(psum)
                psum = psum_next
            results.append(psum)

        # Which pipeline slots hold a real vector.
        valid = i_fire
        for k in range(rows + cols):
            valid_next = Signal(name=f"valid_{k}")
            m.d.sync += valid_next.eq(valid)
            valid = valid_next

        # Credits (in_flight) guarantee the buffer has room for everything in the pipeline.
        m.submodules.buffer = buffer = SyncFIFOBuffered(
            width=cols * self._acc_width, depth=self._buffer_depth
        )
        m.d.comb += [
            buffer.w_data.eq(Cat(*results)),
            buffer.w_en.eq(valid),
            self.o.payload.eq(buffer.r_data),
            self.o.valid.eq(buffer.r_rdy),
            buffer.r_en.eq(self.o.ready),
        ]
        return m
