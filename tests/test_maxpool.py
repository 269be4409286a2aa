"""The streaming max-pooling unit in Amaranth's simulator against golden.maxpool2d (every value)
and golden.pool_timing (every output cycle); its stream rules, parameter checks and lint."""

import random
from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth.sim import Simulator
from helpers import STALLS, stall_seed
from hypothesis import given, settings
from hypothesis import strategies as st

from sysconv.golden import maxpool2d
from sysconv.golden.pool_timing import LATENCY, output_cycles, output_shape
from sysconv.hw.maxpool import MaxPool2d
from sysconv.hw.ram import poisoned_collisions
from sysconv.sim import SIMULATORS
from sysconv.sim.amaranth_streams import StreamRecorder, random_ready, stream_get, stream_put
from sysconv.sim.pool.bench import PoolScenario
from sysconv.sim.pool.run import run_pools


@dataclass(frozen=True)
class Tensor:
    x: np.ndarray  # (channels, height, width)
    size: int
    stride: int

    @classmethod
    def random(cls, rng, channels, height, width, size, stride, *, low=-128, high=127):
        x = np.array(
            [
                [[rng.randint(low, high) for _ in range(width)] for _ in range(height)]
                for _ in range(channels)
            ],
            dtype=np.int64,
        )
        return cls(x, size, stride)

    def __str__(self):
        c, h, w = self.x.shape
        return f"{h}x{w}x{c} pool {self.size} stride {self.stride}"


def to_beats(x, lanes, fill=None):
    """HWC raster of beats, groups of ``lanes`` channels; lanes past the channels hold 0, or
    values drawn by ``fill()``."""
    channels, height, width = x.shape
    groups = -(-channels // lanes)
    beats = []
    for row in range(height):
        for col in range(width):
            for g in range(groups):
                beats.append(
                    tuple(
                        int(x[c, row, col]) if c < channels else (fill() if fill else 0)
                        for c in range(g * lanes, g * lanes + lanes)
                    )
                )
    return beats


def expected_beats(tensor, lanes):
    """What the unit must give for ``tensor``: ``(lanes, last)`` per beat, from the golden."""
    _, height, width = tensor.x.shape
    if min(output_shape(height, width, tensor.size, tensor.stride)) == 0:
        return []
    beats = to_beats(maxpool2d(tensor.x, tensor.size, tensor.stride), lanes)
    return [(beat, int(n == len(beats) - 1)) for n, beat in enumerate(beats)]


@dataclass
class Run:
    inputs: list  # (cycle, beat) per accepted input beat
    outputs: list  # (cycle, (lanes, last)) per output beat taken
    violations: list = field(default_factory=list)


def simulate(dut, tensors, *, seed=0, idle=0.0, ready=None, garbage=False):
    """Stream ``tensors`` back to back into ``dut``; ``idle``: chance of a gap cycle before a
    beat; ``ready``: chance of ``o.ready`` per cycle (``None``: always ready)."""
    rng = random.Random(seed)
    lanes = dut.lanes
    fill = (lambda: rng.randint(-128, 127)) if garbage else None
    streams = [to_beats(t.x, lanes, fill) for t in tensors]
    expected = sum(len(expected_beats(t, lanes)) for t in tensors)
    budget = 6 * sum(len(s) for s in streams) + 100  # >= 3.3 cycles a beat at ready 0.3
    recorder = StreamRecorder(
        dut.i, dut.o, convert=lambda p: (tuple(p.data[k] for k in range(lanes)), p.last)
    )
    driven = []

    async def driver(ctx):
        for tensor, beats in zip(tensors, streams, strict=True):
            c, h, w = tensor.x.shape
            for port, value in (
                ("height", h),
                ("width", w),
                ("channels", c),
                ("size", tensor.size),
                ("stride", tensor.stride),
            ):
                ctx.set(getattr(dut, port), value)
            for n, beat in enumerate(beats):
                while rng.random() < idle:
                    await ctx.tick()
                await stream_put(ctx, dut.i, {"data": beat, "last": n == len(beats) - 1})
        driven.append(True)

    async def consumer(ctx):
        for _ in range(expected):
            await stream_get(ctx, dut.o)
        ctx.set(dut.o.ready, 1)  # any extra beat is taken, and recorded

    async def checker(ctx):
        while (not driven or len(recorder.beats[1]) < expected) and recorder.cycle < budget:
            await ctx.tick()
        await ctx.tick().repeat(3 * LATENCY + 8)  # room for a duplicate to show up

    with poisoned_collisions():  # a read that meets a write is never used
        sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver, background=True)
    if ready is None:
        sim.add_testbench(consumer, background=True)
    else:
        sim.add_testbench(random_ready(dut.o, rng, ready), background=True)
    sim.add_testbench(recorder.testbench, background=True)
    sim.add_testbench(checker)
    sim.run()
    inputs, outputs = recorder.beats
    return Run(inputs, outputs, recorder.violations)


