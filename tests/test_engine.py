"""The convolution engine's generated Verilog (AXI4-Stream top) against the golden model on
Icarus and Verilator, and the engine in Amaranth's simulator: every output value, and with no
stalls the cycle of every output word against golden.perf."""

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
from helpers import SMALL, STALL_LEVELS, STALL_RUNS, check_pass, check_timing, runs_for, stall_seed

from sysconv.demo import demo_engine
from sysconv.golden.perf import predict_layer
from sysconv.hw.layer import EngineConfig, LayerConfig
from sysconv.sim import SIMULATORS
from sysconv.sim.engine.layer import LayerRun
from sysconv.sim.engine.run import run_layers

# name -> layers on SMALL (each: random_layer keyword arguments)
EDGE_GROUPS = {
    "kernels": [
        dict(height=6, width=5, in_channels=4, out_channels=3, kernel=1),
        dict(height=7, width=6, in_channels=2, out_channels=5, kernel=5, padding=2),
        dict(height=5, width=5, in_channels=3, out_channels=2, kernel=2, relu=False),
    ],
    "strides": [
        dict(height=9, width=8, in_channels=3, out_channels=4, kernel=3, stride=2, padding=1),
        dict(height=10, width=9, in_channels=2, out_channels=3, kernel=3, stride=3),
        dict(height=8, width=7, in_channels=5, out_channels=5, kernel=5, stride=3, padding=2),
    ],
    "small": [
        dict(height=1, width=1, in_channels=1, out_channels=1, kernel=1),
        dict(height=1, width=1, in_channels=5, out_channels=5, kernel=3, padding=1),
        dict(height=3, width=2, in_channels=1, out_channels=5, kernel=2, padding=1),
        # Two and three pixels: on the 3-row engine a pixel's sum is read again 3 and 4
        # cycles later (golden.perf), before its write (the accumulator's forwarding).
        dict(height=1, width=2, in_channels=3, out_channels=2, kernel=3, padding=1),
        dict(height=3, width=1, in_channels=2, out_channels=3, kernel=3, padding=1),
    ],
    "extremes": [
        dict(
            height=4,
            width=5,
            in_channels=5,
            out_channels=5,
            kernel=5,
            padding=2,
            data="extremes",
            multiplier=1,
            shift=14,
        ),
        dict(
            height=6,
            width=6,
            in_channels=5,
            out_channels=4,
            kernel=3,
            padding=1,
            data="extremes",
            relu=False,
        ),
    ],
    # Per-channel multipliers and shifts, input zero points (the padding value), output zero
    # points (ReLU clamps at them), with and without pooling.
    "zero_points": [
        dict(
            height=5,
            width=4,
            in_channels=4,
            out_channels=5,
            kernel=3,
            padding=2,
            per_channel=True,
            input_zero_point=-37,
            output_zero_point=-128,
        ),
        dict(
            height=6,
            width=6,
            in_channels=2,
            out_channels=3,
            kernel=3,
            padding=1,
            per_channel=True,
            input_zero_point=90,
            output_zero_point=41,
            pool_size=2,
        ),
        dict(
            height=4,
            width=5,
            in_channels=5,
            out_channels=4,
            kernel=2,
            padding=1,
            input_zero_point=127,
            output_zero_point=-5,
            relu=False,
        ),
    ],
    # Fused max pooling after conv -> requantise -> ReLU.
    "pooling": [
        dict(height=8, width=8, in_channels=3, out_channels=5, kernel=3, padding=1, pool_size=2),
        dict(
            height=9,
            width=7,
            in_channels=2,
            out_channels=3,
            kernel=3,
            padding=1,
            pool_size=3,
            pool_stride=2,
        ),
        dict(height=7, width=9, in_channels=1, out_channels=1, kernel=1, pool_size=2),
        dict(
            height=6,
            width=7,
            in_channels=4,
            out_channels=5,
            kernel=2,
            stride=2,
            padding=1,
            pool_size=2,
            pool_stride=1,
            relu=False,
        ),
        dict(
            height=5,
            width=5,
            in_channels=2,
            out_channels=4,
            kernel=3,
            padding=1,
            pool_size=4,
            pool_stride=3,
            data="negative",
            relu=False,
        ),
    ],
    # One parameter packet for several input tensors (images), with and without pooling. The
    # next image's input overlaps the output: longer (the engine goes on taking it in INPUT),
    # shorter (straight to COMPUTE; the pooled one has rows and columns that fill no window).
    "batches": [
        dict(
            height=7,
            width=6,
            in_channels=4,
            out_channels=3,
            kernel=3,
            stride=2,
            padding=1,
            images=3,
        ),
        dict(height=5, width=6, in_channels=2, out_channels=5, kernel=2, pool_size=2, images=2),
    ],
    # Double buffering: the images ping-pong between two banks of the input and output
    # buffers; the next input goes in while the current image computes, two tensors ahead
    # (back to back), and the output drains while the next computes. Three images with and
    # without pooling (trailing rows and columns that fill no window), two, and a packet
    # followed by a single-buffered one of the same layer.
    "double_buffer": [
        dict(
            height=7,
            width=6,
            in_channels=4,
            out_channels=3,
            kernel=3,
            stride=2,
            padding=1,
            images=3,
            double_buffer=True,
        ),
        dict(
            height=5,
            width=6,
            in_channels=2,
            out_channels=5,
            kernel=2,
            pool_size=2,
            images=3,
            double_buffer=True,
        ),
        dict(
            height=7,
            width=7,
            in_channels=3,
            out_channels=4,
            kernel=1,
            pool_size=3,
            pool_stride=2,
            images=2,
            double_buffer=True,
        ),
        dict(height=7, width=7, in_channels=3, out_channels=4, kernel=1, images=2),
    ],
}


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_edge_layers_bit_exact_and_cycle_exact(simulator, test_dir):
    # Every group's layers back to back in one simulation: a simulator process starts once
    # (3.5-6 s with cocotb) for the 25 layers (34 images), and the engine goes from every kind
    # of layer to every other without a reset between. A failure names the layer (and image).
    runs = runs_for([layer for group in EDGE_GROUPS.values() for layer in group])
    result = run_layers(runs, simulator, test_dir)
    check_pass(result, seed=1)
    check_timing(result, runs)


