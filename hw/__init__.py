"""The accelerator's hardware, in Amaranth: one block per module.

The blocks are imported when first named (``from sysconv.hw import ConvEngine``), not with the
package: a cocotb testbench needs only :mod:`sysconv.hw.layer` and :mod:`sysconv.hw.lanes`
(plain NumPy), so each simulator process it runs in starts without importing Amaranth
(``tests/test_testbenches.py`` pins that).
"""

from importlib import import_module

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

_MODULES = {
    "Accelerator": ".top",
    "ConvEngine": ".engine",
    "EngineConfig": ".layer",
    "LayerConfig": ".layer",
    "MaxPool2d": ".maxpool",
    "ProcessingElement": ".pe",
    "Requantizer": ".requant",
    "SystolicArray": ".systolic_array",
}


def __getattr__(name):
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_MODULES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
