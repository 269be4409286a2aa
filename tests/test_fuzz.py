"""Fuzzing with hypothesis: legal configurations simulated against the golden model, illegal
ones refused up front.

Legal: hypothesis draws an engine (array shape, accumulator and multiplier widths, limits,
buffer depths, pooling) and one or two layers for it (shape, kernel, stride, padding, ReLU,
pooling, requantisation, int8 tensors, int16 or int32 biases, stalls), runs them back to back on
:class:`sysconv.hw.ConvEngine` in Amaranth's simulator, and checks every output word against the
golden model (and, without stalls, the engine's cycle counters against :mod:`sysconv.golden.perf`);
likewise :class:`sysconv.hw.SystolicArray` (shapes, widths, data, weight reloads, stalls) every
cycle against :mod:`sysconv.golden.systolic`. ``MaxPool2d`` and ``Requantizer`` have their own
hypothesis tests (``tests/test_maxpool.py``, ``tests/test_requant.py``).

Illegal: :data:`BAD_INPUTS` lists every kind of bad input (a parameter and the way it is bad:
zero or negative, too large, not an integer, too narrow, kernel larger than the padded image,
buffer too small, values outside their width, float arrays, wrong shapes, ...); hypothesis
draws the bad values. Each must raise :class:`ValueError` naming the parameter, from our own
validation (not from inside Amaranth or NumPy), before anything is elaborated or simulated.
:data:`BAD_OPTIONS` does the same for the command line: exit status 2, a message naming the
option, nothing written.

Reproducing a failure: hypothesis prints the falsifying example and a ``@reproduce_failure``
line to paste above the test, and keeps the example in ``.hypothesis/`` so the next run tries it
first; ``pytest --hypothesis-seed=N`` repeats a whole run. The number of examples comes from
the hypothesis settings profile (``tests/conftest.py``): ``ci`` by default (:data:`EXAMPLES`
``["ci"]``), ``long`` with ``pytest --hypothesis-profile=long`` (``make test-long``).
"""

import contextlib
import io
import math
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sysconv
from sysconv import golden, hw
from sysconv.cli import main as sysconv_main
from sysconv.golden import network
from sysconv.golden.perf import predict_network
from sysconv.golden.systolic import SystolicArrayModel
from sysconv.hw import MaxPool2d, ProcessingElement, Requantizer, SystolicArray
from sysconv.hw.layer import EngineConfig, LayerConfig
from sysconv.sim.array.amaranth_sim import run_array_amaranth
from sysconv.sim.array.bench import ArrayScenario
from sysconv.sim.engine.amaranth_sim import run_engine_amaranth
from sysconv.sim.engine.layer import LayerRun
from sysconv.sim.runner import build_root

OURS = [Path(p).resolve() for package in (hw, golden, sysconv) for p in package.__path__]


pytestmark = pytest.mark.fuzz


@dataclass(frozen=True)
class Profile:
    engines: int  # legal engine configurations simulated
    arrays: int  # legal array configurations simulated
    bad: int  # bad values tried per kind of bad input
    options: int  # bad values tried per kind of bad command-line option


# Examples per hypothesis profile: "ci" keeps the fuzz tests to about 2 minutes of CPU in
# `make test`; "long" is `make test-long`'s.
EXAMPLES = {
    "ci": Profile(engines=150, arrays=80, bad=30, options=8),
    "long": Profile(engines=600, arrays=400, bad=500, options=60),
}
PROFILE = EXAMPLES[settings.get_current_profile_name()]


def fuzz(examples):
    """Settings of every fuzz test: ``examples`` examples (from the profile's :data:`EXAMPLES`
    entry), the profile's other settings (no deadline: simulations vary; the
    ``@reproduce_failure`` blob printed on failure)."""
    return settings(max_examples=examples)


def signed_values(bits):
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def tensor(shape, bits):
    # Every element drawn (no fill value), so that tensors are not mostly one repeated value.
    return hnp.arrays(np.int64, shape, elements=signed_values(bits), fill=st.nothing())


# --- Legal configurations ---------------------------------------------------------------------

STALL_LEVELS = [0.0, 0.3, 0.7]


@st.composite
def layer_shapes(draw):
    """A small layer's shape (what ``LayerConfig`` takes, requantisation aside)."""
    kernel = draw(st.integers(1, 4), label="kernel")
    padding = draw(st.integers(0, kernel - 1), label="padding")
    stride = draw(st.integers(1, kernel), label="stride")
    smallest = max(1, kernel - 2 * padding)
    height = draw(st.integers(smallest, 6), label="height")
    width = draw(st.integers(smallest, 6), label="width")
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    pool_size = draw(
        st.sampled_from([0] + list(range(2, min(4, out_h, out_w) + 1))), label="pool_size"
    )
    pool_stride = draw(st.integers(1, pool_size), label="pool_stride") if pool_size else None
    return dict(
        height=height,
        width=width,
        kernel=kernel,
        stride=stride,
        padding=padding,
        in_channels=draw(st.integers(1, 4), label="in_channels"),
        out_channels=draw(st.integers(1, 4), label="out_channels"),
        relu=draw(st.booleans(), label="relu"),
        pool_size=pool_size,
        pool_stride=pool_stride,
    )


def _most(shapes, key):
    return max(key(LayerConfig(**shape)) for shape in shapes)


