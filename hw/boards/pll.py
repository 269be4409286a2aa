"""The devices' PLLs: the settings that make a clock from a board's oscillator, and the
primitive that makes it.

- iCE40: ``SB_PLL40_PAD`` in SIMPLE feedback, ``f_out = f_in * (DIVF + 1) / ((DIVR + 1) *
  2 ** DIVQ)``, searched as IceStorm's ``icepll`` searches (Lattice's iCE40 sysCLOCK PLL
  guide, FPGA-TN-02052, gives the ranges: input and phase detector 10 to 133 MHz, VCO 533 to
  1066 MHz, output 16 to 275 MHz; the loop filter range follows the phase detector's rate).
- ECP5: ``EHXPLLL`` with CLKOP as feedback, ``f_out = f_in * CLKFB_DIV / CLKI_DIV``, VCO
  ``f_out * CLKOP_DIV`` from 400 to 800 MHz, searched as Project Trellis's ``ecppll``
  searches (the closest output, then the VCO nearest 600 MHz), CLKOP shifted by half a period
  as Lattice's tools shift it.
"""

from dataclasses import dataclass
from fractions import Fraction

from amaranth.hdl import Const, Instance, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PLLSettings", "ice40_pll", "ecp5_pll", "pll_settings", "PLL", "OUTPUT_RANGE"]

#: Output frequencies (Hz) each family's PLL makes.
OUTPUT_RANGE = {"ice40": (16_000_000, 275_000_000), "ecp5": (10_000_000, 400_000_000)}
_PRIMITIVE = {"ice40": "SB_PLL40_PAD", "ecp5": "EHXPLLL"}


@dataclass(frozen=True)
class PLLSettings:
    """A PLL's configuration.

    Members
    -------
    family : str
    primitive : str
        ``SB_PLL40_PAD`` or ``EHXPLLL``.
    f_in : int
        Reference (the oscillator), Hz.
    f_out : Fraction
        The output it makes, Hz, exactly.
    f_vco : Fraction
        The VCO's frequency, Hz.
    parameters : dict
        The primitive's divider parameters, by name.
    """

    family: str
    primitive: str
    f_in: int
    f_out: Fraction
    f_vco: Fraction
    parameters: dict

    def summary(self):
        """For a report: plain numbers."""
        return {
            "primitive": self.primitive,
            "input_hz": self.f_in,
            "output_hz": float(self.f_out),
            "vco_hz": float(self.f_vco),
            "parameters": dict(self.parameters),
        }

    def describe(self):
        return f"{self.primitive} " + ", ".join(f"{k} {v}" for k, v in self.parameters.items())


def _check_range(family, f_in, f_out):
    low, high = OUTPUT_RANGE[family]
    if not low <= f_out <= high:
        raise ValueError(
            f"clock {f_out / 1e6:g} MHz is outside the {_PRIMITIVE[family]}'s output range, "
            f"{low / 1e6:g} to {high / 1e6:g} MHz"
        )


def ice40_pll(f_in, f_out):
    """:class:`PLLSettings` of ``SB_PLL40_PAD`` (SIMPLE feedback) for ``f_out`` Hz from
    ``f_in`` Hz: the closest output there is (the first of equals in ``icepll``'s order)."""
    if not 10_000_000 <= f_in <= 133_000_000:
        raise ValueError(f"the iCE40 PLL takes 10 to 133 MHz, not {f_in / 1e6:g} MHz")
    _check_range("ice40", f_in, f_out)
    best = None
    for divr in range(16):
        f_pfd = Fraction(f_in, divr + 1)
        if not 10_000_000 <= f_pfd <= 133_000_000:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533_000_000 <= f_vco <= 1_066_000_000:
                continue
            for divq in range(1, 7):
                out = f_vco / 2**divq
                if best is None or abs(out - f_out) < abs(best[0] - f_out):
                    best = (out, divr, divf, divq, f_pfd, f_vco)
    out, divr, divf, divq, f_pfd, f_vco = best
    mhz = f_pfd / 1_000_000
    filter_range = next(
        (k for k, limit in enumerate((17, 26, 44, 66, 101), start=1) if mhz < limit), 6
    )
    return PLLSettings(
        "ice40",
        "SB_PLL40_PAD",
        f_in,
        out,
        f_vco,
        {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filter_range},
    )