def check_values(run, dut, tensors, context):
    """Every output beat, in order, against the golden: nothing lost, duplicated, reordered."""
    expected = [beat for t in tensors for beat in expected_beats(t, dut.lanes)]
    where = f"[{context}; tensors {', '.join(map(str, tensors))}]"
    assert not run.violations, f"{run.violations[0]} {where}"
    sent = sum(len(to_beats(t.x, dut.lanes)) for t in tensors)
    assert len(run.inputs) == sent, f"{len(run.inputs)} input beats taken of {sent} {where}"
    for n, ((cycle, got), want) in enumerate(zip(run.outputs, expected, strict=False)):
        assert got == want, f"output beat {n} @ cycle {cycle}: got {got}, expected {want} {where}"
    assert len(run.outputs) == len(expected), (
        f"{len(run.outputs)} output beats, expected {len(expected)} {where}"
    )


def check_timing(run, dut, tensors, context):
    """No stalls: one input beat per cycle, each output beat in the golden model's cycle."""
    where = f"[{context}; tensors {', '.join(map(str, tensors))}]"
    first = run.inputs[0][0]
    in_cycles = [cycle - first for cycle, _ in run.inputs]
    assert in_cycles == list(range(len(in_cycles))), f"input stalled: {in_cycles} {where}"
    predicted, start = [], 0
    for t in tensors:
        c, h, w = t.x.shape
        predicted += [start + int(k) for k in output_cycles(h, w, c, dut.lanes, t.size, t.stride)]
        start += len(to_beats(t.x, dut.lanes))
    got = [cycle - first for cycle, _ in run.outputs]
    for n, (g, p) in enumerate(zip(got, predicted, strict=False)):
        assert g == p, f"output beat {n} @ cycle {g}, predicted cycle {p} {where}"
    assert len(got) == len(predicted), f"{len(got)} output beats, predicted {len(predicted)}"


def pool(lanes, **kwargs):
    return MaxPool2d(
        lanes=lanes,
        max_width=kwargs.pop("max_width", 16),
        max_channels=kwargs.pop("max_channels", 16),
        **kwargs,
    )


def check(dut, tensors, context, **kwargs):
    run = simulate(dut, tensors, **kwargs)
    check_values(run, dut, tensors, context)
    if kwargs.get("idle", 0) == 0 and kwargs.get("ready") is None:
        check_timing(run, dut, tensors, context)
    return run


# (channels, height, width, size, stride), lanes
SHAPES = {
    "odd-7x5-k2s2": ((3, 7, 5, 2, 2), 4),
    "odd-5x8-k3s3": ((2, 5, 8, 3, 3), 2),
    "odd-6x7-k2s1": ((1, 6, 7, 2, 1), 1),
    "overlap-9x7-k3s2": ((5, 9, 7, 3, 2), 4),
    "overlap-8x8-k4s3": ((3, 8, 8, 4, 3), 4),
    "one-channel": ((1, 6, 6, 2, 2), 4),
    "channels-multiple-of-lanes": ((8, 5, 5, 2, 2), 4),
    "channels-not-multiple-of-lanes": ((11, 6, 5, 3, 2), 4),
    "max-width-max-channels": ((16, 4, 16, 2, 1), 4),
    "window-is-input": ((2, 4, 4, 4, 4), 2),
    "smaller-than-window": ((2, 3, 5, 4, 1), 2),
}


@pytest.mark.parametrize("name", SHAPES)
def test_matches_golden_at_predicted_cycles(name):
    (c, h, w, size, stride), lanes = SHAPES[name]
    rng = random.Random(name)
    tensors = [Tensor.random(rng, c, h, w, size, stride)]
    check(pool(lanes), tensors, name)


