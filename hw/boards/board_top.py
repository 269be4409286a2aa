"""What goes on an FPGA board: the convolution engine, a UART host link, and status LEDs, on
a clock the device's PLL makes from the board's oscillator.

:class:`BoardCore` is the design with plain pins (``rx``, ``tx``, ``leds``) on the ``sync``
clock. :class:`BoardClock` makes that clock with the device's PLL: one clock for the engine,
the link and the UART (whose divisor is worked out for it), so nothing crosses between clocks;
the oscillator drives only the PLL. :class:`ClockedBoard` is the two together with plain pins;
it and :class:`BoardCore` are what the cocotb board tests simulate. :class:`BoardTop` puts the
two on an amaranth-boards platform's oscillator, UART and LEDs.
"""

from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Elaboratable,
    Module,
    Mux,
    ResetInserter,
    ResetSignal,
    Signal,
    Value,
)
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .._check import check_int
from ..engine import ConvEngine, Phase
from ..layer import EngineConfig
from .link import HostLink
from .pll import PLL, PLLSettings
from .protocol import info_bytes
from .uart import UARTReceiver, UARTTransmitter, divisor_for

__all__ = ["BoardCore", "BoardClock", "ClockedBoard", "BoardTop", "LEDS", "default_output_timeout"]

#: How long the design is held in reset after the PLL locks. iCE40 block RAMs read as zeroes
#: for about 3 us after configuration (Amaranth's iCE40 platform waits 15 us for the same
#: reason; this top replaces the platform's reset logic, so it waits as long).
POWER_ON_DELAY_S = 15e-6

#: What the status LEDs show, in order (a board with fewer LEDs shows the first ones).
LEDS = (
    "alive",  # blinks at 1 Hz; on steadily while a frame is received or answered
    "error",  # the last response was an error
    "busy",  # the engine holds a layer (not waiting for a parameter packet)
    "activity",
)  # a byte came in or went out in the last ~50 ms


def _register(m, name, source, sink, *, reset=None):
    """``source`` into ``sink`` through a one-word register (``SyncFIFOBuffered`` of depth
    1, submodule ``name`` of ``m``, reset by ``reset`` too if given): ``source.ready`` and
    ``sink.valid`` from flip-flops, one word every other cycle. Returns the FIFO."""
    fifo = SyncFIFOBuffered(width=len(Value.cast(source.payload)), depth=1)
    m.submodules[name] = fifo if reset is None else ResetInserter({"sync": reset})(fifo)
    m.d.comb += [
        fifo.w_data.eq(source.payload),
        fifo.w_en.eq(source.valid),
        source.ready.eq(fifo.w_rdy),
        sink.payload.eq(fifo.r_data),
        sink.valid.eq(fifo.r_rdy),
        fifo.r_en.eq(sink.ready),
    ]
    return fifo


def default_output_timeout(config):
    """Cycles a READ waits for one output word: twice the longest compute phase the engine's
    buffers allow (every weight set over every output pixel, with the array's refill gaps),
    plus the whole output buffer."""
    sets = config.weight_depth // config.rows
    longest = (
        sets * (config.acc_depth + 2 * config.rows + config.cols + 2) + config.output_depth + 1024
    )
    return 2 * longest


