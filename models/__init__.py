"""The models that ship with sysconv, as package data.

:data:`DIGITS_CNN` is the seed CNN (``scripts/train_digits.py`` trains and quantises it): the
network ``sysconv bench`` and ``sysconv sweep`` run, in :mod:`sysconv.golden.network`'s file
format. :data:`DIGITS_ONNX` is the same trained float model quantised by onnxruntime's
``quantize_static`` (int8 QDQ, per-channel weights), the file ``sysconv demo`` runs through
:func:`sysconv.onnx.load`, as a user's model would. Read it through :func:`path`, which works from a
checkout and from an installed wheel alike.
"""

from importlib.resources import files

__all__ = ["DIGITS_CNN", "DIGITS_ONNX", "path"]

DIGITS_CNN = "digits_cnn.npz"
DIGITS_ONNX = "digits_cnn.onnx"


def path(name=DIGITS_CNN):
    """The file ``name`` shipped in this package (a :class:`pathlib.Path` on an installed
    package or a checkout)."""
    resource = files(__name__) / name
    if not resource.is_file():
        raise FileNotFoundError(f"sysconv ships no model named {name!r}")
    return resource
