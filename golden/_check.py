"""Input validation shared by the golden models.

Every helper raises :class:`ValueError` with the argument's name, the rule it broke and the value
found, so that a wrong call fails at the boundary instead of producing a plausible wrong answer.
"""

import numbers

import numpy as np

__all__ = ["check_bits", "check_int", "check_int_array", "check_pair", "check_range", "max_abs"]

_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)


def _is_int(value):
    # bool is an Integral to Python, but a flag passed as a size is always a mistake.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _or_list(items):
    items = [str(item) for item in items]
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def check_int(name, value, minimum, maximum=None):
    """Check an integer parameter.

    Returns ``int(value)``; raises :class:`ValueError` unless ``value`` is an integer (not a bool)
    from ``minimum`` to ``maximum`` inclusive (no upper bound when ``maximum`` is None).
    """
    if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
        allowed = (
            f"an integer >= {minimum}"
            if maximum is None
            else f"an integer from {minimum} to {maximum}"
        )
        raise ValueError(f"{name} must be {allowed}, not {value!r}")
    return int(value)


def check_bits(name, value, *, minimum=1, maximum=64):
    """Check a bit width parameter: :func:`check_int` from ``minimum`` to ``maximum``."""
    return check_int(name, value, minimum, maximum)


def check_range(name, x, lo, hi, rule):
    """Check that every value of the integer array ``x`` lies in ``lo..hi`` inclusive.

    The message reads ``"{name} values must {rule} ({lo}..{hi}); found {v}"``, where ``v`` is the
    first offending value in C order.
    """
    if x.size == 0:
        return
    # Python-int bounds compare exactly against any NumPy integer dtype (NEP 50).
    if int(x.min()) >= lo and int(x.max()) <= hi:
        return
    bad = x[(x < lo) | (x > hi)]
    raise ValueError(f"{name} values must {rule} ({lo}..{hi}); found {int(bad.flat[0])}")


def check_int_array(name, x, *, bits=None, ndim=None):
    """Check an integer array argument and return it as ``np.int64``.

    Parameters
    ----------
    name : str
        The argument's name, used in error messages.
    x : array_like
        An integer NumPy array, a Python int or a (nested) list of Python ints. Floating point,
        bool, object and string arrays are rejected, even when their values are whole numbers.
    bits : int or None
        When given (1 to 64), every value must fit in a signed ``bits``-bit integer,
        ``-2**(bits-1) .. 2**(bits-1) - 1``.
    ndim : int, tuple of int, or None
        When given, the allowed number(s) of dimensions.

    Returns
    -------
    numpy.ndarray
        ``x`` converted to ``np.int64`` (a new array unless it already was one).

    Raises
    ------
    ValueError
        ``"{name} must be an integer array, not {dtype}"``,
        ``"{name} must have {ndim} dimensions, not {x.ndim} (shape {x.shape})"`` or
        ``"{name} values must fit in signed {bits}-bit integers ({lo}..{hi}); found {v}"``.
    """
    given_array = isinstance(x, np.ndarray)
    x = np.asarray(x)
    if x.size == 0 and not given_array and x.dtype == np.float64:
        # np.asarray([]) is float64; an empty list has no values to be wrong.
        x = x.astype(np.int64)
    if x.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, not {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if _is_int(ndim) else tuple(ndim)
        if x.ndim not in allowed:
            raise ValueError(
                f"{name} must have {_or_list(allowed)} dimensions, not {x.ndim} (shape {x.shape})"
            )
    if bits is not None:
        bits = check_bits("bits", bits)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        check_range(name, x, lo, hi, f"fit in signed {bits}-bit integers")
    elif x.dtype == np.uint64:
        check_range(name, x, _INT64_MIN, _INT64_MAX, "fit in signed 64-bit integers")
    return x.astype(np.int64, copy=False)


def check_pair(name, value, *, minimum):
    """Check a size-like parameter given as one integer or an ``(h, w)`` pair.

    Returns
    -------
    tuple of (int, int)
        ``(value, value)`` for a single integer, else ``(h, w)``.

    Raises
    ------
    ValueError
        ``"{name} must be an integer >= {minimum} or a pair of them, not {value!r}"`` unless
        ``value`` is an integer (not a bool) ``>= minimum``, or a tuple or list of two of them.
    """
    pair = (value, value) if _is_int(value) else value
    if (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and all(_is_int(v) and v >= minimum for v in pair)
    ):
        return int(pair[0]), int(pair[1])
    raise ValueError(f"{name} must be an integer >= {minimum} or a pair of them, not {value!r}")


def max_abs(x):
    """The largest absolute value in the int64 array ``x``, as a Python int (0 when empty)."""
    if x.size == 0:
        return 0
    # Python ints: abs(int64 min) does not fit in int64.
    return max(-int(x.min()), int(x.max()))