# With a word skipped under backpressure (the output reader advancing on o.valid alone) or a
# beat taken in a gap (the input writer writing on i.ready alone), each of these runs fails.
@pytest.mark.parametrize("simulator, level", STALL_RUNS)
def test_random_gaps_and_backpressure_lose_nothing(simulator, level, test_dir):
    (idle, backpressure), seed = STALL_LEVELS[level], stall_seed()
    runs = runs_for(
        EDGE_GROUPS["strides"][:2]
        + EDGE_GROUPS["pooling"][1:2]
        + EDGE_GROUPS["batches"]
        + EDGE_GROUPS["double_buffer"][:2],
        seed=seed,
    )
    result = run_layers(runs, simulator, test_dir, idle=idle, backpressure=backpressure, seed=seed)
    check_pass(result, seed)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize(
    "idle, backpressure", [(0.9, 0.0), (0.0, 0.9)], ids=["input-stalled", "output-stalled"]
)
def test_double_buffer_with_one_stream_stalled_loses_nothing(
    idle, backpressure, simulator, test_dir
):
    # One side stalled, the other as fast as the engine allows: a stalled input keeps the
    # compute waiting for its bank's tensor, a stalled output keeps the next compute
    # waiting for its output bank.
    seed = stall_seed()
    runs = runs_for(EDGE_GROUPS["double_buffer"], seed=seed)
    result = run_layers(runs, simulator, test_dir, idle=idle, backpressure=backpressure, seed=seed)
    check_pass(result, seed)


