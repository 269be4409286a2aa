# amaranth: UnusedElaboratable=no
"""Formal harnesses for :class:`sysconv.hw.ConvEngine`: phase sequencing, its streams and the
streams that feed its array, at the smallest configuration that still has every part (a 1x1 array,
maps up to 2x2, 1x1 kernels, fused 2x2 pooling): a parameter packet is 36 words, and a 2x2
layer with pooling ends 75 cycles after its first word at full rate (:mod:`sysconv.golden.perf`),
which is about the depth a bounded proof needs to see a layer through (the cover check shows
that it does, and that a packet of two images ends too, single- and double-buffered). The
input and output buffers hold two banks of the largest layer, so that a packet of two images
may be double-buffered. (On a 1x1 array the next image's feed waits for the previous image's
drain: the feed-drain overlap of larger arrays is not in these proofs.)

The environment sends well-formed traffic only: each packet is one of the legal layers of
this engine (:func:`legal_layers`, checked by ``LayerConfig.check``, of one image or two,
two single- or double-buffered;
multiplier, shift and ReLU any legal value; biases and weights any value), ``last`` on the
last word of each packet and tensor. ``o.ready`` is free in every cycle; ``p.valid`` and
``i.valid`` are free for the ``phases`` property and held high for the others (see
:meth:`EngineHarness.elaborate`).
"""

import itertools

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cat, Cover, Mux, Signal, signed

from sysconv.hw import ConvEngine, EngineConfig, LayerConfig
from sysconv.hw.engine import Phase
from sysconv.hw.layer import REGISTERS, SIGNED_REGISTERS

from .harness import (
    Harness,
    History,
    any_seq,
    assert_source_rules,
    bits_for,
    handshake,
    internal,
    open_submodule,
)

__all__ = ["ENGINE", "EngineHarness", "engine", "legal_layers"]

ENGINE = EngineConfig(
    1,
    1,
    max_height=2,
    max_width=2,
    max_in_channels=1,
    max_out_channels=1,
    max_kernel=1,
    max_pool=2,
    mult_width=2,
    input_depth=8,
    output_depth=8,
)
# Registers the harness leaves to the solver (any legal value); the others follow the layer.
FREE = ("input_zero_point", "output_zero_point", "relu")


def engine():
    return ConvEngine(ENGINE)


def legal_layers(config=ENGINE):
    """Every layer shape this engine runs (zero points and ReLU aside; the multipliers and
    shifts are in the packet's free words), of one image and of two, single- and
    double-buffered."""
    layers = []
    for (images, double_buffer), height, width in itertools.product(
        ((1, False), (2, False), (2, True)),
        range(1, config.max_height + 1),
        range(1, config.max_width + 1),
    ):
        for pool_size, pool_stride in [(0, None)] + [
            (size, stride)
            for size in range(2, config.max_pool + 1)
            for stride in range(1, size + 1)
        ]:
            layer = LayerConfig(
                height,
                width,
                1,
                1,
                1,
                pool_size=pool_size,
                pool_stride=pool_stride,
                images=images,
                double_buffer=double_buffer,
            )
            try:
                layer.check(config)
            except ValueError:
                continue
            layers.append(layer)
    return layers


def _next_phases(phase, double_buffer=False):
    """The phases that may follow ``phase``: after OUTPUT, the next packet or the packet's next
    image, its input taken (COMPUTE) or not yet all (INPUT). Double-buffered, an image's
    output may wait for the cycle after the previous image's end, shown as INPUT (nothing
    drains, nothing computes): COMPUTE may go to INPUT for that cycle, and INPUT to
    OUTPUT after it."""
    return {
        Phase.PARAMS: (Phase.INPUT,),
        Phase.INPUT: (Phase.COMPUTE, Phase.OUTPUT) if double_buffer else (Phase.COMPUTE,),
        Phase.COMPUTE: (Phase.OUTPUT, Phase.INPUT) if double_buffer else (Phase.OUTPUT,),
        Phase.OUTPUT: (Phase.PARAMS, Phase.INPUT, Phase.COMPUTE),
    }[phase]


