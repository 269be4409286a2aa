"""The requantiser in Amaranth's simulator against golden.requantize and golden.relu: every lane
of every beat (each with its own multiplier and shift), zero points, the fixed latency whatever
the gaps, the extremes, its parameter checks."""

import random

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from sysconv import golden
from sysconv.hw.requant import Requantizer

# What golden.requantize accepts: it computes in int64.
GOLDEN_MULTIPLIER_MAX = (1 << 31) - 1
GOLDEN_SHIFT_MAX = 62
GOLDEN_PRODUCT_MAX = 1 << 62

# name -> Requantizer keyword arguments
CONFIGS = {
    "default-4": dict(lanes=4, acc_width=32),
    "int8-3": dict(lanes=3, acc_width=8, bias_width=8, mult_width=8, out_width=8),
    "narrow-2": dict(lanes=2, acc_width=12, bias_width=6, mult_width=4, out_width=5),
    # product_width 12: out_width one bit narrower (saturates only at shift 0 and 1), or as
    # wide (never saturates).
    "edge-narrower-2": dict(lanes=2, acc_width=6, bias_width=4, mult_width=5, out_width=11),
    "edge-as-wide-2": dict(lanes=2, acc_width=6, bias_width=4, mult_width=5, out_width=12),
    # out_width wider than the product: nothing ever saturates.
    "smallest-1": dict(lanes=1, acc_width=2, bias_width=2, mult_width=1, out_width=32),
    # max_shift = 62, the largest golden takes.
    "golden-widest-2": dict(lanes=2, acc_width=40, bias_width=32, mult_width=21, out_width=16),
    # Wider than golden's int64: driven with values golden can judge (see `fit`).
    "widest-2": dict(lanes=2, acc_width=64, bias_width=64, mult_width=32, out_width=32),
}


def signed_range(width):
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def multiplier_max(dut):
    return min((1 << dut.mult_width) - 1, GOLDEN_MULTIPLIER_MAX)


def shift_max(dut):
    """The largest shift a lane carries and golden takes (it may exceed ``max_shift``)."""
    return min((1 << len(dut.i.payload.shift[0])) - 1, GOLDEN_SHIFT_MAX)


def fit(acc, bias, multiplier):
    """Halve ``acc`` and ``bias`` until golden can compute ``(acc + bias) * multiplier`` exactly;
    a no-op for every configuration whose worst case golden covers."""
    while abs((acc + bias) * multiplier) > GOLDEN_PRODUCT_MAX or abs(acc + bias) >= 1 << 63:
        acc, bias = acc >> 1, bias >> 1
    return acc, bias


def expected(dut, beat):
    acc, bias, multiplier, shift, relu, zero_point = beat
    total = np.array([a + b for a, b in zip(acc, bias, strict=True)], dtype=np.int64)
    out = golden.requantize(
        total, np.array(multiplier), np.array(shift), bits=dut.out_width, zero_point=zero_point
    )
    return golden.relu(out, zero_point) if relu else out


def log_uniform(rng, lo, hi):
    """An integer in ``lo..hi`` whose magnitude is spread over the bit lengths: mostly small and
    mid-range values, and each extreme a sixteenth of the time."""
    pick = rng.random()
    if pick < 1 / 16:
        return lo
    if pick < 1 / 8:
        return hi
    bits = rng.randint(0, max(hi, -lo).bit_length())
    value = rng.randrange(1 << bits)
    value = -value if rng.random() < 0.5 else value
    return min(max(value, lo), hi)


def random_beat(dut, rng):
    acc, bias, multipliers, shifts = [], [], [], []
    for _ in range(dut.lanes):
        multiplier = log_uniform(rng, 0, multiplier_max(dut))
        a, b = fit(
            log_uniform(rng, *signed_range(dut.acc_width)),
            log_uniform(rng, *signed_range(dut.bias_width)),
            multiplier,
        )
        # Shifts near the product's magnitude give results that neither saturate nor vanish.
        shift = rng.choice(
            [
                rng.randint(0, shift_max(dut)),
                min(
                    max(abs(a + b) * multiplier, 1).bit_length() - rng.randint(0, dut.out_width),
                    shift_max(dut),
                ),
            ]
        )
        acc.append(a)
        bias.append(b)
        multipliers.append(multiplier)
        shifts.append(max(shift, 0))
    zero_point = rng.choice([0, log_uniform(rng, *signed_range(dut.out_width))])
    return acc, bias, multipliers, shifts, rng.randint(0, 1), zero_point