@st.composite
def chained_shape(draw, first):
    """A layer's shape whose input is the output of ``first`` (a shape of
    :func:`layer_shapes`), as network mode chains them."""
    before = LayerConfig(**first)
    height, width = before.pool_out_height, before.pool_out_width
    kernel = draw(st.integers(1, 4), label="kernel")
    # Padding enough for the kernel to fit the padded input.
    least = max(0, (kernel - min(height, width) + 1) // 2)
    padding = draw(st.integers(least, kernel - 1), label="padding")
    stride = draw(st.integers(1, kernel), label="stride")
    return dict(
        height=height,
        width=width,
        kernel=kernel,
        stride=stride,
        padding=padding,
        in_channels=first["out_channels"],
        out_channels=draw(st.integers(1, 4), label="out_channels"),
        relu=draw(st.booleans(), label="relu"),
        pool_size=0,
        pool_stride=None,
    )


@st.composite
def engines_for(draw, shapes, chained=False):
    """An engine that runs every layer of ``shapes``: limits at least what they need, buffers
    anywhere from what they need to the default (the largest the limits allow); with
    ``chained`` (the first layer's output the second's input, on chip) rows a multiple of the
    columns and an activation buffer from what the chain needs to twice that."""
    rows = draw(st.integers(1, 4), label="rows")
    divisors = [cols for cols in range(1, rows + 1) if rows % cols == 0]
    cols = draw(st.sampled_from(divisors) if chained else st.integers(1, 4), label="cols")
    slack = st.integers(0, 2)
    limits = dict(
        max_height=_most(shapes, lambda c: max(c.height, c.out_height)) + draw(slack),
        max_width=_most(shapes, lambda c: max(c.width, c.out_width)) + draw(slack),
        max_in_channels=_most(shapes, lambda c: c.in_channels) + draw(slack),
        max_out_channels=_most(shapes, lambda c: c.out_channels) + draw(slack),
        max_kernel=_most(shapes, lambda c: c.kernel) + draw(slack),
    )
    pools = [shape["pool_size"] for shape in shapes if shape["pool_size"]]
    limits["max_pool"] = draw(
        st.sampled_from(list(range(max(pools), 5)) if pools else [0, 2, 3, 4]), label="max_pool"
    )
    limits["mult_width"] = draw(st.integers(1, 20), label="mult_width")
    fullest = EngineConfig(rows, cols, **limits)  # acc_width the least, buffers the largest
    limits["acc_width"] = draw(st.none() | st.integers(fullest.acc_width, 64), label="acc_width")
    for depth, register in (
        ("input_depth", "in_words"),
        ("weight_depth", "weight_words"),
        ("acc_depth", "pixels"),
        ("output_depth", "out_words"),
    ):
        needed = _most(shapes, lambda c, r=register: c.registers(fullest)[r])
        limits[depth] = draw(st.none() | st.integers(needed, getattr(fullest, depth)), label=depth)
    if chained:
        words = LayerConfig(**shapes[1]).registers(fullest)["in_words"]
        limits["network_depth"] = draw(st.integers(words, 2 * words), label="network_depth")
    return EngineConfig(rows, cols, **limits)


@st.composite
def requantisations(draw, shape, mult_width):
    """``(multiplier, shift)``: mostly scales that keep typical sums of ``shape``'s products
    inside int8 (so the outputs are neither all saturated nor all zero), sometimes anything
    legal."""
    largest = (1 << mult_width) - 1
    if draw(st.sampled_from([False, False, False, True]), label="any requantisation"):
        return (
            draw(st.integers(0, largest), label="multiplier"),
            draw(st.integers(0, 62), label="shift"),
        )
    multiplier = draw(st.integers(1, largest), label="multiplier")
    # Random int8 products spread about 5500 * sqrt(terms); scale that to about 64.
    spread = 5500 * math.sqrt(shape["kernel"] ** 2 * shape["in_channels"])
    return multiplier, min(62, max(0, round(math.log2(max(multiplier, 1) * spread / 64))))


@st.composite
def engine_cases(draw):
    """``(runs, idle, backpressure, seed)``: one or two layers on one engine, and stalls; two
    layers are sometimes chained on chip (network mode: the first one's output, which the
    host never sees, is the second one's input)."""
    shapes = draw(st.lists(layer_shapes(), min_size=1, max_size=2), label="layers")
    chained = len(shapes) == 2 and draw(st.booleans(), label="chained")
    if chained:
        shapes[1] = draw(chained_shape(shapes[0]))
    engine = draw(engines_for(shapes, chained))
    runs = []
    for shape in shapes:
        multiplier, shift = draw(requantisations(shape, engine.mult_width))
        layer = LayerConfig(**shape, multiplier=multiplier, shift=shift)
        k, cin, cout = layer.kernel, layer.in_channels, layer.out_channels
        runs.append(
            LayerRun(
                engine,
                layer,
                draw(tensor((cin, layer.height, layer.width), 8), label="x"),
                draw(tensor((cout, cin, k, k), 8), label="weights"),
                # Full int32 biases mostly saturate: often 16-bit ones.
                draw(tensor((cout,), 16) | tensor((cout,), 32), label="bias"),
            )
        )
    if chained:
        first, second = runs
        runs = [
            replace(first, layer=replace(first.layer, chain_output=True)),
            replace(second, layer=replace(second.layer, chain_input=True), x=first.expected()),
        ]
    idle = draw(st.sampled_from(STALL_LEVELS), label="idle")
    backpressure = draw(st.sampled_from(STALL_LEVELS), label="backpressure")
    return runs, idle, backpressure, draw(st.integers(0, 2**32 - 1), label="stall seed")


def check_engine(case):
    runs, idle, backpressure, seed = case
    # The bench compares every output word, in order, with the golden model as it arrives.
    bench = run_engine_amaranth(runs, idle=idle, backpressure=backpressure, seed=seed)
    engine = runs[0].engine
    # The layers whose output comes back (a chained layer's stays on chip).
    host = [n for n, run in enumerate(runs) if not run.layer.chain_output]
    for n, sink in zip(host, bench.sinks, strict=True):
        np.testing.assert_array_equal(
            runs[n].layer.output_tensor(engine, sink.received),
            runs[n].expected(),
            err_msg=f"layer {n}",
        )
    if not idle and not backpressure:
        predicted = predict_network(engine.rows, engine.cols, [run.layer for run in runs])
        for n, measured in zip(host, bench.timing, strict=True):
            model = predicted[n]
            assert measured.compute_cycles == model.compute_cycles, f"layer {n}"
            assert measured.layer_cycles == model.layer_cycles, f"layer {n}"
            start = measured.start
            assert [c - start for c in measured.output_cycles] == model.output_beat_cycles, (
                f"layer {n}: output word cycles"
            )


@pytest.mark.heavy
@fuzz(PROFILE.engines)
@given(case=engine_cases())
def test_engine_matches_golden(case):
    check_engine(case)


@st.composite
def array_cases(draw):
    rows, cols = draw(st.integers(1, 6), label="rows"), draw(st.integers(1, 6), label="cols")
    act_width = draw(st.integers(2, 16), label="act_width")
    weight_width = draw(st.integers(2, 16), label="weight_width")
    acc_width = draw(
        st.integers(SystolicArray.min_acc_width(rows, act_width, weight_width), 64),
        label="acc_width",
    )
    vectors = draw(st.integers(1, 24), label="vectors")
    sets = draw(st.integers(1, min(3, vectors)), label="weight sets")
    return ArrayScenario(
        rows=rows,
        cols=cols,
        act_width=act_width,
        weight_width=weight_width,
        acc_width=acc_width,
        weight_sets=draw(tensor((sets, rows, cols), weight_width), label="weights").tolist(),
        vectors=draw(tensor((vectors, rows), act_width), label="vectors").tolist(),
        set_of=((np.arange(vectors) * sets) // vectors).tolist(),
        idle=draw(st.sampled_from(STALL_LEVELS), label="idle"),
        backpressure=draw(st.sampled_from(STALL_LEVELS), label="backpressure"),
        seed=draw(st.integers(0, 2**32 - 1), label="stall seed"),
    )


@fuzz(PROFILE.arrays)
@given(scenario=array_cases())
def test_array_matches_golden_every_cycle(scenario):
    # Raises on the first cycle that differs from golden.systolic, or a result from
    # golden.matmul.
    run_array_amaranth(scenario)


# --- Illegal inputs ---------------------------------------------------------------------------

# Values that are not integers, though some look like one (3.0, True, "3", Fraction(6, 2)).
NOT_INTEGERS = st.one_of(
    st.floats(),
    st.booleans(),
    st.text(max_size=3),
    st.fractions(),
    st.complex_numbers(),
    st.decimals(allow_nan=False),
    st.lists(st.integers(0, 9), max_size=1),
    st.just(None),
)


def outside(low, high=None):
    """Integers below ``low`` or above ``high`` (unbounded above when ``high`` is None)."""
    below = st.integers(max_value=low - 1)
    return below if high is None else below | st.integers(min_value=high + 1)


@dataclass(frozen=True)
class Bad:
    """A kind of bad input: ``apply(value)`` must raise ValueError naming ``parameter``."""

    where: str  # the function or constructor
    parameter: str
    badness: str
    values: object  # hypothesis strategy of bad values
    apply: object
    shows_value: bool = True  # the message also shows the value (repr)

    @property
    def id(self):
        return f"{self.where}.{self.parameter}:{self.badness}"


def scalar_kinds(where, build, ranges, *, none_ok=()):
    """Too small, too large and non-integer kinds for each ``parameter: (low, high)`` of
    ``ranges``; ``build(**{parameter: value})`` applies a value."""
    kinds = []
    for name, (low, high) in ranges.items():

        def apply(value, name=name):
            return build(**{name: value})

        kinds.append(Bad(where, name, "too small", outside(low), apply))
        if high is not None:
            kinds.append(Bad(where, name, "too large", st.integers(min_value=high + 1), apply))
        not_int = NOT_INTEGERS.filter(lambda v: v is not None) if name in none_ok else NOT_INTEGERS
        kinds.append(Bad(where, name, "not an integer", not_int, apply))
    return kinds


def engine(**overrides):
    return EngineConfig(**{"rows": 2, "cols": 2, **overrides})


# An engine and a layer that fits it; bad layer kinds change one parameter of LAYER.
ENGINE = EngineConfig(
    2,
    3,
    max_height=8,
    max_width=8,
    max_in_channels=5,
    max_out_channels=5,
    max_kernel=3,
    max_pool=3,
    mult_width=12,
)
LAYER = dict(height=6, width=6, in_channels=3, out_channels=4, kernel=3, padding=1)


def layer(engine_config=ENGINE, **overrides):
    LayerConfig(**{**LAYER, **overrides}).check(engine_config)


@st.composite
def kernel_past_image(draw):
    """``(kernel, padding, height, width)`` with the kernel larger than the padded image."""
    kernel = draw(st.integers(2, 15))
    padding = draw(st.integers(0, (kernel - 2) // 2))
    small = st.integers(1, kernel - 2 * padding - 1)
    big = st.integers(1, 16)
    height, width = draw(st.sampled_from([(small, big), (big, small), (small, small)]))
    return kernel, padding, draw(height), draw(width)


BIG_ENGINE = EngineConfig(
    1, 1, max_height=16, max_width=16, max_in_channels=1, max_out_channels=1, max_kernel=15
)


def _kernel_past_image(case):
    kernel, padding, height, width = case
    LayerConfig(height, width, 1, 1, kernel, padding=padding).check(BIG_ENGINE)


@st.composite
def buffer_too_small(draw, depth):
    """An engine whose ``depth`` is below what :data:`LAYER` needs (and LAYER)."""
    needs = LayerConfig(**LAYER).registers(ENGINE)
    needed = {
        "input_depth": needs["in_words"],
        "weight_depth": needs["weight_words"],
        "acc_depth": needs["pixels"],
        "output_depth": needs["out_words"],
    }[depth]
    low = ENGINE.rows if depth == "weight_depth" else 1
    return draw(st.integers(low, needed - 1))


def _small_buffer(depth):
    def apply(value):
        layer(
            EngineConfig(
                **{
                    **{
                        f: getattr(ENGINE, f)
                        for f in (
                            "rows",
                            "cols",
                            "max_height",
                            "max_width",
                            "max_in_channels",
                            "max_out_channels",
                            "max_kernel",
                            "max_pool",
                            "mult_width",
                        )
                    },
                    depth: value,
                }
            )
        )

    return apply


WEIGHTS_SHAPE = (LAYER["out_channels"], LAYER["in_channels"], 3, 3)
X_SHAPE = (LAYER["in_channels"], LAYER["height"], LAYER["width"])


GOOD_WEIGHTS = np.zeros(WEIGHTS_SHAPE, np.int64)
GOOD_BIAS = np.zeros(LAYER["out_channels"], np.int64)


def _packet(weights=GOOD_WEIGHTS, bias=GOOD_BIAS):
    LayerConfig(**LAYER).packet(ENGINE, weights, bias)


def _input(x):
    LayerConfig(**LAYER).input_beats(ENGINE, x)


@st.composite
def one_value_outside(draw, shape, low, high):
    """An int64 array of ``shape``, in range but for one value outside ``low..high``."""
    array = draw(hnp.arrays(np.int64, shape, elements=st.integers(low, high)))
    index = draw(st.tuples(*(st.integers(0, n - 1) for n in shape)))
    array[index] = draw(st.integers(-(1 << 63), low - 1) | st.integers(high + 1, (1 << 63) - 1))
    return array


def non_integer_arrays(shape):
    """Arrays of the right shape but a non-integer dtype (even when the values are whole)."""
    return st.one_of(
        hnp.arrays(hnp.floating_dtypes(), shape),
        hnp.arrays(np.bool_, shape),
        hnp.arrays(hnp.complex_number_dtypes(), shape),
        hnp.arrays(object, shape, elements=st.integers(-3, 3)),
        hnp.arrays(hnp.unicode_string_dtypes(max_len=2), shape),
    )


def wrong_shapes(shape):
    return (
        hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=7)
        .filter(lambda s: s != shape)
        .map(lambda s: np.zeros(s, np.int64))
    )


# Tensors must be arrays of the right shape and width: bad ones of each kind.
TENSOR_KINDS = [
    Bad(
        "LayerConfig.packet",
        "weights",
        "outside int8",
        one_value_outside(WEIGHTS_SHAPE, -128, 127),
        lambda v: _packet(weights=v),
        shows_value=False,
    ),
    Bad(
        "LayerConfig.packet",
        "weights",
        "not integers",
        non_integer_arrays(WEIGHTS_SHAPE),
        lambda v: _packet(weights=v),
        shows_value=False,
    ),
    Bad(
        "LayerConfig.packet",
        "weights",
        "wrong shape",
        wrong_shapes(WEIGHTS_SHAPE),
        lambda v: _packet(weights=v),
        shows_value=False,
    ),
    Bad(
        "LayerConfig.packet",
        "weights",
        "not an array",
        st.one_of(st.none(), st.text(), st.just([[1, 2], [3]])),
        lambda v: _packet(weights=v),
        shows_value=False,
    ),
    Bad(
        "LayerConfig.packet",
        "bias",
        "outside int32",
        one_value_outside((LAYER["out_channels"],), -(1 << 31), (1 << 31) - 1),
        lambda v: _packet(bias=v),
        shows_value=False,
    ),
    Bad(
        "LayerConfig.packet",
        "bias",
        "not integers",
        non_integer_arrays((LAYER["out_channels"],)),
        lambda v: _packet(bias=v),
        shows_value=False,
    ),
    Bad(
        "LayerConfig.packet",
        "bias",
        "wrong shape",
        wrong_shapes((LAYER["out_channels"],)),
        lambda v: _packet(bias=v),
        shows_value=False,
    ),
    Bad(
        "LayerConfig.input_beats",
        "x",
        "outside int8",
        one_value_outside(X_SHAPE, -128, 127),
        _input,
        shows_value=False,
    ),
    Bad(
        "LayerConfig.input_beats",
        "x",
        "not integers",
        non_integer_arrays(X_SHAPE),
        _input,
        shows_value=False,
    ),
    Bad(
        "LayerConfig.input_beats",
        "x",
        "wrong shape",
        wrong_shapes(X_SHAPE),
        _input,
        shows_value=False,
    ),
]

LAYER_KINDS = (
    scalar_kinds(
        "LayerConfig",
        layer,
        dict(
            height=(1, 8),
            width=(1, 8),
            in_channels=(1, 5),
            out_channels=(1, 5),
            kernel=(1, 3),
            stride=(1, 3),
            padding=(0, 2),
            multiplier=(0, (1 << 12) - 1),
            shift=(0, 62),
        ),
    )
    + [
        Bad(
            "LayerConfig",
            "relu",
            "not a bool",
            st.one_of(st.integers(), NOT_INTEGERS).filter(lambda v: not isinstance(v, bool)),
            lambda v: layer(relu=v),
        ),
        Bad(
            "LayerConfig",
            "kernel",
            "larger than the padded image",
            kernel_past_image(),
            _kernel_past_image,
            shows_value=False,
        ),
        Bad(
            "LayerConfig",
            "max_height",
            "output larger than the engine",
            st.integers(7, 8).map(lambda side: (side, 3)),
            lambda case: LayerConfig(case[0], case[0], 1, 1, case[1], padding=2).check(ENGINE),
            shows_value=False,
        ),
        Bad(
            "LayerConfig",
            "pool_size",
            "too small",
            st.integers(max_value=1).filter(bool),
            lambda v: layer(pool_size=v),
        ),
        Bad(
            "LayerConfig",
            "pool_size",
            "above the engine's max_pool",
            st.integers(min_value=4),
            lambda v: layer(pool_size=v),
        ),
        Bad(
            "LayerConfig", "pool_size", "not an integer", NOT_INTEGERS, lambda v: layer(pool_size=v)
        ),
        Bad(
            "LayerConfig",
            "pool_size",
            "on an engine without pooling",
            st.integers(2, 4),
            lambda v: layer(
                engine(
                    max_pool=0, max_height=8, max_width=8, max_in_channels=5, max_out_channels=5
                ),
                pool_size=v,
            ),
            shows_value=False,
        ),
        Bad(
            "LayerConfig",
            "pool_size",
            "larger than the conv output",
            st.integers(2, 3),
            lambda v: layer(height=v - 1, width=6, padding=0, kernel=1, pool_size=v),
        ),
        Bad(
            "LayerConfig",
            "pool_stride",
            "too small",
            outside(1),
            lambda v: layer(pool_size=2, pool_stride=v),
        ),
        Bad(
            "LayerConfig",
            "pool_stride",
            "larger than pool_size",
            st.integers(min_value=3),
            lambda v: layer(pool_size=2, pool_stride=v),
        ),
        Bad(
            "LayerConfig",
            "pool_stride",
            "not an integer",
            NOT_INTEGERS.filter(lambda v: v is not None),
            lambda v: layer(pool_size=2, pool_stride=v),
        ),
        Bad(
            "LayerConfig",
            "pool_stride",
            "without pooling",
            st.integers().filter(bool),
            lambda v: layer(pool_stride=v),
        ),
    ]
    + [
        Bad(
            "LayerConfig",
            depth,
            "buffer too small for the layer",
            buffer_too_small(depth),
            _small_buffer(depth),
        )
        for depth in ("input_depth", "weight_depth", "acc_depth", "output_depth")
    ]
)

ENGINE_KINDS = scalar_kinds(
    "EngineConfig",
    engine,
    dict(
        rows=(1, 64),
        cols=(1, 64),
        max_height=(1, 4096),
        max_width=(1, 4096),
        max_in_channels=(1, 4096),
        max_out_channels=(1, 4096),
        max_kernel=(1, 15),
        mult_width=(1, 31),
        acc_width=(24, 64),
        # The default engine (24x24 maps, 32 -> 64 channels, 3x3) on a 2x2 array needs at most
        # (the input and output buffers twice that: two banks, for double buffering):
        input_depth=(1, 2 * 24 * 24 * 16),
        weight_depth=(2, 32 * 9 * 16 * 2),
        acc_depth=(1, 24 * 24),
        output_depth=(1, 2 * 24 * 24 * 32),
    ),
    none_ok=("acc_width", "input_depth", "weight_depth", "acc_depth", "output_depth"),
) + [
    Bad(
        "EngineConfig",
        "max_pool",
        "not 0 or 2 to 4",
        st.integers().filter(lambda v: v not in (0, 2, 3, 4)),
        lambda v: engine(max_pool=v),
    ),
    Bad("EngineConfig", "max_pool", "not an integer", NOT_INTEGERS, lambda v: engine(max_pool=v)),
]

COMPONENT_KINDS = (
    scalar_kinds(
        "SystolicArray",
        lambda **kw: SystolicArray(**{"rows": 2, "cols": 2, **kw}),
        dict(
            rows=(1, 256),
            cols=(1, 256),
            act_width=(2, 32),
            weight_width=(2, 32),
            acc_width=(SystolicArray.min_acc_width(2, 8, 8), 64),
            buffer_depth=(2, 65536),
        ),
        none_ok=("buffer_depth",),
    )
    + scalar_kinds(
        "MaxPool2d",
        lambda **kw: MaxPool2d(**{"lanes": 2, "max_width": 8, "max_channels": 4, **kw}),
        dict(
            lanes=(1, 64),
            max_width=(1, 4096),
            max_channels=(1, 4096),
            max_size=(2, 4),
            data_width=(2, 32),
        ),
    )
    + scalar_kinds(
        "Requantizer",
        lambda **kw: Requantizer(**{"lanes": 2, "acc_width": 24, **kw}),
        dict(
            lanes=(1, 256),
            acc_width=(2, 64),
            bias_width=(2, 64),
            mult_width=(1, 32),
            out_width=(2, 32),
        ),
    )
    + scalar_kinds(
        "ProcessingElement",
        lambda **kw: ProcessingElement(
            **{"act_width": 8, "weight_width": 8, "acc_width": 32, **kw}
        ),
        dict(act_width=(2, 32), weight_width=(2, 32), acc_width=(2, 64)),
    )
)

X = np.zeros((2, 4, 4), np.int64)
W = np.zeros((3, 2, 3, 3), np.int64)

GOLDEN_KINDS = (
    [
        Bad(
            "conv2d",
            "x",
            "not integers",
            non_integer_arrays((2, 4, 4)),
            lambda v: golden.conv2d(v, W),
            shows_value=False,
        ),
        Bad(
            "conv2d",
            "x",
            "outside act_bits",
            one_value_outside((2, 4, 4), -128, 127),
            lambda v: golden.conv2d(v, W, act_bits=8),
            shows_value=False,
        ),
        Bad(
            "conv2d",
            "w",
            "outside weight_bits",
            one_value_outside((3, 2, 3, 3), -8, 7),
            lambda v: golden.conv2d(X, v, weight_bits=4),
            shows_value=False,
        ),
        Bad(
            "conv2d",
            "w",
            "wrong dimensions",
            hnp.array_shapes(min_dims=0, max_dims=6)
            .filter(lambda s: len(s) != 4)
            .map(lambda s: np.zeros(s, np.int64)),
            lambda v: golden.conv2d(X, v),
            shows_value=False,
        ),
        Bad(
            "conv2d",
            "w",
            "kernel larger than the padded input",
            st.integers(5, 9).map(lambda k: np.zeros((1, 2, k, k), np.int64)),
            lambda v: golden.conv2d(X, v),
            shows_value=False,
        ),
        Bad("conv2d", "stride", "too small", outside(1), lambda v: golden.conv2d(X, W, stride=v)),
        Bad(
            "conv2d",
            "stride",
            "not an integer",
            NOT_INTEGERS,
            lambda v: golden.conv2d(X, W, stride=v),
        ),
        Bad("conv2d", "padding", "negative", outside(0), lambda v: golden.conv2d(X, W, padding=v)),
        Bad(
            "conv2d",
            "bias",
            "wrong length",
            st.integers(0, 9).filter(lambda n: n != 3).map(lambda n: np.zeros(n, np.int64)),
            lambda v: golden.conv2d(X, W, v),
            shows_value=False,
        ),
        Bad(
            "conv2d",
            "act_bits",
            "out of range",
            outside(1, 64),
            lambda v: golden.conv2d(X, W, act_bits=v),
        ),
        Bad("maxpool2d", "size", "too small", outside(1), lambda v: golden.maxpool2d(X, v)),
        Bad(
            "maxpool2d",
            "size",
            "larger than the padded input",
            st.integers(5, 99),
            lambda v: golden.maxpool2d(X, v),
            shows_value=False,
        ),
        Bad("maxpool2d", "stride", "too small", outside(1), lambda v: golden.maxpool2d(X, 2, v)),
        Bad(
            "maxpool2d",
            "padding",
            "more than half the window",
            st.integers(2, 9),
            lambda v: golden.maxpool2d(X, 3, 1, v),
            shows_value=False,
        ),
        Bad(
            "maxpool2d",
            "x",
            "empty image",
            st.tuples(st.integers(0, 3), st.integers(0, 3)).filter(lambda hw: 0 in hw),
            lambda hw: golden.maxpool2d(np.zeros((2, *hw), np.int64), 2, padding=1),
            shows_value=False,
        ),
        Bad(
            "maxpool2d",
            "x",
            "not integers",
            non_integer_arrays((2, 4, 4)),
            lambda v: golden.maxpool2d(v, 2),
            shows_value=False,
        ),
        Bad(
            "requantize",
            "multiplier",
            "out of range",
            outside(0, (1 << 31) - 1).filter(lambda v: -(1 << 63) <= v < (1 << 63)),
            lambda v: golden.requantize(X, v, 0),
            shows_value=False,
        ),
        Bad(
            "requantize",
            "shift",
            "out of range",
            outside(0, 62).filter(lambda v: -(1 << 63) <= v < (1 << 63)),
            lambda v: golden.requantize(X, 1, v),
            shows_value=False,
        ),
        Bad(
            "requantize",
            "bits",
            "out of range",
            outside(2, 32),
            lambda v: golden.requantize(X, 1, 0, bits=v),
        ),
        Bad(
            "requantize",
            "acc",
            "not integers",
            non_integer_arrays((2, 3)),
            lambda v: golden.requantize(v, 1, 0),
            shows_value=False,
        ),
        Bad("relu", "x", "not integers", non_integer_arrays((3,)), golden.relu, shows_value=False),
        Bad(
            "matmul",
            "w",
            "reduction mismatch",
            st.integers(0, 9).filter(lambda r: r != 4).map(lambda r: np.zeros((r, 2), np.int64)),
            lambda v: golden.matmul(np.zeros((3, 4), np.int64), v),
            shows_value=False,
        ),
    ]
    + scalar_kinds(
        "SystolicArrayModel",
        lambda **kw: SystolicArrayModel(**{"rows": 2, "cols": 2, **kw}),
        dict(
            rows=(1, None),
            cols=(1, None),
            act_width=(1, 32),
            weight_width=(1, 32),
            acc_width=(1, 64),
            buffer_depth=(2, None),
        ),
        none_ok=("buffer_depth",),
    )
    + scalar_kinds(
        "network.Conv2d",
        lambda **kw: network.Conv2d(
            **{"in_channels": 2, "out_channels": 2, "kernel_size": 3, **kw}
        ),
        dict(
            in_channels=(1, None),
            out_channels=(1, None),
            kernel_size=(1, None),
            stride=(1, None),
            padding=(0, None),
        ),
    )
    + scalar_kinds(
        "network.Linear",
        lambda **kw: network.Linear(**{"in_features": 2, "out_features": 2, **kw}),
        dict(in_features=(1, None), out_features=(1, None)),
    )
    + scalar_kinds(
        "network.MaxPool2d",
        lambda **kw: network.MaxPool2d(**{"kernel_size": 2, **kw}),
        dict(kernel_size=(1, None)),
    )
    + [
        Bad(
            "network.Conv2d",
            "weight",
            "outside int8",
            one_value_outside((2, 2, 3, 3), -128, 127),
            lambda v: setattr(network.Conv2d(2, 2, 3), "weight", v),
            shows_value=False,
        ),
        Bad(
            "network.Conv2d",
            "bias",
            "outside int32",
            one_value_outside((2,), -(1 << 31), (1 << 31) - 1),
            lambda v: setattr(network.Conv2d(2, 2, 3), "bias", v),
            shows_value=False,
        ),
        Bad(
            "network.Linear",
            "multiplier",
            "out of range",
            outside(0, (1 << 31) - 1),
            lambda v: setattr(network.Linear(2, 2), "multiplier", v),
        ),
        Bad(
            "network.Linear",
            "shift",
            "out of range",
            outside(0, 62),
            lambda v: setattr(network.Linear(2, 2), "shift", v),
        ),
    ]
)

BAD_INPUTS = ENGINE_KINDS + LAYER_KINDS + TENSOR_KINDS + COMPONENT_KINDS + GOLDEN_KINDS


def raised_by_our_validation(excinfo):
    """Whether the exception came from a ``raise`` in our own code (hw, golden, sysconv)."""
    path = Path(excinfo.traceback[-1].path).resolve()
    return any(path.is_relative_to(root) for root in OURS)


def names(message, parameter):
    """Whether ``message`` names ``parameter`` as a word of its own (``height`` is not named
    by ``max_height``; ``pool_stride`` may be written ``--pool-stride``)."""
    words = re.findall(r"[\w-]+", message)
    return parameter in {word.lstrip("-").replace("-", "_") for word in words}


def check_refused(kind, value):
    with pytest.raises(ValueError) as excinfo:
        kind.apply(value)
    message = str(excinfo.value)
    assert raised_by_our_validation(excinfo), (
        f"raised inside {excinfo.traceback[-1].path}, not by our checks: {message}"
    )
    assert names(message, kind.parameter), f"{message!r} does not name {kind.parameter}"
    if kind.shows_value:
        assert repr(value) in message, f"{message!r} does not show the value {value!r}"


@pytest.mark.parametrize("kind", BAD_INPUTS, ids=lambda kind: kind.id)
@fuzz(PROFILE.bad)
@given(data=st.data())
def test_bad_input_is_refused_naming_the_parameter(kind, data):
    check_refused(kind, data.draw(kind.values, label=kind.parameter))


# --- Illegal command-line options -------------------------------------------------------------

CONV = [
    "sim",
    "conv",
    "--height",
    "6",
    "--width",
    "6",
    "--in-channels",
    "2",
    "--out-channels",
    "2",
    "--kernel",
    "3",
    "--rows",
    "2",
    "--cols",
    "2",
    "--simulator",
    "amaranth",
    "--no-waves",
]
ARRAY = [
    "sim",
    "array",
    "--rows",
    "2",
    "--cols",
    "2",
    "--vectors",
    "4",
    "--simulator",
    "amaranth",
    "--no-waves",
]
POOL = [
    "sim",
    "pool",
    "--height",
    "5",
    "--width",
    "5",
    "--channels",
    "2",
    "--size",
    "2",
    "--lanes",
    "2",
    "--simulator",
    "amaranth",
    "--no-waves",
]


@dataclass(frozen=True)
class BadOption:
    """``base`` with ``option`` set to a bad value (``extra`` also given) must exit 2 with a
    message naming ``name`` and write nothing."""

    base: list
    option: str
    badness: str
    values: object
    extra: tuple = ()
    names: str = ""  # the parameter the message must name, when not the option's

    @property
    def name(self):
        return self.names or self.option.lstrip("-").replace("-", "_")

    @property
    def id(self):
        return f"{' '.join(self.base[:2])} {self.option}:{self.badness}"

    def argv(self, value, out):
        out_option = (
            ["-o", str(out / "out.v")]
            if self.base[0] == "verilog"
            else ["--out", str(out)]
            if self.base[0] == "demo"
            else ["--workdir", str(out)]
        )
        return [*self.base, *self.extra, self.option, str(value), *out_option]


BAD_OPTIONS = [
    BadOption(CONV, "--height", "zero or negative", outside(1)),
    BadOption(CONV, "--height", "beyond any engine", st.integers(min_value=4097)),
    BadOption(CONV, "--width", "zero or negative", outside(1)),
    BadOption(CONV, "--in-channels", "zero or negative", outside(1)),
    BadOption(CONV, "--out-channels", "zero or negative", outside(1)),
    BadOption(CONV, "--kernel", "zero or negative", outside(1)),
    BadOption(CONV, "--kernel", "larger than the padded image", st.integers(7, 15)),
    BadOption(CONV, "--stride", "zero or negative", outside(1)),
    BadOption(CONV, "--stride", "larger than the kernel", st.integers(min_value=4)),
    BadOption(CONV, "--padding", "negative or not below the kernel", outside(0, 2)),
    BadOption(CONV, "--pool", "not 2 to 4", outside(2, 4).filter(bool), names="pool_size"),
    BadOption(
        CONV,
        "--pool-stride",
        "zero, negative or past the window",
        outside(1, 2),
        extra=("--pool", "2"),
    ),
    BadOption(CONV, "--pool-stride", "without --pool", st.integers(1, 4)),
    BadOption(CONV, "--rows", "out of range", outside(1, 64)),
    # The layer is what does not fit: the message names its height.
    BadOption(CONV, "--max-height", "below the layer", st.integers(1, 5), names="height"),
    BadOption(
        CONV, "--max-pool", "not 0 or 2 to 4", st.integers().filter(lambda v: v not in (0, 2, 3, 4))
    ),
    BadOption(CONV, "--seed", "negative", outside(0)),
    BadOption(CONV, "--idle", "not a probability", st.floats().filter(lambda p: not 0 <= p < 1)),
    BadOption(
        CONV, "--backpressure", "not a probability", st.floats().filter(lambda p: not 0 <= p < 1)
    ),
    BadOption(ARRAY, "--rows", "out of range", outside(1, 256)),
    BadOption(ARRAY, "--act-width", "out of range", outside(2, 32)),
    BadOption(
        ARRAY,
        "--acc-width",
        "too narrow",
        st.integers(max_value=SystolicArray.min_acc_width(2, 8, 8) - 1),
    ),
    BadOption(ARRAY, "--vectors", "zero or negative", outside(1)),
    BadOption(ARRAY, "--weight-sets", "not 1 to --vectors", outside(1, 4)),
    BadOption(ARRAY, "--seed", "negative", outside(0)),
    BadOption(POOL, "--height", "out of range", outside(1, 65535)),
    BadOption(POOL, "--width", "zero or negative", outside(1)),
    BadOption(POOL, "--channels", "zero or negative", outside(1)),
    BadOption(POOL, "--size", "not 2 to 4", outside(2, 4)),
    BadOption(POOL, "--size", "larger than the image", st.just(4), extra=("--height", "3")),
    BadOption(POOL, "--stride", "not 1 to --size", outside(1, 2)),
    BadOption(POOL, "--lanes", "out of range", outside(1, 64)),
    BadOption(POOL, "--seed", "negative", outside(0)),
    BadOption(["demo"], "--images", "zero or negative", outside(1)),
    BadOption(["demo"], "--batch", "zero or negative", outside(1)),
    BadOption(["demo"], "--rows", "out of range", outside(1, 64)),
    BadOption(
        ["demo"],
        "--cols",
        "not a divisor of --rows in network mode",
        st.integers(1, 64).filter(lambda cols: 8 % cols),
        extra=("--network-mode",),
    ),
    BadOption(
        ["verilog", "--top", "accel", "--rows", "2", "--cols", "2"],
        "--max-height",
        "zero or negative",
        outside(1),
    ),
    BadOption(
        ["verilog", "--top", "accel", "--rows", "2", "--cols", "2"],
        "--max-kernel",
        "out of range",
        outside(1, 15),
    ),
]


def check_option_refused(kind, value):
    # In-process, so that an unexpected exception fails the test with its traceback.
    folder = build_root() / "fuzz-cli"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        out = Path(tmp) / "run"
        stderr = io.StringIO()
        with (
            pytest.raises(SystemExit) as excinfo,
            contextlib.redirect_stderr(stderr),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            sysconv_main(kind.argv(value, out))
        message = stderr.getvalue().strip().splitlines()[-1]
        assert excinfo.value.code == 2, f"exit status {excinfo.value.code}: {message}"
        assert names(message, kind.name), f"{message!r} does not name {kind.name}"
        assert not out.exists(), f"{out} was written"


@pytest.mark.parametrize("kind", BAD_OPTIONS, ids=lambda kind: kind.id)
@fuzz(PROFILE.options)
@given(data=st.data())
def test_bad_option_exits_2_naming_it(kind, data):
    check_option_refused(kind, data.draw(kind.values, label=kind.option))


def test_every_kind_of_bad_input_is_distinct():
    ids = [kind.id for kind in BAD_INPUTS] + [kind.id for kind in BAD_OPTIONS]
    assert len(ids) == len(set(ids))
    # The figure for the closing note of issue 8.
    print(f"{len(BAD_INPUTS)} kinds of bad input, {len(BAD_OPTIONS)} of bad options")
