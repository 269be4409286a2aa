# amaranth: UnusedElaboratable=no
"""Formal harnesses for :class:`sysconv.hw.SystolicArray`: its streams, credits, output buffer and
timing.

The array under proof is 2x2 with 2-bit activations and weights and the narrowest accumulator
that holds their sums (5 bits): the control (credits, bank switching, drain) is the same at any
size, and small operands keep the solver fast. Every input of the array is free in every cycle:
``i`` and ``w`` beats (valid and payload), and ``o.ready``, except where a property says
otherwise. Nothing is assumed of how the environment sends weights and vectors.
"""

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Cover, Mux, Signal, signed

from sysconv.hw import SystolicArray

from .harness import (
    Harness,
    History,
    any_seq,
    assert_source_rules,
    bits_for,
    count,
    handshake,
    internal,
    raw,
)

__all__ = ["ARRAY", "ArrayHarness", "array", "buffer_of"]

ARRAY = dict(rows=2, cols=2, act_width=2, weight_width=2, acc_width=5)


def array():
    return SystolicArray(**ARRAY)


def buffer_of(design, module):
    """The output FIFO (``submodules.buffer``) of the array or pooling unit ``design`` has been
    elaborated into; through a fault-injecting wrapper, the wrapped design's."""
    return getattr(design, "inner_module", module).submodules.buffer


