"""The benchmark behind ``make bench`` and ``sysconv bench``; see :mod:`sysconv.bench.run`.

Nothing in ``hw``, ``golden`` or ``sim`` imports it.
"""

from .run import run_bench

__all__ = ["run_bench"]