def simulate(dut, beats, *, idle, seed):
    """Offer ``beats`` (``(acc, bias, multiplier, shift, relu, zero_point)``, the first four
    per lane) on ``dut.i``: each cycle idle
    with probability ``idle`` or, when ``idle`` is a list, ``idle[n]`` idle cycles before beat
    ``n``. Idle cycles drive random payload and configuration, which the block must ignore.

    Returns ``(taken, outputs)``: the cycles the beats were taken in, and ``(cycle, lanes)`` for
    every cycle ``o.valid`` was high, up to ``latency + 2`` cycles after the last beat."""
    rng = random.Random(seed)
    taken, outputs = [], []

    def schedule():
        if isinstance(idle, list):
            for gap in idle:
                yield from [False] * gap
                yield True
        while True:
            yield not isinstance(idle, list) and rng.random() >= idle

    def drive(ctx, beat):
        acc, bias, multiplier, shift, relu, zero_point = beat
        for k in range(dut.lanes):
            ctx.set(dut.i.payload.acc[k], acc[k])
            ctx.set(dut.i.payload.bias[k], bias[k])
            ctx.set(dut.i.payload.multiplier[k], multiplier[k])
            ctx.set(dut.i.payload.shift[k], shift[k])
        ctx.set(dut.zero_point, zero_point)
        ctx.set(dut.relu, relu)

    async def bench(ctx):
        cycle, end = 0, dut.latency + 2
        for go in schedule():
            if len(taken) == len(beats) and cycle > end:
                break
            if ctx.get(dut.o.valid):
                outputs.append((cycle, [ctx.get(dut.o.payload[k]) for k in range(dut.lanes)]))
            go = go and len(taken) < len(beats)
            if go:
                drive(ctx, beats[len(taken)])
                taken.append(cycle)
                end = cycle + dut.latency + 2
            else:
                drive(ctx, random_beat(dut, rng))
            ctx.set(dut.i.valid, go)
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return taken, outputs


def check(dut, beats, taken, outputs, seed):
    """Every beat gives exactly one output, ``latency`` cycles after it was taken, equal in every
    lane to golden's answer for the operands and configuration that beat carried."""
    assert len(taken) == len(beats)
    assert len(outputs) == len(beats), (
        f"{len(beats)} beats taken, {len(outputs)} outputs (seed {seed})"
    )
    for n, (t, (cycle, got), beat) in enumerate(zip(taken, outputs, beats, strict=True)):
        assert cycle == t + dut.latency, (
            f"beat {n} taken in cycle {t}: o.valid in cycle {cycle}, expected cycle "
            f"{t + dut.latency} (seed {seed})"
        )
        want = expected(dut, beat).tolist()
        assert len(got) == len(want) == dut.lanes
        assert got == want, (
            f"cycle {cycle}: o.payload = {got}, expected {want} for acc={beat[0]}, "
            f"bias={beat[1]}, multiplier={beat[2]}, shift={beat[3]}, relu={beat[4]}, "
            f"zero_point={beat[5]} (beat {n}, seed {seed})"
        )


@pytest.mark.parametrize("idle", [0.0, 0.5])
@pytest.mark.parametrize("config", CONFIGS)
def test_random_vectors_match_golden(config, idle):
    seed = 1
    dut = Requantizer(**CONFIGS[config])
    rng = random.Random(seed)
    beats = [random_beat(dut, rng) for _ in range(150)]
    taken, outputs = simulate(dut, beats, idle=idle, seed=seed)
    check(dut, beats, taken, outputs, seed)
    # The stimulus reaches every region of the output range, not just 0 and the rails.
    lo, hi = signed_range(dut.out_width)
    values = {v for _, lanes in outputs for v in lanes}
    assert 0 in values
    if config not in ("edge-as-wide-2", "smallest-1"):
        assert {lo, hi} <= values
        assert any(lo < v < hi and v != 0 for v in values)


