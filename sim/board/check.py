"""A board's self-test: one random layer through :class:`sysconv.hw.boards.host.Board`,
compared with the golden model. Runs on a real board (``python -m sysconv.host``) and in the
simulated board test alike."""

import time

import numpy as np

from sysconv.sim.engine.layer import random_layer

__all__ = ["self_test"]


def self_test(board, *, seed=0):
    """Run one random layer that fits the board's engine (a 3x3 convolution with padding,
    ReLU and 2x2 max pooling where the engine allows) and compare it with the golden model.
    Returns ``(passed, message)``."""
    config = board.info()
    kernel = min(3, config.max_kernel)
    height, width = min(4, config.max_height), min(4, config.max_width)
    pool = 2 if config.max_pool and min(height, width) >= 2 else 0
    run = random_layer(
        config,
        height=height,
        width=width,
        in_channels=min(2, config.max_in_channels),
        out_channels=min(3, config.max_out_channels),
        kernel=kernel,
        padding=kernel // 2,
        relu=True,
        pool_size=pool,
        seed=seed,
    )
    start = time.monotonic()
    got = board.run_layer(run.layer, run.x, run.weights, run.bias)
    seconds = time.monotonic() - start
    want = run.expected()
    if got.shape != want.shape or not np.array_equal(got, want):
        return False, f"layer {run.layer}: output differs from the golden model (seed {seed})"
    cycles = board.status()["compute_cycles"]
    return True, (
        f"{height}x{width}x{run.layer.in_channels} -> {run.layer.out_channels}, "
        f"{kernel}x{kernel}{f', pool {pool}' if pool else ''}: matches the golden "
        f"model ({cycles} compute cycles, {seconds:.2f} s over the link)"
    )