@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)])
def test_double_buffer_on_arrays_too_small_to_overlap_the_drain(rows, cols, test_dir):
    # With 2 * rows + cols < 8 the next image's first result would come before the
    # accumulator and write-back are back from the previous image's drain, so its compute
    # waits for the drain; (3, 2) is the first that overlaps it, by the cycle.
    engine = EngineConfig(
        rows,
        cols,
        max_height=6,
        max_width=6,
        max_in_channels=3,
        max_out_channels=3,
        max_kernel=3,
        input_depth=2 * 36 * -(-3 // rows),
        output_depth=2 * 36 * -(-3 // cols),
    )
    double = dict(images=3, double_buffer=True)
    runs = runs_for(
        [
            dict(height=4, width=4, in_channels=2, out_channels=2, kernel=1, **double),
            dict(height=5, width=5, in_channels=3, out_channels=3, kernel=3, padding=1, **double),
            dict(height=5, width=5, in_channels=3, out_channels=3, kernel=3, pool_size=2),
        ],
        engine=engine,
    )
    result = run_layers(runs, "amaranth", test_dir)
    check_pass(result, seed=1)
    check_timing(result, runs)


def test_weight_loads_overlap_compute_within_ten_percent_of_ideal(test_dir):
    # K*K*Cin a multiple of rows (Cin = rows), Cout of cols, 64 output pixels.
    runs = runs_for([dict(height=8, width=8, in_channels=3, out_channels=4, kernel=3, padding=1)])
    result = run_layers(runs, "verilator", test_dir)
    check_pass(result, seed=1)
    ideal = runs[0].layer.macs / (SMALL.rows * SMALL.cols)
    assert result.details["layers"][0]["compute_cycles"] <= 1.10 * ideal


# The demo's engine: the seed CNN's two conv layers, and one model build shared with the demo.
SEED_ENGINE = demo_engine()


@pytest.mark.heavy
def test_seed_cnn_conv_layers_bit_exact_on_verilator(test_dir):
    runs = runs_for(
        [
            dict(height=24, width=24, in_channels=3, out_channels=32, kernel=3, padding=1),
            dict(height=12, width=12, in_channels=32, out_channels=64, kernel=3, padding=1),
        ],
        engine=SEED_ENGINE,
    )
    result = run_layers(runs, "verilator", test_dir)
    check_pass(result, seed=1)
    check_timing(result, runs)
    ideal = runs[1].layer.macs / 64
    assert result.details["layers"][1]["compute_cycles"] <= 1.10 * ideal


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            dict(height=11, width=4, in_channels=1, out_channels=1, kernel=1),
            r"height must be an integer from 1 to 10, not 11",
        ),
        (
            dict(height=4, width=4, in_channels=6, out_channels=1, kernel=1),
            r"in_channels must be an integer from 1 to 5, not 6",
        ),
        (
            dict(height=4, width=4, in_channels=1, out_channels=6, kernel=1),
            r"out_channels must be an integer from 1 to 5, not 6",
        ),
        (
            dict(height=8, width=8, in_channels=1, out_channels=1, kernel=7),
            r"kernel must be an integer from 1 to 5, not 7",
        ),
        (
            dict(height=8, width=8, in_channels=1, out_channels=1, kernel=3, stride=4),
            r"stride must be an integer from 1 to 3, not 4",
        ),
        (
            dict(height=8, width=8, in_channels=1, out_channels=1, kernel=3, padding=3),
            r"padding must be an integer from 0 to 2, not 3",
        ),
        (
            dict(height=2, width=8, in_channels=1, out_channels=1, kernel=5),
            r"kernel 5 is larger than the padded input 2x8",
        ),
        (
            dict(height=10, width=10, in_channels=1, out_channels=1, kernel=3, padding=2),
            r"output 12x12 is larger than the engine's max_height x max_width 10x10",
        ),
        (
            dict(height=4, width=4, in_channels=1, out_channels=1, kernel=1, multiplier=1 << 16),
            r"multiplier must be an integer from 0 to 65535, not 65536",
        ),
        (
            dict(height=4, width=4, in_channels=1, out_channels=1, kernel=1, pool_size=5),
            r"pool_size must be an integer from 2 to 4, not 5",
        ),
        (
            dict(
                height=4,
                width=4,
                in_channels=1,
                out_channels=1,
                kernel=1,
                pool_size=2,
                pool_stride=3,
            ),
            r"pool_stride must be an integer from 1 to 2, not 3",
        ),
    ],
)
def test_layer_beyond_limits_refused(layer, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        LayerConfig(**layer).check(SMALL)


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            # 10 x 10 pixels of 2 channel groups: 200 words, one bank of SMALL's 200.
            dict(height=10, width=10, in_channels=4, out_channels=1, kernel=1),
            r"double_buffer=True needs input_depth of at least 2 x 200 words \(two banks of "
            r"height x width x ceil\(in_channels / rows\)\) but the engine's input_depth is "
            r"200; double_buffer=False needs 200",
        ),
        (
            # 10 x 10 output pixels of 3 column tiles: 300 words, one bank of SMALL's 300.
            dict(height=10, width=10, in_channels=1, out_channels=5, kernel=1),
            r"double_buffer=True needs output_depth of at least 2 x 300 words \(two banks of "
            r"output pixels x ceil\(out_channels / cols\)\) but the engine's output_depth "
            r"is 300; double_buffer=False needs 300",
        ),
    ],
)
def test_double_buffer_beyond_buffers_refused(layer, message):
    assert SMALL.input_depth == 200 and SMALL.output_depth == 300
    LayerConfig(**layer, images=2).check(SMALL)
    with pytest.raises(ValueError, match=rf"^{message}$"):
        LayerConfig(**layer, images=2, double_buffer=True).check(SMALL)


