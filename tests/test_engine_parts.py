"""The engine's parts (sysconv.hw.engine) on their own, in Amaranth's simulator: the stream
components against their contracts (order, lanes, ``last``, stream rules, cycles), with
stalls; every part's parameter check. The whole engine is tests/test_engine.py."""

import random
from types import SimpleNamespace

import pytest
from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.lib import data
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator
from helpers import SMALL

from sysconv.hw.engine import (
    Accumulator,
    InputWriter,
    OutputReader,
    ParamLoader,
    WeightSequencer,
    WindowGenerator,
    WriteBack,
)
from sysconv.hw.engine._common import connect_read
from sysconv.hw.layer import LayerConfig
from sysconv.sim.amaranth_streams import StreamRecorder, random_ready, stream_put

PARTS = [
    ParamLoader,
    InputWriter,
    WeightSequencer,
    WindowGenerator,
    Accumulator,
    WriteBack,
    OutputReader,
]


def _read_port(m, memory, registered):
    """A read port of ``memory``; ``registered``: as ``BlockRAM.read_port(registered=True)``
    makes it off the ECP5, the data through a register that advances with ``en``."""
    port = memory.read_port()
    if not registered:
        return port
    data = Signal.like(port.data, reset_less=True)
    with m.If(port.en):
        m.d.sync += data.eq(port.data)
    return SimpleNamespace(addr=port.addr, en=port.en, data=data)


@pytest.mark.parametrize("part", PARTS, ids=[part.__name__ for part in PARTS])
def test_wrong_config(part):
    with pytest.raises(TypeError, match=r"^config must be an EngineConfig, not 3$"):
        part(3)


def lanes_of(view, count):
    return tuple(view[k] for k in range(count))


# ---- InputWriter -------------------------------------------------------------------------