def extreme_beats(dut):
    """Every pairing of acc and bias extremes, with every extreme multiplier, shift, relu and
    zero point (the lanes of a beat alike)."""
    acc_lo, acc_hi = signed_range(dut.acc_width)
    bias_lo, bias_hi = signed_range(dut.bias_width)
    pairs = [(a, b) for a in (acc_lo, acc_hi, -1, 0, 1) for b in (bias_lo, bias_hi, 0)]
    pairs += [pairs[-1]] * (-len(pairs) % dut.lanes)
    shifts = sorted({0, 1, 2, dut.max_shift - 1, dut.max_shift, shift_max(dut)})
    beats, lanes = [], dut.lanes
    zero_points = sorted(set(signed_range(dut.out_width)) | {0})
    for multiplier in (0, 1, (1 << dut.mult_width) - 1):
        for shift in shifts:
            for relu in (0, 1):
                for zero_point in zero_points:
                    for k in range(0, len(pairs), lanes):
                        acc, bias = zip(*pairs[k : k + lanes], strict=True)
                        beats.append(
                            (
                                list(acc),
                                list(bias),
                                [multiplier] * lanes,
                                [shift] * lanes,
                                relu,
                                zero_point,
                            )
                        )
    return beats


@pytest.mark.parametrize(
    "config",
    ["default-4", "int8-3", "edge-narrower-2", "edge-as-wide-2", "smallest-1", "golden-widest-2"],
)
def test_extremes_match_golden(config):
    dut = Requantizer(**CONFIGS[config])
    # Every extreme is one golden can judge in these configurations.
    assert (1 << dut.mult_width) - 1 <= GOLDEN_MULTIPLIER_MAX
    assert dut.max_shift <= GOLDEN_SHIFT_MAX
    beats = extreme_beats(dut)
    taken, outputs = simulate(dut, beats, idle=0.3, seed=2)
    check(dut, beats, taken, outputs, seed=2)


def test_extremes_include_int32_bias_and_shifts_beyond_max_shift():
    dut = Requantizer(**CONFIGS["default-4"])
    beats = extreme_beats(dut)
    assert {-(1 << 31), (1 << 31) - 1} <= {b for beat in beats for b in beat[1]}
    assert {0, (1 << 16) - 1} <= {m for beat in beats for m in beat[2]}
    assert {0, dut.max_shift} <= {s for beat in beats for s in beat[3]}
    assert {-128, 0, 127} <= {beat[5] for beat in beats}
    # int8-3: max_shift 17 on a 5-bit lane, so shifts 18..31 are driven too.
    dut = Requantizer(**CONFIGS["int8-3"])
    assert max(s for beat in extreme_beats(dut) for s in beat[3]) == 31 > dut.max_shift


@pytest.mark.parametrize(
    "gaps",
    [
        [0] * 12,  # back to back
        [1] * 12,  # every other cycle
        [3, 0, 0, 5, 0, 1, 7, 0, 0, 0, 2, 0],
        [4, 3, 5, 4, 6, 4],  # never two beats in the pipeline
    ],
    ids=["back-to-back", "alternate", "bursts", "sparse"],
)
def test_latency_is_fixed_whatever_the_gaps(gaps):
    dut = Requantizer(lanes=2, acc_width=16)
    assert dut.latency == 6
    rng = random.Random(3)
    beats = [random_beat(dut, rng) for _ in gaps]
    taken, outputs = simulate(dut, beats, idle=gaps, seed=3)
    check(dut, beats, taken, outputs, seed=3)
    # o.valid high exactly `latency` cycles after each i.valid, and in no other cycle.
    assert [cycle for cycle, _ in outputs] == [t + 6 for t in taken]