@pytest.mark.parametrize("size, stride", [(k, s) for k in (2, 3, 4) for s in range(1, k + 1)])
def test_every_size_and_stride(size, stride):
    rng = random.Random(size * 10 + stride)
    tensors = [Tensor.random(rng, 3, size + 4, size + 5, size, stride)]
    check(pool(2), tensors, f"size {size} stride {stride}")


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2), (4, 1)])
def test_all_negative_pools_to_minimum(size, stride):
    tensors = [Tensor(np.full((6, 7, 6), -128, dtype=np.int64), size, stride)]
    run = check(pool(4), tensors, "all -128")
    assert all(
        lanes == (-128, -128, -128, -128) or lanes == (-128, -128, 0, 0)
        for _, (lanes, _) in run.outputs
    )


def test_lanes_past_channels_are_ignored_and_zero():
    rng = random.Random(5)
    tensors = [Tensor.random(rng, 5, 6, 6, 2, 2, low=-128, high=-100)]
    run = check(pool(4), tensors, "garbage in unused lanes", garbage=True)
    assert all(
        lanes[1:] == (0, 0, 0) for n, (_, (lanes, _)) in enumerate(run.outputs) if n % 2 == 1
    )


def test_back_to_back_tensors_of_different_shapes():
    rng = random.Random(11)
    tensors = [
        Tensor.random(rng, 3, 5, 6, 2, 2),
        Tensor.random(rng, 6, 7, 4, 3, 1),
        Tensor.random(rng, 1, 2, 9, 4, 2),  # smaller than the window: no output at all
        Tensor.random(rng, 1, 4, 4, 4, 4),
        Tensor.random(rng, 9, 9, 7, 3, 2),
        Tensor.random(rng, 3, 5, 6, 2, 2),
    ]
    check(pool(4), tensors, "back to back")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "idle, ready", [(0.3, None), (0.0, 0.3), (0.3, 0.6)], ids=["gaps", "backpressure", "both"]
)
def test_gaps_and_backpressure_lose_nothing(seed, idle, ready):
    rng = random.Random(seed)
    tensors = [
        Tensor.random(rng, 6, 7, 8, 3, 2),
        Tensor.random(rng, 3, 6, 5, 2, 1),
        Tensor.random(rng, 4, 5, 5, 2, 2),
    ]
    check(
        pool(4),
        tensors,
        f"seed {seed}, idle {idle}, ready {ready}",
        seed=seed,
        idle=idle,
        ready=ready,
    )


def test_backpressure_stops_only_beats_that_complete_a_window():
    """With ``o`` never ready, the unit takes every beat until ``buffer_depth`` output beats
    wait, and then none that completes a window."""
    dut = pool(1)
    tensor = Tensor.random(random.Random(3), 1, 8, 8, 2, 2)
    beats = to_beats(tensor.x, 1)
    taken = []

    async def bench(ctx):
        for port, value in (
            ("height", 8),
            ("width", 8),
            ("channels", 1),
            ("size", 2),
            ("stride", 2),
        ):
            ctx.set(getattr(dut, port), value)
        ctx.set(dut.i.valid, 1)
        for _ in range(100):
            ctx.set(dut.i.payload, {"data": beats[len(taken)], "last": 0})
            _, _, ready = await ctx.tick().sample(dut.i.ready)
            taken.extend([True] * ready)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # Output beat `buffer_depth` is the first with no room: every pixel before the one that
    # completes its window is taken, that one is refused.
    row, col = divmod(dut.buffer_depth, maxpool2d(tensor.x, 2, 2).shape[2])
    assert len(taken) == (row * 2 + 1) * 8 + col * 2 + 1


