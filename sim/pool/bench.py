"""Simulator-independent testbench for the standalone :class:`sysconv.hw.MaxPool2d`.

:class:`PoolScenario` is one tensor and the unit's configuration; :class:`PoolBench` streams it
in (seeded idle gaps), takes the output (seeded backpressure), and checks every output word
against :func:`sysconv.golden.maxpool2d`, in order, with ``last`` on the last word only. Without
stalls, the cycle of every output word is compared with :mod:`sysconv.golden.pool_timing`.
"""

import json
from dataclasses import asdict, dataclass

import numpy as np

from sysconv import golden
from sysconv.golden.pool_timing import output_cycles
from sysconv.hw.lanes import pack, unpack
from sysconv.sim.cycle_streams import CycleSink, CycleSource, StreamMismatch

__all__ = ["PoolScenario", "PoolBench"]


def _words(chw, lanes):
    """A (C, H, W) tensor as HWC words of ``lanes`` channels, zero past C."""
    channels, height, width = chw.shape
    groups = -(-channels // lanes)
    hwc = np.zeros((height, width, groups * lanes), np.int64)
    hwc[:, :, :channels] = chw.transpose(1, 2, 0)
    return [pack(word, 8) for word in hwc.reshape(-1, lanes)]


@dataclass
class PoolScenario:
    lanes: int
    max_width: int
    max_channels: int
    max_size: int
    height: int
    width: int
    channels: int
    size: int
    stride: int
    x: list  # (channels, height, width) int8
    idle: float = 0.0
    backpressure: float = 0.0
    seed: int = 0

    @classmethod
    def random(
        cls,
        *,
        height,
        width,
        channels,
        size,
        stride=None,
        lanes=8,
        max_width=None,
        max_channels=None,
        max_size=4,
        data="random",
        idle=0.0,
        backpressure=0.0,
        seed=0,
    ):
        stride = size if stride is None else stride
        golden.maxpool2d(np.zeros((channels, height, width), np.int64), size, stride)  # checks
        rng = np.random.default_rng(seed)
        if data == "random":
            x = rng.integers(-128, 127, (channels, height, width), endpoint=True)
        elif data == "negative":
            x = np.full((channels, height, width), -128)
        else:
            raise ValueError(f"data must be random or negative, not {data!r}")
        return cls(
            lanes=lanes,
            max_width=max_width or width,
            max_channels=max_channels or channels,
            max_size=max_size,
            height=height,
            width=width,
            channels=channels,
            size=size,
            stride=stride,
            x=x.tolist(),
            idle=idle,
            backpressure=backpressure,
            seed=seed,
        )

    def to_json(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    def input_words(self):
        return _words(np.asarray(self.x, np.int64), self.lanes)

    def expected_words(self):
        pooled = golden.maxpool2d(np.asarray(self.x, np.int64), self.size, self.stride)
        return _words(pooled, self.lanes)

    def expected_cycles(self, first_input_cycle):
        """Cycle of every output word when nothing stalls."""
        offsets = output_cycles(
            self.height, self.width, self.channels, self.lanes, self.size, self.stride
        )
        return [first_input_cycle + int(offset) for offset in offsets]


class PoolBench:
    """Each cycle: :meth:`tick` with ``i.ready``, ``o.valid``, the ``o`` data word and
    ``o.last``; drive the returned inputs until the next edge. Stop when :attr:`done`, then
    :meth:`finish`."""

    TAIL = 8  # cycles checked after the last word, to catch anything extra

    def __init__(self, scenario):
        s = self.scenario = scenario
        rng = np.random.default_rng([s.seed, 3])
        groups = -(-s.channels // s.lanes)
        out_width = (s.width - s.size) // s.stride + 1

        def where(k):
            pixel, group = divmod(k, groups)
            return (
                f"output word {k} (pixel y={pixel // out_width} x={pixel % out_width}, "
                f"channels {group * s.lanes}..{group * s.lanes + s.lanes - 1})"
            )

        self.source = CycleSource(s.input_words(), rng, idle=s.idle)
        self.sink = CycleSink(
            s.expected_words(),
            rng,
            backpressure=s.backpressure,
            where=where,
            show=lambda word: unpack(word, 8, s.lanes),
        )
        self.cycle = 0
        self._tail = 0
        self.limit = 2000 + 20 * len(self.source.words) * (
            1 + int(10 * max(s.idle, s.backpressure))
        )

    @property
    def done(self):
        return self._tail >= self.TAIL

    def tick(self, *, i_ready, o_valid, o_data, o_last):
        if self.cycle >= self.limit:
            raise StreamMismatch(
                self.cycle, f"no progress after {len(self.sink.received)} output words (deadlock?)"
            )
        o_ready = self.sink.drive()
        i_valid, i_word, i_last = self.source.drive()
        self.source.handshake(i_ready, self.cycle)
        self.sink.handshake(o_valid, int(o_data), o_last, self.cycle)
        if self.sink.done and self.source.done:
            self._tail += 1
        self.cycle += 1
        return {"i_valid": i_valid, "i_data": i_word, "i_last": i_last, "o_ready": o_ready}

    def finish(self):
        """Check the count, and with no stalls, the cycle of every output word."""
        s = self.scenario
        if not self.sink.done:
            raise StreamMismatch(
                self.cycle,
                f"{len(self.sink.received)} output words, expected {len(self.sink.expected)}",
            )
        if not (s.idle or s.backpressure):
            expected = s.expected_cycles(self.source.cycles[0])
            for k, (want, have) in enumerate(zip(expected, self.sink.cycles, strict=True)):
                if want != have:
                    raise StreamMismatch(
                        have,
                        f"output word {k} appeared in cycle {have}, golden.pool_timing says {want}",
                    )
        return self.cycle