class ArrayHarness(Harness):
    """One property of the array (see :data:`PROPERTIES`), proven on ``design()`` (the real
    array by default, or a mutated one that the property must catch)."""

    PROPERTIES = {
        "o_rules": "o keeps the stream rules: valid held until ready, payload stable",
        "results": "the n-th o beat is i @ W of the n-th vector, W the set loaded before it "
        "(nothing lost, duplicated or reordered; bank switch exact to the vector)",
        "credits": "no more results than vectors, at most buffer_depth in flight, and the "
        "output FIFO is never written full (level <= depth)",
        "latency": "with o.ready high, o.valid is exactly i's handshake `latency` cycles "
        "earlier, and i is never refused once weights are loaded",
        "i_ready": "i is refused until a weight set is loaded, and never in the cycle after "
        "o.ready was high (backpressure stops i for at most as long as it lasts)",
        "w_ready": "w is refused exactly while the bank the next set overwrites is in use: "
        "for rows + cols - 2 cycles after each vector that uses it",
        "cover": "reachable: 4 results out; the output buffer full and i refused for lack of "
        "credits; a set loaded while the previous one's vectors are in flight, and "
        "results of both",
    }

    def __init__(self, prop, design=array, depth=32):
        super().__init__(prop, design, depth)

    def elaborate(self, platform):
        m, dut, module = self._open(platform)
        rows, cols, latency = dut.rows, dut.cols, dut.latency
        history = History(m, horizon=latency + 1)

        for port in (dut.i.valid, dut.i.payload, dut.w.valid, dut.w.payload):
            any_seq(m, port)
        if self._prop == "latency":
            m.d.comb += dut.o.ready.eq(1)
        else:
            any_seq(m, dut.o.ready)

        i_fire = handshake(m, dut.i, "i_fire")
        w_fire = handshake(m, dut.w, "w_fire")
        o_fire = handshake(m, dut.o, "o_fire")
        width = bits_for(self._depth)
        n_in = count(m, i_fire, width, "n_in")
        n_out = count(m, o_fire, width, "n_out")

        # The weight sets as the harness sees them go by: beat k of a set is row rows - 1 - k.
        beat = Signal(range(max(rows, 2)), name="w_beat")
        set_end = Signal()
        loaded = Signal()  # a set has completed, in an earlier cycle
        sets = count(m, w_fire & set_end, width, "sets")
        m.d.comb += set_end.eq(beat == rows - 1)
        with m.If(w_fire):
            m.d.sync += beat.eq(0 if rows == 1 else (beat + 1) % rows)
            with m.If(set_end):
                m.d.sync += loaded.eq(1)

        # What the ports say of the array's state: the vectors taken and not yet out, the bank
        # new vectors use (flipped by each set), and per bank the cycles until its last vector
        # has passed every PE: the next set overwrites the bank not in use once it has drained.
        pending = Signal(range(dut.buffer_depth + 2), name="pending")
        m.d.sync += pending.eq(pending + i_fire - o_fire)
        bank = Signal(name="bank")
        with m.If(w_fire & set_end):
            m.d.sync += bank.eq(~bank)
        drain = [Signal(range(rows + cols), name=f"drain_{b}") for b in range(2)]
        for b, wait in enumerate(drain):
            with m.If(i_fire & (bank == b)):
                m.d.sync += wait.eq(rows + cols - 2)
            with m.Elif(wait != 0):
                m.d.sync += wait.eq(wait - 1)
        if self._prop in self.INDUCTIVE:
            self._invariants(
                m,
                dut,
                module,
                history,
                i_fire,
                pending=pending,
                beat=beat,
                loaded=loaded,
                active=bank,
                busy_0=drain[0],
                busy_1=drain[1],
            )

        if self._prop == "o_rules":
            assert_source_rules(m, history, dut.o, "o")

        elif self._prop == "results":
            shape = signed(dut.weight_width)
            loading = [
                [Signal(shape, name=f"loading_{r}_{c}") for c in range(cols)] for r in range(rows)
            ]
            active = [
                [Signal(shape, name=f"active_{r}_{c}") for c in range(cols)] for r in range(rows)
            ]
            with m.If(w_fire):
                for k in range(rows):
                    with m.If(beat == k):
                        row = rows - 1 - k
                        for c in range(cols):
                            m.d.sync += loading[row][c].eq(dut.w.payload[c])
                with m.If(set_end):
                    # The last beat carries row 0; the other rows came before it.
                    for r in range(rows):
                        for c in range(cols):
                            value = dut.w.payload[c] if r == 0 else loading[r][c]
                            m.d.sync += active[r][c].eq(value)
            expected = [
                sum(dut.i.payload[r] * active[r][c] for r in range(rows)) for c in range(cols)
            ]

            # One tracked vector, any of them: the solver picks which.
            tracked = Signal(width, name="tracked")
            m.d.comb += tracked.eq(AnyConst(width))
            want = [Signal(signed(dut.acc_width + 2), name=f"want_{c}") for c in range(cols)]
            taken = Signal(name="tracked_taken")
            with m.If(i_fire & (n_in == tracked)):
                m.d.sync += taken.eq(1)
                m.d.sync += [want[c].eq(expected[c]) for c in range(cols)]
            with m.If(o_fire & (n_out == tracked)):
                m.d.comb += Assert(taken, "a result left before its vector was taken")
                for c in range(cols):
                    m.d.comb += Assert(
                        dut.o.payload[c] == want[c], "a result is not i @ W of its vector"
                    )
            m.d.comb += Assert(~o_fire | (n_out < n_in), "more results than vectors")

        elif self._prop == "credits":
            buffer = buffer_of(dut, module)
            m.d.comb += [
                Assert(~o_fire | (pending != 0), "more results than vectors"),
                Assert(
                    pending <= dut.buffer_depth,
                    "more vectors in flight than the output buffer holds",
                ),
                Assert(~(buffer.w_en & ~buffer.w_rdy), "output FIFO written while full"),
                Assert(buffer.level <= buffer.depth, "output FIFO level above its depth"),
            ]

        elif self._prop == "latency":
            m.d.comb += [
                Assert(
                    dut.o.valid == history.past(i_fire, latency),
                    "o.valid is not i's handshake `latency` cycles earlier",
                ),
                Assert(~loaded | dut.i.ready, "i refused while o.ready is always high"),
            ]

        elif self._prop == "i_ready":
            m.d.comb += Assert(~dut.i.ready | loaded, "i ready before a weight set is loaded")
            with m.If(loaded & history.had() & history.past(dut.o.ready)):
                m.d.comb += Assert(dut.i.ready, "i refused in the cycle after o.ready was high")

        elif self._prop == "w_ready":
            m.d.comb += Assert(
                dut.w.ready == (Mux(bank, drain[0], drain[1]) == 0),
                "w.ready is not exactly: no vector of the bank the next set "
                "overwrites accepted in the last rows + cols - 2 cycles",
            )

        else:  # cover
            buffer = buffer_of(dut, module)
            m.d.comb += [
                Cover(buffer.level == buffer.depth, "the output FIFO full"),
                Cover(o_fire & (n_out == 3), "the 4th result leaves"),
                Cover(loaded & ~dut.i.ready, "i refused for lack of credits"),
                Cover(
                    w_fire & set_end & (sets == 1) & (pending != 0),
                    "the 2nd set completes while vectors of the 1st are in flight",
                ),
                Cover(
                    o_fire & (sets == 2) & (n_out + 1 == n_in) & (n_in >= 3),
                    "the last result of a stream spanning two weight sets leaves",
                ),
                Cover(
                    history.had(3) & history.past(o_fire & ~dut.i.ready, 1) & raw(dut.o.valid),
                    "o stalled while i refused",
                ),
            ]
        return m

    # The properties proven by k-induction, with the invariants below.
    INDUCTIVE = ("credits", "latency", "i_ready", "w_ready")

    def _invariants(self, m, dut, module, history, i_fire, **model):
        """Invariants: the array's own control registers hold what the harness's ``model``
        (worked out from the ports) says, and the vectors not yet out are those in the output
        buffer and in the PE pipeline (one ``valid_k`` a stage, the handshakes of the last
        ``rows + cols`` cycles). They hold in every reachable state (each is checked like any
        assertion) and make the properties inductive: without them an induction trace could
        start in a state the ports cannot tell apart, say with credits out of step with the
        buffer."""
        inner = getattr(dut, "inner_module", module)
        buffer = inner.submodules.buffer
        valids = [internal(inner, f"valid_{k}") for k in range(dut.rows + dut.cols)]
        for name, value in model.items():
            m.d.comb += Assert(
                internal(inner, "in_flight" if name == "pending" else name) == value,
                f"invariant: the array's {name} is as the ports say",
            )
        m.d.comb += [
            Assert(
                internal(inner, "i_ready")
                == (model["loaded"] & (model["pending"] < dut.buffer_depth)),
                "invariant: the array's i_ready is loaded and pending < the buffer's depth",
            ),
            Assert(
                internal(inner, "w_ready")
                == (Mux(model["active"], model["busy_0"], model["busy_1"]) == 0),
                "invariant: the array's w_ready is the loaded bank's count at 0",
            ),
            Assert(
                internal(inner, "final_beat") == (model["beat"] == dut.rows - 1),
                "invariant: the array's final_beat is beat == rows - 1",
            ),
        ]
        m.d.comb += Assert(
            model["pending"] == buffer.level + sum(valids),
            "invariant: the vectors not yet out are in the buffer or the PEs",
        )
        for k, valid in enumerate(valids):
            with m.If(history.had(k + 1)):
                m.d.comb += Assert(
                    valid == history.past(i_fire, k + 1),
                    "invariant: the PEs hold the last rows + cols handshakes",
                )
