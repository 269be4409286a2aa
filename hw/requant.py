from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._check import check_int

__all__ = ["Requantizer"]


class Requantizer(wiring.Component):
    """Bias, requantisation and ReLU for the convolution engine's output path, one vector per
    cycle, bit-exact with :func:`sysconv.golden.requantize` and :func:`sysconv.golden.relu`.

    Per lane, with unbounded integer arithmetic and ``>>`` the arithmetic (floor) right shift::

        v = acc + bias                                       (sum_width bits, never wraps)
        p = v * multiplier                                   (product_width bits)
        r = (p + 2**(shift - 1)) >> shift  if shift > 0  else  p
        q = min(max(r, -2**(out_width - 1)), 2**(out_width - 1) - 1)
        o = max(q, 0)  if relu  else  q

    that is ``o = relu(requantize(acc + bias, multiplier, shift, bits=out_width))`` when ``relu``
    is 1 and ``requantize(acc + bias, multiplier, shift, bits=out_width)`` when it is 0. Nothing
    wraps: every intermediate is as wide as its worst case (see the widths below).

    Parameters
    ----------
    lanes : int
        Values per vector, 1 to 256.
    acc_width : int
        Signed width of the accumulators, 2 to 64.
    bias_width : int
        Signed width of the biases, 2 to 64.
    mult_width : int
        Unsigned width of the multiplier, 1 to 32.
    out_width : int
        Signed width of the results, 2 to 32.

    Members
    -------
    i : In(stream.Signature(StructLayout({"acc": ..., "bias": ...}), always_ready=True))
        Operand vectors: ``acc`` is ``ArrayLayout(signed(acc_width), lanes)`` and ``bias`` is
        ``ArrayLayout(signed(bias_width), lanes)``; lane ``k`` of each makes lane ``k`` of the
        result. Always ready: a beat is taken in every cycle ``i.valid`` is high.
    o : Out(stream.Signature(ArrayLayout(signed(out_width), lanes), always_ready=True))
        Result vectors, in the order the operands came. Never backpressured: the consumer takes a
        beat in every cycle ``o.valid`` is high. ``o.valid`` and ``o.payload`` come straight from
        registers.
    multiplier : In(unsigned(mult_width))
    shift : In(range(max_shift + 1))
    relu : In(1)
        Configuration, held by the engine for a layer. Each beat uses the values present in the
        cycle it is taken on ``i`` (they travel down the pipeline with it), so they may also
        change between any two beats, e.g. at a layer boundary, with no bubble. A ``shift``
        above ``max_shift`` that the port can still carry acts as ``max_shift``, which is what
        the formula gives (every result is 0).

    Widths: ``sum_width = max(acc_width, bias_width) + 1``, so ``acc + bias`` never wraps;
    ``product_width = sum_width + mult_width``, a signed ``sum_width``-bit value times an
    unsigned ``mult_width``-bit one; the rounding add is one bit wider again,
    ``product_width + 1``, since ``p + 2**(shift - 1)`` can exceed ``2**(product_width - 1) - 1``,
    and is shifted at that width; the shifted value fits in ``product_width`` bits; then
    saturation to ``out_width`` bits (when narrower), and ReLU last.

    ``max_shift = product_width``. With ``P = product_width``, every product lies strictly
    between ``-2**(P - 1)`` and ``2**(P - 1)``, so at ``shift = P`` every result is 0, as it is
    for any larger shift: the ``shift`` port covers every shift that can change a result, and
    each is computed exactly, with no bit of the product or of the rounding term lost.

    Latency and throughput: the result of a beat taken in cycle ``t`` is valid on ``o`` in
    cycle ``t + latency``, ``latency = 5``, whatever the gaps between beats: one register stage
    after each of add bias; multiply the sum's low and high halves; add the halves and the
    rounding term; shift; saturate with ReLU. One vector per cycle is
    sustained. Only the valid bits of the pipeline have a reset; the datapath
    registers have none.
    """

    def __init__(self, *, lanes, acc_width, bias_width=32, mult_width=16, out_width=8):
        self.check_parameters(lanes=lanes, acc_width=acc_width, bias_width=bias_width,
                              mult_width=mult_width, out_width=out_width)
        self._lanes = lanes
        self._acc_width, self._bias_width = acc_width, bias_width
        self._mult_width, self._out_width = mult_width, out_width
        beat = data.StructLayout({
            "acc": data.ArrayLayout(signed(acc_width), lanes),
            "bias": data.ArrayLayout(signed(bias_width), lanes),
        })
        super().__init__({
            "i": In(stream.Signature(beat, always_ready=True)),
            "o": Out(stream.Signature(data.ArrayLayout(signed(out_width), lanes),
                                      always_ready=True)),
            "multiplier": In(unsigned(mult_width)),
            "shift": In(range(self.max_shift + 1)),
            "relu": In(1),
        })

    @classmethod
    def check_parameters(cls, *, lanes, acc_width, bias_width=32, mult_width=16, out_width=8):
        check_int("lanes", lanes, 1, 256)
        check_int("acc_width", acc_width, 2, 64)
        check_int("bias_width", bias_width, 2, 64)
        check_int("mult_width", mult_width, 1, 32)
        check_int("out_width", out_width, 2, 32)

    lanes = property(lambda self: self._lanes)
    acc_width = property(lambda self: self._acc_width)
    bias_width = property(lambda self: self._bias_width)
    mult_width = property(lambda self: self._mult_width)
    out_width = property(lambda self: self._out_width)
    sum_width = property(lambda self: max(self._acc_width, self._bias_width) + 1)
    product_width = property(lambda self: self.sum_width + self._mult_width)
    max_shift = property(lambda self: self.product_width)
    latency = property(lambda self: 5)

    def elaborate(self, platform):
        m = Module()
        lanes, out_width = self._lanes, self._out_width
        sum_width, product_width = self.sum_width, self.product_width
        max_shift = self.max_shift

        # Control: the only registers with a reset.
        valid = [self.i.valid]
        for k in range(1, self.latency + 1):
            valid_next = Signal(name=f"valid_{k}")
            m.d.sync += valid_next.eq(valid[-1])
            valid.append(valid_next)
        m.d.comb += self.o.valid.eq(valid[-1])

        def register(shape, name):
            return Signal(shape, name=name, reset_less=True)

        # The configuration travels with its beat.
        multiplier_1 = register(unsigned(self._mult_width), "multiplier_1")
        shift = [None] + [register(range(max_shift + 1), f"shift_{k}") for k in range(1, 4)]
        relu = [None] + [register(1, f"relu_{k}") for k in range(1, 5)]
        m.d.sync += [
            multiplier_1.eq(self.multiplier),
            # A shift the port can carry beyond max_shift gives 0, as max_shift does.
            shift[1].eq(Mux(self.shift > max_shift, max_shift, self.shift)
                        if (1 << len(self.shift)) - 1 > max_shift else self.shift),
            relu[1].eq(self.relu),
        ]
        for k in range(2, 4):
            m.d.sync += shift[k].eq(shift[k - 1])
        for k in range(2, 5):
            m.d.sync += relu[k].eq(relu[k - 1])
        # 2**(shift - 1) for shift > 0, else 0: bit k - 1 is set for shift == k.
        rounding_2 = register(unsigned(product_width), "rounding_2")
        m.d.sync += rounding_2.eq(Cat(shift[1] == k for k in range(1, max_shift + 1)))

        # The product in two halves of the sum, each a multiplier block's worth (18x18 on
        # the ECP5, 16x16 on the iCE40), registered as they leave the multipliers and added,
        # with the rounding term, a stage later (Fmax).
        split = (sum_width + 1) // 2

        lo, hi = -(1 << (out_width - 1)), (1 << (out_width - 1)) - 1
        for k in range(lanes):
            total_1 = register(signed(sum_width), f"sum_1_{k}")
            low_2 = register(unsigned(split + self._mult_width), f"low_2_{k}")
            high_2 = register(signed(sum_width - split + self._mult_width), f"high_2_{k}")
            rounded_3 = register(signed(product_width + 1), f"rounded_3_{k}")
            # Shifted, the sum fits in product_width bits again: it is p when shift == 0, and
            # at most 2**(product_width - 2) in magnitude when shift >= 1.
            shifted_4 = register(signed(product_width), f"shifted_4_{k}")
            result_5 = register(signed(out_width), f"result_5_{k}")

            m.d.sync += [
                total_1.eq(self.i.payload.acc[k] + self.i.payload.bias[k]),
                low_2.eq(total_1[:split] * multiplier_1),
                high_2.eq(total_1[split:].as_signed() * multiplier_1),
                rounded_3.eq((high_2 << split) + low_2 + rounding_2),
                shifted_4.eq(rounded_3 >> shift[3]),
            ]
            # ReLU after saturation: max(min(max(r, lo), hi), 0) = clamp(r, 0, hi). The value
            # fits out_width bits when its bits from out_width - 1 up are all equal: AND and OR
            # trees, not a compare's carry chain across the whole width (Fmax).
            with m.If(relu[4] & shifted_4[-1]):
                m.d.sync += result_5.eq(0)
            if out_width < product_width:
                top = shifted_4[out_width - 1:]
                with m.Elif(~top.all() & top.any()):
                    m.d.sync += result_5.eq(Mux(shifted_4[-1], lo, hi))
            with m.Else():
                m.d.sync += result_5.eq(shifted_4)
            m.d.comb += self.o.payload[k].eq(result_5)
        return m