def test_double_buffer_fits_in_half_the_buffers():
    # 10 x 10 pixels of one group, one column tile: 100 words a bank of each buffer.
    LayerConfig(10, 10, 3, 2, 1, images=2, double_buffer=True).check(SMALL)


@pytest.mark.parametrize("value", [1, 0, None, "yes"])
def test_wrong_double_buffer(value):
    with pytest.raises(ValueError, match=rf"^double_buffer must be True or False, not {value!r}$"):
        LayerConfig(4, 4, 1, 1, 1, images=2, double_buffer=value)


@pytest.mark.parametrize("images", [0, 65536, True, 2.0])
def test_wrong_images(images):
    with pytest.raises(
        ValueError, match=rf"^images must be an integer from 1 to 65535, not {images!r}$"
    ):
        LayerConfig(4, 4, 1, 1, 1, images=images)


@pytest.mark.parametrize(
    "images, shape, message",
    [
        (1, (2, 1, 4, 4), r"\(2, 1, 4, 4\) for images=1"),
        (2, (1, 4, 4), r"\(1, 4, 4\) for images=2"),
        (2, (3, 1, 4, 4), r"\(3, 1, 4, 4\) for images=2"),
    ],
)
def test_wrong_batch_tensor(images, shape, message):
    run = runs_for([dict(height=4, width=4, in_channels=1, out_channels=1, kernel=1)])[0]
    with pytest.raises(
        ValueError,
        match=rf"^x must be one \(Cin, H, W\) tensor for a layer of one image, or \(images, "
        rf"Cin, H, W\) for several, not of shape {message}$",
    ):
        LayerRun(
            SMALL,
            replace(run.layer, images=images),
            np.zeros(shape, np.int64),
            run.weights,
            run.bias,
        )


def test_speed_run_refuses_several_images(test_dir):
    # The lean speed testbenches send one packet, one tensor, one output a layer.
    runs = runs_for([EDGE_GROUPS["batches"][1]])
    with pytest.raises(
        ValueError, match=r"^speed=True runs layers of one image; images must be 1$"
    ):
        run_layers(runs, "amaranth", test_dir, speed=True)