@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_input_writer_writes_every_beat_lanes_past_in_channels_zeroed(in_channels, stalls):
    """Two tensors back to back, the first from ``base``, the second from ``next_base``."""
    idle, _backpressure, seed = stalls
    rng = random.Random(seed)
    rows = SMALL.rows
    layer = LayerConfig(3, 2, in_channels, 1, 1)
    registers = layer.registers(SMALL)
    groups, words = registers["groups"], registers["in_words"]
    bases = (SMALL.input_depth // 2, 7)
    beats = [tuple(rng.randint(-128, 127) for _ in range(rows)) for _ in range(2 * words)]
    dut = InputWriter(SMALL)
    writes, dones, fires = [], [], []
    cycle = [0]

    async def driver(ctx):
        ctx.set(dut.regs, registers)
        ctx.set(dut.base, bases[0])
        ctx.set(dut.next_base, bases[1])
        await ctx.tick()
        assert not ctx.get(dut.i.ready), "i.ready while inactive"
        ctx.set(dut.active, 1)
        for n, lanes in enumerate(beats):
            while rng.random() < idle:
                await ctx.tick()
            await stream_put(ctx, dut.i, {"data": lanes, "last": n % words == words - 1})
        await ctx.tick().repeat(2)

    async def monitor(ctx):
        signals = (dut.write.en, dut.write.addr, dut.write.data, dut.done, dut.error)
        while True:
            _clk, _rst, valid, ready, en, addr, lanes, done, error = await ctx.tick().sample(
                dut.i.valid, dut.i.ready, *signals
            )
            assert en == (valid and ready), f"write.en {en} without the handshake @ {cycle[0]}"
            assert not error, f"error raised by well-formed beats @ cycle {cycle[0]}"
            if en:
                writes.append((addr, lanes_of(lanes, rows)))
                fires.append(cycle[0])
            if done:
                dones.append(cycle[0])
            cycle[0] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(driver)
    sim.run()
    expected = [
        (
            bases[n // words] + n % words,
            tuple(v if (n % groups) * rows + lane < in_channels else 0 for lane, v in enumerate(b)),
        )
        for n, b in enumerate(beats)
    ]
    assert writes == expected, f"seed {seed}"
    last_beats = [fires[words - 1], fires[-1]]
    assert dones == last_beats, f"done {dones}, expected at the last beats {last_beats}"


def test_input_writer_flags_a_misplaced_last():
    layer = LayerConfig(2, 2, 1, 1, 1)
    dut = InputWriter(SMALL)
    errors = []

    async def bench(ctx):
        ctx.set(dut.regs, layer.registers(SMALL))
        await ctx.tick()  # inactive: back at the first word
        ctx.set(dut.active, 1)
        ctx.set(dut.i.valid, 1)
        for n in range(4):
            ctx.set(dut.i.payload, {"data": [n] * SMALL.rows, "last": n == 1})
            errors.append(ctx.get(dut.error))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # A pulse with each beat taken whose `last` is wrong: early on beat 1, missing on beat 3.
    assert errors == [0, 1, 0, 1]


# ---- OutputReader ------------------------------------------------------------------------


class _Platform:
    family = "ecp5"


class _ReaderWithBuffer(Elaboratable):
    """An OutputReader on a memory holding ``words``; ``ecp5``: elaborated for the ECP5."""

    def __init__(self, words, ecp5):
        self.words, self.ecp5 = words, ecp5
        self.reader = OutputReader(SMALL)

    def elaborate(self, platform):
        m = Module()
        shape = data.ArrayLayout(signed(8), SMALL.cols)
        m.submodules.buffer = buffer = Memory(
            shape=shape, depth=SMALL.output_depth, init=[list(w) for w in self.words]
        )
        m.submodules.reader = self.reader.elaborate(_Platform() if self.ecp5 else platform)
        connect_read(m, _read_port(m, buffer, self.ecp5), self.reader.read)
        return m


def _read_out(words, ecp5, ready, seed):
    rng = random.Random(seed)
    top = _ReaderWithBuffer(words, ecp5)
    dut = top.reader
    cols = SMALL.cols
    recorder = StreamRecorder(dut.o, convert=lambda p: (lanes_of(p.data, cols), p.last))
    layer = LayerConfig(1, len(words), 1, 1, 1)
    assert layer.registers(SMALL)["out_words"] == len(words)

    async def bench(ctx):
        ctx.set(dut.regs, layer.registers(SMALL))
        await ctx.tick().repeat(3)
        assert not ctx.get(dut.o.valid), "o.valid while inactive"
        ctx.set(dut.active, 1)
        while len(recorder.beats[0]) < len(words) and recorder.cycle < 20 * len(words) + 20:
            await ctx.tick()
        await ctx.tick().repeat(4)  # room for an extra beat to show up

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(random_ready(dut.o, rng, ready), background=True)
    sim.add_testbench(recorder.testbench, background=True)
    sim.add_testbench(bench)
    sim.run()
    return recorder


@pytest.mark.parametrize("ecp5", [False, True], ids=["ice40", "ecp5"])
@pytest.mark.parametrize("ready", [1.0, 0.5, 0.1])
def test_output_reader_streams_the_buffer_in_order(ecp5, ready):
    rng = random.Random(7)
    words = [tuple(rng.randint(-128, 127) for _ in range(SMALL.cols)) for _ in range(9)]
    recorder = _read_out(words, ecp5, ready, seed=3)
    assert not recorder.violations, recorder.violations[0]
    beats = [payload for _cycle, payload in recorder.beats[0]]
    expected = [(w, int(n == len(words) - 1)) for n, w in enumerate(words)]
    assert beats == expected
    if ready == 1.0:
        # Word 0 in the second cycle of `active` (cycle 3 is its first), then one a cycle.
        cycles = [cycle for cycle, _payload in recorder.beats[0]]
        assert cycles == list(range(4, 4 + len(words))), cycles


@pytest.mark.parametrize("ready", [0.5, 0.1])
def test_output_reader_ecp5_is_the_same_stream_cycle_for_cycle(ready):
    words = [(n, -n) for n in range(6)]
    ice40 = _read_out(words, False, ready, seed=5).beats[0]
    ecp5 = _read_out(words, True, ready, seed=5).beats[0]
    assert ice40 == ecp5


# ---- WindowGenerator ---------------------------------------------------------------------


def _window_out(words, layer, ecp5, ready, seed):
    """(cycle, lanes) of every vector the window generator sends for ``layer`` from an input
    buffer holding ``words``, the set_sent cycles, and stream-rule violations, with
    ``o.ready`` high with probability ``ready`` and the sets' weights coming in at random."""
    rng = random.Random(seed)
    rows = SMALL.rows
    registers = layer.registers(SMALL)
    sets = registers["sets"]

    class Top(Elaboratable):
        def __init__(self):
            self.dut = WindowGenerator(SMALL)

        def elaborate(self, platform):
            m = Module()
            m.submodules.buffer = buffer = Memory(
                shape=data.ArrayLayout(signed(8), rows), depth=SMALL.input_depth, init=words
            )
            m.submodules.dut = self.dut.elaborate(_Platform() if ecp5 else platform)
            connect_read(m, _read_port(m, buffer, True), self.dut.read)
            return m

    top = Top()
    dut = top.dut
    recorder = StreamRecorder(dut.o, convert=lambda p: lanes_of(p, rows))
    sent = []

    async def weights(ctx):
        # A set's weights are in at random, one set at a time, never more than the layer's.
        done = 0
        while True:
            pulse = done < sets and rng.random() < 0.05
            ctx.set(dut.set_done, pulse)
            done += pulse
            await ctx.tick()

    async def bench(ctx):
        ctx.set(dut.regs, registers)
        await ctx.tick().repeat(2)
        ctx.set(dut.active, 1)
        total = sets * registers["pixels"]
        while len(recorder.beats[0]) < total and recorder.cycle < 60 * total:
            _clk, _rst, set_sent = await ctx.tick().sample(dut.set_sent)
            if set_sent:
                sent.append(recorder.cycle)
        await ctx.tick().repeat(6)  # room for an extra vector to show up

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(random_ready(dut.o, rng, ready), background=True)
    sim.add_testbench(weights, background=True)
    sim.add_testbench(recorder.testbench, background=True)
    sim.add_testbench(bench)
    sim.run()
    return recorder.beats[0], sent, recorder.violations


@pytest.mark.parametrize("ready", [1.0, 0.6, 0.2])
def test_window_generator_sends_im2col_the_same_on_the_ecp5(ready):
    # A 5x4 map of 5 channels (2 groups of 3 lanes), 3x3 kernel, stride 2, padding 1, 3 output
    # channels (2 column tiles): every vector is the input word at its tap, or the zero point
    # in every lane outside the image (naive loops below), and the ECP5's skid buffer sends
    # each at the same cycle as without it, set_sent with it.
    rng = random.Random(5)
    rows, cols = SMALL.rows, SMALL.cols
    layer = LayerConfig(5, 4, 5, 3, 3, stride=2, padding=1, input_zero_point=-7)
    groups = -(-layer.in_channels // rows)
    words = [
        [rng.randint(-128, 127) for _ in range(rows)]
        for _ in range(layer.height * layer.width * groups)
    ]
    out_h = (layer.height + 2 - 3) // 2 + 1
    out_w = (layer.width + 2 - 3) // 2 + 1
    expected = []
    for _tile in range(-(-layer.out_channels // cols)):
        for kh in range(3):
            for kw in range(3):
                for g in range(groups):
                    for oy in range(out_h):
                        for ox in range(out_w):
                            iy, ix = oy * 2 + kh - 1, ox * 2 + kw - 1
                            inside = 0 <= iy < layer.height and 0 <= ix < layer.width
                            word = words[(iy * layer.width + ix) * groups + g] if inside else None
                            expected.append(tuple(word) if word else (-7,) * rows)
    generic = _window_out(words, layer, False, ready, seed=9)
    ecp5 = _window_out(words, layer, True, ready, seed=9)
    for beats, _sent, violations in (generic, ecp5):
        assert not violations, violations[0]
        assert [lanes for _cycle, lanes in beats] == expected
    assert ecp5 == generic


# ---- WeightSequencer ---------------------------------------------------------------------


@pytest.mark.parametrize("ready", [1.0, 0.4])
def test_weight_sequencer_waits_for_the_previous_sets_vectors(ready):
    # Two column tiles of a 3x3 kernel on one channel group: 18 sets of `rows` beats. The
    # window generator's "set sent" comes at random; a set's last beat (the bank switch) must
    # not be taken before the previous set's vectors are all sent.
    rng = random.Random(11)
    rows, cols = SMALL.rows, SMALL.cols
    layer = LayerConfig(4, 4, 2, 4, 3)
    registers = layer.registers(SMALL)
    sets = registers["sets"]
    words = [tuple(rng.randint(-128, 127) for _ in range(cols)) for _ in range(sets * rows)]

    class Top(Elaboratable):
        def __init__(self):
            self.dut = WeightSequencer(SMALL)

        def elaborate(self, platform):
            m = Module()
            m.submodules.dut = self.dut
            m.submodules.buffer = buffer = Memory(
                shape=data.ArrayLayout(signed(8), cols),
                depth=SMALL.weight_depth,
                init=[list(w) for w in words],
            )
            connect_read(m, _read_port(m, buffer, True), self.dut.read)
            return m

    top = Top()
    dut = top.dut
    taken, sent = [], []  # (cycle, lanes) per beat taken; cycle of each set_sent
    done = []
    cycle = [0]

    async def sender(ctx):
        # Pulses of set_sent, never more than the sets whose weights are in.
        for now in range(1_000_000):
            pulse = len(sent) < len(done) and rng.random() < 0.3
            ctx.set(dut.set_sent, pulse)
            await ctx.tick()
            if pulse:
                sent.append(now)

    async def monitor(ctx):
        while True:
            _c, _r, valid, rdy, payload, set_done = await ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload, dut.set_done
            )
            if valid and rdy:
                taken.append((cycle[0], lanes_of(payload, cols)))
            if set_done:
                done.append(cycle[0])
            cycle[0] += 1

    async def bench(ctx):
        ctx.set(dut.regs, registers)
        await ctx.tick()
        ctx.set(dut.active, 1)
        while len(taken) < sets * rows and cycle[0] < 40 * sets * rows:
            await ctx.tick()
        await ctx.tick().repeat(4)

    recorder = StreamRecorder(dut.o)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(random_ready(dut.o, rng, ready), background=True)
    sim.add_testbench(sender, background=True)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(recorder.testbench, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert not recorder.violations, recorder.violations[0]
    assert [lanes for _cycle, lanes in taken] == words
    finals = [taken[n * rows + rows - 1][0] for n in range(sets)]
    assert done == finals
    for n in range(1, sets):
        # Set n's bank switch comes after set n - 1's vectors are all in.
        assert len([c for c in sent if c < finals[n]]) >= n, f"set {n} @ cycle {finals[n]}"
    if ready == 1.0:
        # The first set streams in back to back from the fourth cycle of `active`.
        assert [c for c, _lanes in taken[:rows]] == list(range(4, 4 + rows))
