"""What the benchmark runs: layers, array sizes, the array the simulators race on.

The full benchmark runs the seed CNN's conv layers (3->32 on 24x24 and 32->64 on 12x12, 3x3,
padding 1, ReLU, 2x2 max pooling) back to back on 4x4, 8x8 and 16x16 engines; the quick one
(``--quick``, what the regression runs) two tiny layers on 2x2 and 4x4.
"""

from dataclasses import dataclass

from sysconv.hw.layer import EngineConfig
from sysconv.sim.engine.layer import random_layer

__all__ = ["Workload", "FULL", "QUICK"]

SEED = 1


@dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple  # (name, random_layer keyword arguments), run back to back
    arrays: tuple  # square array sizes
    speed_array: int  # the array the simulators race on (part 3)

    def engine(self, size):
        """An engine of ``size x size`` PEs sized for every layer of the workload."""
        specs = [spec for _, spec in self.layers]
        return EngineConfig(
            size,
            size,
            max_height=max(s["height"] for s in specs),
            max_width=max(s["width"] for s in specs),
            max_in_channels=max(s["in_channels"] for s in specs),
            max_out_channels=max(s["out_channels"] for s in specs),
            max_kernel=max(s["kernel"] for s in specs),
        )

    def runs(self, size):
        """Seeded random tensors for every layer, on the ``size x size`` engine."""
        engine = self.engine(size)
        return [
            random_layer(engine, seed=SEED + n, **spec) for n, (_, spec) in enumerate(self.layers)
        ]


def _conv(height, width, in_channels, out_channels):
    return dict(
        height=height,
        width=width,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel=3,
        padding=1,
        relu=True,
        pool_size=2,
    )


FULL = Workload(
    "full",
    (("conv1 3->32 24x24", _conv(24, 24, 3, 32)), ("conv2 32->64 12x12", _conv(12, 12, 32, 64))),
    arrays=(4, 8, 16),
    speed_array=8,
)

QUICK = Workload(
    "quick",
    (("tiny1 3->8 8x8", _conv(8, 8, 3, 8)), ("tiny2 8->8 4x4", _conv(4, 4, 8, 8))),
    arrays=(2, 4),
    speed_array=4,
)
