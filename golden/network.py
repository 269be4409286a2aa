"""Quantised networks described layer by layer, as in PyTorch, and run in exact integers.

A network is a :class:`Sequential` of :class:`Conv2d`, :class:`ReLU`, :class:`MaxPool2d`,
:class:`Flatten` and :class:`Linear` layers, with PyTorch's names and argument order::

    net = Sequential(
        Conv2d(3, 32, 3, stride=1, padding=1), ReLU(), MaxPool2d(2, 2),
        Conv2d(32, 64, 3, 1, 1), ReLU(), MaxPool2d(2, 2),
        Flatten(),
        Linear(64 * 6 * 6, 128), ReLU(),
        Linear(128, 10),
    )

Once quantised, every :class:`Conv2d` and :class:`Linear` holds int8 weights, int32 biases, a
requantisation ``multiplier`` (0 to ``2**31 - 1``; the engine's ``mult_width`` bounds it) and
``shift`` (0 to
62), each one for the whole layer or one per output channel, and an input and an output zero
point (int8, 0 by default), and outputs, from its int8 input ``x``::

    requantize(conv2d(pad(x, zx), weight) + bias, multiplier, shift, 8, zy)     (Conv2d)
    requantize(x @ weight.T + bias, multiplier, shift, 8, zy)                   (Linear)

which is int8: the scale ``multiplier / 2**shift`` takes the accumulator to the output's int8
scale, rounding half up; the output zero point ``zy`` is added, then the sum saturates. The
padding takes the input zero point ``zx`` (the value that stands for real 0), and the bias
already holds ``-zx * sum(weight)`` of its channel (folded in by whoever quantised the layer),
so that a padded tap adds exactly nothing. A real value is ``scale * (q - zero_point)``.
:class:`ReLU` clamps at its ``zero_point`` (0 by default), so a ReLU after a layer with output
zero point ``zy`` is ``ReLU(zero_point=zy)``. ReLU and max pooling act on int8 values and keep
them int8. Every value crossing a layer boundary is therefore int8, which is what the accelerator
streams between layers; :meth:`Sequential.run` computes with :func:`sysconv.golden.conv2d`,
:func:`sysconv.golden.matmul`, :func:`sysconv.golden.requantize`, :func:`sysconv.golden.relu` and
:func:`sysconv.golden.maxpool2d` only, so the hardware can be compared with it layer by layer.

Feature maps are ``(C, H, W)`` (``(N, C, H, W)`` batched) and :class:`Flatten` keeps that order,
like PyTorch's ``x.view(N, -1)``, so ``Linear`` weights trained in PyTorch apply unchanged.
"""

import json
import math
import numbers
import zipfile

import numpy as np

from ._check import check_int_array
from .conv import conv2d, matmul
from .pool import maxpool2d
from .quant import relu, requantize

__all__ = ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Sequential"]

# The widest multiplier golden.requantize takes; an engine's mult_width (16 by default) is
# checked where a layer is compiled for it (hw.layer.LayerConfig.check).
MULTIPLIER_MAX = (1 << 31) - 1
SHIFT_MAX = 62
# Identifies the .npz files :meth:`Sequential.save` writes; bumped on incompatible changes.
FORMAT = "sysconv.network"
FORMAT_VERSION = 2
# The versions load reads: version 1 had no zero points and one multiplier and shift a layer;
# save writes version 1 when a network uses neither, so older readers still take it.
_READ_VERSIONS = (1, 2)
# A fixed timestamp for every archive member, so that saving the same network gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _is_int(value):
    # bool is an Integral to Python, but a flag passed as a size is always a mistake.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(name, value, minimum, rule):
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be {rule}, not {value!r}")
    return int(value)


def _positive(name, value):
    return _check_int(name, value, 1, "a positive integer")


