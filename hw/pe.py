from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ._check import check_int
from .registered_multiplier import RegisteredMultiplier
from .verilog import LOCAL

__all__ = ["ProcessingElement"]


class ProcessingElement(wiring.Component):
    """One processing element of the weight-stationary systolic array: a two-stage MAC.

    The PE talks only to its neighbours: the activation (with its weight-bank tag) comes from the
    left and leaves to the right one cycle later; the partial sum comes from above and leaves
    downwards; weights shift in from above and out below.

    Parameters
    ----------
    act_width, weight_width, acc_width : int
        Signed widths of the activation (2 to 32), the weight (2 to 32), and the partial sum
        (2 to 64).
    shared_multiplier : bool
        The product comes from a multiplier outside the PE, which it may share with another
        (:class:`~hw.dual_multiplier.DualMultiplier`), through ``mul_a``, ``mul_w`` and
        ``mul_p``.
    early_operands : bool
        The multiplier registers its operands (as well as its product), taking them a cycle
        ahead: the activation from ``a_early``, the weight from the bank ``bank_early``
        names. The product is then ``a_in(n) * w[bank_in(n)](n - 1)``: the same as above as
        long as no bank is written in the cycle before an activation tagged with it arrives,
        which the array guarantees for every PE but (0, 0) (a set is not used before the
        cycle after its last beat, and that PE is the first to see it). For the ECP5, where
        the operand registers are the ``MULT18X18D``'s own (below). Not with
        ``shared_multiplier``.
    early_weight : bool
        Only the weight is taken a cycle ahead, into a register of the PE's own: the weight
        bank ``bank_early`` names will hold in the next cycle (its next value, so a bank
        written in this cycle is no exception). The activation ``a_in`` goes straight to the
        multiplier, which registers only its product. For PE (0, 0) of the ECP5 array, whose
        activation cannot be known a cycle ahead: the route from its weight registers and the
        array's bank register to its DSP block then has a cycle of its own. Not with
        ``early_operands`` or ``shared_multiplier``.

    Members
    -------
    a_in, bank_in : In
        Activation and the weight bank it is to be multiplied with.
    a_out, bank_out : Out
        The same, registered (one cycle later), for the PE to the right.
    a_early, bank_early : In
        Only with ``early_operands`` (``bank_early`` also with ``early_weight``): what ``a_in``
        and ``bank_in`` will be in the next cycle (the left PE's ``a_in`` and ``bank_in``, the
        skew registers' inputs, or the array's bank register's next value).
    psum_in : In
        Partial sum from the PE above (zero for the top row).
    psum_out : Out
        ``psum_in`` plus the product of the activation that arrived one cycle *earlier*:
        ``psum_out(n + 2) = psum_in(n + 1) + a_in(n) * w[bank_in(n)](n)``. The product register
        splits the multiplier from the adder; the partial sum still moves one row per cycle.
    w_in, w_out : In, Out
        Weight shift chain: ``w_out`` is the content of bank ``w_bank``.
    w_shift, w_bank : In
        When ``w_shift``, bank ``w_bank`` takes ``w_in`` (the other bank is untouched, so a new
        weight set shifts in while the current one computes).
    mul_a, mul_w : Out
        Only with ``shared_multiplier``: the operands, ``a_in`` and ``w[bank_in]``.
    mul_p : In
        Only with ``shared_multiplier``: their product registered once,
        ``mul_p(n + 1) = mul_a(n) * mul_w(n)``, which takes the product register's place (same
        cycle behaviour).

    All registers here are datapath registers and have no reset.

    The product register is a :class:`~hw.registered_multiplier.RegisteredMultiplier`'s: on
    an ECP5 platform, with both operands at most 18 bits wide, the output register of a
    ``MULT18X18D``; with ``early_operands``, its input registers hold the operands, so that
    the route from the PE's weight registers to its DSP block, which the placer may put far
    apart, is not followed by the multiplier in the same cycle. On an iCE40 platform the array
    builds its PEs with ``shared_multiplier``, two to an ``SB_MAC16``.
    """

    def __init__(
        self,
        *,
        act_width,
        weight_width,
        acc_width,
        shared_multiplier=False,
        early_operands=False,
        early_weight=False,
    ):
        self.check_parameters(act_width=act_width, weight_width=weight_width, acc_width=acc_width)
        if shared_multiplier + early_operands + early_weight > 1:
            raise ValueError(
                "a PE takes at most one of shared_multiplier, early_operands and early_weight"
            )
        self._act_width = act_width
        self._weight_width = weight_width
        self._acc_width = acc_width
        self._shared_multiplier = bool(shared_multiplier)
        self._early_operands = bool(early_operands)
        self._early_weight = bool(early_weight)
        multiplier = {}
        if early_operands:
            multiplier = {"a_early": In(signed(act_width)), "bank_early": In(1)}
        if early_weight:
            multiplier = {"bank_early": In(1)}
        if shared_multiplier:
            multiplier = {
                "mul_a": Out(signed(act_width)),
                "mul_w": Out(signed(weight_width)),
                "mul_p": In(signed(act_width + weight_width)),
            }
        super().__init__(
            {
                "a_in": In(signed(act_width)),
                "bank_in": In(1),
                "a_out": Out(signed(act_width)),
                "bank_out": Out(1),
                "psum_in": In(signed(acc_width)),
                "psum_out": Out(signed(acc_width)),
                "w_in": In(signed(weight_width)),
                "w_out": Out(signed(weight_width)),
                "w_shift": In(1),
                "w_bank": In(1),
                **multiplier,
            }
        )

    @classmethod
    def check_parameters(cls, *, act_width, weight_width, acc_width):
        # The ranges SystolicArray allows.
        check_int("act_width", act_width, 2, 32)
        check_int("weight_width", weight_width, 2, 32)
        check_int("acc_width", acc_width, 2, 64)

    def elaborate(self, platform):
        m = Module()

        weights = [
            Signal(signed(self._weight_width), name=f"w{bank}", reset_less=True)
            for bank in range(2)
        ]
        a = Signal(signed(self._act_width), reset_less=True)
        bank = Signal(reset_less=True, attrs=LOCAL)
        psum = Signal(signed(self._acc_width), reset_less=True)

        m.d.sync += [a.eq(self.a_in), bank.eq(self.bank_in)]
        # The multiplier's operands: this cycle's, or with early_operands next cycle's.
        early = self._early_operands
        operand_a, operand_bank = (
            (self.a_early, self.bank_early) if early else (self.a_in, self.bank_in)
        )
        if self._early_weight:
            # The weight of bank bank_early as it will be, registered: w_in if that bank is
            # written now. w_in (in row 0, a block RAM's output) goes through one multiplexer
            # only, as into the banks themselves.
            held = Signal(signed(self._weight_width))
            written = Signal()
            weight = Signal(signed(self._weight_width), reset_less=True)
            m.d.comb += [
                held.eq(Mux(self.bank_early, weights[1], weights[0])),
                written.eq(self.w_shift & (self.w_bank == self.bank_early)),
            ]
            m.d.sync += weight.eq(Mux(written, self.w_in, held))
        else:
            weight = Mux(operand_bank, weights[1], weights[0])
        product = Signal(signed(self._act_width + self._weight_width))
        if self._shared_multiplier:
            m.d.comb += [self.mul_a.eq(operand_a), self.mul_w.eq(weight), product.eq(self.mul_p)]
        else:
            m.submodules.mult = mult = RegisteredMultiplier(
                operand_a.shape(), weight.shape(), input_registers=early
            )
            m.d.comb += [mult.a.eq(operand_a), mult.b.eq(weight), product.eq(mult.p)]
        m.d.sync += psum.eq(self.psum_in + product)
        with m.If(self.w_shift):
            with m.If(self.w_bank):
                m.d.sync += weights[1].eq(self.w_in)
            with m.Else():
                m.d.sync += weights[0].eq(self.w_in)

        m.d.comb += [
            self.a_out.eq(a),
            self.bank_out.eq(bank),
            self.psum_out.eq(psum),
            self.w_out.eq(Mux(self.w_bank, weights[1], weights[0])),
        ]
        return m
