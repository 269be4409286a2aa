"""Soak: random layers under random stalls on Verilator, at least one million cycles
(`make test-long`). Every output word is compared with the golden model; the stream checkers
watch every handshake."""

import json
import random

import pytest
from helpers import stall_seed

from sysconv.hw.layer import EngineConfig
from sysconv.sim.engine.layer import random_layer
from sysconv.sim.engine.run import run_layers
from sysconv.sim.runner import build_root

ENGINE = EngineConfig(
    4, 4, max_height=12, max_width=12, max_in_channels=9, max_out_channels=9, max_kernel=5
)
TARGET_CYCLES = 1_000_000


def random_runs(rng, count):
    runs = []
    while len(runs) < count:
        kernel = rng.randint(1, 5)
        padding = rng.randint(0, kernel - 1)
        stride = rng.randint(1, kernel)
        height, width = rng.randint(1, 12), rng.randint(1, 12)
        pool = rng.choice([0, 0, 2, 3])
        try:
            runs.append(
                random_layer(
                    ENGINE,
                    height=height,
                    width=width,
                    in_channels=rng.randint(1, 9),
                    out_channels=rng.randint(1, 9),
                    kernel=kernel,
                    stride=stride,
                    padding=padding,
                    relu=rng.random() < 0.7,
                    pool_size=pool,
                    pool_stride=rng.randint(1, pool) if pool else None,
                    data=rng.choice(["random", "random", "extremes", "negative"]),
                    seed=rng.randrange(1 << 30),
                )
            )
        except ValueError:
            continue  # not a legal layer for this engine: draw again
    return runs


@pytest.mark.long
def test_soak_a_million_cycles(test_dir):
    seed = stall_seed()
    rng = random.Random(seed)
    cycles, chunks, layers, patterns = 0, 0, 0, set()
    while cycles < TARGET_CYCLES:
        runs = random_runs(rng, 6)
        idle = rng.choice([0.0, 0.05, 0.3, 0.6, 0.9])
        backpressure = rng.choice([0.0, 0.05, 0.3, 0.6, 0.9])
        result = run_layers(
            runs,
            "verilator",
            test_dir / f"chunk{chunks}",
            idle=idle,
            backpressure=backpressure,
            seed=rng.randrange(1 << 30),
            waves=False,
        )
        assert result.status == "pass", (
            f"chunk {chunks} (seed {seed}, idle {idle}, "
            f"backpressure {backpressure}): {result.message}"
        )
        cycles += result.cycles
        chunks += 1
        layers += len(runs)
        patterns.add((idle, backpressure))
    summary = {
        "seed": seed,
        "cycles": cycles,
        "chunks": chunks,
        "layers": layers,
        "stall_patterns": sorted(patterns),
    }
    (build_root() / "soak.json").write_text(json.dumps(summary, indent=2))
    print(f"soak: {summary}")
