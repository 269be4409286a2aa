"""Simulator-independent testbench for the systolic array: stimulus, drivers, scoreboard.

The same :class:`ArrayBench` runs inside cocotb (Icarus, Verilator) and inside Amaranth's
simulator; each of those only moves values between the bench and the design's ports once per
clock cycle. On every cycle the bench

1. compares what the design shows (``i.ready``, ``w.ready``, ``o.valid`` and, when valid,
   ``o.payload``) with :class:`sysconv.golden.SystolicArrayModel`'s prediction for that cycle,
   stepped with exactly the inputs the design saw;
2. decides the inputs for the cycle: the next activation vector and weight beat (seeded random
   idle gaps; a beat once offered stays offered until accepted) and ``o.ready`` (seeded random
   backpressure).

At the end, every result is also compared with :func:`sysconv.golden.matmul` of its vector and the
weight set it was sent for, so the cycle model itself stays honest.
"""

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from sysconv import golden
from sysconv.golden.systolic import ArrayOutputs, SystolicArrayModel
from sysconv.hw.lanes import pack

__all__ = ["ArrayScenario", "ArrayBench", "Mismatch", "DATA_KINDS"]

DATA_KINDS = ("random", "extremes")


class Mismatch(AssertionError):
    """The design differs from the golden model (or a result from ``golden.matmul``)."""

    def __init__(self, cycle, signal, expected, got):
        self.cycle, self.signal, self.expected, self.got = cycle, signal, expected, got
        super().__init__(f"cycle {cycle}: {signal} = {got}, expected {expected}")


