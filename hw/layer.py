"""The convolution engine's two kinds of parameters, and its programming model.

:class:`EngineConfig` is what the hardware is generated for (array size, widths, the largest
layer it must hold); :class:`LayerConfig` is one layer, set at run time. A layer reaches the
engine as one *parameter packet* on the parameter stream, built by :meth:`LayerConfig.packet`:

1. ``len(REGISTERS)`` register words, in the order of :data:`REGISTERS`;
2. the biases and requantisation constants, ``bias_words = 2 * col_tiles * cols`` words: per
   column tile ``j``, the ``cols`` biases of channels ``j*cols ..``, then their ``cols``
   requantisation words, ``multiplier | shift << mult_width`` (zero past ``Cout``);
3. the weights: ``col_tiles * row_tiles * rows`` words of ``cols`` int8 lanes, in the order the
   engine feeds them to the array (see :meth:`LayerConfig.weight_words`).

Register and bias words are 32-bit two's complement in the low bits of a beat (the zero points
are int8: their low 8 bits count). ``tlast`` marks
the packet's last word. The input tensor then goes to the data stream, and the output comes
back; both are int8, HWC raster order, in channel groups (see :meth:`EngineConfig.in_lanes`).
A packet serves ``images`` input tensors (:attr:`LayerConfig.images`, 1 by default): they
follow it one after the other, each giving its output tensor, before the next packet.
With :attr:`LayerConfig.double_buffer` they ping-pong between two banks of the input and
output buffers (image ``k`` in bank ``k % 2``, from word ``input_depth // 2`` and
``output_depth // 2`` for bank 1), so that one image's input, the next's compute and the
previous one's output overlap; the engine's buffers must hold two images' words.

*Tap packing*: a layer whose ``kernel**2 * in_channels`` fills the array's rows better than
its ``in_channels`` alone (few input channels) can run as :meth:`LayerConfig.tap_packed`, a
1x1 convolution over its output pixels whose channels are each pixel's whole receptive field:
the host lays the input out with :func:`pack_taps` (im2col) and the weights with
:func:`pack_tap_weights`, in the same (kernel row, kernel column, channel) order.
"""

from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._check import check_int, check_int_array
from .lanes import pack, unpack

__all__ = [
    "EngineConfig",
    "LayerConfig",
    "REGISTERS",
    "hwc_features",
    "min_acc_width",
    "pack_taps",
    "pack_tap_weights",
]

# The register words of a parameter packet, in order. The first group is the layer as a user
# states it; the rest are derived from it by LayerConfig (host side), so that the hardware
# needs no multipliers or dividers for its loop bounds and address steps.
REGISTERS = (
    "height",
    "width",
    "in_channels",
    "out_channels",
    "kernel",
    "stride",
    "padding",
    "input_zero_point",  # int8: the padding value
    "output_zero_point",  # int8: added after rounding, before saturation; ReLU clamps at it
    "relu",
    "pool_size",
    "pool_stride",
    "images",  # input tensors this packet serves, one after the other
    "double_buffer",  # 1: the images ping-pong between two banks of the input and output buffers
    "chain",  # network mode: bit 0, inputs from the activation buffer; bit 1, outputs into it
    "groups",  # ceil(in_channels / rows): beats per input pixel
    "col_tiles",  # ceil(out_channels / cols): beats per output pixel
    "out_height",
    "out_width",
    "pixels",  # out_height * out_width
    "row_tiles",  # kernel * kernel * groups: weight sets per column tile
    "in_words",  # height * width * groups
    "out_words",  # pixels * col_tiles
    "row_step",  # width * groups: input buffer words per input row
    "stride_col_step",  # stride * groups
    "stride_row_step",  # stride * width * groups
    "pad_col_offset",  # padding * groups
    "pad_row_offset",  # padding * width * groups
    "pool_out_height",
    "pool_out_width",
    "sets",  # col_tiles * row_tiles: weight sets of the layer
    "bias_words",  # 2 * col_tiles * cols: biases and requantisation words
    "weight_words",  # sets * rows
)