def _check_multiplier_shift(name, value, maximum, channels):
    """An int, or a read-only int64 array of ``channels`` of them (one per output channel)."""
    if isinstance(value, (np.ndarray, list, tuple)):
        array = check_int_array(name, value, ndim=1)
        if array.shape != (channels,):
            raise ValueError(
                f"{name} must be an integer or one per output channel, shape "
                f"({channels},), not shape {array.shape}"
            )
        bad = array[(array < 0) | (array > maximum)]
        if bad.size:
            raise ValueError(
                f"{name} values must be integers from 0 to {maximum}, not {int(bad[0])}"
            )
        array = array.copy()
        array.flags.writeable = False
        return array
    if not _is_int(value) or not 0 <= value <= maximum:
        raise ValueError(f"{name} must be an integer from 0 to {maximum}, not {value!r}")
    return int(value)


def _check_zero_point(name, value):
    if not _is_int(value) or not -128 <= value <= 127:
        raise ValueError(f"{name} must be an integer from -128 to 127, not {value!r}")
    return int(value)


def _json_value(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


class _Layer:
    """What every layer offers :class:`Sequential`."""

    # Dimensions of one (unbatched) input sample; None when the layer accepts any.
    sample_ndim = None
    # Names of the integer parameters (arrays) and requantisation constants (ints).
    _arrays = ()
    _scalars = ()

    def output_shape(self, shape):
        """The shape of one output sample for one input sample of ``shape``.

        Raises :class:`ValueError` when the layer cannot take such an input.
        """
        raise NotImplementedError

    def forward(self, x):
        """This layer on a batch ``x`` (first axis the batch) of int64 values; int64 out."""
        raise NotImplementedError

    def _config(self):
        raise NotImplementedError

    def _check_sample(self, shape):
        if self.sample_ndim is not None and len(shape) != self.sample_ndim:
            raise ValueError(
                f"{self!r} expects samples of {self.sample_ndim} dimensions, not shape {shape}"
            )

    def __eq__(self, other):
        if type(other) is not type(self) or self._config() != other._config():
            return False
        return all(
            np.array_equal(getattr(self, name), getattr(other, name))
            if getattr(self, name) is not None
            else getattr(other, name) is None
            for name in self._arrays + self._scalars
        )

    __hash__ = None


class _Quantised(_Layer):
    """A layer with int8 weights, int32 biases, a requantisation multiplier and shift (per layer
    or per output channel) and input and output zero points."""

    _arrays = ("weight", "bias")
    _scalars = ("multiplier", "shift", "input_zero_point", "output_zero_point")
    # Set by default, so a layer quantised without zero points needs only the four above.
    _defaults = {"input_zero_point": 0, "output_zero_point": 0}

    def _init_parameters(self):
        self._weight = self._bias = self._multiplier = self._shift = None
        self._input_zero_point = self._output_zero_point = 0

    @property
    def weight_shape(self):
        raise NotImplementedError

    @property
    def weight(self):
        """int64 array of int8 values, shape :attr:`weight_shape`, or None until set."""
        return self._weight

    @weight.setter
    def weight(self, value):
        value = check_int_array("weight", value, bits=8)
        if value.shape != self.weight_shape:
            raise ValueError(f"weight must have shape {self.weight_shape}, not {value.shape}")
        self._weight = value.copy()
        self._weight.flags.writeable = False

    @property
    def bias(self):
        """int64 array of int32 values, one per output channel, or None until set.

        Its scale is that of the accumulator: input scale times weight scale.
        """
        return self._bias

    @bias.setter
    def bias(self, value):
        value = check_int_array("bias", value, bits=32)
        shape = self.weight_shape[:1]
        if value.shape != shape:
            raise ValueError(f"bias must have shape {shape}, not {value.shape}")
        self._bias = value.copy()
        self._bias.flags.writeable = False

    @property
    def multiplier(self):
        """Requantisation multiplier, 0 to ``2**31 - 1``: an int for the whole layer, or an
        int64 array with one per output channel; None until set."""
        return self._multiplier

    @multiplier.setter
    def multiplier(self, value):
        self._multiplier = _check_multiplier_shift(
            "multiplier", value, MULTIPLIER_MAX, self.weight_shape[0]
        )

    @property
    def shift(self):
        """Requantisation right shift, 0 to 62, per layer or per channel like
        :attr:`multiplier`; None until set."""
        return self._shift

    @shift.setter
    def shift(self, value):
        self._shift = _check_multiplier_shift("shift", value, SHIFT_MAX, self.weight_shape[0])

    @property
    def input_zero_point(self):
        """The int8 value that stands for real 0 in the input, -128 to 127 (default 0): the
        padding value. The bias must already hold ``-input_zero_point * sum(weight)``."""
        return self._input_zero_point

    @input_zero_point.setter
    def input_zero_point(self, value):
        self._input_zero_point = _check_zero_point("input_zero_point", value)

    @property
    def output_zero_point(self):
        """Added to the rounded result before saturation, -128 to 127 (default 0)."""
        return self._output_zero_point

    @output_zero_point.setter
    def output_zero_point(self, value):
        self._output_zero_point = _check_zero_point("output_zero_point", value)

    @property
    def per_channel(self):
        """True when the multiplier or the shift is one per output channel."""
        return isinstance(self._multiplier, np.ndarray) or isinstance(self._shift, np.ndarray)

    def channel_multipliers(self):
        """``(multiplier, shift)`` as int64 arrays of one per output channel."""
        self._check_quantised()
        channels = self.weight_shape[0]
        return (
            np.broadcast_to(np.int64(self._multiplier), (channels,)).copy(),
            np.broadcast_to(np.int64(self._shift), (channels,)).copy(),
        )

    @property
    def quantised(self):
        """True once ``weight``, ``bias``, ``multiplier`` and ``shift`` are all set."""
        return all(getattr(self, name) is not None for name in self._arrays + self._scalars)

    def _check_quantised(self):
        missing = [name for name in self._arrays + self._scalars if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self!r} is not quantised: {', '.join(missing)} not set")

    def _requantize(self, acc):
        # Per-channel constants along axis 1 of (N, C) or (N, C, H, W).
        multiplier, shift = self.channel_multipliers()
        extra = (1,) * (acc.ndim - 2)
        return requantize(
            acc,
            multiplier.reshape(-1, *extra),
            shift.reshape(-1, *extra),
            bits=8,
            zero_point=self._output_zero_point,
        )


class Conv2d(_Quantised):
    """2-D convolution, then requantisation to int8 (PyTorch's ``Conv2d`` and its arguments).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output feature maps, each ``>= 1``.
    kernel_size : int
        Side of the square kernel, ``>= 1``.
    stride : int
        Step between windows, ``>= 1``.
    padding : int or (int, int, int, int)
        Rows and columns added on every side, ``>= 0``, or ``(top, left, bottom, right)`` (ONNX's
        ``pads`` order is ``(top, left, bottom, right)`` too). They take the value
        :attr:`input_zero_point`.

    Members
    -------
    weight : int64 array of int8 values, shape (out_channels, in_channels, K, K)
    bias : int64 array of int32 values, shape (out_channels,)
    multiplier : int, 0 to 2**31 - 1, or one per output channel
    shift : int, 0 to 62, or one per output channel
        None until set; setting validates the value (:class:`ValueError`).
    input_zero_point, output_zero_point : int, -128 to 127
        0 by default.

    On an int8 input ``(C, H, W)`` the layer outputs int8 ``(out_channels, Ho, Wo)`` with
    ``Ho = (H + top + bottom - K) // stride + 1`` (likewise ``Wo``)::

        requantize(conv2d(pad(x, input_zero_point), weight, bias, stride=stride),
                   multiplier, shift, 8, output_zero_point)
    """

    sample_ndim = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        self.check_parameters(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
        )
        self._in_channels, self._out_channels = int(in_channels), int(out_channels)
        if isinstance(padding, (tuple, list)):
            pads = tuple(int(p) for p in padding)
            padding = pads[0] if len(set(pads)) == 1 else pads
        self._kernel_size, self._stride = int(kernel_size), int(stride)
        self._padding = padding if isinstance(padding, tuple) else int(padding)
        self._init_parameters()

    @classmethod
    def check_parameters(cls, *, in_channels, out_channels, kernel_size, stride, padding):
        _positive("in_channels", in_channels)
        _positive("out_channels", out_channels)
        _positive("kernel_size", kernel_size)
        _positive("stride", stride)
        if isinstance(padding, (tuple, list)):
            if len(padding) != 4 or not all(_is_int(p) and p >= 0 for p in padding):
                raise ValueError(
                    f"padding must be a non-negative integer or four of them "
                    f"(top, left, bottom, right), not {padding!r}"
                )
        else:
            _check_int("padding", padding, 0, "a non-negative integer")

    in_channels = property(lambda self: self._in_channels)
    out_channels = property(lambda self: self._out_channels)
    kernel_size = property(lambda self: self._kernel_size)
    stride = property(lambda self: self._stride)
    padding = property(lambda self: self._padding)

    @property
    def pads(self):
        """``(top, left, bottom, right)``, whether the padding was given as one int or four."""
        p = self._padding
        return p if isinstance(p, tuple) else (p, p, p, p)

    @property
    def weight_shape(self):
        k = self._kernel_size
        return (self._out_channels, self._in_channels, k, k)

    def output_shape(self, shape):
        shape = tuple(shape)
        self._check_sample(shape)
        (c, h, w) = shape
        if c != self._in_channels:
            raise ValueError(f"{self!r} expects {self._in_channels} input channels, not {c}")
        (k, s) = (self._kernel_size, self._stride)
        (top, left, bottom, right) = self.pads
        (hp, wp) = (h + top + bottom, w + left + right)
        if hp < k or wp < k:
            raise ValueError(f"{self!r} needs a padded input of at least {k}x{k}, not {hp}x{wp}")
        return (self._out_channels, (hp - k) // s + 1, (wp - k) // s + 1)

    def forward(self, x):
        self._check_quantised()
        x = check_int_array("x", x, bits=8, ndim=4)
        (top, left, bottom, right) = self.pads
        # Padding takes the input zero point: with -zx*sum(w) in the bias, a padded tap adds 0.
        x = np.pad(
            x,
            ((0, 0), (0, 0), (top, bottom), (left, right)),
            mode="constant",
            constant_values=self._input_zero_point,
        )
        acc = conv2d(x, self._weight, self._bias, stride=self._stride, act_bits=8, weight_bits=8)
        return self._requantize(acc)

    def _config(self):
        return {
            "in_channels": self._in_channels,
            "out_channels": self._out_channels,
            "kernel_size": self._kernel_size,
            "stride": self._stride,
            "padding": list(self._padding) if isinstance(self._padding, tuple) else self._padding,
        }

    def __repr__(self):
        return (
            f"Conv2d({self._in_channels}, {self._out_channels}, "
            f"kernel_size={self._kernel_size}, stride={self._stride}, "
            f"padding={self._padding})"
        )


class Linear(_Quantised):
    """Fully connected layer, then requantisation to int8 (PyTorch's ``Linear``).

    Parameters
    ----------
    in_features, out_features : int
        Input and output vector lengths, each ``>= 1``.

    Members
    -------
    weight : int64 array of int8 values, shape (out_features, in_features)
        PyTorch's layout: one row per output.
    bias : int64 array of int32 values, shape (out_features,)
    multiplier : int, 0 to 2**31 - 1, or one per output feature
    shift : int, 0 to 62, or one per output feature
        None until set; setting validates the value (:class:`ValueError`).
    input_zero_point, output_zero_point : int, -128 to 127
        0 by default; the bias holds ``-input_zero_point * sum(weight)`` of its row.

    On an int8 input ``(in_features,)`` the layer outputs int8 ``(out_features,)``::

        requantize(matmul(x, weight.T) + bias, multiplier, shift, 8, output_zero_point)
    """

    sample_ndim = 1

    def __init__(self, in_features, out_features):
        self.check_parameters(in_features=in_features, out_features=out_features)
        self._in_features, self._out_features = int(in_features), int(out_features)
        self._init_parameters()

    @classmethod
    def check_parameters(cls, *, in_features, out_features):
        _positive("in_features", in_features)
        _positive("out_features", out_features)

    in_features = property(lambda self: self._in_features)
    out_features = property(lambda self: self._out_features)

    @property
    def weight_shape(self):
        return (self._out_features, self._in_features)

    def output_shape(self, shape):
        shape = tuple(shape)
        self._check_sample(shape)
        if shape[0] != self._in_features:
            raise ValueError(f"{self!r} expects {self._in_features} input features, not {shape[0]}")
        return (self._out_features,)

    def forward(self, x):
        self._check_quantised()
        acc = matmul(x, self._weight.T, act_bits=8, weight_bits=8)
        return self._requantize(acc + self._bias)

    def _config(self):
        return {"in_features": self._in_features, "out_features": self._out_features}

    def __repr__(self):
        return f"Linear(in_features={self._in_features}, out_features={self._out_features})"


class ReLU(_Layer):
    """``max(x, zero_point)`` elementwise (PyTorch's ``ReLU`` on a quantised tensor whose real 0
    is ``zero_point``, -128 to 127, default 0); any shape."""

    def __init__(self, zero_point=0):
        self._zero_point = _check_zero_point("zero_point", zero_point)

    zero_point = property(lambda self: self._zero_point)

    def output_shape(self, shape):
        return tuple(shape)

    def forward(self, x):
        return relu(x, self._zero_point)

    def _config(self):
        return {"zero_point": self._zero_point} if self._zero_point else {}

    def __repr__(self):
        return f"ReLU(zero_point={self._zero_point})" if self._zero_point else "ReLU()"


class MaxPool2d(_Layer):
    """2-D max pooling without padding (PyTorch's ``MaxPool2d``, ``ceil_mode=False``).

    Parameters
    ----------
    kernel_size : int
        Side of the square window, ``>= 1``.
    stride : int, optional
        Step between windows, ``>= 1``; defaults to ``kernel_size``.

    On ``(C, H, W)`` the output is ``(C, (H - K) // stride + 1, (W - K) // stride + 1)``:
    :func:`sysconv.golden.maxpool2d`.
    """

    sample_ndim = 3

    def __init__(self, kernel_size, stride=None):
        self.check_parameters(kernel_size=kernel_size, stride=stride)
        self._kernel_size = int(kernel_size)
        self._stride = self._kernel_size if stride is None else int(stride)

    @classmethod
    def check_parameters(cls, *, kernel_size, stride):
        _positive("kernel_size", kernel_size)
        if stride is not None:
            _check_int("stride", stride, 1, "a positive integer or None")

    kernel_size = property(lambda self: self._kernel_size)
    stride = property(lambda self: self._stride)

    def output_shape(self, shape):
        shape = tuple(shape)
        self._check_sample(shape)
        (c, h, w) = shape
        (k, s) = (self._kernel_size, self._stride)
        if h < k or w < k:
            raise ValueError(f"{self!r} needs an input of at least {k}x{k}, not {h}x{w}")
        return (c, (h - k) // s + 1, (w - k) // s + 1)

    def forward(self, x):
        return maxpool2d(x, self._kernel_size, self._stride)

    def _config(self):
        return {"kernel_size": self._kernel_size, "stride": self._stride}

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self._kernel_size}, stride={self._stride})"


class Flatten(_Layer):
    """Each sample to one vector in C order (PyTorch's ``Flatten()``, i.e. ``x.view(N, -1)``).

    A ``(C, H, W)`` sample becomes ``(C*H*W,)`` with element ``[c, h, w]`` at
    ``(c * H + h) * W + w``.
    """

    def output_shape(self, shape):
        return (math.prod(shape),)

    def forward(self, x):
        return x.reshape(x.shape[0], -1)

    def _config(self):
        return {}

    def __repr__(self):
        return "Flatten()"


def _needs_version_2(layer):
    """Whether ``layer`` uses what version 1 of the file format could not hold."""
    if isinstance(layer, _Quantised):
        return (
            layer.per_channel
            or layer.input_zero_point != 0
            or layer.output_zero_point != 0
            or isinstance(getattr(layer, "padding", 0), tuple)
        )
    return isinstance(layer, ReLU) and layer.zero_point != 0


_LAYERS = {cls.__name__: cls for cls in (Conv2d, ReLU, MaxPool2d, Flatten, Linear)}


class Sequential:
    """Layers applied in order (PyTorch's ``Sequential``), run in exact integer arithmetic.

    Parameters
    ----------
    *layers : Conv2d, ReLU, MaxPool2d, Flatten or Linear
        At least one.

    Members
    -------
    layers : tuple
        The layers; ``net[i]``, ``len(net)`` and iteration work as on a list.
    metadata : dict
        Free JSON-serialisable information (accuracy, data split, scales...) saved with the
        network; empty by default.
    """

    def __init__(self, *layers):
        self.check_parameters(layers=layers)
        self._layers = tuple(layers)
        self.metadata = {}

    @classmethod
    def check_parameters(cls, *, layers):
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for index, layer in enumerate(layers):
            if not isinstance(layer, tuple(_LAYERS.values())):
                raise ValueError(
                    f"Sequential layer {index} must be a Conv2d, ReLU, MaxPool2d, Flatten or "
                    f"Linear, not {layer!r}"
                )

    layers = property(lambda self: self._layers)

    def __len__(self):
        return len(self._layers)

    def __getitem__(self, index):
        return self._layers[index]

    def __iter__(self):
        return iter(self._layers)

    def __eq__(self, other):
        return (
            isinstance(other, Sequential)
            and self._layers == other._layers
            and self.metadata == other.metadata
        )

    __hash__ = None

    def __repr__(self):
        return (
            "Sequential(\n"
            + "".join(f"  ({i}): {layer!r}\n" for i, layer in enumerate(self._layers))
            + ")"
        )

    def output_shapes(self, input_shape):
        """The shape of one sample after each layer, for one input sample of ``input_shape``.

        Raises :class:`ValueError`, naming the layer, where a layer cannot take the shape the
        previous one gives.
        """
        shapes, shape = [], tuple(int(n) for n in input_shape)
        for index, layer in enumerate(self._layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as error:
                raise ValueError(f"layer {index}: {error}") from None
            shapes.append(shape)
        return shapes

    @property
    def sample_ndim(self):
        """Dimensions of one input sample, or None when a Flatten comes before any layer fixes it.

        Those of the first Conv2d, MaxPool2d or Linear, unless a Flatten comes first: a Flatten
        takes samples of any shape.
        """
        for layer in self._layers:
            if isinstance(layer, Flatten):
                return None
            if layer.sample_ndim is not None:
                return layer.sample_ndim
        return None

    def run(self, x, *, trace=False):
        """Run the quantised network on int8 inputs, in exact integer arithmetic.

        Parameters
        ----------
        x : array_like of int
            Int8 values (-128 to 127) of one sample, e.g. ``(C, H, W)`` for a network starting
            with a :class:`Conv2d`, or of a batch, ``(N, C, H, W)``. When :attr:`sample_ndim`
            is None (a Flatten before any Conv2d, MaxPool2d or Linear), ``x`` is a batch.
        trace : bool
            Also return every layer's output.

        Returns
        -------
        y : numpy.ndarray of int64
            The last layer's output, e.g. int8 logits ``(N, 10)``; unbatched (``(10,)``) exactly
            when ``x`` is.
        outputs : list of numpy.ndarray of int64
            Only when ``trace``: the output of every layer, in order (``outputs[-1]`` is ``y``),
            batched exactly when ``x`` is.

        Raises
        ------
        ValueError
            If ``x`` is not an integer array of int8 values of a shape the network accepts, or
            a Conv2d or Linear layer is not quantised.
        """
        sample_ndim = self.sample_ndim
        if sample_ndim is None:
            x = check_int_array("x", x, bits=8)
            if x.ndim == 0:
                raise ValueError("x must have a batch dimension, not shape ()")
            batched = True
        else:
            x = check_int_array("x", x, bits=8, ndim=(sample_ndim, sample_ndim + 1))
            batched = x.ndim == sample_ndim + 1
        if not batched:
            x = x[np.newaxis]
        self.output_shapes(x.shape[1:])
        outputs = []
        for layer in self._layers:
            x = layer.forward(x)
            outputs.append(x if batched else x[0])
        y = outputs[-1]
        return (y, outputs) if trace else y

    def save(self, path):
        """Write the network and :attr:`metadata` to one ``.npz`` file at ``path``.

        The archive holds ``architecture``, a JSON string (format name and version, every
        layer's type, arguments, ``multiplier`` and ``shift``, and :attr:`metadata`), and, for
        layer ``i`` with parameters, ``"{i}.weight"`` as int8 and ``"{i}.bias"`` as int32 (the
        names of a PyTorch ``state_dict``). Members are compressed and timestamped 1980-01-01,
        so that saving the same network twice gives the same bytes. ``path`` is used as given
        (no ``.npz`` is appended). Every Conv2d and Linear must be quantised.
        """
        layers, arrays, version = [], {}, 1
        for index, layer in enumerate(self._layers):
            config = {"type": type(layer).__name__, **layer._config()}
            if isinstance(layer, _Quantised):
                layer._check_quantised()
                config.update(
                    multiplier=_json_value(layer.multiplier), shift=_json_value(layer.shift)
                )
                config.update(
                    {
                        name: getattr(layer, name)
                        for name, default in layer._defaults.items()
                        if getattr(layer, name) != default
                    }
                )
                arrays[f"{index}.weight"] = layer.weight.astype(np.int8)
                arrays[f"{index}.bias"] = layer.bias.astype(np.int32)
            if _needs_version_2(layer):
                version = 2
            layers.append(config)
        architecture = {
            "format": FORMAT,
            "version": version,
            "layers": layers,
            "metadata": self.metadata,
        }
        arrays = {"architecture": np.array(json.dumps(architecture, indent=1)), **arrays}
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as file:
                    np.lib.format.write_array(file, array, allow_pickle=False)

    @classmethod
    def load(cls, path):
        """Read a network written by :meth:`save`, with its :attr:`metadata`.

        Raises :class:`ValueError` if the file is not such a network (or a newer version of the
        format); the parameters are validated as when set by hand.
        """
        with np.load(path, allow_pickle=False) as archive:
            if "architecture" not in archive.files:
                raise ValueError(f"{path} is not a {FORMAT} file: no architecture")
            architecture = json.loads(str(archive["architecture"]))
            if architecture.get("format") != FORMAT:
                raise ValueError(
                    f"{path} is not a {FORMAT} file: format {architecture.get('format')!r}"
                )
            if architecture.get("version") not in _READ_VERSIONS:
                raise ValueError(
                    f"{path} has {FORMAT} version {architecture.get('version')!r}; "
                    f"this code reads versions "
                    f"{', '.join(map(str, _READ_VERSIONS))}"
                )
            layers = []
            for index, config in enumerate(architecture["layers"]):
                config = dict(config)
                kind = config.pop("type")
                if kind not in _LAYERS:
                    raise ValueError(f"{path} layer {index} has unknown type {kind!r}")
                defaults = getattr(_LAYERS[kind], "_defaults", {})
                scalars = {
                    name: config.pop(name)
                    if name in config or name not in defaults
                    else defaults[name]
                    for name in _LAYERS[kind]._scalars
                }
                layer = _LAYERS[kind](**config)
                for name in layer._arrays:
                    setattr(layer, name, archive[f"{index}.{name}"])
                for name, value in scalars.items():
                    setattr(layer, name, value)
                layers.append(layer)
        network = cls(*layers)
        network.metadata = architecture["metadata"]
        return network
