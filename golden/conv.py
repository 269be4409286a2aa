"""Integer-exact 2-D convolution and matrix product: what the systolic array computes."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._check import check_bits, check_int_array, check_pair, max_abs

__all__ = ["conv2d", "matmul"]

_INT64_MAX = int(np.iinfo(np.int64).max)


def conv2d(x, w, bias=None, *, stride=1, padding=0, act_bits=None, weight_bits=None):
    """2-D convolution (cross-correlation) of integer feature maps, exact in int64.

    The PyTorch ``Conv2d`` / ONNX ``Conv`` convention, with zero padding ``Xp`` of ``x``::

        Y[n, o, r, q] = bias[o] + sum_c sum_i sum_j Xp[n, c, r*s_h + i, q*s_w + j] * w[o, c, i, j]

    that is, for stride 1, ``Y(x, y) = sum_c sum_i sum_j X_c(x + i, y + j) K_c(i, j) + bias``:
    the kernel is not flipped. The output size is ``floor((H + 2*p_h - K_h) / s_h) + 1`` (and
    likewise for the width); trailing input rows and columns a full window does not reach are
    dropped.

    Parameters
    ----------
    x : array_like of int, shape (Cin, H, W) or (N, Cin, H, W)
        Input activations.
    w : array_like of int, shape (Cout, Cin, Kh, Kw)
        Kernels.
    bias : array_like of int, shape (Cout,), optional
        Added to every output pixel of its channel. No width limit (typically int32).
    stride : int or (int, int)
        Step between windows, ``(s_h, s_w)``, each ``>= 1``.
    padding : int or (int, int)
        Zero rows added above and below, zero columns added left and right, ``(p_h, p_w)``, each
        ``>= 0``.
    act_bits, weight_bits : int, optional
        When given (1 to 64), every value of ``x`` (respectively ``w``) must fit in a signed
        integer of that many bits, e.g. 8 for int8 hardware.

    Returns
    -------
    numpy.ndarray of int64, shape (Cout, Ho, Wo) or (N, Cout, Ho, Wo)
        Batched exactly when ``x`` is.

    Raises
    ------
    ValueError
        For non-integer arrays (float, bool, object), wrong numbers of dimensions, values outside
        ``act_bits`` / ``weight_bits``, ``stride < 1``, ``padding < 0``, a channel mismatch between
        ``x`` and ``w``, an empty kernel, a kernel larger than the padded input, a bias whose
        length is not ``Cout``, or operands large enough that the int64 sum could overflow.
    """
    if act_bits is not None:
        act_bits = check_bits("act_bits", act_bits)
    if weight_bits is not None:
        weight_bits = check_bits("weight_bits", weight_bits)
    x = check_int_array("x", x, bits=act_bits, ndim=(3, 4))
    w = check_int_array("w", w, bits=weight_bits, ndim=4)
    (s_h, s_w) = check_pair("stride", stride, minimum=1)
    (p_h, p_w) = check_pair("padding", padding, minimum=0)

    batched = x.ndim == 4
    if not batched:
        x = x[np.newaxis]
    (_, cin, h, wd) = x.shape
    (cout, w_cin, k_h, k_w) = w.shape
    if cin != w_cin:
        raise ValueError(f"x has Cin={cin} but w expects Cin={w_cin}")
    if k_h < 1 or k_w < 1:
        raise ValueError(f"w kernel must be at least 1x1, not {k_h}x{k_w}")
    (hp, wp) = (h + 2 * p_h, wd + 2 * p_w)
    if k_h > hp or k_w > wp:
        raise ValueError(f"w kernel {k_h}x{k_w} is larger than the padded input {hp}x{wp}")

    if bias is None:
        bias = np.zeros(cout, dtype=np.int64)
    else:
        bias = check_int_array("bias", bias, ndim=1)
        if bias.shape[0] != cout:
            raise ValueError(f"bias must have Cout={cout} entries, not {bias.shape[0]}")

    bound = max_abs(x) * max_abs(w) * cin * k_h * k_w + max_abs(bias)
    if bound > _INT64_MAX:
        raise ValueError(
            f"conv2d could overflow int64: max|x| * max|w| * Cin * Kh * Kw + max|bias| = {bound} "
            f"exceeds 2**63 - 1"
        )

    xp = np.pad(x, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)), mode="constant", constant_values=0)
    # (N, Cin, Hp-Kh+1, Wp-Kw+1, Kh, Kw), a view; striding picks every s-th window start.
    windows = sliding_window_view(xp, (k_h, k_w), axis=(2, 3))[:, :, ::s_h, ::s_w]
    # Integer tensordot never goes through BLAS: the sum is exact in int64.
    y = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, Cout)
    y = np.ascontiguousarray(np.moveaxis(y, 3, 1), dtype=np.int64)
    y += bias[:, np.newaxis, np.newaxis]
    return y if batched else y[0]


def matmul(a, w, *, act_bits=None, weight_bits=None):
    """Integer matrix product ``a @ w``, exact in int64: a 1x1 convolution over pixels.

    Parameters
    ----------
    a : array_like of int, shape (N, R) or (R,)
        Activations: ``N`` rows (pixels) of ``R`` reduction values.
    w : array_like of int, shape (R, C)
        Weights: ``R`` rows (the reduction dimension) of ``C`` output columns.
    act_bits, weight_bits : int, optional
        When given (1 to 64), every value of ``a`` (respectively ``w``) must fit in a signed
        integer of that many bits.

    Returns
    -------
    numpy.ndarray of int64, shape (N, C) or (C,)
        ``out[n, c] = sum_r a[n, r] * w[r, c]``; one-dimensional exactly when ``a`` is.

    Raises
    ------
    ValueError
        For non-integer arrays, wrong numbers of dimensions, values outside ``act_bits`` /
        ``weight_bits``, mismatched reduction lengths, or operands large enough that the int64 sum
        could overflow.
    """
    if act_bits is not None:
        act_bits = check_bits("act_bits", act_bits)
    if weight_bits is not None:
        weight_bits = check_bits("weight_bits", weight_bits)
    a = check_int_array("a", a, bits=act_bits, ndim=(1, 2))
    w = check_int_array("w", w, bits=weight_bits, ndim=2)
    r = a.shape[-1]
    if r != w.shape[0]:
        raise ValueError(
            f"a has R={r} but w expects R={w.shape[0]} (a shape {a.shape}, w shape {w.shape})"
        )
    bound = max_abs(a) * max_abs(w) * r
    if bound > _INT64_MAX:
        raise ValueError(
            f"matmul could overflow int64: max|a| * max|w| * R = {bound} exceeds 2**63 - 1"
        )
    # Integer matmul never goes through BLAS: the sum is exact in int64.
    return np.matmul(a, w, dtype=np.int64)
