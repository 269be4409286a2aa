"""The digits CNN end to end on the accelerator RTL (a few images), bit-exact logits; and the
compiler's mapping of a network onto the engine."""

import json
import os

import numpy as np
import pytest
from helpers import with_random_parameters

from sysconv.compiler import CompileError, compile_network, engine_for
from sysconv.demo import MODEL, ONNX_MODEL, board_fmax, float_inputs, run_demo
from sysconv.golden import digits
from sysconv.golden.network import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from sysconv.hw.layer import EngineConfig
from sysconv.onnx import load


# Icarus takes minutes an image of the 8x8 engine: the demo runs on it in `make test-long`;
# `make test` runs a network through the engine on Icarus with tests/test_onnx.py's tiny model
# (a conv + pool pass and a dense pass, bit-exact and cycle-exact).
@pytest.mark.heavy
@pytest.mark.parametrize(
    "simulator, images", [("verilator", 3), pytest.param("icarus", 3, marks=pytest.mark.long)]
)
def test_demo_logits_bit_exact(simulator, images, test_dir):
    summary = run_demo(images=images, simulator=simulator, out=test_dir, echo=lambda *a: None)
    assert summary["status"] == "pass", summary.get("message")
    imported = load(ONNX_MODEL)
    x, y = digits.load("test")
    # The RTL's logits, recomputed here from the imported golden network, independently of
    # the demo.
    rtl = json.loads((test_dir / "summary.json").read_text())
    assert rtl["logits_bit_exact"] is True
    expected = imported.network.run(imported.quantize_input(float_inputs(x[:images])))
    assert rtl["predictions"] == expected.argmax(axis=1).tolist()
    assert rtl["labels"] == y[:images].tolist()
    for row in rtl["layers"]:
        assert row["layer_cycles"] == row["predicted_layer_cycles"], row["pass"]
        assert row["compute_cycles"] == row["predicted_compute_cycles"], row["pass"]
        # Every run: a conv pass's images, one packet for the batch.
        assert row["run_cycles"] == row["predicted_run_cycles"], row["pass"]
    assert (test_dir / "demo.png").stat().st_size > 0


def _tiny_network(rng):
    net = Sequential(
        Conv2d(2, 4, 3, 1, 1),
        ReLU(),
        MaxPool2d(2, 2),
        Flatten(),
        Linear(36, 5),
        ReLU(),
        Linear(5, 3),
    )
    return with_random_parameters(net, rng)


def test_compiler_fuses_and_batches():
    net = _tiny_network(np.random.default_rng(0))
    passes = compile_network(net, (2, 6, 6), batch=4)
    assert [p.name for p in passes] == ["Conv2d + ReLU + MaxPool2d", "Linear + ReLU", "Linear"]
    assert [p.layers for p in passes] == [(0, 1, 2), (4, 5), (6,)]
    conv, dense, _ = passes
    assert (conv.layer.relu, conv.layer.pool_size, conv.layer.pool_stride) == (True, 2, 2)
    assert (dense.layer.height, dense.layer.width, dense.layer.in_channels) == (1, 4, 36)
    assert dense.weights.shape == (5, 36, 1, 1)


def test_compiler_refuses_a_layer_beyond_the_engine():
    net = _tiny_network(np.random.default_rng(0))
    engine = EngineConfig(
        2, 2, max_height=6, max_width=6, max_in_channels=8, max_out_channels=8, max_kernel=3
    )
    with pytest.raises(
        CompileError,
        match=r"^pass 1 \(Linear \+ ReLU, network layers 4, 5\): "
        r"in_channels must be an integer from 1 to 8, "
        r"not 36$",
    ):
        compile_network(net, (2, 6, 6), engine)


def test_compiler_refuses_unfused_relu():
    net = Sequential(ReLU(), Conv2d(1, 1, 1))
    with pytest.raises(
        CompileError,
        match=r"^layer 0 \(ReLU\(\)\): the engine runs ReLU and "
        r"MaxPool2d only fused after a Conv2d",
    ):
        compile_network(net, (1, 4, 4))


def test_engine_for_the_demo_fits_every_pass():
    network = Sequential.load(MODEL)
    engine = engine_for(network, (3, 24, 24), 8, 8, batch=16)
    assert engine.max_in_channels == 2304
    assert engine.weight_depth == 16 * 288 * 8  # Linear(2304, 128): the largest weight set


def test_board_fmax_reads_the_newest_build_report(tmp_path):
    assert board_fmax(tmp_path) is None
    boards = tmp_path / "boards"
    for name, clocks in (
        ("old", {"clk": {"achieved_mhz": 50.0}}),
        ("new", {"a": {"achieved_mhz": 31.5}, "b": {"achieved_mhz": 40.0}}),
        ("broken", None),
    ):
        (boards / name).mkdir(parents=True)
        report = {"engine": {"fmax": clocks}} if clocks else {}
        (boards / name / "report.json").write_text(json.dumps(report))
    # "broken" is the newest but has no engine Fmax; "new" is next, its slowest clock counts.
    for age, name in enumerate(("old", "new", "broken")):
        os.utime(boards / name / "report.json", (age, age))
    assert board_fmax(tmp_path) == ("new", 31.5)


@pytest.mark.heavy
def test_demo_network_mode_bit_exact_and_cycle_exact(test_dir):
    summary = run_demo(
        images=2, simulator="verilator", network_mode=True, out=test_dir, echo=lambda *a: None
    )
    assert summary["status"] == "pass", summary.get("message")
    imported = load(ONNX_MODEL)
    x = digits.load("test")[0][:2]
    expected = imported.network.run(imported.quantize_input(float_inputs(x)))
    rtl = json.loads((test_dir / "summary.json").read_text())
    assert rtl["network_mode"] is True and rtl["logits_bit_exact"] is True
    assert rtl["predictions"] == expected.argmax(axis=1).tolist()
    assert rtl["batches"] == rtl["predicted_batches"]
    moved = rtl["stream_bytes_per_image"]
    assert moved["network_mode"] < moved["host_mode"]
