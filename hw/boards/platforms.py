"""The boards ``sysconv build`` knows: each an amaranth-boards platform, its device's
resources, the default engine sized to fit it, its oscillator, the clock its PLL makes for the
engine, its UART rate, and the Fmax the engine alone is held to.

To add a board: an entry in :data:`BOARDS` (see :class:`BoardSpec`).
"""

from dataclasses import dataclass, field

__all__ = ["BoardSpec", "BOARDS", "board_spec"]


@dataclass(frozen=True)
class BoardSpec:
    """A board.

    Parameters
    ----------
    name : str
    platform : str
        ``module:Class`` of its amaranth-boards platform (imported only when building).
    family : str
        ``"ice40"`` or ``"ecp5"``: which Yosys synthesis and nextpnr to use.
    device : str
        The FPGA, as its platform names it.
    nextpnr : tuple of str
        nextpnr's device options.
    osc_hz : int
        The board's oscillator (its platform's default clock), the PLL's reference.
    clock_hz : int
        The clock the design runs on by default, made by the device's PLL from the
        oscillator: the engine's, the host link's and the UART's. Chosen at least 8% below
        the Fmax of the board top on every nextpnr seed tried, and so that the UART's divisor
        is within 1% of whole at the default rate.
    engine : dict
        Default :class:`sysconv.hw.layer.EngineConfig` keyword arguments (``sysconv build``
        overrides them one by one).
    engine_mhz : float
        The Fmax the engine alone must reach (reported as met or not).
    capacity : dict
        What the device has, per resource of the report: ``luts``, ``ffs``, ``dsp``, ``bram``,
        and ``spram`` on the iCE40UP5K.
    cells : dict
        Synthesised cell type (Yosys name) -> resource of :attr:`capacity` it takes one of.
    leds : tuple of str
        What the board's ``led`` 0, 1, ... show (:data:`sysconv.hw.boards.board_top.LEDS`).
    baud : int
        Default UART rate: 3 Mbaud, what both boards' FTDI bridges (FT2232H on the
        iCEBreaker, FT231X on the ULX3S) take at most.
    synth_opts : tuple of str
        Extra options of the family's Yosys ``synth_*`` command.
    engine_seeds : tuple of int
        The nextpnr seeds the engine-alone run tries by default, keeping the fastest: placement
        moves an ECP5 engine near 100 MHz by a few MHz from seed to seed.
    """

    name: str
    platform: str
    family: str
    device: str
    nextpnr: tuple
    osc_hz: int
    clock_hz: int
    engine: dict
    engine_mhz: float
    capacity: dict
    cells: dict
    leds: tuple
    baud: int = 3_000_000
    synth_opts: tuple = field(default=())
    engine_seeds: tuple = (1,)

    def platform_class(self):
        import importlib

        module, name = self.platform.split(":")
        return getattr(importlib.import_module(module), name)


BOARDS = {
    # iCE40UP5K: 5280 logic cells, 8 SB_MAC16, 30 EBR of 4 kbit, 4 SPRAM of 256 kbit.
    # Two PEs share one SB_MAC16 (8x8 mode, hw/dual_multiplier.py); the requantiser's 33x17-bit
    # multipliers take two each. The 6x1 array takes 5: 3 for its PEs, 2 for its output lane.
    # Logic cells, not DSPs, limit the array: a 16x1 board top needs 7001 of 5280 after
    # packing (docs/boards.md, "16 MACs per cycle on the UP5K: not yet").
    "icebreaker": BoardSpec(
        name="icebreaker",
        platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
        family="ice40",
        device="iCE40UP5K-SG48",
        nextpnr=("--up5k", "--package", "sg48"),
        osc_hz=12_000_000,
        clock_hz=30_000_000,
        engine=dict(
            rows=6,
            cols=1,
            max_height=16,
            max_width=16,
            max_in_channels=8,
            max_out_channels=8,
            max_kernel=3,
            max_pool=2,
        ),
        engine_mhz=30.0,
        capacity=dict(luts=5280, ffs=5280, dsp=8, bram=30, spram=4),
        cells={
            "SB_LUT4": "luts",
            "SB_DFF": "ffs",
            "SB_DFFE": "ffs",
            "SB_DFFSR": "ffs",
            "SB_DFFSS": "ffs",
            "SB_DFFESR": "ffs",
            "SB_DFFESS": "ffs",
            "SB_DFFR": "ffs",
            "SB_DFFS": "ffs",
            "SB_DFFER": "ffs",
            "SB_DFFES": "ffs",
            "SB_MAC16": "dsp",
            "SB_RAM40_4K": "bram",
            "SB_SPRAM256KA": "spram",
        },
        leds=("error", "alive"),  # led 0 is red, led 1 green
        synth_opts=("-dsp",),
        engine_seeds=(1, 2, 3),
    ),
    # LFE5U-85F (speed 6): 83640 LUT4s and flip-flops, 156 MULT18X18D, 208 DP16KD (18 kbit).
    # An 8x8 array takes 64 MULT18X18D for the PEs and 16 for the requantiser's 8 lanes.
    "ulx3s-85f": BoardSpec(
        name="ulx3s-85f",
        platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        family="ecp5",
        device="LFE5U-85F-6BG381C",
        nextpnr=("--85k", "--package", "CABGA381", "--speed", "6"),
        osc_hz=25_000_000,
        clock_hz=87_500_000,
        engine=dict(
            rows=8,
            cols=8,
            max_height=24,
            max_width=24,
            max_in_channels=32,
            max_out_channels=64,
            max_kernel=3,
            max_pool=4,
        ),
        engine_mhz=100.0,
        capacity=dict(luts=83640, ffs=83640, dsp=156, bram=208),
        cells={"LUT4": "luts", "TRELLIS_FF": "ffs", "MULT18X18D": "dsp", "DP16KD": "bram"},
        leds=("alive", "error", "busy", "activity"),
        engine_seeds=(1, 2, 3),
    ),
}


def board_spec(name):
    """The :class:`BoardSpec` called ``name``; ValueError naming the boards there are."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(
            f"unknown board {name!r}; known boards: {', '.join(sorted(BOARDS))}"
        ) from None