class EngineHarness(Harness):
    """One property of the engine (see :data:`PROPERTIES`), or ``layer+feed`` (:data:`SHARED`),
    on ``design()``."""

    PROPERTIES = {
        "phases": "p ready exactly in PARAMS, i only in INPUT or OUTPUT (the next image's "
        "input overlapping; double-buffered also in COMPUTE) and in INPUT always but the "
        "cycle after an image's end; the phase only ever moves on to a next one",
        "layer": "o valid only in OUTPUT and keeps the stream rules; an image sends exactly "
        "its pooled output size in beats, last on the last one only, before it leaves "
        "OUTPUT; a packet serves exactly its images, then PARAMS; the error flag stays low",
        "feed": "the window generator and weight sequencer feed the array by the stream rules "
        "(valid held, payload stable); per image exactly sets x pixels vectors and "
        "sets x rows weight beats go in and sets x pixels results come out, all "
        "before the engine stops feeding it",
        "progress": "no deadlock: with o.ready high, every image ends (the phase leaves "
        "OUTPUT) within depth - 2 cycles of the previous one's end",
        "cover": "reachable: a whole layer, parameters to last output beat, with and without "
        "pooling, one with the most output beats, and a packet of two images, single- and "
        "double-buffered",
    }
    # The same environment (sources at full rate, o.ready free): one bmc run checks both.
    SHARED = frozenset({"layer", "feed"})

    def __init__(self, prop, design=engine, depth=64):
        super().__init__(prop, design, depth)

    def _sequencer_invariants(
        self, m, platform, history, inner, params, word, current, value_of, registers
    ):
        """Invariants of the engine's sequencing, for the ``phases`` induction proof: they hold
        in every reachable state (each is checked like any assertion) and rule out the states
        no trace reaches, where the phase alone does not pin the sequencer down.

        - The parameter loader is where the harness's packet is (``word``), and the registers
          it has written are the packet's layer's.
        - The image counts agree: an image not ended is still to come in, in but not fed
          (``unfed``), or held for output (``held_out``, from its COMPUTE's start to its end);
          ``held_in`` and ``held_out`` add up from the counts between, a bank each at most
          (two double-buffered).
        - PARAMS runs alone; the other flags run only on images the counts hold."""
        loader = open_submodule(inner, "params", platform)
        state = {
            name: internal(inner, name)
            for name in (
                "loading",
                "taking",
                "feeding",
                "collecting",
                "sending",
                "held_in",
                "unfed",
                "held_out",
                "ready_out",
                "pending",
                "more_inputs",
            )
        }
        count = {
            name: (internal(module, f"{name}_left"), internal(module, f"{name}_last"))
            for module, names in ((inner, ("images", "inputs")), (loader, ("biases", "weights")))
            for name in names
        }
        regs = params.regs
        shape = {(r["bias_words"], r["weight_words"]) for r in registers}
        assert len(shape) == 1, "the harness's packets must all be as long"
        ((bias_words, weight_words),) = shape
        first_bias = len(REGISTERS)
        first_weight = first_bias + bias_words
        last_word = first_weight + weight_words - 1
        p_word = internal(loader, "p_word")
        in_registers = internal(loader, "in_registers")
        in_biases = internal(loader, "in_biases")
        double = regs.double_buffer
        banks = Mux(double, 2, 1)
        images = value_of("images", current)
        to_take = Mux(state["more_inputs"], count["inputs"][0] + 1, 0)
        counted = state["taking"] | state["feeding"] | state["collecting"] | state["sending"]
        m.d.comb += [
            Assert(state["held_in"] == state["unfed"] + state["pending"], "invariant: held_in"),
            Assert(
                state["held_out"] == state["pending"] + state["ready_out"], "invariant: held_out"
            ),
            Assert((state["held_in"] <= banks) & (state["held_out"] <= banks), "invariant: banks"),
            Assert(~state["feeding"] | (state["pending"] != 0), "invariant: feeding"),
            Assert(~state["collecting"] | (state["pending"] != 0), "invariant: collecting"),
            Assert(~state["sending"] | (state["ready_out"] != 0), "invariant: sending"),
            Assert(
                double | (state["sending"] == (state["ready_out"] != 0)),
                "invariant: sending, single",
            ),
            Assert(~state["taking"] | state["more_inputs"], "invariant: taking"),
            Assert(
                ~state["loading"] | ~(counted | (state["held_in"] != 0) | (state["held_out"] != 0)),
                "invariant: PARAMS alone",
            ),
        ]
        m.d.comb += [
            Assert(~(in_registers & in_biases), "invariant: loader in one section"),
            Assert(
                internal(loader, "params_last")
                == (~in_registers & ~in_biases & count["weights"][1]),
                "invariant: loader's last word",
            ),
        ]
        with m.If(state["loading"]):
            m.d.comb += [
                Assert(in_registers == (word < first_bias), "invariant: loader in the registers"),
                Assert(~in_registers | (p_word == word), "invariant: loader's register word"),
                Assert(
                    in_registers | (in_biases == (word < first_weight)),
                    "invariant: loader in the biases",
                ),
            ]
            # The bias count runs through the biases; the weight count, restarted with them,
            # through the weights.
            for name, inside, left_now in (
                ("biases", in_biases, first_weight - 1 - word),
                ("weights", ~in_registers, Mux(in_biases, weight_words - 1, last_word - word)),
            ):
                left, last = count[name]
                with m.If(inside):
                    m.d.comb += Assert(
                        (left == left_now) & (last == (left == 0)), f"invariant: loader's {name}"
                    )
            for index, name in enumerate(REGISTERS):
                with m.If((word != 0) & (word > index)):
                    m.d.comb += Assert(regs[name] == value_of(name, current), f"invariant: {name}")
        with m.Else():
            m.d.comb += [
                Assert(word == 0, "invariant: no packet word outside PARAMS"),
                *(
                    Assert(regs[name] == value_of(name, current), f"invariant: {name}")
                    for name in REGISTERS
                ),
                Assert(
                    count["images"][0] + 1 == to_take + state["unfed"] + state["held_out"],
                    "invariant: images",
                ),
                *(
                    Assert((left < images) & (last == (left == 0)), f"invariant: {name} count")
                    for name, (left, last) in count.items()
                    if name in ("images", "inputs")
                ),
            ]
            with m.If(history.had() & ~history.past(state["loading"])):
                m.d.comb += Assert(
                    (p_word == 0) & in_registers & ~in_biases,
                    "invariant: loader cleared outside PARAMS",
                )

    def elaborate(self, platform):
        m, dut, module = self._open(platform)
        config = dut.config
        history = History(m)
        layers = legal_layers(config)
        width = bits_for(max(self._depth, 64))

        if self._prop == "phases":
            any_seq(m, dut.p.valid)
            any_seq(m, dut.i.valid)
        else:
            # Sources at full rate: a 50-cycle bounded proof with free gaps on top is beyond
            # the time budget. Gaps on p and i only stretch PARAMS and INPUT, whose handshakes
            # the "phases" property covers for any gaps.
            m.d.comb += [dut.p.valid.eq(1), dut.i.valid.eq(1)]
        if self._prop == "progress":
            m.d.comb += dut.o.ready.eq(1)
        else:
            any_seq(m, dut.o.ready)
        any_seq(m, dut.i.payload.data)
        p_fire = handshake(m, dut.p, "p_fire")
        i_fire = handshake(m, dut.i, "i_fire")
        o_fire = handshake(m, dut.o, "o_fire")

        # The packet: which layer (chosen anew for every packet), and its words in order.
        registers = [layer.registers(config) for layer in layers]
        length = len(REGISTERS) + registers[0]["bias_words"] + registers[0]["weight_words"]
        assert all(
            len(REGISTERS) + r["bias_words"] + r["weight_words"] == length for r in registers
        )
        word = Signal(range(length), name="p_word")
        with m.If(p_fire):
            m.d.sync += word.eq(Mux(word == length - 1, 0, word + 1))
        choice = Signal(range(len(layers)), name="layer_choice")
        current = Signal(range(len(layers)), name="layer")
        any_seq(m, choice)
        m.d.comb += Assume(choice < len(layers))
        with m.If(p_fire & (word == 0)):
            m.d.sync += current.eq(choice)
        layer = Mux(word == 0, choice, current)
        free = {
            name: Signal(
                signed(8)
                if name in SIGNED_REGISTERS
                else range(config.register_limits()[name] + 1),
                name=f"free_{name}",
            )
            for name in FREE
        }
        for signal in free.values():
            m.d.comb += signal.eq(AnyConst(signal.shape()))

        # Per layer, what the array must see: vectors (and results), and weight beats.
        for r in registers:
            r["vectors"] = r["sets"] * r["pixels"]

        def value_of(name, select):
            if name in free:
                return free[name]
            result = registers[-1][name]
            for index in reversed(range(len(layers) - 1)):
                result = Mux(select == index, registers[index][name], result)
            return result

        data = Signal(32, name="p_data")
        any_seq(m, data)
        for index, name in enumerate(REGISTERS):
            with m.If(word == index):
                m.d.comb += data.eq(value_of(name, layer))
        m.d.comb += [
            dut.p.payload.data.eq(data),
            dut.p.payload.last.eq(word == length - 1),
        ]

        # The input tensors: in_words beats each, last on the last.
        beat = Signal(range(config.input_depth + 1), name="i_beat")
        in_words = value_of("in_words", current)
        with m.If(p_fire & (word == 0)):
            m.d.sync += beat.eq(0)
        with m.Elif(i_fire):
            m.d.sync += beat.eq(Mux(beat == in_words - 1, 0, beat + 1))
        m.d.comb += dut.i.payload.last.eq(beat == in_words - 1)

        phase = dut.phase
        past_phase = history.past(phase)
        # The cycle after an image's end: the phase has left OUTPUT.
        image_ended = Signal(name="image_ended")
        m.d.comb += image_ended.eq(
            history.had() & (past_phase == Phase.OUTPUT) & (phase != Phase.OUTPUT)
        )
        if self._prop == "phases":
            # The engine's own register: an induction step may start where the harness's
            # idea of the layer and the engine's differ.
            params = getattr(dut, "inner_module", module).submodules.params
            double = params.regs.double_buffer
            m.d.comb += [
                Assert(dut.p.ready == (phase == Phase.PARAMS), "p.ready outside PARAMS"),
                # Double-buffered, the next input also goes in while an image computes.
                Assert(
                    ~dut.i.ready
                    | (phase == Phase.INPUT)
                    | (phase == Phase.OUTPUT)
                    | (double & (phase == Phase.COMPUTE)),
                    "i.ready outside INPUT and OUTPUT",
                ),
                Assert(dut.i.ready | (phase != Phase.INPUT) | image_ended, "i refused in INPUT"),
            ]
            self._sequencer_invariants(
                m,
                platform,
                history,
                getattr(dut, "inner_module", module),
                params,
                word,
                current,
                value_of,
                registers,
            )
            with m.If(history.had()):
                for before in (Phase.PARAMS, Phase.INPUT, Phase.COMPUTE, Phase.OUTPUT):
                    single = Cat(*(phase == after for after in _next_phases(before))).any()
                    both = Cat(*(phase == after for after in _next_phases(before, True))).any()
                    with m.If(past_phase == before):
                        m.d.comb += Assert(
                            (phase == before) | single | (double & both),
                            "the phase skipped or went back",
                        )

        if "layer" in self._props:
            assert_source_rules(m, history, dut.o, "o")
            m.d.comb += Assert(~dut.o.valid | (phase == Phase.OUTPUT), "o.valid outside OUTPUT")
            out = Signal(range(config.output_depth + 2), name="o_beats")
            expected = (
                value_of("pool_out_height", current)
                * value_of("pool_out_width", current)
                * value_of("col_tiles", current)
            )
            with m.If(image_ended):
                m.d.sync += out.eq(0)
            with m.Elif(o_fire):
                m.d.sync += out.eq(out + 1)
            with m.If(o_fire):
                m.d.comb += [
                    Assert(out < expected, "more output beats than the layer's output size"),
                    Assert(
                        dut.o.payload.last == (out == expected - 1),
                        "last not on the layer's last output beat only",
                    ),
                ]
            # Images of the packet ended: the last one, and only it, goes back to PARAMS.
            ended = Signal(range(3), name="images_ended")
            images = value_of("images", current)
            with m.If(p_fire & (word == 0)):
                m.d.sync += ended.eq(0)
            with m.Elif(image_ended):
                m.d.sync += ended.eq(ended + 1)
            with m.If(image_ended):
                m.d.comb += [
                    Assert(out == expected, "the image ended before all its output beats left"),
                    Assert(
                        (phase == Phase.PARAMS) == (ended + 1 == images),
                        "a packet served more or fewer images than its images register",
                    ),
                ]
            m.d.comb += Assert(~dut.error, "error flag raised by well-formed traffic")

        if "feed" in self._props:
            array = getattr(dut, "inner_module", module).submodules.array
            assert_source_rules(m, history, array.i, "array.i")
            assert_source_rules(m, history, array.w, "array.w")
            new_layer = p_fire & (word == 0)
            fired = {
                name: handshake(m, stream, f"array_{name}_fire")
                for name, stream in (
                    ("vectors", array.i),
                    ("weights", array.w),
                    ("results", array.o),
                )
            }
            # Counted per image, from the first cycle the engine feeds it (double-buffered, an
            # image may compute while the phase shows the previous image's OUTPUT).
            feeding = getattr(dut, "inner_module", module).submodules.window.active
            past_feeding = history.past(feeding)
            enter_compute = feeding & ~past_feeding
            seen = {name: Signal(width, name=f"array_{name}") for name in fired}
            for name, counter in seen.items():
                with m.If(new_layer):
                    m.d.sync += counter.eq(0)
                with m.Elif(enter_compute):
                    m.d.sync += counter.eq(fired[name])
                with m.Elif(fired[name]):
                    m.d.sync += counter.eq(counter + 1)
            vectors = value_of("vectors", current)
            weights = value_of("weight_words", current)
            with m.If(fired["vectors"]):
                m.d.comb += Assert(
                    seen["vectors"] < vectors, "more vectors into the array than sets x pixels"
                )
            with m.If(fired["weights"]):
                m.d.comb += Assert(
                    seen["weights"] < weights, "more weight beats into the array than sets x rows"
                )
            with m.If(fired["results"]):
                m.d.comb += Assert(
                    seen["results"] < seen["vectors"],
                    "more results out of the array than vectors in",
                )
            with m.If(history.had() & past_feeding & ~feeding):
                m.d.comb += Assert(
                    (seen["vectors"] == vectors)
                    & (seen["weights"] == weights)
                    & (seen["results"] == vectors),
                    "feed ended before every vector, weight beat and result passed the array",
                )

        if self._prop == "progress":
            limit = self._depth - 2
            since = Signal(range(limit + 1), name="since_image_end")
            with m.If(image_ended):
                m.d.sync += since.eq(0)
            with m.Elif(since != limit):
                m.d.sync += since.eq(since + 1)
            m.d.comb += Assert(since != limit, "no image ended within the bound with o.ready high")

        if self._prop == "cover":
            # The cycle after a layer ends (`current` is still that layer's).
            done = image_ended & (phase == Phase.PARAMS)
            pooled = value_of("pool_size", current) != 0
            beats = value_of("out_words", current)
            most = max(r["out_words"] for r in registers)
            m.d.comb += [
                Cover(done & pooled, "a layer with pooling completes"),
                Cover(done & ~pooled, "a layer without pooling completes"),
                Cover(
                    done & ~pooled & (beats == most), f"a layer of {most} output beats completes"
                ),
                Cover(
                    done & (value_of("images", current) == 2) & ~value_of("double_buffer", current),
                    "a packet of two images completes",
                ),
                Cover(
                    done & (value_of("double_buffer", current) == 1),
                    "a double-buffered packet of two images completes",
                ),
            ]
        return m