# The largest requantisation shift (golden.requantize's limit), and the bits it takes in a
# requantisation word.
MAX_SHIFT = 62
SHIFT_BITS = 6
# The most input tensors one parameter packet serves (the ``images`` register's limit).
MAX_IMAGES = (1 << 16) - 1
# The largest bank of the activation buffer, in words (EngineConfig.network_depth).
MAX_NETWORK_DEPTH = 1 << 20
# Registers holding int8 values (two's complement); the others are unsigned.
SIGNED_REGISTERS = ("input_zero_point", "output_zero_point")


def _is_zero(value):
    # 0 switches pooling off; 0.0, False and None are mistakes, not "no pooling".
    return type(value) is int and value == 0


def min_acc_width(products, act_width=8, weight_width=8):
    """Narrowest signed width that holds any sum of ``products`` products."""
    return (products << (act_width + weight_width - 2)).bit_length() + 1


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class EngineConfig:
    """What a convolution engine is generated for.

    Parameters
    ----------
    rows, cols : int
        Systolic array size. An input beat carries ``rows`` channels, an output beat ``cols``.
    max_height, max_width : int
        Largest input (and output) feature map.
    max_in_channels, max_out_channels, max_kernel : int
        Largest layer.
    acc_width : int or None
        Accumulator width; ``None`` picks the least that holds a ``max_kernel**2 *
        max_in_channels``-term sum of int8 products.
    mult_width : int
        Width of the unsigned requantisation multiplier.
    max_pool : int
        Largest fused pooling window (2 to 4), or 0 for an engine without pooling.
    input_depth, weight_depth, acc_depth, output_depth : int or None
        Buffer sizes in words: input (``rows`` channels of a pixel a word), weights (``cols``
        weights a word), accumulators (one output pixel's ``cols`` sums a word), output
        (``cols`` channels of a pixel a word). ``None`` sizes each for the largest layer the
        maxima allow; a smaller buffer limits which layers run (``LayerConfig.check`` says).
        The input and output buffers may be up to twice that: two banks of the largest
        layer's words, for :attr:`LayerConfig.double_buffer`.
    network_depth : int
        Network mode: words (``rows`` channels of a pixel) of each of the two banks of the
        activation buffer, which keeps a network's tensors on chip between its layers
        (:attr:`LayerConfig.chain_input`, :attr:`LayerConfig.chain_output`); a bank holds
        one layer's output tensors, all of its packet's images. 0 (the default): no
        activation buffer, no network mode. Needs ``rows`` a multiple of ``cols``: a word
        holds ``rows // cols`` output beats of a pixel, the next layer's input word.
    """

    rows: int
    cols: int
    max_height: int = 24
    max_width: int = 24
    max_in_channels: int = 32
    max_out_channels: int = 64
    max_kernel: int = 3
    acc_width: int | None = None
    mult_width: int = 16
    max_pool: int = 4
    input_depth: int | None = None
    weight_depth: int | None = None
    acc_depth: int | None = None
    output_depth: int | None = None
    network_depth: int = 0

    def __post_init__(self):
        check_int("rows", self.rows, 1, 64)
        check_int("cols", self.cols, 1, 64)
        check_int("max_height", self.max_height, 1, 4096)
        check_int("max_width", self.max_width, 1, 4096)
        check_int("max_in_channels", self.max_in_channels, 1, 4096)
        check_int("max_out_channels", self.max_out_channels, 1, 4096)
        check_int("max_kernel", self.max_kernel, 1, 15)
        check_int("mult_width", self.mult_width, 1, 31)
        if not _is_zero(self.max_pool):
            check_int("max_pool", self.max_pool, 2, 4)
        check_int("network_depth", self.network_depth, 0, MAX_NETWORK_DEPTH)
        if self.network_depth and self.rows % self.cols:
            raise ValueError(
                f"network_depth {self.network_depth} needs rows a multiple of cols (the "
                f"output beats of a pixel side by side make the next layer's input word), not "
                f"rows={self.rows}, cols={self.cols}"
            )
        # The accumulator also takes the array's own sums of `rows` products.
        minimum = min_acc_width(max(self.max_kernel**2 * self.max_in_channels, self.rows))
        if self.acc_width is None:
            object.__setattr__(self, "acc_width", minimum)
        elif (
            not isinstance(self.acc_width, int)
            or isinstance(self.acc_width, bool)
            or not minimum <= self.acc_width <= 64
        ):
            raise ValueError(
                f"acc_width must be an integer from {minimum} (the widest sum of int8 "
                f"products the engine makes) to 64, not {self.acc_width!r}"
            )

        largest = dict(
            input_depth=self.max_pixels * self.max_groups,
            weight_depth=self.max_col_tiles * self.max_row_tiles * self.rows,
            acc_depth=self.max_pixels,
            output_depth=self.max_pixels * self.max_col_tiles,
        )
        for name, words in largest.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, words)
            else:
                # A weight set is `rows` words: a smaller weight buffer runs no layer at all.
                # The input and output buffers may hold two banks (double buffering).
                banks = 2 if name in ("input_depth", "output_depth") else 1
                check_int(
                    name,
                    getattr(self, name),
                    self.rows if name == "weight_depth" else 1,
                    banks * words,
                )

    in_lanes = property(lambda self: self.rows)
    out_lanes = property(lambda self: self.cols)
    max_groups = property(lambda self: _ceil_div(self.max_in_channels, self.rows))
    max_col_tiles = property(lambda self: _ceil_div(self.max_out_channels, self.cols))
    max_row_tiles = property(lambda self: self.max_kernel**2 * self.max_groups)
    max_pixels = property(lambda self: self.max_height * self.max_width)
    max_shift = property(lambda self: MAX_SHIFT)
    # A requantisation word holds a multiplier and a shift.
    param_width = property(lambda self: max(32, 8 * self.cols, self.mult_width + SHIFT_BITS))

    def register_limits(self):
        """The largest value of each register of :data:`REGISTERS` (sets its width)."""
        k, h, w = self.max_kernel, self.max_height, self.max_width
        g, pool = self.max_groups, max(self.max_pool, 1)
        limits = dict(
            height=h,
            width=w,
            in_channels=self.max_in_channels,
            out_channels=self.max_out_channels,
            kernel=k,
            stride=k,
            padding=k,
            input_zero_point=127,
            output_zero_point=127,
            relu=1,
            pool_size=pool,
            pool_stride=pool,
            images=MAX_IMAGES,
            double_buffer=1,
            chain=3,
            groups=g,
            col_tiles=self.max_col_tiles,
            out_height=h,
            out_width=w,
            row_tiles=self.max_row_tiles,
            pixels=self.acc_depth,
            in_words=self.input_depth,
            out_words=self.output_depth,
            row_step=w * g,
            stride_col_step=k * g,
            stride_row_step=k * w * g,
            pad_col_offset=k * g,
            pad_row_offset=k * w * g,
            pool_out_height=h,
            pool_out_width=w,
            sets=self.weight_depth // self.rows,
            bias_words=2 * self.max_col_tiles * self.cols,
            weight_words=self.weight_depth,
        )
        assert set(limits) == set(REGISTERS)
        return {name: limits[name] for name in REGISTERS}


