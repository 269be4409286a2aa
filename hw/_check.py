"""Parameter checks shared by the blocks' ``check_parameters`` and the host-side packers: each
error names the parameter, the value, and what is allowed."""

import numpy as np

__all__ = ["check_int", "check_int_array"]


def check_int(name, value, low, high=None):
    """Raise ValueError unless ``value`` is an ``int`` (not a bool) from ``low`` to ``high``
    (no upper bound when ``high`` is None)."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
        raise ValueError(f"{name} must be {allowed}, not {value!r}")


def check_int_array(name, values, shape, bits):
    """``values`` as an int64 array, after checking that it is an integer array of exactly
    ``shape`` whose values fit in signed ``bits``-bit integers.

    Float, bool, complex, object and string arrays are refused even when their values are
    whole: a float tensor reaching the hardware is a caller's mistake, and truncating it would
    hide it. (``golden._check.check_int_array`` does the same for the golden models; ``hw``
    imports nothing of ``golden``, so this is its own copy, reduced to what the packers need.)
    """
    try:
        array = np.asarray(values)
    except ValueError:  # ragged nested sequences
        raise ValueError(
            f"{name} must be an integer array of shape {tuple(shape)}, not a "
            f"ragged {type(values).__name__}"
        ) from None
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, not {array.dtype}")
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, not {array.shape}")
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    # Python-int bounds compare exactly with any integer dtype (NEP 50).
    outside = (array < low) | (array > high)
    if outside.any():
        index = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"{name} values must be signed {bits}-bit integers ({low}..{high}), "
            f"not {int(array[index])} (at {index})"
        )
    return array.astype(np.int64)
