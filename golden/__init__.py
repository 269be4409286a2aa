"""Bit-exact NumPy models of what the hardware computes: the judge the RTL is compared against.

Nothing here imports Amaranth: the judge does not know the defendant.
"""

from . import perf, pool_timing, systolic
from .conv import conv2d, matmul
from .pool import maxpool2d
from .quant import relu, requantize
from .systolic import SystolicArrayModel

__all__ = [
    "conv2d",
    "matmul",
    "maxpool2d",
    "relu",
    "requantize",
    "SystolicArrayModel",
    "perf",
    "pool_timing",
    "systolic",
]
