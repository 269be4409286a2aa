# amaranth: UnusedElaboratable=no
"""Formal harnesses for :class:`sysconv.hw.MaxPool2d`: its streams, credits, output FIFO, values and
timing.

The unit under proof has 2 lanes of 2-bit values, rows of up to 3 pixels of up to 3 channels
(so a pixel is 2 beats, the second half empty when there are 3 channels), and windows of 2 or
3: both line buffers, partial channel groups, overlapping windows and dropped trailing rows and
columns all occur, and the solver stays fast. Where a property holds for any configuration, the
configuration is one the solver picks (``AnyConst``) among those the block documents as legal,
with ``height`` up to 4. Where it needs the golden answer, the tensors have fixed shapes
(:data:`SEQUENCES`) and the golden model (:func:`sysconv.golden.maxpool2d`,
:mod:`sysconv.golden.pool_timing`) says which input beats each output beat is the maximum of, and
in which cycle it leaves.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cover, Mux, Signal

from sysconv import golden
from sysconv.golden.pool_timing import output_cycles
from sysconv.hw import MaxPool2d

from .array import buffer_of
from .harness import (
    Harness,
    History,
    any_seq,
    assert_source_rules,
    bits_for,
    count,
    handshake,
    internal,
)

__all__ = ["POOL", "PoolHarness", "SEQUENCES", "Tensor", "pool"]

POOL = dict(lanes=2, max_width=3, max_channels=3, max_size=3, data_width=2)
MAX_HEIGHT = 4  # of the configurations the solver picks


def pool():
    return MaxPool2d(**POOL)


@dataclass(frozen=True)
class Tensor:
    channels: int
    height: int
    width: int
    size: int
    stride: int

    @property
    def groups(self):
        return -(-self.channels // POOL["lanes"])

    @property
    def beats(self):
        return self.height * self.width * self.groups

    def windows(self):
        """For each output beat in order: (input beat indices of its window, group, lanes of
        real channels); the window as :func:`sysconv.golden.maxpool2d` has it (a one-hot input is 1
        in exactly the outputs whose window holds it)."""
        h, w = self.height, self.width
        members = {}
        for y in range(h):
            for x in range(w):
                one_hot = np.zeros((1, h, w), np.int64)
                one_hot[0, y, x] = 1
                pooled = golden.maxpool2d(one_hot, self.size, self.stride)
                for r, q in zip(*np.nonzero(pooled[0]), strict=True):
                    members.setdefault((int(r), int(q)), []).append(y * w + x)
        out_h, out_w = golden.maxpool2d(
            np.zeros((1, h, w), np.int64), self.size, self.stride
        ).shape[1:]
        result = []
        lanes = POOL["lanes"]
        for r in range(out_h):
            for q in range(out_w):
                for g in range(self.groups):
                    real = min(lanes, self.channels - g * lanes)
                    result.append(([p * self.groups + g for p in members[(r, q)]], g, real))
        return result

    def output_cycles(self):
        return [
            int(c)
            for c in output_cycles(
                self.height, self.width, self.channels, POOL["lanes"], self.size, self.stride
            )
        ]


# Back-to-back tensors (the configuration changes right after a tensor's last beat).
SEQUENCES = {
    # 3 channels in 2 beats (the second half empty) and overlapping 2x2 windows; then a
    # 3x3 window as large as the tensor.
    "overlap+partial": (Tensor(3, 2, 3, 2, 1), Tensor(1, 3, 3, 3, 3)),
    # Stride 2 drops the last row and column; then overlapping 2x2 over a full row.
    "stride+drop": (Tensor(2, 3, 3, 2, 2), Tensor(2, 2, 3, 2, 1)),
}


def _beats(x, lanes, fill):
    """A (C, H, W) tensor as HWC beats of ``lanes`` values, ``fill`` past the channels."""
    channels, height, width = x.shape
    groups = -(-channels // lanes)
    beats = []
    for y in range(height):
        for col in range(width):
            for g in range(groups):
                beats.append(
                    tuple(
                        int(x[c, y, col]) if c < channels else fill
                        for c in range(g * lanes, (g + 1) * lanes)
                    )
                )
    return beats


class PoolHarness(Harness):
    """One property of the pooling unit (see :data:`PROPERTIES`), or ``values+timing``
    (:data:`SHARED`), on ``design()``."""

    PROPERTIES = {
        "o_rules": "o keeps the stream rules (any configuration, legal or not)",
        "credits": "the output FIFO is never written full (level <= depth); no more beats "
        "out than in; the i.ready flip-flop is in_flight < depth or no window ends "
        "(any legal configuration)",
        "results": "fixed tensors back to back (seeded data, junk in the lanes past the "
        "channels), any stalls on i and o: the o beats are golden.maxpool2d's, in "
        "order, last on each tensor's last beat only, none early (nothing lost, "
        "duplicated or reordered)",
        "values": "fixed tensors back to back at one beat per cycle, o.ready high, any data: "
        "each o beat is the max of its window's input beats, lanes past the channels "
        "zero",
        "timing": "fixed tensors back to back at one beat per cycle, o.ready high: i is never "
        "refused, and o.valid is high exactly in golden.pool_timing's cycles",
        "i_ready": "i is never refused in the cycle after o.ready was high (no deadlock: a "
        "beat is refused only while the consumer stalls)",
        "cover": "reachable (any legal configuration): a tensor's last beat out, then the "
        "next tensor's; the output FIFO full; i refused for lack of credits; o "
        "stalled 2 cycles",
    }
    # The same environment (the fixed tensors at full rate, o.ready high): one run checks both.
    SHARED = frozenset({"values", "timing"})

    def __init__(self, prop, design=pool, sequence="overlap+partial", depth=32):
        super().__init__(prop, design, depth)
        if sequence not in SEQUENCES:
            raise ValueError(f"sequence must be one of {', '.join(SEQUENCES)}, not {sequence!r}")
        self._tensors = SEQUENCES[sequence]

    def elaborate(self, platform):
        m, dut, module = self._open(platform)
        history = History(m, horizon=2)
        fixed = bool(self._props & {"results", "values", "timing"})

        i_fire = handshake(m, dut.i, "i_fire")
        o_fire = handshake(m, dut.o, "o_fire")
        width = bits_for(max(self._depth, 64))
        n_in = count(m, i_fire, width, "n_in")
        n_out = count(m, o_fire, width, "n_out")

        # With fixed tensors, the source stops after their last beat (another tensor would
        # give outputs the golden answer does not list).
        more = n_in < sum(tensor.beats for tensor in self._tensors) if fixed else 1
        if self._props <= self.SHARED:
            m.d.comb += [dut.i.valid.eq(more), dut.o.ready.eq(1)]
        else:
            valid = Signal(name="i_valid_free")
            any_seq(m, valid)
            m.d.comb += dut.i.valid.eq(valid & more)
            any_seq(m, dut.o.ready)
        any_seq(m, dut.i.payload.last)
        if self._prop != "results":
            any_seq(m, dut.i.payload.data)

        config = (dut.height, dut.width, dut.channels, dut.size, dut.stride)
        if fixed:
            self._drive_sequence(m, dut, n_in)
        elif self._prop == "o_rules":
            for port in config:
                m.d.comb += port.eq(AnyConst(port.shape()))
        else:
            for port in config:
                m.d.comb += port.eq(AnyConst(port.shape()))
            m.d.comb += [
                Assume((dut.height >= 1) & (dut.height <= MAX_HEIGHT)),
                Assume((dut.width >= 1) & (dut.width <= dut.max_width)),
                Assume((dut.channels >= 1) & (dut.channels <= dut.max_channels)),
                Assume((dut.size >= 2) & (dut.size <= dut.max_size)),
                Assume((dut.stride >= 1) & (dut.stride <= dut.size)),
            ]

        if self._prop == "o_rules":
            assert_source_rules(m, history, dut.o, "o")

        elif self._prop == "credits":
            buffer = buffer_of(dut, module)
            m.d.comb += [
                Assert(~(buffer.w_en & ~buffer.w_rdy), "output FIFO written while full"),
                Assert(buffer.level <= buffer.depth, "output FIFO level above its depth"),
            ]
            m.d.comb += Assert(~o_fire | (n_out < n_in), "more output beats than input beats")
            inner = getattr(dut, "inner_module", module)
            emit = internal(inner, "h_emit") & internal(inner, "v_emit")
            m.d.comb += Assert(
                internal(inner, "ready")
                == ((internal(inner, "in_flight") < dut.buffer_depth) | ~emit),
                "invariant: the unit's ready is in_flight < the buffer's depth, "
                "or the beat ends no window",
            )

        elif self._prop == "results":
            self._check_results(m, dut, o_fire, n_in, n_out)

        elif self._props <= self.SHARED:
            if "values" in self._props:
                self._check_values(m, dut, i_fire, o_fire, n_in, n_out)
            if "timing" in self._props:
                self._check_timing(m, dut, width)

        elif self._prop == "i_ready":
            with m.If(history.had() & history.past(dut.o.ready)):
                m.d.comb += Assert(dut.i.ready, "i refused in the cycle after o.ready was high")

        else:  # cover
            tensors = count(m, o_fire & dut.o.payload.last, 2, "tensors_out")
            buffer = buffer_of(dut, module)
            m.d.comb += [
                Cover(buffer.level == buffer.depth, "the output FIFO full"),
                Cover(o_fire & dut.o.payload.last & (tensors == 0), "a tensor's last beat leaves"),
                Cover(
                    o_fire & dut.o.payload.last & (tensors == 1),
                    "the next tensor's last beat leaves",
                ),
                Cover(dut.i.valid & ~dut.i.ready, "i refused for lack of credits"),
                Cover(
                    history.had(2)
                    & history.past(dut.o.valid & ~dut.o.ready, 2)
                    & history.past(dut.o.valid & ~dut.o.ready, 1),
                    "o stalled 2 cycles",
                ),
            ]
        return m

    def _drive_sequence(self, m, dut, n_in):
        """The configuration of the tensor the next input beat belongs to."""
        end = 0
        ports = (dut.height, dut.width, dut.channels, dut.size, dut.stride)
        values = [(t.height, t.width, t.channels, t.size, t.stride) for t in self._tensors]
        ends = []
        for tensor in self._tensors:
            end += tensor.beats
            ends.append(end)
        for k, port in enumerate(ports):
            value = values[-1][k]
            for tensor_values, tensor_end in reversed(
                list(zip(values[:-1], ends[:-1], strict=True))
            ):
                value = Mux(n_in < tensor_end, tensor_values[k], value)
            m.d.comb += port.eq(value)

    def _check_results(self, m, dut, o_fire, n_in, n_out):
        """Seeded tensors in, golden.maxpool2d's beats out, whatever the stalls."""
        lanes = dut.lanes
        low, high = -(1 << (dut.data_width - 1)), (1 << (dut.data_width - 1)) - 1
        rng = np.random.default_rng(list(map(ord, "sysconv formal pool")))
        inputs, outputs = [], []
        for tensor in self._tensors:
            x = rng.integers(
                low, high, (tensor.channels, tensor.height, tensor.width), endpoint=True
            )
            inputs += _beats(x, lanes, fill=None)
            pooled = _beats(golden.maxpool2d(x, tensor.size, tensor.stride), lanes, fill=0)
            outputs += [(beat, k == len(pooled) - 1) for k, beat in enumerate(pooled)]
        for lane in range(lanes):
            data = dut.i.payload.data[lane]
            junk = Signal(data.shape(), name=f"junk_{lane}")
            any_seq(m, junk)
            value = junk
            for n, beat in enumerate(inputs):
                if beat[lane] is not None:
                    value = Mux(n_in == n, beat[lane], value)
            m.d.comb += data.eq(value)

        taken, index = 0, 0
        for tensor in self._tensors:
            for members, _group, _real in tensor.windows():
                beat, last = outputs[index]
                with m.If(o_fire & (n_out == index)):
                    m.d.comb += [
                        Assert(
                            n_in > taken + max(members),
                            "an output beat left before its window was complete",
                        ),
                        Assert(
                            dut.o.payload.last == int(last),
                            "last is not on each tensor's last output beat only",
                        ),
                    ]
                    for lane in range(lanes):
                        m.d.comb += Assert(
                            dut.o.payload.data[lane] == beat[lane],
                            "an output beat differs from golden.maxpool2d",
                        )
                index += 1
            taken += tensor.beats
        m.d.comb += Assert(~o_fire | (n_out < index), "more output beats than golden.maxpool2d")

    def _check_timing(self, m, dut, width):
        cycle = count(m, 1, width, "cycle")
        expected, start = [], 0
        for tensor in self._tensors:
            expected += [start + c for c in tensor.output_cycles()]
            start += tensor.beats
        m.d.comb += Assert(dut.i.ready, "i refused at full rate with o.ready high")
        on_time = Signal()
        m.d.comb += on_time.eq(sum((cycle == c for c in expected), start=0) != 0)
        m.d.comb += Assert(
            dut.o.valid == on_time, "o.valid differs from golden.pool_timing's cycles"
        )

    def _check_values(self, m, dut, i_fire, o_fire, n_in, n_out):
        lanes = dut.lanes
        data_shape = dut.i.payload.data[0].shape()
        start = 0
        seen = []  # per tensor: per input beat: per lane, the value taken
        for t, tensor in enumerate(self._tensors):
            beats = []
            for b in range(tensor.beats):
                values = [Signal(data_shape, name=f"x{t}_{b}_{k}") for k in range(lanes)]
                with m.If(i_fire & (n_in == start + b)):
                    m.d.sync += [values[k].eq(dut.i.payload.data[k]) for k in range(lanes)]
                beats.append(values)
            seen.append(beats)
            start += tensor.beats

        index, taken = 0, 0
        for t, tensor in enumerate(self._tensors):
            windows = tensor.windows()
            for k, (members, _group, real) in enumerate(windows):
                with m.If(o_fire & (n_out == index)):
                    m.d.comb += Assert(
                        n_in > taken + max(members),
                        "an output beat left before its window was complete",
                    )
                    for lane in range(lanes):
                        if lane < real:
                            values = [seen[t][b][lane] for b in members]
                            best = values[0]
                            for value in values[1:]:
                                best = Mux(value > best, value, best)
                            m.d.comb += Assert(
                                dut.o.payload.data[lane] == best,
                                "an output value is not the max of its window",
                            )
                        else:
                            m.d.comb += Assert(
                                dut.o.payload.data[lane] == 0,
                                "a lane past the channels is not zero",
                            )
                    m.d.comb += Assert(
                        dut.o.payload.last == int(k == len(windows) - 1),
                        "last is not on each tensor's last output beat only",
                    )
                index += 1
            taken += tensor.beats
        m.d.comb += Assert(~o_fire | (n_out < index), "more output beats than golden.maxpool2d")
