"""Simulator-independent, one-call-per-cycle valid/ready stream source and sink.

The benches that run unchanged in cocotb and in Amaranth's simulator are built from these:
each clock cycle a bench asks a :class:`CycleSource` what to drive, a :class:`CycleSink`
whether to be ready, then tells both what the design showed. Words are integers (packed lanes,
see :mod:`sysconv.hw.lanes`). Pauses come from a seeded ``numpy.random.Generator``, so a run is
reproduced by its seed on any simulator.
"""

__all__ = ["CycleSource", "CycleSink", "StreamMismatch"]


class StreamMismatch(AssertionError):
    def __init__(self, cycle, message):
        self.cycle = cycle
        super().__init__(f"cycle {cycle}: {message}")


class CycleSource:
    """Offers ``words`` in order, each with ``last`` set where ``lasts(index)`` says; idle a
    cycle with probability ``idle``. A word once offered stays offered, unchanged, until
    taken (the stream rule). ``allow(index)``, if given, may hold a word back (it is asked only
    before a word is first offered). Records the cycle each word is taken in :attr:`cycles`."""

    def __init__(self, words, rng, *, idle=0.0, lasts=None, allow=None):
        self.words, self.rng, self.idle = words, rng, idle
        self.lasts = lasts or (lambda index: index == len(words) - 1)
        self.allow = allow
        self.next = 0
        self.offered = False
        self.cycles = []

    @property
    def done(self):
        return self.next == len(self.words)

    def drive(self):
        """``(valid, word, last)`` for this cycle."""
        go = bool(self.rng.random() >= self.idle)
        if not self.offered and go and not self.done:
            self.offered = self.allow is None or self.allow(self.next)
        index = min(self.next, len(self.words) - 1)
        return self.offered, self.words[index] if self.words else 0, self.lasts(index)

    def handshake(self, ready, cycle):
        """After :meth:`drive`: note whether the design took the word this cycle."""
        if self.offered and ready:
            self.cycles.append(cycle)
            self.next += 1
            self.offered = False


class CycleSink:
    """Takes words, ready with probability ``1 - backpressure``, and checks each one, in
    order, against ``expected``, and ``last`` on the last one only. In a mismatch message,
    ``where(index)`` names a word's place and ``show(word)`` its value. Records the cycle of
    each word in :attr:`cycles`."""

    def __init__(self, expected, rng, *, backpressure=0.0, where=None, show=None):
        self.expected, self.rng, self.backpressure = expected, rng, backpressure
        self.where = where or (lambda index: f"output word {index}")
        self.show = show or hex
        self.received = []
        self.cycles = []
        self.ready = False

    @property
    def done(self):
        return len(self.received) == len(self.expected)

    def drive(self):
        self.ready = bool(self.rng.random() >= self.backpressure)
        return self.ready

    def handshake(self, valid, word, last, cycle):
        if not (valid and self.ready):
            return
        k = len(self.received)
        if k >= len(self.expected):
            raise StreamMismatch(
                cycle,
                f"{self.where(k)} = {self.show(word)}: beyond the "
                f"{len(self.expected)} words expected",
            )
        if word != self.expected[k]:
            raise StreamMismatch(
                cycle,
                f"{self.where(k)} = {self.show(word)}, expected {self.show(self.expected[k])}",
            )
        if bool(last) != (k == len(self.expected) - 1):
            raise StreamMismatch(cycle, f"{self.where(k)}: last = {int(bool(last))}")
        self.received.append(word)
        self.cycles.append(cycle)
