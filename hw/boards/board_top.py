"""What goes on an FPGA board: the convolution engine, a UART host link, and status LEDs.

:class:`BoardCore` is the whole design with plain pins (``rx``, ``tx``, ``leds``): it is what
the cocotb board test simulates. :class:`BoardTop` puts it on an amaranth-boards platform's
UART and LEDs.
"""

from amaranth.hdl import Cat, Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from .._check import check_int
from ..engine import ConvEngine
from ..layer import EngineConfig
from .link import HostLink
from .protocol import info_bytes
from .uart import UARTReceiver, UARTTransmitter, divisor_for

__all__ = ["BoardCore", "BoardTop", "LEDS", "default_output_timeout"]

#: What the status LEDs show, in order (a board with fewer LEDs shows the first ones).
LEDS = (
    "alive",  # blinks at 1 Hz; on steadily while a frame is received or answered
    "error",  # the last response was an error
    "busy",  # the engine holds a layer (not waiting for a parameter packet)
    "activity",
)  # a byte came in or went out in the last ~50 ms


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
        wiring.connect(m, link.tx, tx.i)
        wiring.connect(m, link.p, engine.p)
        wiring.connect(m, link.i, engine.i)
        wiring.connect(m, engine.o, link.o)
        m.d.comb += [
            link.phase.eq(engine.phase),
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


class BoardTop(Elaboratable):
    """:class:`BoardCore` on a platform's ``uart`` 0 and its ``led`` resources, clocked by the
    platform's default clock (``clock_hz`` must be its frequency). ``leds`` names, for the
    board's ``led`` 0, 1, ..., which of :data:`LEDS` it shows."""

    def __init__(self, config, *, clock_hz, baud, leds=LEDS):
        unknown = [name for name in leds if name not in LEDS]
        if unknown:
            raise ValueError(f"leds must be names from {', '.join(LEDS)}, not {unknown[0]!r}")
        self.core = BoardCore(config, clock_hz=clock_hz, baud=baud)
        self._leds = tuple(leds)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buffer.i), tx_buffer.o.eq(core.tx)]
        for k, name in enumerate(self._leds):
            m.submodules[f"led_{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(core.leds[LEDS.index(name)])
        return m