def test_ready_and_valid_do_not_look_at_valid_and_ready():
    """``i.ready`` must not depend on ``i.valid``, nor ``o.valid`` on ``o.ready``, in any cycle
    of a run with gaps and backpressure; and ``o`` holds a beat until it is taken."""
    dut = pool(2)
    rng = random.Random(9)
    beats = to_beats(Tensor.random(rng, 3, 6, 6, 3, 1).x, 2)
    mismatches = []
    recorder = StreamRecorder(dut.o)

    async def bench(ctx):
        ctx.set(dut.height, 6)
        ctx.set(dut.width, 6)
        ctx.set(dut.channels, 3)
        ctx.set(dut.size, 3)
        ctx.set(dut.stride, 1)
        n = 0
        for cycle in range(400):
            ctx.set(dut.i.payload, {"data": beats[n % len(beats)], "last": 0})
            seen = set()
            for i_valid in (0, 1):
                for o_ready in (0, 1):
                    ctx.set(dut.i.valid, i_valid)
                    ctx.set(dut.o.ready, o_ready)
                    seen.add((ctx.get(dut.i.ready), ctx.get(dut.o.valid)))
            if len(seen) != 1:
                mismatches.append(f"cycle {cycle}: {sorted(seen)}")
            ctx.set(dut.i.valid, rng.random() < 0.8)
            ctx.set(dut.o.ready, rng.random() < 0.4)
            _, _, i_fire = await ctx.tick().sample(dut.i.valid & dut.i.ready)
            n += i_fire

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(recorder.testbench, background=True)
    sim.run()
    assert not mismatches, mismatches[0]
    assert not recorder.violations, recorder.violations[0]
    assert len(recorder.beats[0]) > 50


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_random_small_shapes(data):
    lanes = data.draw(st.integers(1, 4), label="lanes")
    size = data.draw(st.integers(2, 4), label="size")
    stride = data.draw(st.integers(1, size), label="stride")
    shapes = data.draw(
        st.lists(
            st.tuples(st.integers(1, 7), st.integers(size, 8), st.integers(size, 8)),
            min_size=1,
            max_size=2,
        ),
        label="channels, height, width",
    )
    idle = data.draw(st.sampled_from([0.0, 0.3]), label="idle")
    ready = data.draw(st.sampled_from([None, 0.5]), label="ready")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = random.Random(seed)
    tensors = [Tensor.random(rng, c, h, w, size, stride) for c, h, w in shapes]
    check(
        pool(lanes, max_width=8, max_channels=7, max_size=4),
        tensors,
        f"seed {seed}, idle {idle}, ready {ready}",
        seed=seed,
        idle=idle,
        ready=ready,
    )


def test_timing_model_worked_example():
    # 4x4, one group, 2x2 stride 2: windows end at pixels 5, 7, 13, 15.
    assert output_cycles(4, 4, 3, 4, 2, 2).tolist() == [5 + 8, 7 + 8, 13 + 8, 15 + 8]
    # 3x3 stride 2 on 5x5 with 2 groups: window ends (2,2) (2,4) (4,2) (4,4), beats 2 per pixel.
    assert output_cycles(5, 5, 5, 4, 3, 2, latency=0).tolist() == [24, 25, 28, 29, 44, 45, 48, 49]
    assert output_cycles(3, 8, 1, 1, 4, 1).size == 0
    assert output_shape(7, 5, 2, 2) == (3, 2)


def test_latency_is_the_golden_models():
    dut = pool(4)
    assert dut.latency == LATENCY == 8
    assert dut.buffer_depth == LATENCY + 1


@pytest.mark.parametrize(
    "kwargs, depths",
    [
        (dict(lanes=4, max_width=32, max_channels=16), (4, 124)),
        (dict(lanes=3, max_width=7, max_channels=10), (4, 24)),
        (dict(lanes=8, max_width=2, max_channels=8), (2, 2)),
        (dict(lanes=1, max_width=1, max_channels=1), (2, 2)),
    ],
)
def test_buffer_sizes(kwargs, depths):
    dut = MaxPool2d(**kwargs)
    assert (dut.hline_depth, dut.vline_depth) == depths


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lanes=0), r"lanes must be an integer from 1 to 64, not 0"),
        (dict(lanes=65), r"lanes must be an integer from 1 to 64, not 65"),
        (dict(lanes=4.0), r"lanes must be an integer from 1 to 64, not 4\.0"),
        (dict(max_width=0), r"max_width must be an integer from 1 to 4096, not 0"),
        (dict(max_width=4097), r"max_width must be an integer from 1 to 4096, not 4097"),
        (dict(max_channels=0), r"max_channels must be an integer from 1 to 4096, not 0"),
        (dict(max_channels="16"), r"max_channels must be an integer from 1 to 4096, not '16'"),
        (dict(max_size=1), r"max_size must be an integer from 2 to 4, not 1"),
        (dict(max_size=5), r"max_size must be an integer from 2 to 4, not 5"),
        (dict(data_width=1), r"data_width must be an integer from 2 to 32, not 1"),
        (dict(data_width=True), r"data_width must be an integer from 2 to 32, not True"),
        (dict(data_width=33), r"data_width must be an integer from 2 to 32, not 33"),
    ],
)
def test_wrong_parameters(kwargs, message):
    full = dict(lanes=4, max_width=16, max_channels=16) | kwargs
    with pytest.raises(ValueError, match=rf"^{message}$"):
        MaxPool2d(**full)