@settings(max_examples=30, deadline=None)
@given(
    lanes=st.integers(1, 4),
    acc_width=st.integers(2, 64),
    bias_width=st.integers(2, 64),
    mult_width=st.integers(1, 32),
    out_width=st.integers(2, 32),
    count=st.integers(1, 24),
    idle=st.sampled_from([0.0, 0.3, 0.7]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_configuration_matches_golden(
    lanes, acc_width, bias_width, mult_width, out_width, count, idle, seed
):
    dut = Requantizer(
        lanes=lanes,
        acc_width=acc_width,
        bias_width=bias_width,
        mult_width=mult_width,
        out_width=out_width,
    )
    rng = random.Random(seed)
    beats = [random_beat(dut, rng) for _ in range(count)]
    taken, outputs = simulate(dut, beats, idle=idle, seed=seed)
    check(dut, beats, taken, outputs, seed)


@pytest.mark.parametrize("config", ["default-4", "int8-3", "narrow-2", "golden-widest-2"])
def test_max_shift_is_the_shift_that_zeroes_every_result(config):
    dut = Requantizer(**CONFIGS[config])
    assert (
        dut.max_shift
        == dut.product_width
        == (max(dut.acc_width, dut.bias_width) + 1 + dut.mult_width)
    )
    lo, hi = signed_range(dut.sum_width)
    # The extreme sums times the largest multiplier: the widest products there are.
    sums = np.array([lo, hi], dtype=np.int64)
    multiplier = (1 << dut.mult_width) - 1
    wide = dut.out_width + 2
    assert not golden.requantize(sums, multiplier, dut.max_shift, bits=wide).any()
    assert golden.requantize(sums, multiplier, dut.max_shift - 1, bits=wide).any()


def test_signature_and_properties():
    dut = Requantizer(lanes=3, acc_width=20, bias_width=24, mult_width=10, out_width=6)
    beat = data.StructLayout(
        {
            "acc": data.ArrayLayout(signed(20), 3),
            "bias": data.ArrayLayout(signed(24), 3),
            "multiplier": data.ArrayLayout(unsigned(10), 3),
            "shift": data.ArrayLayout(range(36), 3),
        }
    )
    assert dict(dut.signature.members) == {
        "i": In(stream.Signature(beat, always_ready=True)),
        "o": Out(stream.Signature(data.ArrayLayout(signed(6), 3), always_ready=True)),
        "zero_point": In(signed(6)),
        "relu": In(1),
    }
    assert (dut.lanes, dut.acc_width, dut.bias_width, dut.mult_width, dut.out_width) == (
        3,
        20,
        24,
        10,
        6,
    )
    assert (dut.sum_width, dut.product_width, dut.max_shift, dut.latency) == (25, 35, 35, 6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lanes=0), r"lanes must be an integer from 1 to 256, not 0"),
        (dict(lanes=257), r"lanes must be an integer from 1 to 256, not 257"),
        (dict(lanes=2.0), r"lanes must be an integer from 1 to 256, not 2\.0"),
        (dict(acc_width=1), r"acc_width must be an integer from 2 to 64, not 1"),
        (dict(acc_width=65), r"acc_width must be an integer from 2 to 64, not 65"),
        (dict(acc_width=True), r"acc_width must be an integer from 2 to 64, not True"),
        (dict(bias_width=1), r"bias_width must be an integer from 2 to 64, not 1"),
        (dict(bias_width=65), r"bias_width must be an integer from 2 to 64, not 65"),
        (dict(mult_width=0), r"mult_width must be an integer from 1 to 32, not 0"),
        (dict(mult_width=33), r"mult_width must be an integer from 1 to 32, not 33"),
        (dict(out_width=1), r"out_width must be an integer from 2 to 32, not 1"),
        (dict(out_width=33), r"out_width must be an integer from 2 to 32, not 33"),
        (dict(out_width="8"), r"out_width must be an integer from 2 to 32, not '8'"),
    ],
)
def test_wrong_parameters(kwargs, message):
    kwargs = {"lanes": 4, "acc_width": 32, **kwargs}
    with pytest.raises(ValueError, match=rf"^{message}$"):
        Requantizer(**kwargs)
    with pytest.raises(ValueError, match=rf"^{message}$"):
        Requantizer.check_parameters(**kwargs)


def test_ecp5_lane_multiplies_in_two_dsp_blocks_holding_the_register():
    # Each lane's halves in a MULT18X18D with its output register (the engine's ECP5 tests
    # check the products, tests/test_engine.py::test_ecp5_engine_bit_exact_and_cycle_exact);
    # operands wider than a DSP input multiply in logic.
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    from sysconv.hw.verilog import to_verilog

    ecp5 = to_verilog(Requantizer(**CONFIGS["default-4"]), "rq", platform=ULX3S_85F_Platform())
    assert ecp5.count("MULT18X18D #(") == ecp5.count('.REG_OUTPUT_CLK("CLK0")') == 8
    assert "MULT18X18D" not in to_verilog(Requantizer(**CONFIGS["default-4"]), "rq")
    wide = to_verilog(Requantizer(**CONFIGS["widest-2"]), "rq", platform=ULX3S_85F_Platform())
    assert "MULT18X18D" not in wide
