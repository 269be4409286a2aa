# amaranth: UnusedElaboratable=no
"""Mutated designs: each one a plausible bug, injected from outside ``hw/``, that a property
must catch (:mod:`sysconv.formal.checks` pairs each with its property and expects a failure).

Three kinds:

- :class:`StreamFault` wraps a block and breaks one of its streams the way a faulty skid
  buffer, handshake or output stage would (the block itself is untouched);
- :func:`patched` elaborates the real block with one name of its module replaced for the
  duration of that one elaboration: its output FIFO built one word shorter than the credits it
  hands out (:func:`short_fifo`), or the engine's array behind a :class:`StreamFault`;
- :class:`ShortWindow`, the pooling unit with a datapath bug: its window max leaves out the
  oldest tap, so a 3x3 window pools only 2x2 (2x2 windows are unaffected); :class:`WrittenAhead`,
  the weight sequencer reading a weight word a cycle before the loader has written it.
"""

from unittest import mock

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In

from sysconv.hw import MaxPool2d
from sysconv.hw.engine import WeightSequencer
from sysconv.hw.engine._common import Count

from .harness import open_design, raw

__all__ = ["FAULTS", "ShortWindow", "StreamFault", "WrittenAhead", "patched", "short_fifo"]

FAULTS = {
    "withdraw": "o.valid dropped every other cycle even while the beat waits for o.ready "
    "(the beat comes back a cycle later: nothing lost, but the stream rule broken)",
    "unstable": "o.payload bit 0 flips every other cycle while the beat waits for o.ready",
    "duplicate": "every other o handshake is not passed on to the block: the beat is sent twice",
    "drop": "a beat the block offers while o.ready is low is taken from it anyway every other "
    "cycle, and lost",
    "delay": "an extra register stage (a correct one-beat stream buffer) on o: one cycle of "
    "latency more than documented",
    "stall": "after the first o beat the block's o.ready is held low for good (a sink that "
    "stops returning credits); o shows nothing more",
    "w_early": "w.ready shown high every other cycle even while the block refuses w (beats "
    "that arrive then are lost)",
    "i_early": "i.ready shown high every other cycle even while the block refuses i",
}


def _member(obj, path):
    for name in path:
        obj = obj[name] if isinstance(name, int) else getattr(obj, name)
    return obj


class StreamFault(wiring.Component):
    """``inner`` behind a fault (a key of :data:`FAULTS`); same ports, same parameters
    (attributes are read through to ``inner``). After elaboration, ``inner_module`` is the
    module ``inner`` was elaborated into, so that a harness can reach its submodules."""

    def __init__(self, inner, fault):
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}, not {fault!r}")
        self.inner, self.fault = inner, fault
        super().__init__(inner.signature)

    def __getattr__(self, name):
        # The block's parameters (rows, latency, lanes, config, ...), for the harness.
        if (
            name.startswith("_")
            or name in ("inner", "fault", "inner_module")
            or name in self.inner.signature.members
        ):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def elaborate(self, platform):
        m = Module()
        self.inner_module = open_design(m, self.inner, platform, "inner")
        toggle = Signal()
        m.d.sync += toggle.eq(~toggle)
        faulted = {"i_early": "i", "w_early": "w"}.get(self.fault, "o")
        for path, member, outer in self.signature.flatten(self):
            if path[0] == faulted and path[1] in ("valid", "ready"):
                continue
            if path[:2] == ("o", "payload") and self.fault == "unstable":
                continue
            inner = _member(self.inner, path)
            if member.flow == In:
                m.d.comb += raw(inner).eq(raw(outer))
            else:
                m.d.comb += raw(outer).eq(raw(inner))
        outer, inner = getattr(self, faulted), getattr(self.inner, faulted)

        if self.fault == "withdraw":
            m.d.comb += [
                outer.valid.eq(inner.valid & ~toggle),
                inner.ready.eq(outer.ready & ~toggle),
            ]
        elif self.fault == "unstable":
            m.d.comb += [
                outer.valid.eq(inner.valid),
                inner.ready.eq(outer.ready),
                raw(outer.payload).eq(raw(inner.payload) ^ (toggle & inner.valid)),
            ]
        elif self.fault == "duplicate":
            m.d.comb += [outer.valid.eq(inner.valid), inner.ready.eq(outer.ready & toggle)]
        elif self.fault == "drop":
            m.d.comb += [outer.valid.eq(inner.valid), inner.ready.eq(outer.ready | toggle)]
        elif self.fault == "delay":
            valid = Signal()
            payload = Signal.like(raw(inner.payload))
            m.d.comb += [
                inner.ready.eq(~valid | outer.ready),
                outer.valid.eq(valid),
                raw(outer.payload).eq(payload),
            ]
            with m.If(inner.ready):
                m.d.sync += [valid.eq(inner.valid), payload.eq(raw(inner.payload))]
        elif self.fault == "stall":
            stuck = Signal()
            with m.If(inner.valid & inner.ready):
                m.d.sync += stuck.eq(1)
            m.d.comb += [outer.valid.eq(inner.valid & ~stuck), inner.ready.eq(outer.ready & ~stuck)]
        else:  # w_early, i_early: the sink's ready shown early
            m.d.comb += [outer.ready.eq(inner.ready | toggle), inner.valid.eq(outer.valid)]
        return m


def short_fifo(*, width, depth):
    """A ``SyncFIFOBuffered`` one word shorter than asked for."""
    return SyncFIFOBuffered(width=width, depth=depth - 1)


def patched(design_class, module, name, replacement, **parameters):
    """A ``design_class(**parameters)`` (a class defined in ``module``) whose ``elaborate``
    sees ``replacement`` instead of ``module.name``; everything else is the real design."""

    class Patched(design_class):
        def elaborate(self, platform):
            with mock.patch.object(module, name, replacement):
                return super().elaborate(platform)

    Patched.__name__ = f"{design_class.__name__}With{name}Patched"
    return Patched(**parameters)


class ShortWindow(MaxPool2d):
    """:class:`sysconv.hw.MaxPool2d` with its window max one tap short, in both passes."""

    def _left_out_lowest(self, m, taps, size):
        return super()._left_out_lowest(m, taps, size - 1)


class WrittenAhead(WeightSequencer):
    """:class:`sysconv.hw.engine.WeightSequencer` told of one weight word more than the loader
    has written: it reads the word the loader writes in the same cycle (whose data a block RAM
    leaves undefined), or one not written yet."""

    def elaborate(self, platform):
        told = self.written
        self.written = told + 1
        try:
            return super().elaborate(platform)
        finally:
            self.written = told


class EarlyCount(Count):
    """The engine's loop counter (:class:`sysconv.hw.engine._common.Count`) with its ``last``
    a step early on loops of two steps or more."""

    def restart(self, length=None):
        length = self._length if length is None else length
        return [*super().restart(length), self.last.eq(length <= 2)]

    def step(self):
        return [
            *super().step(),
            self.last.eq(Mux(self.last, self._length <= 2, self.left == 2)),
        ]
