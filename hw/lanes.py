"""Packing of multi-lane payloads into flat words: the generated Verilog's ports and the
engine's stream beats.

Lane 0 sits in the low bits, as ``amaranth.lib.data.ArrayLayout`` places it.
"""

__all__ = ["pack", "unpack"]


def pack(values, width):
    """Pack signed lane values into one unsigned integer, lane 0 in the low bits."""
    mask = (1 << width) - 1
    word = 0
    for lane, value in enumerate(values):
        word |= (int(value) & mask) << (lane * width)
    return word


def unpack(word, width, count):
    """Split an unsigned integer into ``count`` signed lanes of ``width`` bits."""
    mask = (1 << width) - 1
    half = 1 << (width - 1)
    word = int(word)
    return tuple((((word >> (lane * width)) & mask) ^ half) - half for lane in range(count))
