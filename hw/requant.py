from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._check import check_int
from .registered_multiplier import RegisteredMultiplier

__all__ = ["Requantizer"]


class Requantizer(wiring.Component):
    """Bias, requantisation and ReLU for the convolution engine's output path, one vector per
    cycle, bit-exact with :func:`sysconv.golden.requantize` and :func:`sysconv.golden.relu`.

    Per lane ``k``, with unbounded integer arithmetic and ``>>`` the arithmetic (floor) right
    shift, ``z`` the output zero point::

        v = acc[k] + bias[k]                                 (sum_width bits, never wraps)
        p = v * multiplier[k]                                (product_width bits)
        r = (p + 2**(shift[k] - 1)) >> shift[k]  if shift[k] > 0  else  p
        q = min(max(r + z, -2**(out_width - 1)), 2**(out_width - 1) - 1)
        o = max(q, z)  if relu  else  q

    that is ``o = relu(requantize(acc + bias, multiplier, shift, out_width, z), z)`` when
    ``relu`` is 1 and ``requantize(acc + bias, multiplier, shift, out_width, z)`` when it is 0,
    with a multiplier and a shift per lane (per output channel). Nothing wraps: every
    intermediate is as wide as its worst case (see the widths below).

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
    i : In(stream.Signature(StructLayout({"acc": ..., "bias": ..., "multiplier": ...,
                                          "shift": ...}), always_ready=True))
        Operand vectors: ``acc`` is ``ArrayLayout(signed(acc_width), lanes)``, ``bias``
        ``ArrayLayout(signed(bias_width), lanes)``, ``multiplier``
        ``ArrayLayout(unsigned(mult_width), lanes)`` and ``shift``
        ``ArrayLayout(range(max_shift + 1), lanes)``; lane ``k`` of each makes lane ``k`` of
        the result. A ``shift`` above ``max_shift`` that the lane can still carry acts as
        ``max_shift``, which is what the formula gives (the result is ``z``). Always ready: a
        beat is taken in every cycle ``i.valid`` is high.
    o : Out(stream.Signature(ArrayLayout(signed(out_width), lanes), always_ready=True))
        Result vectors, in the order the operands came. Never backpressured: the consumer takes a
        beat in every cycle ``o.valid`` is high. ``o.valid`` and ``o.payload`` come straight from
        registers.
    zero_point : In(signed(out_width))
    relu : In(1)
        Configuration, held by the engine for a layer. Each beat uses the values present in the
        cycle it is taken on ``i`` (they travel down the pipeline with it), so they may also
        change between any two beats, e.g. at a layer boundary, with no bubble.

    Widths: ``sum_width = max(acc_width, bias_width) + 1``, so ``acc + bias`` never wraps;
    ``product_width = sum_width + mult_width``, a signed ``sum_width``-bit value times an
    unsigned ``mult_width``-bit one; the rounding add is one bit wider again,
    ``product_width + 1``, since ``p + 2**(shift - 1)`` can exceed ``2**(product_width - 1) - 1``,
    and is shifted at that width; the shifted value fits in ``product_width`` bits; it is
    clamped to ``out_width + 1`` bits (exact for what follows, as ``|z| <= 2**(out_width -
    1)``), the zero point added, the sum saturated to ``out_width`` bits, and ReLU last (a
    negative shifted value gives ``z``).

    ``max_shift = product_width``. With ``P = product_width``, every product lies strictly
    between ``-2**(P - 1)`` and ``2**(P - 1)``, so at ``shift = P`` every result is 0, as it is
    for any larger shift: the ``shift`` port covers every shift that can change a result, and
    each is computed exactly, with no bit of the product or of the rounding term lost.

    Latency and throughput: the result of a beat taken in cycle ``t`` is valid on ``o`` in
    cycle ``t + latency``, ``latency = 6``, whatever the gaps between beats: one register stage
    after each of add bias; multiply the sum's low and high halves
    (:class:`~hw.registered_multiplier.RegisteredMultiplier`: on the ECP5 a ``MULT18X18D``
    each, its output register the stage's); add the halves and the rounding term; shift;
    clamp; add the zero point and saturate, with ReLU. (Clamping and
    adding the zero point were one stage, the 8x8 engine's critical path on the ECP5: 91.8
    MHz.) One vector per cycle is
    sustained. Only the valid bits of the pipeline have a reset; the datapath
    registers have none.
    """

    def __init__(self, *, lanes, acc_width, bias_width=32, mult_width=16, out_width=8):
        self.check_parameters(
            lanes=lanes,
            acc_width=acc_width,
            bias_width=bias_width,
            mult_width=mult_width,
            out_width=out_width,
        )
        self._lanes = lanes
        self._acc_width, self._bias_width = acc_width, bias_width
        self._mult_width, self._out_width = mult_width, out_width
        beat = data.StructLayout(
            {
                "acc": data.ArrayLayout(signed(acc_width), lanes),
                "bias": data.ArrayLayout(signed(bias_width), lanes),
                "multiplier": data.ArrayLayout(unsigned(mult_width), lanes),
                "shift": data.ArrayLayout(range(self.max_shift + 1), lanes),
            }
        )
        super().__init__(
            {
                "i": In(stream.Signature(beat, always_ready=True)),
                "o": Out(
                    stream.Signature(data.ArrayLayout(signed(out_width), lanes), always_ready=True)
                ),
                "zero_point": In(signed(out_width)),
                "relu": In(1),
            }
        )

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
    latency = property(lambda self: 6)

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
        relu = [None] + [register(1, f"relu_{k}") for k in range(1, 6)]
        zero_point = [None] + [register(signed(out_width), f"zero_point_{k}") for k in range(1, 6)]
        m.d.sync += [relu[1].eq(self.relu), zero_point[1].eq(self.zero_point)]
        for k in range(2, 6):
            m.d.sync += [relu[k].eq(relu[k - 1]), zero_point[k].eq(zero_point[k - 1])]

        # The product in two halves of the sum, each a multiplier block's worth (18x18 on
        # the ECP5, 16x16 on the iCE40), registered as they leave the multipliers and added,
        # with the rounding term, a stage later (Fmax).
        split = (sum_width + 1) // 2
        shift_width = len(self.i.payload.shift[0])

        lo, hi = -(1 << (out_width - 1)), (1 << (out_width - 1)) - 1
        # The shifted value clamped to out_width + 1 bits: adding any zero point to it then
        # saturates exactly as adding it to the unclamped value would.
        clamp_width = min(out_width + 1, product_width)
        for k in range(lanes):
            total_1 = register(signed(sum_width), f"sum_1_{k}")
            multiplier_1 = register(unsigned(self._mult_width), f"multiplier_1_{k}")
            shift = [None] + [register(range(max_shift + 1), f"shift_{j}_{k}") for j in range(1, 4)]
            # 2**(shift - 1) for shift > 0, else 0: bit j - 1 is set for shift == j.
            rounding_2 = register(unsigned(product_width), f"rounding_2_{k}")
            # The halves' products, registered (in the DSP block on the ECP5).
            low_2 = Signal(unsigned(split + self._mult_width), name=f"low_2_{k}")
            high_2 = Signal(signed(sum_width - split + self._mult_width), name=f"high_2_{k}")
            halves = []
            for name, half, product in (
                ("low", total_1[:split], low_2),
                ("high", total_1[split:].as_signed(), high_2),
            ):
                multiply = RegisteredMultiplier(half.shape(), multiplier_1.shape())
                m.submodules[f"{name}_{k}"] = multiply
                halves += [multiply.a.eq(half), multiply.b.eq(multiplier_1), product.eq(multiply.p)]
            m.d.comb += halves
            rounded_3 = register(signed(product_width + 1), f"rounded_3_{k}")
            # Shifted, the sum fits in product_width bits again: it is p when shift == 0, and
            # at most 2**(product_width - 2) in magnitude when shift >= 1.
            shifted_4 = register(signed(product_width), f"shifted_4_{k}")
            clamped_5 = register(signed(min(out_width + 1, product_width)), f"clamped_5_{k}")
            negative_5 = register(1, f"negative_5_{k}")  # ReLU: the shifted value below 0
            result_6 = register(signed(out_width), f"result_6_{k}")

            lane_shift = self.i.payload.shift[k]
            m.d.sync += [
                total_1.eq(self.i.payload.acc[k] + self.i.payload.bias[k]),
                multiplier_1.eq(self.i.payload.multiplier[k]),
                # A shift the lane can carry beyond max_shift gives z, as max_shift does.
                shift[1].eq(
                    Mux(lane_shift > max_shift, max_shift, lane_shift)
                    if (1 << shift_width) - 1 > max_shift
                    else lane_shift
                ),
                shift[2].eq(shift[1]),
                shift[3].eq(shift[2]),
                rounding_2.eq(Cat(shift[1] == j for j in range(1, max_shift + 1))),
                rounded_3.eq((high_2 << split) + low_2 + rounding_2),
                shifted_4.eq(rounded_3 >> shift[3]),
            ]
            # Clamp (AND and OR trees over the top bits, no carry chain); a stage later add
            # the zero point (a few bits) and saturate the same way; ReLU: a negative shifted
            # value gives z.
            m.d.sync += negative_5.eq(shifted_4[-1])
            if clamp_width < product_width:
                top = shifted_4[clamp_width - 1 :]
                fits = top.all() | ~top.any()
                m.d.sync += clamped_5.eq(
                    Mux(
                        fits,
                        shifted_4[:clamp_width].as_signed(),
                        Mux(shifted_4[-1], -(1 << (clamp_width - 1)), (1 << (clamp_width - 1)) - 1),
                    )
                )
            else:
                m.d.sync += clamped_5.eq(shifted_4)
            offset = Signal(signed(max(clamp_width, out_width) + 1), name=f"offset_{k}")
            m.d.comb += offset.eq(clamped_5 + zero_point[5])
            saturated = Signal(signed(out_width), name=f"saturated_{k}")
            if len(offset) > out_width:
                top = offset[out_width - 1 :]
                m.d.comb += saturated.eq(
                    Mux(top.all() | ~top.any(), offset[:out_width], Mux(offset[-1], lo, hi))
                )
            else:
                m.d.comb += saturated.eq(offset)
            m.d.sync += result_6.eq(Mux(relu[5] & negative_5, zero_point[5], saturated))
            m.d.comb += self.o.payload[k].eq(result_6)
        return m