class BoardCore(wiring.Component):
    """The engine behind a UART host link.

    The engine's output words reach the link through a one-word register (its ``ready`` from
    a flip-flop, one word every other cycle, far above the UART's rate), reset with the engine;
    while a word waits there the link sees the output phase. The link's bytes reach the UART
    transmitter through another (a byte every other cycle, against one every 10 bit times).

    Parameters
    ----------
    config : EngineConfig
    clock_hz : int
        The clock (for the UART divisor, the LED blink, and the INFO response).
    baud : int
        UART rate; ``clock_hz / baud`` must round to a divisor of at least 4 within 2%.
    frame_timeout : int or None
        Cycles without a byte inside a frame before it is answered TIMEOUT; ``None``: 50 ms
        (and at least 32 byte times).
    output_timeout : int or None
        Cycles a READ waits for an output word; ``None``: :func:`default_output_timeout`.

    Members
    -------
    rx : In(1)
        UART from the host (idle high).
    tx : Out(1)
        UART to the host.
    leds : Out(len(LEDS))
        Active-high status, see :data:`LEDS`.
    """

    def __init__(self, config, *, clock_hz, baud, frame_timeout=None, output_timeout=None):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        check_int("clock_hz", clock_hz, 1000, 10**9)
        self._divisor = divisor_for(clock_hz, baud)
        if frame_timeout is None:
            frame_timeout = max(clock_hz // 20, 32 * 10 * self._divisor)
        if output_timeout is None:
            output_timeout = default_output_timeout(config)
        self._config, self._clock_hz, self._baud = config, clock_hz, baud
        self._info = info_bytes(
            config,
            clock_hz=clock_hz,
            baud=baud,
            frame_timeout=frame_timeout,
            output_timeout=output_timeout,
        )
        self._frame_timeout, self._output_timeout = frame_timeout, output_timeout
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(len(LEDS))})

    config = property(lambda self: self._config)
    clock_hz = property(lambda self: self._clock_hz)
    baud = property(lambda self: self._baud)
    divisor = property(lambda self: self._divisor)
    frame_timeout = property(lambda self: self._frame_timeout)
    output_timeout = property(lambda self: self._output_timeout)

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = rx = UARTReceiver(divisor=self._divisor)
        m.submodules.uart_tx = tx = UARTTransmitter(divisor=self._divisor)
        m.submodules.link = link = HostLink(
            self._config,
            info=self._info,
            frame_timeout=self._frame_timeout,
            output_timeout=self._output_timeout,
        )
        engine = ConvEngine(self._config)
        # Registered, so the engine's reset tree starts at a flip-flop.
        engine_reset = Signal()
        m.d.sync += engine_reset.eq(link.engine_reset)
        m.submodules.engine = ResetInserter({"sync": engine_reset})(engine)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        wiring.connect(m, rx.o, link.rx)
        m.d.comb += link.rx_overrun.eq(rx.overrun)
        # The transmit register: the link's state, through the byte it picks, into the
        # transmitter's shift register was the iCEBreaker board top's critical path.
        _register(m, "tx_slice", link.tx, tx.i)
        wiring.connect(m, link.p, engine.p)
        wiring.connect(m, link.i, engine.i)
        # The output register (see above): link state -> the engine's output handshake ->
        # pooling unit -> output reader was the ULX3S board top's critical path.
        out_slice = _register(m, "out_slice", engine.o, link.o, reset=engine_reset)
        m.d.comb += [
            # A word still in the register keeps the layer in its output phase for the host.
            link.phase.eq(Mux(out_slice.r_rdy, Phase.OUTPUT, engine.phase)),
            link.engine_error.eq(engine.error),
            link.compute_cycles.eq(engine.compute_cycles),
        ]

        # Status LEDs.
        half_second = max(self._clock_hz // 2, 1)
        blink_timer = Signal(range(half_second))
        blink = Signal()
        with m.If(blink_timer == half_second - 1):
            m.d.sync += [blink_timer.eq(0), blink.eq(~blink)]
        with m.Else():
            m.d.sync += blink_timer.eq(blink_timer + 1)
        glow = max(self._clock_hz // 20, 1)
        activity = Signal(range(glow + 1))
        with m.If((rx.o.valid & rx.o.ready) | (tx.i.valid & tx.i.ready)):
            m.d.sync += activity.eq(glow)
        with m.Elif(activity != 0):
            m.d.sync += activity.eq(activity - 1)
        leds = Signal(len(LEDS))
        m.d.sync += leds.eq(Cat(blink | link.busy, link.error, engine.phase != 0, activity != 0))
        m.d.comb += self.leds.eq(leds)
        return m


class BoardClock(wiring.Component):
    """A clock and its reset, from the device's PLL: what drives the board top's ``sync``
    domain (which the parent defines).

    The PLL (:class:`sysconv.hw.boards.pll.PLL`) makes the clock from ``osc``; the reset is
    held until the PLL has locked and :data:`POWER_ON_DELAY_S` more have passed, and released
    in step with the clock (:class:`ResetSynchronizer`).

    Parameters
    ----------
    pll : PLLSettings
    pad : io port or None
        iCE40: the oscillator's pin, for ``SB_PLL40_PAD`` (see :class:`PLL`).

    Members
    -------
    osc : In(1)
        The board's oscillator (unused on the iCE40 when ``pad`` is given).
    clk : Out(1)
        The PLL's clock.
    rst : Out(1)
        The reset, synchronous to ``clk``.
    """

    def __init__(self, pll, *, pad=None):
        if not isinstance(pll, PLLSettings):
            raise TypeError(f"pll must be a PLLSettings, not {pll!r}")
        self._pll, self._pad = pll, pad
        super().__init__({"osc": In(1), "clk": Out(1), "rst": Out(1, init=1)})

    pll = property(lambda self: self._pll)

    def elaborate(self, platform):
        m = Module()
        m.submodules.pll = pll = PLL(self._pll, pad=self._pad)
        m.d.comb += pll.ref.eq(self.osc)
        m.domains.pll = ClockDomain("pll", local=True)
        m.d.comb += ClockSignal("pll").eq(pll.clk)
        # Counts on the PLL's clock from lock; reset-less, so it starts from its initial value.
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        m.d.comb += ClockSignal("por").eq(pll.clk)
        delay = max(round(POWER_ON_DELAY_S * float(self._pll.f_out)), 1)
        timer = Signal(range(delay + 1))
        ready = Signal()
        with m.If(~pll.locked):
            m.d.por += [timer.eq(0), ready.eq(0)]
        with m.Elif(timer == delay):
            m.d.por += ready.eq(1)
        with m.Else():
            m.d.por += timer.eq(timer + 1)
        m.submodules.reset_sync = ResetSynchronizer(~ready, domain="pll")
        m.d.comb += [self.clk.eq(pll.clk), self.rst.eq(ResetSignal("pll"))]
        return m


class ClockedBoard(wiring.Component):
    """:class:`BoardCore` on the clock of the device's PLL (:class:`BoardClock`): the board top
    with plain pins, as the simulated board test runs it.

    Parameters
    ----------
    config : EngineConfig
    pll : PLLSettings
        The PLL's configuration; its output is the design's clock.
    baud : int
        UART rate, within 2% of ``pll.f_out / divisor`` for a whole divisor.
    **core
        :class:`BoardCore`'s ``frame_timeout`` and ``output_timeout``.

    Members
    -------
    osc : In(1)
        The board's oscillator.
    rx, tx, leds
        As :class:`BoardCore`'s.
    """

    def __init__(self, config, *, pll, baud, **core):
        self.clock = BoardClock(pll)
        self.core = BoardCore(config, clock_hz=round(pll.f_out), baud=baud, **core)
        super().__init__(
            {"osc": In(1), "rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(len(LEDS))}
        )

    pll = property(lambda self: self.clock.pll)

    def elaborate(self, platform):
        m = Module()
        m.submodules.clock = clock = self.clock
        m.domains.sync = ClockDomain("sync")
        m.d.comb += [ClockSignal("sync").eq(clock.clk), ResetSignal("sync").eq(clock.rst)]
        m.submodules.core = core = self.core
        m.d.comb += [
            clock.osc.eq(self.osc),
            core.rx.eq(self.rx),
            self.tx.eq(core.tx),
            self.leds.eq(core.leds),
        ]
        return m


class BoardTop(Elaboratable):
    """:class:`BoardClock` and :class:`BoardCore` on a platform's default clock (its
    oscillator, ``pll.f_in``), ``uart`` 0 and ``led`` resources. ``leds`` names, for the
    board's ``led`` 0, 1, ..., which of :data:`LEDS` it shows."""

    def __init__(self, config, *, pll, baud, leds=LEDS):
        unknown = [name for name in leds if name not in LEDS]
        if unknown:
            raise ValueError(f"leds must be names from {', '.join(LEDS)}, not {unknown[0]!r}")
        if not isinstance(pll, PLLSettings):
            raise TypeError(f"pll must be a PLLSettings, not {pll!r}")
        self._pll = pll
        self.core = BoardCore(config, clock_hz=round(pll.f_out), baud=baud)
        self._leds = tuple(leds)

    def elaborate(self, platform):
        m = Module()
        if platform.default_clk_frequency != self._pll.f_in:
            raise ValueError(
                f"the PLL is set up for a {self._pll.f_in / 1e6:g} MHz reference; the "
                f"platform's clock runs at {platform.default_clk_frequency / 1e6:g} MHz"
            )
        osc = platform.request(platform.default_clk, dir="-")
        if self._pll.family == "ice40":
            m.submodules.clock = clock = BoardClock(self._pll, pad=osc)
        else:
            m.submodules.clock = clock = BoardClock(self._pll)
            m.submodules.osc_buffer = osc_buffer = io.Buffer("i", osc)
            m.d.comb += clock.osc.eq(osc_buffer.i)
        m.domains.sync = ClockDomain("sync")
        m.d.comb += [ClockSignal("sync").eq(clock.clk), ResetSignal("sync").eq(clock.rst)]
        m.submodules.core = core = self.core
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buffer.i), tx_buffer.o.eq(core.tx)]
        for k, name in enumerate(self._leds):
            m.submodules[f"led_{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(core.leds[LEDS.index(name)])
        return m