@dataclass
class ArrayScenario:
    """What one array test sends: weight sets, vectors (each tagged with its set), pauses."""

    rows: int
    cols: int
    weight_sets: list  # of rows x cols nested lists
    vectors: list  # of rows-long lists
    set_of: list  # weight set index of each vector, non-decreasing
    act_width: int = 8
    weight_width: int = 8
    acc_width: int = 32
    idle: float = 0.0  # probability that a source leaves a cycle idle
    backpressure: float = 0.0  # probability that o.ready is low in a cycle
    seed: int = 0
    extra: dict = field(default_factory=dict)

    @classmethod
    def random(
        cls,
        rows,
        cols,
        *,
        vectors=32,
        sets=1,
        data="random",
        idle=0.0,
        backpressure=0.0,
        seed=0,
        act_width=8,
        weight_width=8,
        acc_width=32,
    ):
        """A seeded scenario. ``sets > 1`` reloads the weights mid-stream, ``data="extremes"``
        uses only the most negative weights and the most negative or positive activations
        (the worst-case sums)."""
        if data not in DATA_KINDS:
            raise ValueError(f"data must be one of {', '.join(DATA_KINDS)}, not {data!r}")
        if not isinstance(sets, int) or not 1 <= sets <= max(1, vectors):
            raise ValueError(
                f"sets must be an integer from 1 to the number of vectors ({vectors}), not {sets!r}"
            )
        rng = np.random.default_rng(seed)
        a_lo, a_hi = -(1 << (act_width - 1)), (1 << (act_width - 1)) - 1
        w_lo, w_hi = -(1 << (weight_width - 1)), (1 << (weight_width - 1)) - 1
        if data == "random":
            weight_sets = rng.integers(w_lo, w_hi, (sets, rows, cols), endpoint=True)
            vecs = rng.integers(a_lo, a_hi, (vectors, rows), endpoint=True)
        else:
            weight_sets = np.full((sets, rows, cols), w_lo)
            whole = rng.integers(0, 2, (vectors, 1)).repeat(rows, axis=1)  # all min or all max
            mixed = rng.integers(0, 2, (vectors, rows))
            pick = np.where(np.arange(vectors)[:, None] % 3 == 2, mixed, whole)
            vecs = np.where(pick == 1, a_hi, a_lo)
        set_of = (np.arange(vectors) * sets) // vectors
        return cls(
            rows=rows,
            cols=cols,
            weight_sets=weight_sets.tolist(),
            vectors=vecs.tolist(),
            set_of=set_of.tolist(),
            act_width=act_width,
            weight_width=weight_width,
            acc_width=acc_width,
            idle=idle,
            backpressure=backpressure,
            seed=seed,
        )

    def to_json(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    def expected_results(self):
        """Every vector times its weight set, by :func:`sysconv.golden.matmul`."""
        vectors = np.asarray(self.vectors, np.int64)
        sets = np.asarray(self.set_of)
        return (
            np.concatenate(
                [
                    golden.matmul(vectors[sets == k], np.asarray(weights, np.int64))
                    for k, weights in enumerate(self.weight_sets)
                    if np.any(sets == k)
                ]
            )
            if len(self.vectors)
            else np.zeros((0, self.cols), np.int64)
        )


class ArrayBench:
    """Drives a :class:`ArrayScenario` cycle by cycle and checks every cycle; see module doc.

    Use: each cycle, read the design's outputs into an
    :class:`~sysconv.golden.systolic.ArrayOutputs`, call :meth:`tick` with it, and drive the
    returned inputs until the next clock edge. Stop when :attr:`done`; then call :meth:`finish`.
    """

    TAIL = 4  # cycles checked after the last result, to catch anything extra

    def __init__(self, scenario):
        s = self.scenario = scenario
        self.model = SystolicArrayModel(
            s.rows,
            s.cols,
            act_width=s.act_width,
            weight_width=s.weight_width,
            acc_width=s.acc_width,
        )
        self._rng = np.random.default_rng([s.seed, 1])
        # Weight beats in send order: each set last row first.
        self._beats = [row for weights in s.weight_sets for row in weights[::-1]]
        sets = np.asarray(s.set_of, np.int64)
        self._first_vector = [int(np.searchsorted(sets, k)) for k in range(len(s.weight_sets))]
        self._next_vector = 0
        self._next_beat = 0
        self._i_offered = False
        self._w_offered = False
        self._tail = 0
        self.received = []
        self.trace = []
        self.cycle = 0
        # A design that works finishes long before this; past it, something has deadlocked.
        self.limit = 100 + 20 * (len(s.vectors) + len(self._beats) + self.model.latency) * (
            1 + int(10 * max(s.idle, s.backpressure))
        )

    @property
    def done(self):
        return self._tail >= self.TAIL

    def _sets_complete(self):
        return self._next_beat // self.scenario.rows

    def _junk(self, count, width):
        return self._rng.integers(-(1 << (width - 1)), 1 << (width - 1), count).tolist()

    def tick(self, got):
        """Check this cycle's outputs, then return the inputs to drive during it."""
        s = self.scenario
        expected = self.model.outputs()
        for name in ("i_ready", "w_ready", "o_valid", "o_payload"):
            if getattr(got, name) != getattr(expected, name):
                raise Mismatch(
                    self.cycle, name.replace("_", "."), getattr(expected, name), getattr(got, name)
                )
        if self.cycle >= self.limit:
            raise Mismatch(
                self.cycle,
                "progress",
                f"{len(s.vectors)} results",
                f"{len(self.received)} results (deadlock?)",
            )
        self.trace.append(
            [got.i_ready, got.w_ready, got.o_valid, list(got.o_payload) if got.o_valid else None]
        )

        o_ready = bool(self._rng.random() >= s.backpressure)
        go_i = bool(self._rng.random() >= s.idle)
        go_w = bool(self._rng.random() >= s.idle)
        if not self._i_offered and go_i and self._next_vector < len(s.vectors):
            self._i_offered = s.set_of[self._next_vector] < self._sets_complete()
        if not self._w_offered and go_w and self._next_beat < len(self._beats):
            set_index, row = divmod(self._next_beat, s.rows)
            # A set's last beat switches banks: only once the previous set's vectors are all in.
            self._w_offered = (
                row < s.rows - 1
                or set_index == 0
                or self._next_vector >= self._first_vector[set_index]
            )
        i_lanes = (
            s.vectors[self._next_vector] if self._i_offered else self._junk(s.rows, s.act_width)
        )
        w_lanes = (
            self._beats[self._next_beat] if self._w_offered else self._junk(s.cols, s.weight_width)
        )
        inputs = {
            "i_valid": self._i_offered,
            "i_payload": pack(i_lanes, s.act_width),
            "w_valid": self._w_offered,
            "w_payload": pack(w_lanes, s.weight_width),
            "o_ready": o_ready,
        }

        self.model.step(
            i_valid=self._i_offered,
            i_payload=i_lanes,
            w_valid=self._w_offered,
            w_payload=w_lanes,
            o_ready=o_ready,
        )
        if self._i_offered and expected.i_ready:
            self._next_vector += 1
            self._i_offered = False
        if self._w_offered and expected.w_ready:
            self._next_beat += 1
            self._w_offered = False
        if expected.o_valid and o_ready:
            self.received.append(got.o_payload)
        if len(self.received) == len(s.vectors):
            self._tail += 1
        self.cycle += 1
        return inputs

    def finish(self):
        """Check the results against :func:`sysconv.golden.matmul`; returns the number of cycles."""
        expected = self.scenario.expected_results()
        if len(self.received) != len(expected):
            raise Mismatch(
                self.cycle, "results", f"{len(expected)} vectors", f"{len(self.received)} vectors"
            )
        for k, (want, have) in enumerate(zip(expected.tolist(), self.received, strict=True)):
            if tuple(want) != tuple(have):
                raise Mismatch(self.cycle, f"result {k} (golden.matmul)", tuple(want), have)
        return self.cycle


def outputs_from_ports(i_ready, w_ready, o_valid, o_payload_lanes):
    return ArrayOutputs(
        bool(i_ready), bool(w_ready), bool(o_valid), tuple(o_payload_lanes) if o_valid else None
    )
