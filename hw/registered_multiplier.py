from amaranth.hdl import ClockSignal, Const, Instance, Module, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .family import is_ecp5

__all__ = ["RegisteredMultiplier"]

# The widest operand a MULT18X18D input takes: 18 bits signed, so 17 bits unsigned.
DSP_WIDTH = 18


class RegisteredMultiplier(wiring.Component):
    """A product registered once, ``p(n + 1) = a(n) * b(n)``, or, with ``input_registers``,
    its operands registered too, ``p(n + 2) = a(n) * b(n)``; one product a cycle.

    Parameters
    ----------
    a_shape, b_shape : Shape
        The operands' shapes, signed or unsigned.
    input_registers : bool
        Register the operands before the multiplier (one cycle more latency).

    Members
    -------
    a : In(a_shape)
    b : In(b_shape)
    p : Out(shape of ``a * b``)
        The product, from a register. No reset.

    On an ECP5 platform (``platform.family == "ecp5"``) with both operands fitting a
    ``MULT18X18D`` input (:meth:`fits_dsp`), the multiplier is a ``MULT18X18D`` instantiated
    here with its output register enabled, and its input registers with ``input_registers``:
    the registers live in the DSP block, so that fabric -> DSP and DSP -> fabric are separate
    paths, and with ``input_registers`` the multiplier itself is a third, inside the block
    (Yosys maps ``$mul`` to a combinational ``MULT18X18D`` and never moves registers into it;
    nextpnr times a block with only one input registered as if neither were, so both are).
    Same cycle behaviour elsewhere, where the multiplier is Amaranth's ``*`` between
    registers (Yosys maps it as the device allows).
    """

    def __init__(self, a_shape, b_shape, *, input_registers=False):
        self._a_shape, self._b_shape = Shape.cast(a_shape), Shape.cast(b_shape)
        self._input_registers = bool(input_registers)
        product = (Signal(self._a_shape) * Signal(self._b_shape)).shape()
        super().__init__({"a": In(self._a_shape), "b": In(self._b_shape), "p": Out(product)})

    latency = property(lambda self: 2 if self._input_registers else 1)

    @staticmethod
    def fits_dsp(shape):
        """Whether an operand of ``shape`` goes into a MULT18X18D input (sign- or
        zero-extended to its 18 signed bits)."""
        shape = Shape.cast(shape)
        return shape.width + (not shape.signed) <= DSP_WIDTH

    @classmethod
    def on_dsp(cls, platform, a_shape, b_shape):
        """Whether a multiplier of these operands elaborated for ``platform`` is a
        ``MULT18X18D`` (an ECP5 platform, both operands fitting)."""
        return is_ecp5(platform) and cls.fits_dsp(a_shape) and cls.fits_dsp(b_shape)

    def elaborate(self, platform):
        m = Module()
        if not self.on_dsp(platform, self._a_shape, self._b_shape):
            a, b = self.a, self.b
            if self._input_registers:
                a, b = Signal.like(a, reset_less=True), Signal.like(b, reset_less=True)
                m.d.sync += [a.eq(self.a), b.eq(self.b)]
            product = Signal.like(self.p, reset_less=True)
            m.d.sync += product.eq(a * b)
            m.d.comb += self.p.eq(product)
            return m
        a18, b18 = Signal(signed(DSP_WIDTH)), Signal(signed(DSP_WIDTH))
        p = Signal(2 * DSP_WIDTH)
        registers = ["OUTPUT", *(("INPUTA", "INPUTB") if self._input_registers else ())]
        ports = {
            **{
                f"p_REG_{register}_{port}": f"{port}0"
                for register in registers
                for port in ("CLK", "CE", "RST")
            },
            "p_GSR": "DISABLED",
            "p_RESETMODE": "SYNC",
            "i_CLK0": ClockSignal("sync"),
            "i_CE0": Const(1),
            "i_RST0": Const(0),
            "i_SIGNEDA": Const(1),
            "i_SIGNEDB": Const(1),
            "i_SOURCEA": Const(0),
            "i_SOURCEB": Const(0),
        }
        for k in range(DSP_WIDTH):
            ports[f"i_A{k}"], ports[f"i_B{k}"], ports[f"i_C{k}"] = a18[k], b18[k], Const(0)
        for k in range(2 * DSP_WIDTH):
            ports[f"o_P{k}"] = p[k]
        m.submodules.dsp = Instance("MULT18X18D", **ports)
        # Each operand extended by its own signedness; the product fits in p's 36 bits.
        m.d.comb += [a18.eq(self.a), b18.eq(self.b), self.p.eq(p)]
        return m