@dataclass(frozen=True)
class LayerConfig:
    """One convolution layer as the engine runs it: conv, bias, requantise, ReLU, max pool.

    ``pool_size`` 0 means no pooling; ``pool_stride`` ``None`` means ``pool_size``.
    ``multiplier`` and ``shift`` are one int for the layer or a tuple of one per output channel;
    ``input_zero_point`` (the padding value) and ``output_zero_point`` (added after rounding,
    before saturation; ReLU clamps at it) are int8 values, 0 by default. ``images`` (1 to
    65535, 1 by default) is how many input tensors the layer's one parameter packet serves.
    ``double_buffer`` (False by default) runs them from two banks of the input and output
    buffers, image ``k`` in bank ``k % 2``: the next image's input goes in while this one
    computes, and its output drains while the next computes (the engine's ``input_depth`` and
    ``output_depth`` must hold two images' words, :meth:`check`).

    Network mode (an engine with :attr:`EngineConfig.network_depth`): with ``chain_input``
    the packet's input tensors are not taken from the data stream but replayed from the
    activation buffer, which holds the output tensors of the last packet with
    ``chain_output`` as input words (``rows`` channels of a pixel a word; ``images * height
    * width * groups`` words, which must be what that packet wrote); with ``chain_output``
    the output tensors go into the activation buffer, not to the output stream. Both False
    (the default): the host sends and receives every tensor.

    The rules that hold for any engine are checked here, at construction (sizes at least 1,
    stride 1 to ``kernel``, padding 0 to ``kernel - 1``, a kernel no larger than the padded
    input, multiplier at least 0, shift 0 to 62, ``relu`` a bool, pooling 0 or 2 to 4 with
    stride 1 to ``pool_size``); :meth:`check` adds one engine's limits. A bad value raises
    ValueError naming the parameter.
    """

    height: int
    width: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    multiplier: int = 1
    shift: int = 0
    relu: bool = False
    pool_size: int = 0
    pool_stride: int | None = None
    input_zero_point: int = 0
    output_zero_point: int = 0
    images: int = 1
    double_buffer: bool = False
    chain_input: bool = False
    chain_output: bool = False

    def __post_init__(self):
        if self.pool_stride is None:
            object.__setattr__(self, "pool_stride", self.pool_size)
        for name in ("height", "width", "in_channels", "out_channels", "kernel"):
            check_int(name, getattr(self, name), 1)
        for name in ("multiplier", "shift"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple, np.ndarray)):
                if len(value) != self.out_channels:
                    raise ValueError(
                        f"{name} must be an integer or a sequence of one per output "
                        f"channel ({self.out_channels}), not {value!r}"
                    )
                value = tuple(
                    int(v)
                    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                    else v
                    for v in value
                )
                object.__setattr__(self, name, value)
        check_int("stride", self.stride, 1, self.kernel)
        check_int("padding", self.padding, 0, self.kernel - 1)
        if (
            self.kernel > self.height + 2 * self.padding
            or self.kernel > self.width + 2 * self.padding
        ):
            raise ValueError(
                f"kernel {self.kernel} is larger than the padded input "
                f"{self.height + 2 * self.padding}x{self.width + 2 * self.padding}"
            )
        for name, high in (("multiplier", None), ("shift", MAX_SHIFT)):
            value = getattr(self, name)
            for one in value if isinstance(value, tuple) else (value,):
                check_int(name, one, 0, high)
        check_int("input_zero_point", self.input_zero_point, -128, 127)
        check_int("output_zero_point", self.output_zero_point, -128, 127)
        check_int("images", self.images, 1, MAX_IMAGES)
        if not isinstance(self.relu, bool):
            raise ValueError(f"relu must be True or False, not {self.relu!r}")
        for name in ("double_buffer", "chain_input", "chain_output"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if _is_zero(self.pool_size):
            if not _is_zero(self.pool_stride):
                raise ValueError(f"pool_stride must be 0 without pooling, not {self.pool_stride!r}")
        else:
            check_int("pool_size", self.pool_size, 2, 4)
            check_int("pool_stride", self.pool_stride, 1, self.pool_size)

    def _per_channel(self, name):
        value = getattr(self, name)
        return value if isinstance(value, tuple) else (value,) * self.out_channels

    def channel_multipliers(self):
        """The multiplier of each output channel, a tuple."""
        return self._per_channel("multiplier")

    def channel_shifts(self):
        """The shift of each output channel, a tuple."""
        return self._per_channel("shift")

    @property
    def out_height(self):
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self):
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def pool_out_height(self):
        if not self.pool_size:
            return self.out_height
        return (self.out_height - self.pool_size) // self.pool_stride + 1

    @property
    def pool_out_width(self):
        if not self.pool_size:
            return self.out_width
        return (self.out_width - self.pool_size) // self.pool_stride + 1

    @property
    def macs(self):
        return (
            self.out_height * self.out_width * self.kernel**2 * self.in_channels * self.out_channels
        )

    @property
    def banks(self):
        """Banks of the input and output buffers the layer's images use: 2 with
        :attr:`double_buffer`, else 1."""
        return 2 if self.double_buffer else 1

    def tap_packed(self):
        """This layer with its taps packed: a 1x1 convolution, stride 1, no padding, over the
        ``out_height x out_width`` output pixels, with ``kernel**2 * in_channels`` input
        channels (a pixel's patch, :func:`pack_taps`) and the same output channels,
        requantisation, ReLU and pooling. Its input is this layer's, padded (with the input
        zero point) and packed by the host."""
        return replace(
            self,
            height=self.out_height,
            width=self.out_width,
            in_channels=self.kernel**2 * self.in_channels,
            kernel=1,
            stride=1,
            padding=0,
        )

    def check(self, engine):
        """Raise ValueError, naming the parameter and the limit, if ``engine`` cannot run this
        layer."""
        check_int("height", self.height, 1, engine.max_height)
        check_int("width", self.width, 1, engine.max_width)
        check_int("in_channels", self.in_channels, 1, engine.max_in_channels)
        check_int("out_channels", self.out_channels, 1, engine.max_out_channels)
        check_int("kernel", self.kernel, 1, engine.max_kernel)
        if self.out_height > engine.max_height or self.out_width > engine.max_width:
            raise ValueError(
                f"output {self.out_height}x{self.out_width} is larger than the engine's "
                f"max_height x max_width {engine.max_height}x{engine.max_width}"
            )
        groups = _ceil_div(self.in_channels, engine.rows)
        col_tiles = _ceil_div(self.out_channels, engine.cols)
        pixels = self.out_height * self.out_width
        for name, words, what, banks in (
            (
                "input_depth",
                self.height * self.width * groups,
                "height x width x ceil(in_channels / rows)",
                self.banks,
            ),
            (
                "weight_depth",
                col_tiles * self.kernel**2 * groups * engine.rows,
                "ceil(out_channels / cols) x kernel^2 x ceil(in_channels / rows) x rows",
                1,
            ),
            ("acc_depth", pixels, "output pixels", 1),
            (
                "output_depth",
                pixels * col_tiles,
                "output pixels x ceil(out_channels / cols)",
                self.banks,
            ),
        ):
            if banks == 2 and 2 * words > getattr(engine, name):
                raise ValueError(
                    f"double_buffer=True needs {name} of at least 2 x {words} words (two "
                    f"banks of {what}) but the engine's {name} is {getattr(engine, name)}; "
                    f"double_buffer=False needs {words}"
                )
            if words > getattr(engine, name):
                raise ValueError(
                    f"layer needs {words} words ({what}) but the engine's "
                    f"{name} is {getattr(engine, name)}"
                )
        for name, words, what in (
            ("chain_input", self.images * self.height * self.width * groups, "input"),
            (
                "chain_output",
                self.images
                * self.pool_out_height
                * self.pool_out_width
                * _ceil_div(self.out_channels, engine.rows),
                "output",
            ),
        ):
            if not getattr(self, name):
                continue
            if not engine.network_depth:
                raise ValueError(
                    f"{name}=True needs an engine with an activation buffer "
                    "(network_depth > 0); this engine has none"
                )
            if words > engine.network_depth:
                raise ValueError(
                    f"{name}=True needs {words} words ({what} tensors of {self.images} "
                    f"images) but the engine's network_depth is {engine.network_depth}"
                )
        for value in self.channel_multipliers():
            check_int("multiplier", value, 0, (1 << engine.mult_width) - 1)
        if self.pool_size:
            if engine.max_pool == 0:
                raise ValueError(
                    "pool_size must be 0: this engine was generated without pooling (max_pool=0)"
                )
            check_int("pool_size", self.pool_size, 2, engine.max_pool)
            if self.pool_size > self.out_height or self.pool_size > self.out_width:
                raise ValueError(
                    f"pool_size {self.pool_size} is larger than the convolution "
                    f"output {self.out_height}x{self.out_width}"
                )

    def registers(self, engine):
        """The register words of :data:`REGISTERS`, as a dict."""
        groups = _ceil_div(self.in_channels, engine.rows)
        col_tiles = _ceil_div(self.out_channels, engine.cols)
        values = dict(
            height=self.height,
            width=self.width,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            kernel=self.kernel,
            stride=self.stride,
            padding=self.padding,
            input_zero_point=self.input_zero_point,
            output_zero_point=self.output_zero_point,
            relu=int(self.relu),
            pool_size=self.pool_size,
            pool_stride=self.pool_stride,
            images=self.images,
            double_buffer=int(self.double_buffer),
            chain=int(self.chain_input) | int(self.chain_output) << 1,
            groups=groups,
            col_tiles=col_tiles,
            out_height=self.out_height,
            out_width=self.out_width,
            pixels=self.out_height * self.out_width,
            row_tiles=self.kernel**2 * groups,
            in_words=self.height * self.width * groups,
            out_words=self.out_height * self.out_width * col_tiles,
            row_step=self.width * groups,
            stride_col_step=self.stride * groups,
            stride_row_step=self.stride * self.width * groups,
            pad_col_offset=self.padding * groups,
            pad_row_offset=self.padding * self.width * groups,
            pool_out_height=self.pool_out_height,
            pool_out_width=self.pool_out_width,
            sets=col_tiles * self.kernel**2 * groups,
            bias_words=2 * col_tiles * engine.cols,
            weight_words=col_tiles * self.kernel**2 * groups * engine.rows,
        )
        assert tuple(values) == REGISTERS
        return values

    def weight_words(self, engine, weights):
        """Lay out ``weights`` (Cout, Cin, K, K) as the engine's weight words.

        Returns an int array (col_tiles * row_tiles * rows, cols). Column tile ``j`` holds
        output channels ``j*cols ..``; within it, row tiles go kernel row ``kh``, kernel column
        ``kw``, channel group ``g`` (outermost to innermost); a row tile is ``rows`` beats, last
        row first, row ``r`` being input channel ``g*rows + r``. Channels past the layer's are
        zero.
        """
        rows, cols, k = engine.rows, engine.cols, self.kernel
        groups = _ceil_div(self.in_channels, rows)
        col_tiles = _ceil_div(self.out_channels, cols)
        padded = np.zeros((col_tiles * cols, groups * rows, k, k), np.int64)
        padded[: self.out_channels, : self.in_channels] = weights
        # (j, c, g, r, kh, kw) -> (j, kh, kw, g, r reversed, c)
        tiles = padded.reshape(col_tiles, cols, groups, rows, k, k)
        tiles = tiles.transpose(0, 4, 5, 2, 3, 1)[:, :, :, :, ::-1, :]
        return tiles.reshape(-1, cols)

    def packet(self, engine, weights, bias):
        """The parameter packet: a list of ``engine.param_width``-bit words (unsigned ints).

        ``weights`` (Cout, Cin, K, K) must be an integer array of int8 values and ``bias``
        (Cout,) one of int32 values; anything else (floats, wrong shape, values out of range)
        raises ValueError."""
        self.check(engine)
        weights = check_int_array(
            "weights", weights, (self.out_channels, self.in_channels, self.kernel, self.kernel), 8
        )
        bias = check_int_array("bias", bias, (self.out_channels,), 32)
        mask32 = (1 << 32) - 1
        words = [value & mask32 for value in self.registers(engine).values()]
        col_tiles = _ceil_div(self.out_channels, engine.cols)
        padded = np.zeros((3, col_tiles * engine.cols), np.int64)
        padded[:, : self.out_channels] = (bias, self.channel_multipliers(), self.channel_shifts())
        for j in range(col_tiles):
            tile = padded[:, j * engine.cols : (j + 1) * engine.cols]
            words += [int(b) & mask32 for b in tile[0]]
            words += [
                int(m) | int(s) << engine.mult_width for m, s in zip(tile[1], tile[2], strict=True)
            ]
        for lanes in self.weight_words(engine, weights):
            words.append(pack(lanes, 8))
        return words

    def input_beats(self, engine, x):
        """The input tensor ``x`` (Cin, H, W) of int8 values as data-stream beats of ``rows``
        int8 lanes."""
        x = check_int_array("x", x, (self.in_channels, self.height, self.width), 8)
        groups = _ceil_div(self.in_channels, engine.rows)
        hwc = np.zeros((self.height, self.width, groups * engine.rows), np.int64)
        hwc[:, :, : self.in_channels] = x.transpose(1, 2, 0)
        return [pack(lanes, 8) for lanes in hwc.reshape(-1, engine.rows)]

    def output_tensor(self, engine, beats):
        """Output beats (``cols`` int8 lanes each) back to a (Cout, H', W') array."""
        col_tiles = _ceil_div(self.out_channels, engine.cols)
        height, width = self.pool_out_height, self.pool_out_width
        expected = height * width * col_tiles
        if len(beats) != expected:
            raise ValueError(f"expected {expected} output beats, got {len(beats)}")
        lanes = np.array([unpack(beat, 8, engine.cols) for beat in beats], np.int64)
        hwc = lanes.reshape(height, width, col_tiles * engine.cols)[:, :, : self.out_channels]
        return hwc.transpose(2, 0, 1)


