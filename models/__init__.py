"""The models that ship with sysconv, as package data.

:data:`DIGITS_CNN` is the seed CNN (``scripts/train_digits.py`` trains and quantises it): the
network ``sysconv demo``, ``sysconv bench`` and ``sysconv sweep`` run, in
:mod:`sysconv.golden.network`'s file format. Read it through :func:`path`, which works from a
checkout and from an installed wheel alike.
"""

from importlib.resources import files

__all__ = ["DIGITS_CNN", "path"]

DIGITS_CNN = "digits_cnn.npz"


def path(name=DIGITS_CNN):
    """The file ``name`` shipped in this package (a :class:`pathlib.Path` on an installed
    package or a checkout)."""
    resource = files(__name__) / name
    if not resource.is_file():
        raise FileNotFoundError(f"sysconv ships no model named {name!r}")
    return resource
