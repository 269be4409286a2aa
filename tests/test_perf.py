"""golden.perf, the engine's performance model: its breakdown arithmetic, and its predictions
against RTL measurements (zero cycles apart) for a spread of layers on Verilator and in
Amaranth's simulator, through the lean speed testbench the benchmark uses."""

import itertools
from dataclasses import replace

import pytest

from sysconv.bench.workloads import QUICK
from sysconv.golden.perf import (
    REGISTER_WORDS,
    WINDOW_LATENCY,
    predict_batch,
    predict_layer,
    predict_network,
)
from sysconv.hw.layer import EngineConfig, LayerConfig
from sysconv.sim.engine.layer import random_layer
from sysconv.sim.engine.run import run_layers


def ceil_div(a, b):
    return -(-a // b)


LAYERS = [
    LayerConfig(8, 8, 3, 8, 3, padding=1, pool_size=2),  # compute-bound passes
    LayerConfig(3, 3, 8, 5, 3),  # one pixel: weight-bound
    LayerConfig(5, 7, 5, 8, 1),  # 1x1 conv, two groups
    LayerConfig(8, 8, 1, 1, 3, stride=2, padding=1, pool_size=3, pool_stride=2),
    LayerConfig(2, 3, 8, 8, 1),  # 6 pixels: weight-bound
    LayerConfig(24, 24, 3, 32, 3, padding=1, pool_size=2),  # the seed CNN's conv1
    LayerConfig(12, 12, 32, 64, 3, padding=1, pool_size=2),  # the seed CNN's conv2
]
ARRAYS = [(1, 1), (2, 5), (4, 4), (8, 8), (16, 16), (3, 2)]
CASES = list(itertools.product(ARRAYS, LAYERS))


def case_id(case):
    (rows, cols), layer = case
    return (
        f"{rows}x{cols}-{layer.height}x{layer.width}x{layer.in_channels}-"
        f"{layer.out_channels}-k{layer.kernel}s{layer.stride}p{layer.padding}"
        f"{f'-pool{layer.pool_size}' if layer.pool_size else ''}"
    )


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_phases_add_up_to_the_total(case):
    (rows, cols), layer = case
    perf = predict_layer(rows, cols, layer)
    assert (
        perf.input_cycles
        + perf.weight_load_cycles
        + perf.compute_cycles
        + perf.drain_cycles
        + perf.output_cycles
        == perf.total_cycles
    )
    assert perf.first_input_cycle == perf.param_cycles
    # The first weight set, then three cycles (the weight buffer's output, its register and
    # the beat's); with one row, the window generator's latency.
    assert perf.weight_load_cycles == max(rows + 3, WINDOW_LATENCY)


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_tiles_add_up_to_the_compute_phase(case):
    (rows, cols), layer = case
    perf = predict_layer(rows, cols, layer)
    tiles = perf.tile_cycles
    assert len(tiles) == perf.sets
    assert sum(tiles) == perf.compute_cycles
    assert perf.compute_cycles == perf.sets * perf.pixels + perf.set_gap_cycles + perf.array_latency
    assert perf.array_latency == rows + cols + 2
    # A tile lasts at least its pixels and one idle cycle, and at least a weight set's rows
    # beats; the last one adds the array's latency.
    assert all(tile >= max(perf.pixels + 1, rows) for tile in tiles[:-1])
    assert tiles[-1] == perf.pixels + perf.array_latency
    # With enough pixels, loading the next set and draining the bank it overwrites hide
    # behind the pass: one idle cycle between tiles.
    if perf.pixels >= 2 * rows + cols - 3:
        assert tiles[:-1] == [perf.pixels + 1] * (perf.sets - 1)
        assert perf.set_gap_cycles == perf.sets - 1


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_utilisation_and_ideal(case):
    (rows, cols), layer = case
    perf = predict_layer(rows, cols, layer)
    macs = (
        layer.out_height
        * layer.out_width
        * layer.kernel**2
        * layer.in_channels
        * layer.out_channels
    )
    assert perf.macs == macs == layer.macs
    assert perf.ideal_cycles == macs / (rows * cols)
    assert perf.utilization == macs / (rows * cols * perf.compute_cycles)
    assert 0 < perf.utilization <= 1


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_traffic_counts(case):
    (rows, cols), layer = case
    perf = predict_layer(rows, cols, layer)
    groups = ceil_div(layer.in_channels, rows)
    col_tiles = ceil_div(layer.out_channels, cols)
    sets = col_tiles * layer.kernel**2 * groups
    pixels = layer.out_height * layer.out_width
    assert perf.sets == sets and perf.pixels == pixels
    assert perf.param_words == REGISTER_WORDS + 2 * col_tiles * cols + sets * rows
    assert perf.traffic == {
        "input_buffer": {"writes": layer.height * layer.width * groups, "reads": sets * pixels},
        "weight_buffer": {"writes": sets * rows, "reads": sets * rows},
        "accumulator": {"writes": sets * pixels, "reads": sets * pixels},
        "output_buffer": {"writes": pixels * col_tiles, "reads": pixels * col_tiles},
    }


@pytest.mark.parametrize("rows, cols", [(2, 5), (4, 4)])
def test_word_counts_match_the_stream_format(rows, cols):
    """The model's words are those hw.layer builds for the streams."""
    engine = EngineConfig(
        rows, cols, max_height=8, max_width=8, max_in_channels=8, max_out_channels=8
    )
    for layer in LAYERS[:5]:
        run = random_layer(
            engine,
            height=layer.height,
            width=layer.width,
            in_channels=layer.in_channels,
            out_channels=layer.out_channels,
            kernel=layer.kernel,
            stride=layer.stride,
            padding=layer.padding,
            pool_size=layer.pool_size,
            pool_stride=layer.pool_stride or None,
        )
        perf = predict_layer(rows, cols, run.layer)
        assert perf.param_words == len(run.packet())
        assert perf.in_words == len(run.input_beats())
        assert len(perf.output_beat_cycles) == len(run.expected_beats())


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_images_of_a_packet_add_up_to_the_layer(case):
    (rows, cols), layer = case
    one = predict_layer(rows, cols, layer)
    images = predict_batch(rows, cols, replace(layer, images=3), start=5)
    assert [perf.image for perf in images] == [0, 1, 2]
    assert images[0].param_words == one.param_words and images[0].start_cycle == 5
    assert images[0].output_beat_cycles == [cycle + 5 for cycle in one.output_beat_cycles]
    for before, after in itertools.pairwise(images):
        assert after.param_words == 0
        assert after.start_cycle == before.end_cycle + 1
        assert after.compute_cycles == one.compute_cycles
    assert sum(perf.layer_cycles for perf in images) == images[-1].end_cycle - 5 + 1


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_double_buffered_images_take_their_longest_stage(case):
    (rows, cols), layer = case
    one = predict_layer(rows, cols, layer)
    single = predict_batch(rows, cols, replace(layer, images=3), start=5)
    double = predict_batch(rows, cols, replace(layer, images=3, double_buffer=True), start=5)
    assert predict_layer(rows, cols, replace(layer, double_buffer=True)) == one
    assert double[0] == single[0]
    # The second input follows the first back to back: its bank is free.
    assert double[1].first_input_cycle == double[0].first_input_cycle + one.in_words
    # One image's stages (schedule): the compute, from the cycle after the last input word to
    # its last result out of the array (the next image's weights and vectors go in while the
    # requantised results drain into the output buffer; on arrays of 2 * rows + cols < 8 the
    # next image's first result, 2 * rows + cols + 3 cycles after its feed starts, would meet
    # the end of that drain, 4 + 6 + 1 cycles long (accumulator, requantiser, write-back),
    # and the compute lasts to the cycle before OUTPUT), and the OUTPUT phase to the image's
    # end. An image after the first ends one longest stage after the one before; compute and
    # output wait a cycle between images.
    last = one.compute_end_cycle if 2 * rows + cols >= 8 else one.output_phase_cycle - 1
    compute = last - (one.first_input_cycle + one.in_words) + 1
    output = one.end_cycle - one.output_phase_cycle + 1
    for before, after in itertools.pairwise(double):
        assert after.end_cycle - before.end_cycle == max(one.in_words, compute + 1, output + 1)
        assert after.compute_cycles == one.compute_cycles
        shift = after.output_phase_cycle - one.output_phase_cycle
        assert after.output_beat_cycles == [cycle + shift for cycle in one.output_beat_cycles]
    assert sum(perf.layer_cycles for perf in double) == double[-1].end_cycle - 5 + 1
    assert double[-1].end_cycle < single[-1].end_cycle


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_chained_input_does_not_wait_for_the_weights(case):
    """Network mode: a chained-input packet's first image takes its input from the cycle
    after its last bias word, its weights coming in meanwhile; the rest of its schedule moves
    with it (the weights never hold a beat back stall-free), its later images do not move."""
    (rows, cols), layer = case
    host = predict_batch(rows, cols, replace(layer, images=2), start=5)
    chained = predict_batch(rows, cols, replace(layer, images=2, chain_input=True), start=5)
    bias_words = 2 * ceil_div(layer.out_channels, cols) * cols
    weight_words = host[0].param_words - REGISTER_WORDS - bias_words
    assert chained[0].param_words == host[0].param_words
    assert chained[0].first_input_cycle == 5 + REGISTER_WORDS + bias_words
    early = host[0].first_input_cycle - chained[0].first_input_cycle
    assert early == weight_words == host[0].sets * rows
    assert chained[0].set_start_cycles == [c - early for c in host[0].set_start_cycles]
    assert chained[0].output_beat_cycles == [c - early for c in host[0].output_beat_cycles]
    assert chained[1].layer_cycles == host[1].layer_cycles


def test_predict_layer_predicts_one_image():
    with pytest.raises(
        ValueError, match=r"^predict_layer predicts a layer of one image, not 2; see predict_batch$"
    ):
        predict_layer(4, 4, replace(LAYERS[0], images=2))


def test_seed_conv2_on_8x8_by_hand():
    """288 passes of 144 vectors, one idle cycle between passes, 18 cycles of latency."""
    perf = predict_layer(8, 8, LAYERS[6])
    assert perf.sets == 64 // 8 * 9 * 32 // 8 == 288
    assert perf.compute_cycles == 288 * 144 + 287 + 18 == 41777
    assert perf.utilization == pytest.approx(41472 / 41777)


def test_summary_has_the_breakdown():
    summary = predict_layer(4, 4, LAYERS[0]).summary()
    for name in (
        "param_cycles",
        "input_cycles",
        "weight_load_cycles",
        "compute_cycles",
        "drain_cycles",
        "output_cycles",
        "total_cycles",
        "utilization",
        "traffic",
        "set_gap_cycles",
        "array_latency",
    ):
        assert name in summary
    assert "set_start_cycles" not in summary and "output_beat_cycles" not in summary


# Layers run back to back on small engines, against the RTL. QUICK's 4x4 engine is the one
# `sysconv bench --quick` builds, so the two share a Verilator build.
RTL_GROUPS = {
    "4x4": (
        QUICK.engine(4),
        [
            dict(
                height=8, width=8, in_channels=3, out_channels=8, kernel=3, padding=1, pool_size=2
            ),
            dict(height=3, width=3, in_channels=8, out_channels=5, kernel=3),
            dict(height=5, width=7, in_channels=5, out_channels=8, kernel=1, relu=False),
            dict(
                height=8,
                width=8,
                in_channels=1,
                out_channels=1,
                kernel=3,
                stride=2,
                padding=1,
                pool_size=3,
                pool_stride=2,
            ),
            dict(height=2, width=3, in_channels=8, out_channels=8, kernel=1),
        ],
    ),
    "2x5": (
        EngineConfig(
            2, 5, max_height=8, max_width=8, max_in_channels=8, max_out_channels=8, max_kernel=3
        ),
        [
            dict(
                height=6, width=6, in_channels=3, out_channels=7, kernel=3, padding=1, pool_size=2
            ),
            dict(height=1, width=1, in_channels=1, out_channels=1, kernel=1),
            dict(height=4, width=5, in_channels=4, out_channels=6, kernel=3, stride=2, padding=1),
            dict(
                height=7,
                width=5,
                in_channels=8,
                out_channels=8,
                kernel=2,
                pool_size=2,
                pool_stride=1,
            ),
            # Tap-packed (the host's im2col): a 1x1 layer of 8 channels over 7x8 pixels.
            dict(
                height=6,
                width=7,
                in_channels=2,
                out_channels=6,
                kernel=2,
                padding=1,
                pool_size=2,
                tap_packed=True,
            ),
        ],
    ),
}


def _run(engine, seed, tap_packed=False, **layer):
    run = random_layer(engine, seed=seed, **layer)
    return run.tap_packed() if tap_packed else run


@pytest.mark.parametrize("simulator", ["verilator", "amaranth"])
@pytest.mark.parametrize("group", RTL_GROUPS)
def test_prediction_equals_rtl(group, simulator, test_dir):
    engine, layers = RTL_GROUPS[group]
    runs = [_run(engine, 7 + n, **layer) for n, layer in enumerate(layers)]
    result = run_layers(runs, simulator, test_dir, speed=True)
    assert result.status == "pass", f"{simulator}: {result.message}"
    words = sum(len(run.expected_beats()) for run in runs)
    assert result.details["speed"]["words_checked"] == words
    predicted = predict_network(engine.rows, engine.cols, [run.layer for run in runs])
    start = result.details["layers"][0]["first_param"]
    for n, (measured, model) in enumerate(zip(result.details["layers"], predicted, strict=True)):
        assert measured["first_param"] - start == model.first_input_cycle - model.param_cycles, (
            f"layer {n}"
        )
        assert measured["first_input"] - start == model.first_input_cycle, f"layer {n}"
        assert measured["compute_cycles"] == model.compute_cycles, f"layer {n}"
        assert measured["total_cycles"] == model.total_cycles, f"layer {n}"
        outputs = [cycle - start for cycle in measured["output_cycles"]]
        assert outputs == model.output_beat_cycles, f"layer {n}: output word cycles"


def test_speed_testbench_reports_a_wrong_word(monkeypatch, tmp_path):
    """The lean testbench compares every output word: a wrong expectation fails the run."""
    from sysconv.sim.engine.layer import LayerRun

    engine, layers = RTL_GROUPS["2x5"]
    runs = [random_layer(engine, seed=3, **layers[1])]
    original = LayerRun.expected_beats
    monkeypatch.setattr(
        LayerRun, "expected_beats", lambda self: [word ^ 1 for word in original(self)]
    )
    result = run_layers(runs, "amaranth", tmp_path, speed=True)
    assert result.status == "fail"
    assert "layer 0: output word 0 = " in result.message