def pack_taps(x, kernel, stride):
    """im2col: the ``(C, H, W)`` tensor ``x``, already padded, as the ``(kernel**2 * C, H',
    W')`` input of a tap-packed layer (:meth:`LayerConfig.tap_packed`): output pixel ``(r,
    q)``'s channel ``(i * kernel + j) * C + c`` is ``x[c, r * stride + i, q * stride + j]``,
    where ``H' = (H - kernel) // stride + 1`` (and likewise ``W'``)."""
    x = np.asarray(x)
    channels = x.shape[0]
    # (C, H', W', kernel, kernel), a view; striding picks every stride-th window start.
    windows = sliding_window_view(x, (kernel, kernel), axis=(1, 2))[:, ::stride, ::stride]
    (_, height, width, _, _) = windows.shape
    return windows.transpose(3, 4, 0, 1, 2).reshape(kernel * kernel * channels, height, width)


def pack_tap_weights(weights):
    """The ``(Cout, Cin, K, K)`` kernels as the ``(Cout, K*K*Cin, 1, 1)`` weights of the
    tap-packed layer, in :func:`pack_taps`'s channel order."""
    weights = np.asarray(weights)
    (out_channels, in_channels, k, _) = weights.shape
    return weights.transpose(0, 2, 3, 1).reshape(out_channels, k * k * in_channels, 1, 1)


def hwc_features(channels, height, width, lanes):
    """Where the features of a ``(channels, height, width)`` map, flattened in PyTorch's
    ``C, H, W`` order, are in the map flattened as the engine keeps it (HWC, the channels of a
    pixel padded to a whole number of ``lanes``-wide beats): an index array of
    ``channels * height * width`` positions out of ``height * width * ceil(channels / lanes) *
    lanes``."""
    padded = -(-channels // lanes) * lanes
    c, y, x = np.meshgrid(np.arange(channels), np.arange(height), np.arange(width), indexing="ij")
    return ((y * width + x) * padded + c).reshape(-1)
