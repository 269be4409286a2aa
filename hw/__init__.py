"""The accelerator's hardware, in Amaranth: one block per module."""

from .engine import ConvEngine
from .layer import EngineConfig, LayerConfig
from .maxpool import MaxPool2d
from .pe import ProcessingElement
from .requant import Requantizer
from .systolic_array import SystolicArray
from .top import Accelerator

__all__ = [
    "Accelerator",
    "ConvEngine",
    "EngineConfig",
    "LayerConfig",
    "MaxPool2d",
    "ProcessingElement",
    "Requantizer",
    "SystolicArray",
]
