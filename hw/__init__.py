"""The accelerator's hardware, in Amaranth: one block per module."""

from .pe import ProcessingElement
from .systolic_array import SystolicArray

__all__ = ["ProcessingElement", "SystolicArray"]
