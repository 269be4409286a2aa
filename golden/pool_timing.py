"""When the streaming max-pooling block gives each output beat: its documented timing contract.

The block (``hw.maxpool.MaxPool2d``) takes a tensor as an HWC raster of beats, pixel after pixel,
row by row, each pixel as ``groups = ceil(channels / lanes)`` beats (beat ``g`` carrying channels
``g * lanes`` to ``g * lanes + lanes - 1``); input beat ``b`` of pixel ``(y, x)``, group ``g``, is
``b = (y * width + x) * groups + g``. The output is the pooled tensor in the same order and
packing. Output beat ``(r, q, g)`` (pooled pixel ``(r, q)``, group ``g``) needs input pixels up
to ``(r * stride + size - 1, q * stride + size - 1)``, the bottom right of its window, and
appears :data:`LATENCY` cycles after that pixel's group-``g`` beat is accepted, when the output
is not backpressured.
"""

import numpy as np

from ._check import check_bits

__all__ = ["LATENCY", "output_cycles", "output_shape"]

# Cycles from accepting the input beat that completes a window (for one channel group) to the
# output beat being valid: line-buffer reads for the horizontal and the vertical max, each read
# and then registered (2 + 2), each pass's comparisons registered (1 + 1), output buffer (2).
LATENCY = 8


def output_shape(height, width, size, stride):
    """Pooled ``(rows, columns)``: ``(n - size) // stride + 1`` each (PyTorch's floor), ``0``
    when the input is smaller than the window."""
    for name, value in (("height", height), ("width", width), ("size", size), ("stride", stride)):
        check_bits(name, value, minimum=1, maximum=1 << 32)
    return (max((height - size) // stride + 1, 0), max((width - size) // stride + 1, 0))


def output_cycles(height, width, channels, lanes, size, stride, *, latency=LATENCY):
    """Cycle of every output beat, for a tensor streamed in at one beat per cycle from cycle 0
    into a block whose output is always ready.

    Parameters
    ----------
    height, width, channels : int
        Input tensor shape, each ``>= 1``.
    lanes : int
        Channels per beat, ``>= 1``.
    size, stride : int
        Square window side and step, each ``>= 1``.
    latency : int
        Cycles from the last input beat a window needs to its output beat, ``>= 0``.

    Returns
    -------
    numpy.ndarray of int64, shape (rows * columns * groups,)
        In output order (HWC raster, groups innermost), the cycle, counted from the first input
        beat, in which each output beat is valid: ``(row_in * width + col_in) * groups + g +
        latency`` with ``row_in = r * stride + size - 1`` and ``col_in = q * stride + size - 1``.
        Empty when the input is smaller than the window.

    Raises
    ------
    ValueError
        ``"{name} must be an integer from {minimum} to {maximum}, not {value!r}"`` for an
        argument that is not an integer in range.
    """
    for name, value in (("channels", channels), ("lanes", lanes)):
        check_bits(name, value, minimum=1, maximum=1 << 32)
    check_bits("latency", latency, minimum=0, maximum=1 << 32)
    rows, cols = output_shape(height, width, size, stride)
    groups = -(-channels // lanes)
    row_in = np.arange(rows, dtype=np.int64) * stride + (size - 1)
    col_in = np.arange(cols, dtype=np.int64) * stride + (size - 1)
    group = np.arange(groups, dtype=np.int64)
    beat = (row_in[:, None, None] * width + col_in[None, :, None]) * groups + group[None, None, :]
    return (beat + latency).reshape(-1)
