from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ._check import check_int
from .family import is_ice40

__all__ = ["DualMultiplier"]


class DualMultiplier(wiring.Component):
    """Two independent signed products, each registered once: two PEs' multipliers in one
    iCE40 ``SB_MAC16``.

    Parameters
    ----------
    act_width, weight_width : int
        Signed widths of the operands, 2 to 8 (the DSP block's 8x8 multipliers).

    Members
    -------
    a : In(ArrayLayout(signed(act_width), 2))
    b : In(ArrayLayout(signed(weight_width), 2))
        The operands of lane 0 and lane 1.
    p : Out(ArrayLayout(signed(act_width + weight_width), 2))
        ``p[k](n + 1) = a[k](n) * b[k](n)``: latency one cycle, one pair of products per cycle,
        exact (no product of signed 8-bit operands needs more than 16 bits).

    On an iCE40 platform (Amaranth's ``SiliconBluePlatform``, whose ``family`` is ``"iCE40"``;
    any case is taken) the two products are one ``SB_MAC16``
    in its 8x8 mode (``MODE_8x8``), lane 1 in the top multiplier (``A[15:8] * B[15:8]``), lane 0
    in the bottom one (``A[7:0] * B[7:0]``), with ``A_SIGNED`` and ``B_SIGNED`` set: in 8x8 mode
    these make *both* 8x8 multipliers signed (Yosys's ``SB_MAC16`` simulation model sign-extends
    ``A[7:0]`` and ``B[7:0]`` when ``MODE_8x8`` is set, and MARLANN runs this configuration on
    the UP5K), so no offset correction is needed. The product registers are the
    block's own 8x8 multiplier output registers (``TOP_8x8_MULT_REG``, ``BOT_8x8_MULT_REG``),
    routed straight to ``O`` (``TOPOUTPUT_SELECT = BOTOUTPUT_SELECT = 2``): the fabric drives
    the multiplier inputs and reads a register, as the ECP5 PE's ``MULT18X18D`` does. Yosys's
    ``synth_ice40 -dsp`` maps each product to a block of its own (16x16) and never shares one.
    Otherwise (no platform: simulation, ``sysconv verilog``) the products are Amaranth's ``*``.
    """

    # SB_MAC16's A_SIGNED and B_SIGNED (a test clears them to see the products go wrong).
    _SIGNED = 1

    def __init__(self, *, act_width=8, weight_width=8):
        self.check_parameters(act_width=act_width, weight_width=weight_width)
        self._act_width, self._weight_width = act_width, weight_width
        super().__init__(
            {
                "a": In(data.ArrayLayout(signed(act_width), 2)),
                "b": In(data.ArrayLayout(signed(weight_width), 2)),
                "p": Out(data.ArrayLayout(signed(act_width + weight_width), 2)),
            }
        )

    @classmethod
    def check_parameters(cls, *, act_width=8, weight_width=8):
        check_int("act_width", act_width, 2, 8)
        check_int("weight_width", weight_width, 2, 8)

    act_width = property(lambda self: self._act_width)
    weight_width = property(lambda self: self._weight_width)

    def elaborate(self, platform):
        m = Module()
        if not is_ice40(platform):
            products = [
                Signal(signed(self._act_width + self._weight_width), name=f"p{k}", reset_less=True)
                for k in range(2)
            ]
            for k in range(2):
                m.d.sync += products[k].eq(self.a[k] * self.b[k])
                m.d.comb += self.p[k].eq(products[k])
            return m

        a = [Signal(signed(8), name=f"a{k}") for k in range(2)]
        b = [Signal(signed(8), name=f"b{k}") for k in range(2)]
        o = Signal(32)
        for k in range(2):
            m.d.comb += [a[k].eq(self.a[k]), b[k].eq(self.b[k])]
        zero = Const(0)
        m.submodules.mac16 = Instance(
            "SB_MAC16",
            p_NEG_TRIGGER=Const(0, 1),
            p_C_REG=Const(0, 1),
            p_A_REG=Const(0, 1),
            p_B_REG=Const(0, 1),
            p_D_REG=Const(0, 1),
            p_TOP_8x8_MULT_REG=Const(1, 1),
            p_BOT_8x8_MULT_REG=Const(1, 1),
            p_PIPELINE_16x16_MULT_REG1=Const(0, 1),
            p_PIPELINE_16x16_MULT_REG2=Const(0, 1),
            p_TOPOUTPUT_SELECT=Const(2, 2),
            p_TOPADDSUB_LOWERINPUT=Const(0, 2),
            p_TOPADDSUB_UPPERINPUT=Const(0, 1),
            p_TOPADDSUB_CARRYSELECT=Const(0, 2),
            p_BOTOUTPUT_SELECT=Const(2, 2),
            p_BOTADDSUB_LOWERINPUT=Const(0, 2),
            p_BOTADDSUB_UPPERINPUT=Const(0, 1),
            p_BOTADDSUB_CARRYSELECT=Const(0, 2),
            p_MODE_8x8=Const(1, 1),
            p_A_SIGNED=Const(self._SIGNED, 1),
            p_B_SIGNED=Const(self._SIGNED, 1),
            i_CLK=ClockSignal("sync"),
            i_CE=Const(1),
            i_A=Cat(a[0], a[1]),
            i_B=Cat(b[0], b[1]),
            i_C=Const(0, 16),
            i_D=Const(0, 16),
            **{
                f"i_{name}": zero
                for name in (
                    "AHOLD",
                    "BHOLD",
                    "CHOLD",
                    "DHOLD",
                    "IRSTTOP",
                    "IRSTBOT",
                    "ORSTTOP",
                    "ORSTBOT",
                    "OLOADTOP",
                    "OLOADBOT",
                    "ADDSUBTOP",
                    "ADDSUBBOT",
                    "OHOLDTOP",
                    "OHOLDBOT",
                    "CI",
                    "ACCUMCI",
                    "SIGNEXTIN",
                )
            },
            o_O=o,
        )
        width = self._act_width + self._weight_width
        # Each 16-bit half holds its exact product; it fits in `width` bits.
        m.d.comb += [
            self.p[0].eq(o[:width].as_signed()),
            self.p[1].eq(o[16 : 16 + width].as_signed()),
        ]
        return m
