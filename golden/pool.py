"""Integer max pooling: what the streaming pooling block computes."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._check import check_int_array, check_pair

__all__ = ["maxpool2d"]

# Below every value an int64 input can hold after conversion, so padding never wins a window.
_PAD = np.iinfo(np.int64).min


def maxpool2d(x, size, stride=None, padding=0):
    """2-D max pooling of integer feature maps, PyTorch ``MaxPool2d`` semantics.

    ::

        P[n, c, r, q] = max over 0 <= i < K_h, 0 <= j < K_w of Xp[n, c, r*s_h + i, q*s_w + j]

    where ``Xp`` is ``x`` padded with a value below every input (PyTorch pads with ``-inf``), so
    padding never wins: all windows hold at least one real pixel, since ``p <= K // 2``. The output
    size is ``floor((H + 2*p_h - K_h) / s_h) + 1`` (PyTorch's ``ceil_mode=False``): trailing rows
    and columns that a full window does not reach are dropped.

    Parameters
    ----------
    x : array_like of int, shape (C, H, W) or (N, C, H, W)
        Feature maps.
    size : int or (int, int)
        Window ``(K_h, K_w)``, each ``>= 1``.
    stride : int or (int, int), optional
        Step between windows ``(s_h, s_w)``, each ``>= 1``; defaults to ``size``.
    padding : int or (int, int)
        Rows added above and below, columns added left and right ``(p_h, p_w)``, each from 0 to
        half the window (``p_h <= K_h // 2``, ``p_w <= K_w // 2``).

    Returns
    -------
    numpy.ndarray of int64, shape (C, Ho, Wo) or (N, C, Ho, Wo)
        The input values (converted to int64), batched exactly when ``x`` is.

    Raises
    ------
    ValueError
        For a non-integer ``x``, a wrong number of dimensions, an image with no rows or no
        columns (its windows would hold only padding), ``size < 1``, ``stride < 1``,
        ``padding < 0``, padding more than half the window, or a window larger than the padded
        input.
    """
    x = check_int_array("x", x, ndim=(3, 4))
    if 0 in x.shape[-2:]:
        raise ValueError(f"x must have at least one row and one column, not shape {x.shape}")
    (k_h, k_w) = check_pair("size", size, minimum=1)
    (s_h, s_w) = (k_h, k_w) if stride is None else check_pair("stride", stride, minimum=1)
    (p_h, p_w) = check_pair("padding", padding, minimum=0)
    if p_h > k_h // 2 or p_w > k_w // 2:
        raise ValueError(
            f"padding must be at most half the window size, ({k_h // 2}, {k_w // 2}), "
            f"not ({p_h}, {p_w})"
        )
    (hp, wp) = (x.shape[-2] + 2 * p_h, x.shape[-1] + 2 * p_w)
    if k_h > hp or k_w > wp:
        raise ValueError(
            f"size (the pool window) must be at most the padded input {hp}x{wp}, not {k_h}x{k_w}"
        )

    pad = [(0, 0)] * (x.ndim - 2) + [(p_h, p_h), (p_w, p_w)]
    xp = np.pad(x, pad, mode="constant", constant_values=_PAD)
    windows = sliding_window_view(xp, (k_h, k_w), axis=(-2, -1))[..., ::s_h, ::s_w, :, :]
    return windows.max(axis=(-2, -1)).astype(np.int64, copy=False)
