"""UART receiver and transmitter, 8 data bits, no parity, one stop bit (8N1), LSB first.

The bit time is a whole number of clock cycles, ``divisor``: ``clock / baud`` rounded (the
error of the rounding must stay within the receiver's tolerance of about 4% of a bit over a
byte; :func:`divisor_for` checks it).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .._check import check_int

__all__ = ["UARTReceiver", "UARTTransmitter", "RX_BYTE", "divisor_for"]

#: A received byte: ``data``, and ``framing_error`` when its stop bit was 0.
RX_BYTE = data.StructLayout({"data": 8, "framing_error": 1})

MIN_DIVISOR = 4
MAX_DIVISOR = 1 << 20


def divisor_for(clock_hz, baud):
    """``clock_hz / baud`` rounded to a whole divisor; ValueError if the rate it gives is more
    than 2% off ``baud`` (half the receiver's tolerance, leaving the other half to the far
    end) or the divisor is out of range."""
    if not isinstance(baud, int) or isinstance(baud, bool) or baud < 1:
        raise ValueError(f"baud must be a positive integer, not {baud!r}")
    divisor = round(clock_hz / baud)
    if not MIN_DIVISOR <= divisor <= MAX_DIVISOR:
        raise ValueError(
            f"baud {baud} at {clock_hz / 1e6:g} MHz needs a divisor of "
            f"{clock_hz / baud:.2f}; it must be from {MIN_DIVISOR} to {MAX_DIVISOR}"
        )
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(
            f"baud {baud} at {clock_hz / 1e6:g} MHz is {error:.1%} off with "
            f"divisor {divisor}; at most 2% is allowed"
        )
    return divisor


class _RxState(enum.Enum, shape=range(5)):
    IDLE = 0
    START = 1
    DATA = 2
    STOP = 3
    WAIT_HIGH = 4


class UARTReceiver(wiring.Component):
    """8N1 receiver.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, 4 to 2**20.

    Members
    -------
    rx : In(1)
        The line, idle high; synchronised here (two flip-flops).
    o : Out(stream.Signature(RX_BYTE))
        One beat per byte, valid from the middle of its stop bit. The line cannot wait: a byte
        not taken before the next one ends is lost, and ``overrun`` pulses.
    overrun : Out(1)
        One-cycle pulse when a byte is lost.

    A start bit is a low level seen for half a bit after a falling edge (shorter glitches are
    ignored); each data bit and the stop bit are sampled once, a whole bit time apart.
    """

    def __init__(self, *, divisor):
        check_int("divisor", divisor, MIN_DIVISOR, MAX_DIVISOR)
        self._divisor = divisor
        super().__init__(
            {"rx": In(1, init=1), "o": Out(stream.Signature(RX_BYTE)), "overrun": Out(1)}
        )

    divisor = property(lambda self: self._divisor)

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(self._divisor))
        bits = Signal(range(10))
        shift = Signal(8, reset_less=True)
        valid = Signal()
        m.d.comb += self.o.valid.eq(valid)
        with m.If(self.o.ready):
            m.d.sync += valid.eq(0)

        state = Signal(_RxState)
        with m.If(state == _RxState.IDLE):
            with m.If(~line):
                m.d.sync += timer.eq(self._divisor // 2 - 1)
                m.d.sync += state.eq(_RxState.START)
        with m.Elif(state == _RxState.START):
            with m.If(line):
                m.d.sync += state.eq(_RxState.IDLE)  # a glitch, not a start bit
            with m.Elif(timer == 0):
                m.d.sync += [timer.eq(self._divisor - 1), bits.eq(0)]
                m.d.sync += state.eq(_RxState.DATA)
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        with m.Elif(state == _RxState.DATA):
            with m.If(timer == 0):
                m.d.sync += [
                    timer.eq(self._divisor - 1),
                    shift.eq(shift >> 1 | line << 7),
                    bits.eq(bits + 1),
                ]
                with m.If(bits == 7):
                    m.d.sync += state.eq(_RxState.STOP)
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        with m.Elif(state == _RxState.STOP):
            with m.If(timer == 0):
                m.d.sync += [
                    valid.eq(1),
                    self.o.payload.data.eq(shift),
                    self.o.payload.framing_error.eq(~line),
                ]
                with m.If(valid & ~self.o.ready):
                    m.d.comb += self.overrun.eq(1)
                # A low stop bit may be a break: no new start bit before the line rises.
                m.d.sync += state.eq(_RxState.WAIT_HIGH)
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        with m.Elif(state == _RxState.WAIT_HIGH):
            with m.If(line):
                m.d.sync += state.eq(_RxState.IDLE)
        with m.Else():
            m.d.sync += state.eq(_RxState.IDLE)
        return m


class UARTTransmitter(wiring.Component):
    """8N1 transmitter.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, 4 to 2**20.

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send; one is taken when the previous one's stop bit has been sent, so bytes
        offered back to back go out back to back (10 bit times a byte). ``ready`` comes
        straight from a flip-flop.
    tx : Out(1)
        The line, idle high, straight from a register.
    """

    def __init__(self, *, divisor):
        check_int("divisor", divisor, MIN_DIVISOR, MAX_DIVISOR)
        self._divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    divisor = property(lambda self: self._divisor)

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self._divisor))
        count = Signal(range(10))  # bits still to send after the current one
        shift = Signal(9, reset_less=True)  # data bits, then the stop bit
        line = Signal(init=1)
        # Idle exactly when both counters are 0, from the stop bit's last cycle on: ``ready``
        # is that, a flip-flop worked out a cycle ahead, so the sender's handshake does not
        # wait on the counters' comparison.
        ready = Signal(init=1)
        m.d.comb += [self.tx.eq(line), self.i.ready.eq(ready)]
        with m.If(self.i.valid & ready):
            m.d.sync += [
                line.eq(0),
                shift.eq(self.i.payload | 1 << 8),
                count.eq(9),
                timer.eq(self._divisor - 1),
                ready.eq(0),
            ]
        with m.Elif(~ready):
            with m.If(timer == 0):
                m.d.sync += [
                    line.eq(shift[0]),
                    shift.eq(shift >> 1),
                    count.eq(count - 1),
                    timer.eq(self._divisor - 1),
                ]
            with m.Else():
                m.d.sync += [
                    timer.eq(timer - 1),
                    # The next byte's start bit follows the stop bit's last cycle directly.
                    ready.eq((timer == 1) & (count == 0)),
                ]
        return m