@pytest.mark.parametrize(
    "config, message",
    [
        (dict(rows=0, cols=2), r"rows must be an integer from 1 to 64, not 0"),
        (
            dict(rows=2, cols=2, max_kernel=16),
            r"max_kernel must be an integer from 1 to 15, not 16",
        ),
        (dict(rows=2, cols=2, max_pool=5), r"max_pool must be an integer from 2 to 4, not 5"),
        # Up to two banks of the largest layer's words (double buffering): 24 x 24 x 16 x 2.
        (
            dict(rows=2, cols=2, input_depth=2 * 24 * 24 * 16 + 1),
            r"input_depth must be an integer from 1 to 18432, not 18433",
        ),
        (
            dict(rows=2, cols=2, output_depth=2 * 24 * 24 * 32 + 1),
            r"output_depth must be an integer from 1 to 36864, not 36865",
        ),
        (
            dict(rows=2, cols=2, acc_width=20),
            r"acc_width must be an integer from 24 \(the widest sum of int8 products the engine "
            r"makes\) to 64, not 20",
        ),
    ],
)
def test_wrong_engine_config(config, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        EngineConfig(**config)


def _ecp5_verilog(engine):
    """The engine elaborated for the ULX3S, with the models of its primitives: the PEs'
    MULT18X18D, the buffers' DP16KDs with their output register (sim.ecp5_models)."""
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    from sysconv.hw.top import Accelerator
    from sysconv.hw.verilog import to_verilog
    from sysconv.sim.ecp5_models import models_for
    from sysconv.sim.engine.run import TOPLEVEL

    verilog = to_verilog(Accelerator(engine), TOPLEVEL, platform=ULX3S_85F_Platform())
    assert "MULT18X18D" in verilog and "out_succ" in verilog
    assert verilog.count('.REGMODE_B("OUTREG")') == verilog.count("DP16KD #(") > 0
    return verilog + models_for(verilog)


@pytest.mark.parametrize("group", ["pooling", "small", "double_buffer"])
def test_ecp5_engine_bit_exact_and_cycle_exact(group, test_dir):
    # Elaborated for the ULX3S: the PEs' MULT18X18D, the input, weight and output buffers'
    # DP16KDs with their output register, and the output buffer read a cycle ahead (from
    # either bank, double-buffered); the same values at the same cycles as golden.perf says.
    runs = runs_for(EDGE_GROUPS[group])
    result = run_layers(runs, "icarus", test_dir, verilog=_ecp5_verilog(runs[0].engine))
    check_pass(result, seed=1)
    check_timing(result, runs)


@pytest.mark.parametrize("ecp5", [False, True], ids=["generic", "ecp5"])
def test_accumulator_forwards_sums_read_again_before_their_write(ecp5, test_dir):
    # On a 2-row array the sets of a 1-, 2- and 3-pixel layer start as little as 2, 3 and 4
    # cycles apart (golden.perf), so a pixel's partial sum is read again that many cycles
    # after the last, before its write: the accumulator forwards it (on the ECP5 from 2 to 4
    # cycles, elsewhere 2; hw.engine.Accumulator).
    engine = EngineConfig(
        2, 2, max_height=3, max_width=3, max_in_channels=3, max_out_channels=3, max_kernel=3
    )
    shapes = [(1, 1), (1, 2), (3, 1)]
    layers = [
        dict(height=h, width=w, in_channels=3, out_channels=3, kernel=3, padding=1)
        for h, w in shapes
    ]
    runs = runs_for(layers, engine=engine)
    starts = [predict_layer(2, 2, run.layer).set_start_cycles for run in runs]
    assert [min(b - a for a, b in pairwise(cycles)) for cycles in starts] == [2, 3, 4]
    if ecp5:
        result = run_layers(runs, "icarus", test_dir, verilog=_ecp5_verilog(engine))
    else:
        result = run_layers(runs, "amaranth", test_dir)
    check_pass(result, seed=1)
    check_timing(result, runs)
