"""Helpers shared by the tests: stall patterns and their seed, a small engine, layer runs and
the checks every engine test makes."""

import os

from sysconv.golden.perf import predict_network
from sysconv.hw.layer import EngineConfig
from sysconv.sim.engine.layer import random_layer

# Stall patterns every stream test runs with: (name, input idle probability, output
# backpressure probability), from rare to 90 % stalled.
STALLS = [("rare", 0.05, 0.05), ("half", 0.5, 0.5), ("heavy", 0.9, 0.9)]
STALL_LEVELS = {name: (idle, backpressure) for name, idle, backpressure in STALLS}

# (simulator, stall level) of a whole-engine stall test: every level on Verilator, where a run
# costs least, and one on Icarus and Amaranth. Stalls are handled by the engine's design, the
# same on every simulator; what differs from one simulator to another is its testbench's
# stall drivers, which one level exercises. (Each such test names the mutants its runs catch.)
STALL_RUNS = [
    *(("verilator", name) for name in STALL_LEVELS),
    ("icarus", "half"),
    ("amaranth", "half"),
]


def stall_seed():
    """The seed of every random stall pattern: $SYSCONV_SEED, or 1 (printed in the header
    and in every stall test's failure message)."""
    return int(os.environ.get("SYSCONV_SEED", "1"))


# A small engine whose array does not divide the layers evenly: 3 rows, 2 columns.
SMALL = EngineConfig(
    3, 2, max_height=10, max_width=10, max_in_channels=5, max_out_channels=5, max_kernel=5
)


def runs_for(layers, engine=SMALL, seed=1):
    return [random_layer(engine, seed=seed + n, **layer) for n, layer in enumerate(layers)]


def check_pass(result, seed):
    assert result.status == "pass", (
        f"{result.simulator}: {result.message} (seed {seed}, waveform {result.waves})"
    )


def check_timing(result, runs):
    """Every input and output word, the compute phase and the total, to the cycle."""
    start = result.details["layers"][0]["first_param"]
    predicted = predict_network(
        runs[0].engine.rows, runs[0].engine.cols, [run.layer for run in runs]
    )
    for n, (measured, model) in enumerate(zip(result.details["layers"], predicted, strict=True)):
        outputs = [cycle - start for cycle in measured["output_cycles"]]
        assert measured["first_input"] - start == model.first_input_cycle, f"layer {n}"
        # The tensor's words come one a cycle: its last input word says where all are.
        last_input = model.first_input_cycle + model.in_words - 1
        assert measured["last_input"] - start == last_input, f"layer {n}"
        assert measured["compute_cycles"] == model.compute_cycles, f"layer {n}"
        assert measured["total_cycles"] == model.total_cycles, f"layer {n}"
        assert measured["layer_cycles"] == model.layer_cycles, f"layer {n}"
        assert outputs == model.output_beat_cycles, f"layer {n}: output word cycles"


def with_random_parameters(net, rng):
    """``net`` (a golden.network ``Sequential``) with random int8 weights, small biases and
    one requantisation for every Conv2d and Linear layer; returns it."""
    from sysconv.golden.network import Conv2d, Linear

    for layer in net:
        if isinstance(layer, (Conv2d, Linear)):
            layer.weight = rng.integers(-128, 128, layer.weight_shape)
            layer.bias = rng.integers(-1000, 1000, layer.weight_shape[0])
            layer.multiplier, layer.shift = 300, 16
    return net
