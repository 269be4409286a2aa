"""Integer activation and requantisation: what the requantiser block computes."""

import numpy as np

from ._check import check_bits, check_int_array, check_range

__all__ = ["relu", "requantize"]

_MULTIPLIER_MAX = (1 << 31) - 1
_SHIFT_MAX = 62
# |acc * multiplier| <= 2**62 leaves room for the rounding term (at most 2**61) in int64.
_PRODUCT_MAX = 1 << 62


def relu(x, zero_point=0):
    """Rectified linear unit on integers: ``max(x, zero_point)``, elementwise.

    On a quantised tensor ``real = scale * (q - zero_point)``, clamping at the zero point is
    the real ReLU; with ``zero_point=0`` it is ``max(x, 0)``.

    Parameters
    ----------
    x : array_like of int
        Any shape.
    zero_point : int
        The value that stands for real 0 (default 0).

    Returns
    -------
    numpy.ndarray of int64
        Same shape as ``x``; negative values replaced by 0, the others unchanged.

    Raises
    ------
    ValueError
        If ``x`` is not an integer array.
    """
    x = check_int_array("x", x)
    zero_point = check_int_array("zero_point", zero_point, ndim=0)
    return np.maximum(x, zero_point)


def requantize(acc, multiplier, shift, bits=8, zero_point=0):
    """Scale wide accumulators down to narrow signed integers, as the hardware does.

    Elementwise, with Python-integer (unbounded) arithmetic and ``>>`` the arithmetic (floor)
    right shift::

        v = (acc * multiplier + 2**(shift - 1)) >> shift    if shift > 0
        v = acc * multiplier                                if shift == 0
        out = min(max(v + zero_point, -2**(bits - 1)), 2**(bits - 1) - 1)

    For ``shift > 0`` this is ``floor(acc * multiplier / 2**shift + 1/2)``: round to nearest,
    ties toward +inf (round half up), so ``2.5 -> 3`` and ``-2.5 -> -2``; e.g. ``acc=-3,
    multiplier=1, shift=1`` gives ``(-3 + 1) >> 1 = -1``. There is no rounding term when
    ``shift == 0``. The result then saturates (clamps) to the signed ``bits``-bit range; it never
    wraps. The effective scale is ``multiplier / 2**shift``. The output zero point is added
    after the rounding and before the saturation, as in TFLite's and onnxruntime's integer
    kernels.

    Parameters
    ----------
    acc : array_like of int
        Accumulators, any shape.
    multiplier : int or array_like of int
        From 0 to ``2**31 - 1``. A Python int applies to every element; for per-channel scales
        pass an array that broadcasts to ``acc.shape``, e.g. shape ``(C, 1, 1)`` for a
        ``(C, H, W)`` accumulator or ``(C,)`` for ``(N, C)``.
    shift : int or array_like of int
        From 0 to 62, scalar or per-channel like ``multiplier``.
    bits : int
        Output width, 2 to 32.
    zero_point : int
        Output zero point, within the ``bits``-bit signed range (default 0).

    Returns
    -------
    numpy.ndarray of int64
        Same shape as ``acc``, values in ``-2**(bits-1) .. 2**(bits-1) - 1``.

    Raises
    ------
    ValueError
        If an argument is not an integer (array), is out of its range, ``multiplier`` or
        ``shift`` does not broadcast to ``acc.shape``, or some ``|acc * multiplier|`` exceeds
        ``2**62`` (the computation would not be exact in int64).
    """
    bits = check_bits("bits", bits, minimum=2, maximum=32)
    acc = check_int_array("acc", acc)
    multiplier = check_int_array("multiplier", multiplier)
    check_range(
        "multiplier", multiplier, 0, _MULTIPLIER_MAX, "fit in non-negative signed 32-bit integers"
    )
    shift = check_int_array("shift", shift)
    check_range("shift", shift, 0, _SHIFT_MAX, "be valid shift amounts")
    zero_point = check_int_array("zero_point", zero_point, ndim=0)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    check_range("zero_point", zero_point, lo, hi, f"fit in signed {bits}-bit integers")
    for name, value in (("multiplier", multiplier), ("shift", shift)):
        try:
            shape = np.broadcast_shapes(value.shape, acc.shape)
        except ValueError:
            shape = None
        if shape != acc.shape:
            raise ValueError(
                f"{name} shape {value.shape} does not broadcast to acc shape {acc.shape}"
            )

    multiplier, shift = np.broadcast_to(multiplier, acc.shape), np.broadcast_to(shift, acc.shape)
    # |acc| <= 2**62 // multiplier  <=>  |acc| * multiplier <= 2**62, without overflowing.
    limit = _PRODUCT_MAX // np.maximum(multiplier, 1)
    overflow = (multiplier > 0) & ((acc > limit) | (acc < -limit))
    if overflow.any():
        index = np.argwhere(overflow)[0]
        raise ValueError(
            f"|acc * multiplier| must not exceed 2**62; found acc={int(acc[tuple(index)])} "
            f"with multiplier={int(multiplier[tuple(index)])}"
        )

    one = np.int64(1)
    rounding = np.where(shift > 0, np.left_shift(one, np.maximum(shift - one, 0)), 0)
    v = np.right_shift(acc * multiplier + rounding, shift) + zero_point
    return np.clip(v, lo, hi).astype(np.int64, copy=False)
