"""A valid/ready (AXI4-Stream) protocol checker for cocotb testbenches.

:class:`StreamChecker` watches one stream of the design, whichever side drives it, and fails
the test at the first violation, naming the cycle, the stream and the rule:

1. once ``valid`` is high it stays high until the handshake (``valid && ready`` at an edge);
2. the payload (and ``last``) do not change while ``valid && !ready``;
3. no X or Z on ``valid`` or ``ready``, nor on the payload of a valid beat (Icarus is 4-state);
4. with :meth:`expect`, each packet has exactly the expected number of beats, ``last`` on the
   last one and on no other.

It samples at rising clock edges, like the cocotbext-axi drivers, and sleeps on a value change
of ``valid`` while the stream is idle, so an idle stream costs nothing per cycle.
"""

from collections import deque

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

__all__ = ["ProtocolViolation", "StreamChecker"]


class ProtocolViolation(AssertionError):
    pass


def _resolved(handle):
    value = handle.value
    return value.is_resolvable if hasattr(value, "is_resolvable") else True


class StreamChecker:
    """Check the stream ``name`` of ``dut``: ``valid``, ``ready``, ``payload`` (a list of
    handles) and optionally ``last`` (a handle, also part of the payload). ``period_ns`` turns
    simulation time into cycle numbers; ``on_violation(message)`` is called before raising
    (e.g. to write the test's result file)."""

    def __init__(
        self, clk, *, name, valid, ready, payload, last=None, period_ns=10, on_violation=None
    ):
        self.clk, self.name = clk, name
        self.valid, self.ready, self.last = valid, ready, last
        self.payload = list(payload) + ([last] if last is not None else [])
        self.period_ns = period_ns
        self.on_violation = on_violation
        self.beats = 0  # handshakes so far
        self.packets = deque()  # expected lengths of the coming packets
        self._in_packet = 0
        self.violation = None
        self._task = None

    def expect(self, beats):
        """The next packet (counted from the last ``last``) must have ``beats`` beats."""
        self.packets.append(beats)

    def start(self):
        self._task = cocotb.start_soon(self._run())
        return self

    def stop(self):
        """Stop watching (before a reset mid-packet; attach a new checker after it)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _fail(self, rule):
        cycle = int(get_sim_time("ns")) // self.period_ns
        self.violation = f"cycle {cycle}: stream {self.name}: {rule}"
        if self.on_violation is not None:
            self.on_violation(self.violation)
        raise ProtocolViolation(self.violation)

    async def _run(self):
        pending = None  # the payload of a beat offered and not taken in the previous cycle
        while True:
            if pending is None and _resolved(self.valid) and int(self.valid.value) == 0:
                await RisingEdge(self.valid)
            await RisingEdge(self.clk)
            for handle, what in ((self.valid, "valid"), (self.ready, "ready")):
                if not _resolved(handle):
                    self._fail(f"{what} is {handle.value} (X or Z)")
            valid, ready = int(self.valid.value), int(self.ready.value)
            if pending is not None:
                if not valid:
                    self._fail(
                        "valid fell before the handshake (rule: valid stays high until ready)"
                    )
                now = [handle.value for handle in self.payload]
                if now != pending:
                    self._fail(f"payload changed while valid and not ready ({pending} -> {now})")
            if valid:
                for handle in self.payload:
                    if not _resolved(handle):
                        self._fail(f"payload {handle._name} is {handle.value} while valid")
            pending = [handle.value for handle in self.payload] if valid and not ready else None
            if valid and ready:
                self.beats += 1
                self._count_beat()

    def _count_beat(self):
        if self.last is None or not self.packets:
            return
        self._in_packet += 1
        expected = self.packets[0]
        last = int(self.last.value)
        if last and self._in_packet != expected:
            self._fail(f"last on beat {self._in_packet} of a packet of {expected}")
        if not last and self._in_packet == expected:
            self._fail(f"no last on beat {expected}, the packet's last")
        if last:
            self.packets.popleft()
            self._in_packet = 0