def ecp5_pll(f_in, f_out):
    """:class:`PLLSettings` of ``EHXPLLL`` (CLKOP fed back) for ``f_out`` Hz from ``f_in``
    Hz: the closest output there is, of equals the one whose VCO is nearest 600 MHz."""
    if not 8_000_000 <= f_in <= 400_000_000:
        raise ValueError(f"the ECP5 PLL takes 8 to 400 MHz, not {f_in / 1e6:g} MHz")
    _check_range("ecp5", f_in, f_out)
    best = None
    for clki_div in range(1, 129):
        f_pfd = Fraction(f_in, clki_div)
        if not 3_125_000 <= f_pfd <= 400_000_000:
            continue
        for clkfb_div in range(1, 81):
            out = f_pfd * clkfb_div
            low = max(1, -(-400_000_000 // out))  # the dividers that keep the VCO in range
            for clkop_div in range(int(low), min(128, int(800_000_000 // out)) + 1):
                f_vco = out * clkop_div
                key = (abs(out - f_out), abs(f_vco - 600_000_000))
                if best is None or key < best[0]:
                    best = (key, out, f_vco, clki_div, clkfb_div, clkop_div)
    _, out, f_vco, clki_div, clkfb_div, clkop_div = best
    return PLLSettings(
        "ecp5",
        "EHXPLLL",
        f_in,
        out,
        f_vco,
        {
            "CLKI_DIV": clki_div,
            "CLKFB_DIV": clkfb_div,
            "CLKOP_DIV": clkop_div,
            "CLKOP_CPHASE": clkop_div // 2,
        },
    )


def pll_settings(family, f_in, f_out):
    """:func:`ice40_pll` or :func:`ecp5_pll` by ``family``."""
    if family == "ice40":
        return ice40_pll(f_in, f_out)
    if family == "ecp5":
        return ecp5_pll(f_in, f_out)
    raise ValueError(f"family must be 'ice40' or 'ecp5', not {family!r}")


class PLL(wiring.Component):
    """The device's PLL, configured by ``settings`` (:class:`PLLSettings`).

    Parameters
    ----------
    settings : PLLSettings
    pad : io port or None
        iCE40: the oscillator's pin, which ``SB_PLL40_PAD`` takes its reference from
        directly (the pin must be the PLL's input pad); ``None``: ``ref`` (simulation).

    Members
    -------
    ref : In(1)
        The reference clock (unused on the iCE40 when ``pad`` is given).
    clk : Out(1)
        The output clock, on a global clock network.
    locked : Out(1)
        High while the PLL is locked.
    """

    def __init__(self, settings, *, pad=None):
        if not isinstance(settings, PLLSettings):
            raise TypeError(f"settings must be a PLLSettings, not {settings!r}")
        self._settings, self._pad = settings, pad
        super().__init__({"ref": In(1), "clk": Out(1), "locked": Out(1)})

    settings = property(lambda self: self._settings)

    def elaborate(self, platform):
        m = Module()
        s = self._settings
        p = s.parameters
        if s.family == "ice40":
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=Const(p["DIVR"], 4),
                p_DIVF=Const(p["DIVF"], 7),
                p_DIVQ=Const(p["DIVQ"], 3),
                p_FILTER_RANGE=Const(p["FILTER_RANGE"], 3),
                i_PACKAGEPIN=self._pad.io if self._pad is not None else self.ref,
                i_RESETB=1,
                i_BYPASS=0,
                o_PLLOUTGLOBAL=self.clk,
                o_LOCK=self.locked,
            )
        else:
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{s.f_in / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{float(s.f_out) / 1e6:g}",
                a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED",
                p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA",
                p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_CPHASE"],
                p_CLKOP_FPHASE=0,
                p_CLKFB_DIV=p["CLKFB_DIV"],
                p_CLKI_DIV=p["CLKI_DIV"],
                p_FEEDBK_PATH="CLKOP",
                i_CLKI=self.ref,
                i_CLKFB=self.clk,
                i_RST=0,
                i_STDBY=0,
                i_PHASESEL0=0,
                i_PHASESEL1=0,
                i_PHASEDIR=1,
                i_PHASESTEP=1,
                i_PHASELOADREG=1,
                i_PLLWAKESYNC=0,
                i_ENCLKOP=0,
                o_CLKOP=self.clk,
                o_LOCK=self.locked,
            )
        return m
