"""What the benchmark runs: layers, array sizes, the array the simulators race on.

The full benchmark runs the seed CNN's conv layers (3->32 on 24x24 and 32->64 on 12x12, 3x3,
padding 1, ReLU, 2x2 max pooling) back to back on 4x4, 8x8 and 16x16 engines; the quick one
(``--quick``, what the regression runs) two tiny layers on 2x2 and 4x4.

Each layer runs as the compiler runs it on that array: tap-packed (im2col on the host, a 1x1
convolution over ``K*K*Cin`` channels) where :func:`sysconv.compiler.packing_pays`.
"""

from dataclasses import dataclass

from sysconv.compiler import packing_pays
from sysconv.hw.layer import EngineConfig, LayerConfig
from sysconv.sim.engine.layer import random_layer

__all__ = ["Workload", "FULL", "QUICK"]

SEED = 1


@dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple  # (name, random_layer keyword arguments), run back to back
    arrays: tuple  # square array sizes
    speed_array: int  # the array the simulators race on (part 4), the seed CNN's RTL (part 3)

    def configs(self):
        """Every layer as stated (what SCALE-Sim runs), a :class:`LayerConfig`."""
        return [LayerConfig(**spec) for _, spec in self.layers]

    def packed(self, size):
        """Whether each layer runs tap-packed on the ``size x size`` array."""
        return [packing_pays(layer, size, size) for layer in self.configs()]

    def engine(self, size):
        """An engine of ``size x size`` PEs sized for every layer of the workload, plain and
        as it runs."""
        configs = self.configs()
        configs += [
            c.tap_packed() for c, packed in zip(configs, self.packed(size), strict=True) if packed
        ]
        return EngineConfig(
            size,
            size,
            max_height=max(c.height for c in configs),
            max_width=max(c.width for c in configs),
            max_in_channels=max(c.in_channels for c in configs),
            max_out_channels=max(c.out_channels for c in configs),
            max_kernel=max(c.kernel for c in configs),
        )

    def runs(self, size):
        """Seeded random tensors for every layer, on the ``size x size`` engine, each run as
        the compiler would (tap-packed or not: :meth:`packed`)."""
        engine = self.engine(size)
        runs = [
            random_layer(engine, seed=SEED + n, **spec) for n, (_, spec) in enumerate(self.layers)
        ]
        return [
            run.tap_packed() if packed else run
            for run, packed in zip(runs, self.packed(size), strict=True)
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