def test_verilog_lints_clean():
    from sysconv.hw.verilog import to_verilog
    from sysconv.sim.lint import lint_verilog

    ok, report = lint_verilog(
        to_verilog(MaxPool2d(lanes=4, max_width=32, max_channels=16), "sysconv_maxpool"),
        "sysconv_maxpool",
        "maxpool-test",
    )
    assert ok, report


# ---- The generated Verilog, on Icarus and Verilator (and the same bench in Amaranth) ------

# One unit (4 lanes, up to 9 wide and 5 channels) for the first three cases, which run together
# in one simulator process; the others are units of their own.
FOUR_LANES = dict(lanes=4, max_width=9, max_channels=5)
RTL_CASES = {
    # name -> PoolScenario.random keyword arguments
    "odd-sizes": dict(height=7, width=9, channels=3, size=2, **FOUR_LANES),
    "overlap-3x3-s2": dict(height=9, width=8, channels=5, size=3, stride=2, **FOUR_LANES),
    "all-negative": dict(height=6, width=6, channels=4, size=2, data="negative", **FOUR_LANES),
    "4x4-s3": dict(height=10, width=11, channels=2, size=4, stride=3, lanes=2),
    "one-channel": dict(height=5, width=7, channels=1, size=3, stride=1, lanes=1),
    "many-channels": dict(height=4, width=5, channels=19, size=2, stride=1, lanes=8),
}
UNITS = [("odd-sizes", "overlap-3x3-s2", "all-negative"), ("4x4-s3",), ("one-channel",)]
UNITS += [("many-channels",)]


# Each unit is a Verilator build: Verilator runs the four-lane unit (the overlapping windows the
# stall test uses), the degenerate one-lane unit and the widest (8 lanes, channels in three
# groups); Icarus (a second to build) and Amaranth every unit.
VERILATOR_UNITS = (UNITS[0], UNITS[2], UNITS[3])


def check_all(named_scenarios, simulator, test_dir, seed):
    results = run_pools(list(named_scenarios.values()), simulator, test_dir)
    failures = [
        f"{name}: {result.message} (seed {seed}, waveform {result.waves})"
        for name, result in zip(named_scenarios, results, strict=True)
        if result.status != "pass"
    ]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "cases, simulator",
    [
        pytest.param(cases, simulator, id=f"{'+'.join(cases)}-{simulator}")
        for cases in UNITS
        for simulator in SIMULATORS
        if simulator != "verilator" or cases in VERILATOR_UNITS
    ],
)
def test_generated_verilog_matches_golden_cycle_exact(cases, simulator, test_dir):
    scenarios = {case: PoolScenario.random(seed=5, **RTL_CASES[case]) for case in cases}
    check_all(scenarios, simulator, test_dir, seed=5)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_generated_verilog_with_gaps_and_backpressure(simulator, test_dir):
    scenarios = {
        name: PoolScenario.random(
            seed=stall_seed(), idle=idle, backpressure=backpressure, **RTL_CASES["overlap-3x3-s2"]
        )
        for name, idle, backpressure in STALLS
    }
    check_all(scenarios, simulator, test_dir, seed=stall_seed())


def test_a_batch_shares_one_unit():
    scenarios = [PoolScenario.random(seed=5, **RTL_CASES[case]) for case in ("odd-sizes", "4x4-s3")]
    with pytest.raises(ValueError, match="must share the unit's lanes, max_width"):
        run_pools(scenarios, "icarus", "unused")
