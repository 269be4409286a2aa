"""Network mode: layers chained on chip through the engine's activation buffer
(:class:`sysconv.hw.engine.Chain`), bit-exact and cycle-exact against the golden model and
:func:`sysconv.golden.perf.predict_network`, on every simulator, with stalls."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import STALL_LEVELS, STALL_RUNS, check_pass, stall_seed, with_random_parameters

from sysconv.compiler import CompileError, chain, compile_network, engine_for
from sysconv.golden.network import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from sysconv.golden.perf import predict_network
from sysconv.hw.layer import EngineConfig, LayerConfig, hwc_features
from sysconv.sim import SIMULATORS
from sysconv.sim.engine.layer import LayerRun, random_layer
from sysconv.sim.engine.run import run_layers
from sysconv.sim.network.run import run_network_on_chip
from sysconv.sim.network.scenario import pass_layer


def _engine(rows, cols):
    return EngineConfig(
        rows,
        cols,
        max_height=8,
        max_width=8,
        max_in_channels=128,
        max_out_channels=8,
        max_kernel=3,
        network_depth=96,
    )


# A square array (an output beat is the next layer's input word), and one whose input word
# holds two output beats of a pixel.
ENGINES = {"4x4": _engine(4, 4), "4x2": _engine(4, 2)}
ENGINE = ENGINES["4x4"]


def hwc_pixel(y, engine, layer):
    """``layer``'s output ``y`` (C, H, W) as one pixel of ``H * W * ceil(C / rows) * rows``
    channels, as the activation buffer holds it: HWC, a pixel's output beats (``cols``
    lanes, those past C the output zero point, or 0 after pooling) side by side in words of
    ``rows`` lanes, the lanes past its last beat 0. What a dense layer after it reads."""
    c, h, w = y.shape
    beats = -(-c // engine.cols) * engine.cols
    padded = np.zeros((h, w, -(-c // engine.rows) * engine.rows), np.int64)
    padded[:, :, c:beats] = 0 if layer.pool_size else layer.output_zero_point
    padded[:, :, :c] = y.transpose(1, 2, 0)
    return padded.reshape(-1)


def chained_runs(engine=ENGINE, images=2, seed=3):
    """conv 3x3 + pool -> conv 3x3 + ReLU (6 of 8 lanes) -> a dense layer over both images'
    flattened maps: two packets of ``images`` images and a dense packet, the first taking its
    input from the host, the last sending its output back, the rest on chip."""
    first = random_layer(
        engine,
        height=8,
        width=8,
        in_channels=3,
        out_channels=4,
        kernel=3,
        padding=1,
        pool_size=2,
        images=images,
        double_buffer=True,
        seed=seed,
    )
    first = replace(first, layer=replace(first.layer, chain_output=True))
    second = random_layer(
        engine,
        height=4,
        width=4,
        in_channels=4,
        out_channels=6,
        kernel=3,
        padding=1,
        images=images,
        double_buffer=True,
        output_zero_point=-5,
        seed=seed + 1,
    )
    second = LayerRun(
        engine,
        replace(second.layer, chain_input=True, chain_output=True),
        first.expected(),
        second.weights,
        second.bias,
    )
    maps = second.expected()
    pixels = np.stack([hwc_pixel(y, engine, second.layer) for y in maps])
    third = random_layer(
        engine,
        height=1,
        width=images,
        in_channels=pixels.shape[1],
        out_channels=5,
        kernel=1,
        relu=False,
        seed=seed + 2,
    )
    third = LayerRun(
        engine,
        replace(third.layer, chain_input=True),
        pixels.T[:, None, :],
        third.weights,
        third.bias,
    )
    return [first, second, third]


def check_network_timing(result, runs):
    """The network's last packet, from its first parameter word to its last output word, to
    the cycle: the chained packets before it took exactly their stall-free time."""
    (measured,) = result.details["layers"]
    engine = runs[0].engine
    predicted = predict_network(engine.rows, engine.cols, [run.layer for run in runs])[-1]
    start = measured["start"]
    assert measured["first_param"] - start == predicted.start_cycle
    assert [cycle - start for cycle in measured["output_cycles"]] == predicted.output_beat_cycles
    assert measured["layer_cycles"] == predicted.layer_cycles
    assert measured["compute_cycles"] == predicted.compute_cycles


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_network_on_chip_bit_exact_and_cycle_exact(simulator, engine, test_dir):
    runs = chained_runs(ENGINES[engine])
    result = run_layers(runs, simulator, test_dir)
    check_pass(result, 0)
    check_network_timing(result, runs)


# With the input writer writing on i.ready alone, each of these runs fails; with the chain
# passing the last layer's output on whatever the host's o.ready, each but Verilator's at the
# rare level (whose few output words all leave unstalled).
@pytest.mark.parametrize("simulator, level", STALL_RUNS)
def test_network_on_chip_with_stalls_loses_nothing(simulator, level, test_dir):
    # Stalls on the host's three streams: the parameter packets, the first layer's input
    # and the last layer's output.
    (idle, backpressure), seed = STALL_LEVELS[level], stall_seed()
    result = run_layers(
        chained_runs(), simulator, test_dir, idle=idle, backpressure=backpressure, seed=seed
    )
    check_pass(result, seed)


def test_replay_of_other_words_than_held_raises_the_error_flag(test_dir):
    # The dense layer reads one image's maps where the buffer holds two: the engine flags it.
    runs = chained_runs()
    dense = runs[-1]
    one = LayerRun(
        ENGINE, replace(dense.layer, width=1), dense.x[:, :, :1], dense.weights, dense.bias
    )
    result = run_layers([*runs[:-1], one], "amaranth", test_dir)
    assert result.status == "fail"
    assert "error flag" in result.message


@pytest.mark.parametrize(
    "engine, layer, message",
    [
        (
            EngineConfig(4, 4),
            LayerConfig(4, 4, 4, 4, 1, chain_input=True),
            r"chain_input=True needs an engine with an activation buffer \(network_depth > 0\)",
        ),
        (
            EngineConfig(4, 4, network_depth=16),
            LayerConfig(4, 4, 4, 4, 1, chain_output=True, images=2),
            r"chain_output=True needs 32 words \(output tensors of 2 images\) but the "
            r"engine's network_depth is 16",
        ),
    ],
)
def test_chain_beyond_the_engine_refused(engine, layer, message):
    with pytest.raises(ValueError, match=message):
        layer.check(engine)


@pytest.mark.parametrize(
    "config, message",
    [
        (dict(rows=4, cols=3, network_depth=8), r"network_depth 8 needs rows a multiple of cols"),
        (dict(rows=2, cols=4, network_depth=8), r"network_depth 8 needs rows a multiple of cols"),
        (dict(rows=4, cols=4, network_depth=-1), r"network_depth"),
        (dict(rows=4, cols=4, network_depth=1 << 21), r"network_depth"),
    ],
)
def test_wrong_network_depth(config, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**config)


@pytest.mark.parametrize("name", ["chain_input", "chain_output"])
def test_wrong_chain_flag(name):
    with pytest.raises(ValueError, match=rf"{name} must be True or False, not 1"):
        LayerConfig(4, 4, 4, 4, 1, **{name: 1})


def _network(rng, padding=1):
    """conv + ReLU, conv + ReLU + pool (6 channels: 8 lanes a pixel on the 4x4 array), two
    Linear layers."""
    net = Sequential(
        Conv2d(3, 4, 3, 1, 1),
        ReLU(),
        Conv2d(4, 6, 3, 1, padding),
        ReLU(),
        MaxPool2d(2, 2),
        Flatten(),
        Linear(96, 7),
        ReLU(),
        Linear(7, 3),
    )
    return with_random_parameters(net, rng)


@pytest.mark.parametrize(
    "simulator, rows, cols",
    [*((simulator, 4, 4) for simulator in SIMULATORS), ("amaranth", 4, 2)],
)
def test_compiled_network_on_chip_matches_the_golden_network(simulator, rows, cols, test_dir):
    # Two batches (3 and 2 images); the host sends the packets and the first layer's input,
    # and gets the logits only. Golden: the network run on the host, layer by layer.
    rng = np.random.default_rng(5)
    net = _network(rng)
    images = rng.integers(-128, 128, (5, 3, 8, 8))
    engine = engine_for(net, (3, 8, 8), rows, cols, batch=3, network_mode=True)
    assert engine.network_depth == 3 * 8 * 8  # the first layer's output, 3 images
    passes = chain(compile_network(net, (3, 8, 8), engine, batch=3), engine)
    result = run_network_on_chip(engine, passes, images, simulator, test_dir, batch=3)
    check_pass(result, 0)
    np.testing.assert_array_equal(result.details["logits"], net.run(images))
    for size, cycles in zip((3, 2), result.details["batches"], strict=True):
        layers = [pass_layer(step.stage, step.layer, size) for step in passes]
        assert cycles == predict_network(rows, cols, layers)[-1].output_beat_cycles[-1] + 1


def test_network_mode_refuses_host_work_after_the_first_pass():
    # A padding beyond kernel - 1 is the host's: not in network mode.
    net = _network(np.random.default_rng(0), padding=(2, 1, 1, 1))
    engine = engine_for(net, (3, 8, 8), 4, 4)
    engine = replace(engine, network_depth=1024, max_in_channels=128, acc_width=None)
    with pytest.raises(
        CompileError,
        match=r"^pass 1 \(Conv2d \+ ReLU \+ MaxPool2d, network layers 2, 3, 4\): its input",
    ):
        chain(compile_network(net, (3, 8, 8), engine), engine)


def test_network_mode_needs_an_activation_buffer():
    net = _network(np.random.default_rng(0))
    engine = engine_for(net, (3, 8, 8), 4, 4)
    with pytest.raises(CompileError, match=r"network_depth > 0"):
        chain(compile_network(net, (3, 8, 8), engine), engine)


def test_hwc_features_against_loops():
    # Feature c*H*W + y*W + x of the PyTorch flattening sits at (y*W + x)*padded + c.
    channels, height, width, lanes = 6, 3, 2, 4
    where = hwc_features(channels, height, width, lanes)
    index = 0
    for c in range(channels):
        for y in range(height):
            for x in range(width):
                assert where[index] == (y * width + x) * 8 + c
                index += 1


def test_network_mode_packs_the_first_pass_only():
    # On a 6x1 array packing pays for the demo network's conv2 too (32 channels in groups of
    # 6); in network mode its input is on chip, which the host cannot pack.
    from sysconv.demo import INPUT_SHAPE, ONNX_MODEL
    from sysconv.onnx import load

    network = load(ONNX_MODEL).network
    host = compile_network(network, INPUT_SHAPE, array=(6, 1))
    chained = compile_network(network, INPUT_SHAPE, array=(6, 1), network_mode=True)
    assert host[1].packed
    assert [step.packed for step in chained] == [host[0].packed] + [False] * (len(chained) - 1)
