"""Tap packing (issue 19): a conv pass run as a 1x1 convolution over the output pixels, its
input laid out by the host (im2col). The layout against loops, the packed pass against the
golden network it replaces, the compiler's choice, and its error messages. The RTL runs packed
passes in tests/test_onnx.py (a network on every simulator) and tests/test_demo.py (the seed
CNN)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysconv import models
from sysconv.cli import main
from sysconv.compiler import CompileError, compile_network, engine_for, packing_pays
from sysconv.golden.network import Conv2d, MaxPool2d, ReLU, Sequential
from sysconv.golden.perf import predict_batch, predict_layer
from sysconv.hw.layer import EngineConfig, pack_tap_weights, pack_taps
from sysconv.sim.engine.layer import LayerRun
from sysconv.sim.network.scenario import host_input

SEED_CNN = models.path(models.DIGITS_CNN)


@settings(max_examples=50)
@given(
    channels=st.integers(1, 5),
    kernel=st.sampled_from([1, 3, 5, 7]),
    stride=st.integers(1, 2),
    extra=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    seed=st.integers(0, 2**16),
)
def test_pack_taps_against_loops(channels, kernel, stride, extra, seed):
    rng = np.random.default_rng(seed)
    (height, width) = (kernel + extra[0], kernel + extra[1])
    x = rng.integers(-128, 128, (channels, height, width))
    packed = pack_taps(x, kernel, stride)
    (out_h, out_w) = ((height - kernel) // stride + 1, (width - kernel) // stride + 1)
    assert packed.shape == (kernel * kernel * channels, out_h, out_w)
    for r in range(out_h):
        for q in range(out_w):
            patch = [
                x[c, r * stride + i, q * stride + j]
                for i in range(kernel)
                for j in range(kernel)
                for c in range(channels)
            ]
            assert packed[:, r, q].tolist() == patch, f"pixel ({r}, {q})"
    w = rng.integers(-128, 128, (2, channels, kernel, kernel))
    flat = pack_tap_weights(w)
    assert flat.shape == (2, kernel * kernel * channels, 1, 1)
    for o in range(2):
        column = [
            w[o, c, i, j] for i in range(kernel) for j in range(kernel) for c in range(channels)
        ]
        assert flat[o, :, 0, 0].tolist() == column


def _quantised(layers, rng, zero_points):
    """``layers`` with random int8 weights, per-channel scales that keep outputs varied, and
    input and output zero points ``zero_points``."""
    network = Sequential(*layers)
    conv = network[0]
    conv.weight = rng.integers(-128, 128, conv.weight_shape)
    conv.bias = rng.integers(-3000, 3000, conv.out_channels)
    fan_in = conv.in_channels * conv.kernel_size**2
    conv.shift = 20
    conv.multiplier = (
        (1 << 20) / (64 * np.sqrt(fan_in)) * rng.uniform(0.5, 2, conv.out_channels)
    ).astype(np.int64)
    conv.input_zero_point, conv.output_zero_point = zero_points
    return network


@settings(max_examples=60)
@given(
    cin=st.integers(1, 5),
    kernel=st.sampled_from([1, 3, 5, 7]),
    stride=st.integers(1, 2),
    padding=st.one_of(st.integers(0, 3), st.tuples(*[st.integers(0, 3)] * 4)),
    pool=st.sampled_from([None, (2, 2), (3, 2), (2, 1)]),
    relu=st.booleans(),
    rows=st.sampled_from([4, 8, 16]),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    zero_points=st.tuples(st.integers(-128, 127), st.integers(-20, 20)),
    seed=st.integers(0, 2**16),
)
def test_packed_pass_equals_the_golden_conv(
    cin, kernel, stride, padding, pool, relu, rows, size, zero_points, seed
):
    """The host's packed input through the packed pass's golden layer (a 1x1 convolution)
    equals the golden network's Conv2d (+ ReLU + MaxPool2d) on the plain input."""
    stride = min(stride, kernel)  # the engine's rule, packed or not
    conv = Conv2d(cin, 3, kernel, stride, padding)
    shape = (cin, kernel + size[0], kernel + size[1])
    out = conv.output_shape(shape)
    layers = [conv] + ([ReLU(zero_point=zero_points[1])] if relu else [])
    if pool and min(out[1:]) >= pool[0]:
        layers.append(MaxPool2d(*pool))
    rng = np.random.default_rng(seed)
    network = _quantised(layers, rng, zero_points)
    engine = engine_for(network, shape, rows, rows, packing="always")
    (step,) = compile_network(network, shape, engine, packing="always")
    assert step.packed and step.taps == (kernel, stride) and step.pad == conv.pads
    assert step.layer.kernel == 1 and step.layer.in_channels == kernel * kernel * cin
    model = predict_layer(rows, rows, step.layer)
    assert model.sets == -(-kernel * kernel * cin // rows)  # one column tile
    x = rng.integers(-128, 128, shape)
    run = LayerRun(
        engine, step.layer, host_input(x, step.layer, step.pad, step.taps), step.weights, step.bias
    )
    np.testing.assert_array_equal(run.expected(), network.run(x), err_msg=str(step.layer))


@pytest.mark.parametrize("rows", [4, 8, 16])
def test_compiler_packs_the_seed_cnn_first_layer(rows):
    """Conv 3->32 fills 3 of the rows a tap; its 27 taps fill them. Conv 32->64 fills whole
    groups already: packing would only multiply its input."""
    network = Sequential.load(SEED_CNN)
    engine = engine_for(network, (3, 24, 24), rows, rows, batch=16)
    passes = compile_network(network, (3, 24, 24), engine, batch=16)
    assert [p.name for p in passes] == [
        "Conv2d + ReLU + MaxPool2d (taps packed)",
        "Conv2d + ReLU + MaxPool2d",
        "Linear + ReLU",
        "Linear",
    ]
    assert [p.packed for p in passes] == [True, False, False, False]
    conv1 = passes[0].layer
    assert (conv1.height, conv1.width, conv1.in_channels, conv1.kernel) == (24, 24, 27, 1)
    assert (conv1.stride, conv1.padding, conv1.pool_size) == (1, 0, 2)
    assert passes[0].pad == (1, 1, 1, 1) and passes[0].weights.shape == (32, 27, 1, 1)
    # The conv passes serve the batch with one packet.
    assert [p.layer.images for p in passes[:2]] == [16, 16]
    # Without packing, conv1 is slower: the decision is golden.perf's.
    plain = compile_network(network, (3, 24, 24), batch=16, packing="never")
    assert [p.packed for p in plain] == [False] * 4
    assert packing_pays(plain[0].layer, rows, rows)
    assert not packing_pays(plain[1].layer, rows, rows)
    assert (
        predict_batch(rows, rows, conv1)[0].compute_cycles
        < predict_batch(rows, rows, plain[0].layer)[0].compute_cycles
    )


def test_packing_never_always_and_the_array():
    network = Sequential.load(SEED_CNN)
    always = compile_network(network, (3, 24, 24), packing="always")
    assert [p.packed for p in always] == [True, True, False, False]
    assert always[1].layer.in_channels == 288
    # "auto" needs the array's shape to decide: with neither engine nor array, nothing packs.
    assert not any(p.packed for p in compile_network(network, (3, 24, 24)))
    assert compile_network(network, (3, 24, 24), array=(8, 8))[0].packed
    engine = engine_for(network, (3, 24, 24), 8, 8, packing="always")
    assert engine.max_in_channels == 2304 and engine.input_depth == 12 * 12 * 36


def test_auto_keeps_a_pass_plain_that_the_engine_holds_only_plain():
    network = _quantised([Conv2d(3, 8, 3, 1, 1)], np.random.default_rng(0), (0, 0))
    engine = EngineConfig(8, 8, max_height=8, max_width=8, max_in_channels=8, max_out_channels=8)
    assert packing_pays(compile_network(network, (3, 8, 8))[0].layer, 8, 8)
    (step,) = compile_network(network, (3, 8, 8), engine)
    assert not step.packed and step.name == "Conv2d"
    with pytest.raises(
        CompileError,
        match=r"^pass 0 \(Conv2d \(taps packed\), network layers 0\): in_channels must be an "
        r"integer from 1 to 8, not 27$",
    ):
        compile_network(network, (3, 8, 8), engine, packing="always")


def test_auto_keeps_a_pass_plain_that_no_engine_holds_packed():
    """On 64x64, Conv2d(100, 4, 7) pays packed, but 4,900 channels are beyond any engine."""
    network = _quantised([Conv2d(100, 4, 7, 1, 3)], np.random.default_rng(0), (0, 0))
    assert packing_pays(compile_network(network, (100, 7, 7))[0].layer, 64, 64)
    assert not compile_network(network, (100, 7, 7), array=(64, 64))[0].packed
    assert engine_for(network, (100, 7, 7), 64, 64).max_in_channels == 100
    with pytest.raises(CompileError, match=r"^pass 0 .*: no engine holds it: max_in_channels"):
        engine_for(network, (100, 7, 7), 64, 64, packing="always")


def test_auto_packs_a_pass_that_runs_packed_only():
    """A 9x9 kernel is beyond an engine of max_kernel 3, not its packed form, though packing
    does not pay (4 channels fill 4 rows); and a 16x16 one beyond every engine."""
    network = _quantised([Conv2d(4, 2, 9, 1, 4)], np.random.default_rng(0), (0, 0))
    engine = EngineConfig(4, 4, max_height=10, max_width=10, max_in_channels=324)
    (step,) = compile_network(network, (4, 10, 10), engine)
    plain = compile_network(network, (4, 10, 10), packing="never")[0].layer
    assert step.packed and not packing_pays(plain, 4, 4)
    network = _quantised([Conv2d(1, 2, 16)], np.random.default_rng(0), (0, 0))
    assert engine_for(network, (1, 16, 16), 8, 8).max_kernel == 1


@pytest.mark.parametrize(
    ("packing", "message"),
    [
        ("sometimes", "packing must be one of 'auto', 'never', 'always', not 'sometimes'"),
        (True, "packing must be one of 'auto', 'never', 'always', not True"),
    ],
)
def test_wrong_packing(packing, message):
    network = Sequential.load(SEED_CNN)
    with pytest.raises(CompileError) as info:
        compile_network(network, (3, 24, 24), packing=packing)
    assert str(info.value) == message
    with pytest.raises(CompileError) as info:
        engine_for(network, (3, 24, 24), 8, 8, packing=packing)
    assert str(info.value) == message


def test_wrong_array():
    network = Sequential.load(SEED_CNN)
    with pytest.raises(CompileError) as info:
        compile_network(network, (3, 24, 24), EngineConfig(8, 8), array=(4, 4))
    assert str(info.value) == "array (4, 4) differs from the engine's (8, 8)"


def test_cli_wrong_packing_exits_2(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 24, 24), np.int8))
    with pytest.raises(SystemExit) as info:
        main(["run", str(SEED_CNN), "--input", str(tmp_path / "x.npy"), "--packing", "some"])
    assert info.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "argument --packing: invalid choice: 'some' (choose from 'auto', 'never', 'always')"
        )
    )
