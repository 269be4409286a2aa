"""Import int8 ONNX models quantised by onnxruntime as :class:`sysconv.golden.network.Sequential`.

``load(path)`` reads a model that ``onnxruntime.quantization.quantize_static`` wrote, in either
of its forms:

- QDQ: float ``Conv``, ``Gemm``, ``MatMul`` (and ``MaxPool``, ``Relu``, ``Flatten``,
  ``Reshape``) between ``QuantizeLinear`` / ``DequantizeLinear`` pairs;
- QOperator: ``QLinearConv``, ``QLinearMatMul`` and com.microsoft's ``QGemm``, with ``MaxPool``,
  ``Flatten`` and ``Reshape`` on the quantised tensors;

per-tensor or per-channel weight scales, int8 or uint8 activations with any zero point, the
nodes forming one chain from the graph's input to its output. The result is an
:class:`Imported`: the integer network that :mod:`sysconv.golden` runs bit-exactly (and the
compiler maps onto the engine), the input's quantisation (float32 NCHW in, as onnxruntime is
fed) and the output's (as onnxruntime returns it), and the node-to-layer mapping.

The integer semantics, per layer with input scale ``sx``, zero point ``zx``, weight scales
``sw[c]`` (zero point 0), int32 bias ``b[c]`` in units of ``sx * sw[c]``, output scale ``sy`` and
zero point ``zy``::

    acc[c] = sum (x - zx) * w[c] + b[c] = sum x * w[c] + (b[c] - zx * sum w[c])
    y[c]   = clamp(round(acc[c] * sx * sw[c] / sy) + zy, -128, 127)

The bias the network holds is ``b[c] - zx * sum w[c]`` (folded here, on the host); the padding
takes ``zx``, so a padded tap adds nothing; ``sx * sw[c] / sy`` becomes a multiplier of
``mult_width`` bits and a right shift, as TFLite's ``QuantizeMultiplier`` makes them (the
multiplier normalised to its top bit, rounded to nearest). uint8 tensors become int8 by the
exact ``-128`` shift of values and zero points (``x - zx`` is unchanged). onnxruntime scales
``acc`` by the float32 product and rounds half to even; the fixed-point scale rounds half up
and is exact to ``2**-mult_width`` of the scale, so an output can differ by one step where the
scaled value lies within that error of a rounding boundary (measured in tests/test_onnx.py).

Anything else (another op, groups, dilations, a weight computed at run time, a model with no
quantisation, a layer the engine cannot hold) is refused with :class:`ModelError`, naming the
node, its op type and what is supported.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from sysconv.golden.network import (
    MULTIPLIER_MAX,
    SHIFT_MAX,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)

__all__ = ["ModelError", "Imported", "load", "quantize_multiplier", "SUPPORTED"]

SUPPORTED = (
    "QuantizeLinear",
    "DequantizeLinear",
    "Conv",
    "Gemm",
    "MatMul",
    "MaxPool",
    "Relu",
    "Flatten",
    "Reshape",
    "QLinearConv",
    "QLinearMatMul",
    "QGemm",
)
_SUPPORTED_TEXT = ", ".join(SUPPORTED)

# ONNX TensorProto element types of the quantised tensors.
_INT8, _UINT8, _INT32, _FLOAT = 3, 2, 6, 1


class ModelError(ValueError):
    """The model cannot be imported; the message names the node, its op type and the rule."""


def _node_error(node, reason):
    return ModelError(
        f"node {node.name!r} ({node.op_type}): {reason}; supported: {_SUPPORTED_TEXT}"
    )


def quantize_multiplier(scale, mult_width=16):
    """``(multiplier, shift)`` with ``multiplier / 2**shift`` nearest to ``scale`` (> 0).

    TFLite's ``QuantizeMultiplier`` for a ``mult_width``-bit unsigned multiplier: the multiplier
    is normalised to ``2**(mult_width - 1) .. 2**mult_width - 1`` and rounded to nearest, the
    shift being what it takes (at most 62; a scale too small for that gives a smaller
    multiplier, 0 for a scale below ``2**-63``). Raises ValueError for a scale of
    ``2**mult_width`` or more, which no shift of 0 or more can give.
    """
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a positive finite number, not {scale!r}")
    mantissa, exponent = math.frexp(scale)  # scale = mantissa * 2**exponent, 0.5 <= m < 1
    shift = mult_width - exponent
    multiplier = round(mantissa * (1 << mult_width))
    if multiplier == 1 << mult_width:  # rounded up to the next power of two
        multiplier, shift = multiplier >> 1, shift - 1
    if shift < 0:
        raise ValueError(f"scale {scale!r} needs a multiplier wider than {mult_width} bits")
    if shift > SHIFT_MAX:
        multiplier = round(scale * 2.0**SHIFT_MAX)
        shift = SHIFT_MAX
    return int(multiplier), int(shift)


# --- What a tensor of the graph is, while the chain is followed.


@dataclass
class _QAct:
    """A quantised activation: integers with a scale and zero point, one sample's shape."""

    scale: float
    zero_point: int  # as stored (uint8 or int8)
    dtype: int  # _INT8 or _UINT8
    shape: tuple
    int8_zero_point: int = field(init=False)

    def __post_init__(self):
        self.int8_zero_point = self.zero_point - 128 if self.dtype == _UINT8 else self.zero_point


@dataclass
class _Dequantized:
    """The float view (DequantizeLinear) of a quantised activation."""

    act: _QAct


@dataclass
class _Const:
    """An initializer (or Constant node): any dtype."""

    value: np.ndarray


@dataclass
class _DequantizedConst:
    """DequantizeLinear of an integer initializer: a weight or a bias."""

    values: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int
    dtype: int


@dataclass
class _FloatInput:
    """The graph's float input, before its QuantizeLinear."""

    shape: tuple


@dataclass
class _Dynamic:
    """A graph input other than the model's input (the first): known only at run time."""

    name: str


@dataclass
class _Pending:
    """A float Conv/Gemm/MatMul on a dequantised activation, waiting for its QuantizeLinear."""

    node: object
    act: _QAct
    make: object  # make(output _QAct) -> list of layers
    relu: bool = False
    nodes: list = field(default_factory=list)


@dataclass
class Imported:
    """An imported model: the integer network and how floats go in and come out.

    Members
    -------
    network : Sequential
        The integer network; :meth:`run_int8` runs it.
    input_shape : tuple
        One sample's shape as the compiler takes it, ``(C, H, W)``.
    input_name, output_name : str
        The graph's input and output.
    input_scale, input_zero_point, input_dtype
        The input's QuantizeLinear (``input_dtype`` ``"int8"`` or ``"uint8"``).
    output_scale, output_zero_point, output_dtype, output_float
        The output's quantisation; ``output_float`` when the graph's output is float32 (a
        DequantizeLinear at its end).
    onnx_input_shape : tuple
        One sample's shape as the graph's input has it (``(C, H, W)`` or ``(F,)``).
    output_shape : tuple
        One sample's output shape as onnxruntime returns it.
    mult_width : int
        The multiplier width the scales were converted for (the engine's ``mult_width``).
    mapping : list of dict
        Per network layer: ``layer`` (its repr), ``nodes`` (ONNX node names), and for Conv2d and
        Linear the scales, zero points (int8), ``multiplier`` and ``shift``.
    """

    network: Sequential
    input_shape: tuple
    input_name: str
    output_name: str
    input_scale: float
    input_zero_point: int
    input_dtype: str
    output_scale: float
    output_zero_point: int
    output_dtype: str
    output_float: bool
    onnx_input_shape: tuple
    output_shape: tuple
    mapping: list
    mult_width: int = 16

    def quantize_input(self, x):
        """float32 ``(N, *onnx_input_shape)`` to int8 ``(N, C, H, W)``, as the graph's first
        QuantizeLinear does (float32 division, round half to even, saturate), then the uint8
        values shifted by -128."""
        x = np.asarray(x)
        if x.dtype != np.float32:
            raise ValueError(f"input must be float32, as onnxruntime takes it, not {x.dtype}")
        if x.ndim != len(self.onnx_input_shape) + 1 or x.shape[1:] != self.onnx_input_shape:
            sample = ", ".join(map(str, self.onnx_input_shape))
            raise ValueError(f"input must have shape (N, {sample}), not {x.shape}")
        q = np.rint(x / np.float32(self.input_scale)).astype(np.float64) + self.input_zero_point
        lo, hi = (0, 255) if self.input_dtype == "uint8" else (-128, 127)
        q = np.clip(q, lo, hi).astype(np.int64)
        if self.input_dtype == "uint8":
            q -= 128
        return q.reshape(x.shape[0], *self.input_shape)

    def output_from_int8(self, y):
        """int8 network outputs ``(N, ...)`` to what onnxruntime returns: float32
        ``(y - zy) * sy`` for a float output, else the integers in the output's dtype."""
        y = np.asarray(y, np.int64).reshape(-1, *self.output_shape)
        if self.output_dtype == "uint8":
            y = y + 128
        if not self.output_float:
            return y.astype(self.output_dtype)
        return (
            (y - self.output_zero_point).astype(np.float32) * np.float32(self.output_scale)
        ).astype(np.float32)

    def steps(self, y):
        """Outputs as onnxruntime returns them, in output steps (integers)."""
        y = np.asarray(y)
        if not self.output_float:
            return y.astype(np.int64)
        return np.rint(y.astype(np.float64) / np.float64(np.float32(self.output_scale))).astype(
            np.int64
        )

    def run_int8(self, x):
        """The golden network on int8 ``(N, C, H, W)``; int8 ``(N, ...)`` out."""
        return self.network.run(x)

    def run(self, x):
        """float32 input as onnxruntime takes it, to the output as onnxruntime returns it,
        through the golden integer network."""
        return self.output_from_int8(self.run_int8(self.quantize_input(x)))


def _attributes(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _scalar(node, value, what):
    array = np.asarray(value)
    if array.size != 1:
        raise _node_error(node, f"{what} must be one value (per-tensor), not shape {array.shape}")
    return array.reshape(())[()]


class _Importer:
    def __init__(self, model, mult_width):
        import onnx

        self.onnx = onnx
        self.model = model
        self.mult_width = mult_width
        graph = model.graph
        self.graph = graph
        self.values = {}
        for init in graph.initializer:
            self.values[init.name] = _Const(onnx.numpy_helper.to_array(init))
        self.layers = []  # (layer, node names, details)
        self.input = None
        inputs = [i for i in graph.input if i.name not in self.values]
        if not inputs:
            raise ModelError("the model has no input")
        self.input_info = inputs[0]
        for extra in inputs[1:]:
            self.values[extra.name] = _Dynamic(extra.name)
        if len(graph.output) != 1:
            raise ModelError(f"the model must have one output, not {len(graph.output)}")
        self.output_info = graph.output[0]
        shape = self._static_shape(self.input_info)
        self.values[self.input_info.name] = _FloatInput(shape)
        self.consumers = {}
        for node in graph.node:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)

    def _static_shape(self, info):
        tensor = info.type.tensor_type
        if tensor.elem_type != _FLOAT:
            raise ModelError(
                f"the model's input {info.name!r} must be float32 (what "
                f"quantize_static leaves), not ONNX element type {tensor.elem_type}"
            )
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if len(dims) not in (2, 4) or any(d is None or d < 1 for d in dims[1:]):
            raise ModelError(
                f"the model's input {info.name!r} must be (N, C, H, W) or (N, F) "
                f"with C, H, W, F fixed, not {dims}"
            )
        return tuple(dims[1:])

    # --- values

    def value(self, node, name, what):
        if name not in self.values:
            raise _node_error(node, f"{what} {name!r} is not produced by a supported node")
        return self.values[name]

    def const(self, node, name, what, *, optional=False):
        if not name:
            if optional:
                return None
            raise _node_error(node, f"{what} is missing")
        value = self.value(node, name, what)
        if not isinstance(value, _Const):
            raise _node_error(
                node,
                f"{what} {name!r} must be an initializer (a constant), not computed at run time",
            )
        return value.value

    def act(self, node, name, *, dequantized):
        value = self.value(node, name, "input")
        if isinstance(value, _FloatInput):
            raise _node_error(
                node,
                "its input is the float model input: the model is not "
                "quantised (quantise it with onnxruntime.quantization."
                "quantize_static)",
            )
        kind = _Dequantized if dequantized else _QAct
        if not isinstance(value, kind):
            want = (
                "a dequantised activation (DequantizeLinear of a QuantizeLinear output)"
                if dequantized
                else "a quantised activation"
            )
            raise _node_error(node, f"input {name!r} must be {want}")
        if len(self.consumers.get(name, [])) > 1:
            raise _node_error(
                node,
                f"input {name!r} feeds {len(self.consumers[name])} nodes; "
                "only a chain of nodes is supported",
            )
        return value.act if dequantized else value

    def quant_params(self, node, scale_name, zero_name, what):
        scale = float(_scalar(node, self.const(node, scale_name, f"{what} scale"), f"{what} scale"))
        if zero_name:
            zp = np.asarray(self.const(node, zero_name, f"{what} zero point"))
            dtype = {np.dtype(np.int8): _INT8, np.dtype(np.uint8): _UINT8}.get(zp.dtype)
            if dtype is None:
                raise _node_error(node, f"{what} must be int8 or uint8, not {zp.dtype}")
            zp = int(_scalar(node, zp, f"{what} zero point"))
        else:
            zp, dtype = 0, _UINT8
        if not (scale > 0 and math.isfinite(scale)):
            raise _node_error(node, f"{what} scale must be positive, not {scale}")
        return scale, zp, dtype

    # --- layers

    def add(self, layer, nodes, **details):
        self.layers.append((layer, list(nodes), details))

    def shape_after(self, node, layer, shape):
        try:
            return layer.output_shape(shape)
        except ValueError as error:
            raise _node_error(node, str(error)) from None

    def weighted(
        self, node, nodes, act, kind, weights, w_scale, w_zero, w_dtype, bias, out, relu, attrs=None
    ):
        """Conv2d or Linear from integer weights (Cout, ...), per-channel scales, a bias (int32
        values and scales, or float) and the input and output quantisation."""
        cout = weights.shape[0]
        w_scale = np.broadcast_to(np.asarray(w_scale, np.float64).reshape(-1), (cout,))
        w_zero = np.broadcast_to(np.asarray(w_zero, np.int64).reshape(-1), (cout,))
        if w_dtype == _UINT8:
            if np.any(w_zero != 128):
                raise _node_error(
                    node,
                    "uint8 weights must have zero point 128 (symmetric), "
                    f"not {sorted(set(w_zero.tolist()))}",
                )
            w8 = weights.astype(np.int64) - 128
        else:
            if np.any(w_zero != 0):
                raise _node_error(
                    node,
                    "int8 weights must have zero point 0 (symmetric), not "
                    f"{sorted(set(w_zero.tolist()))}",
                )
            w8 = weights.astype(np.int64)
        if np.any(w8 < -128) or np.any(w8 > 127):
            raise _node_error(node, "weights must fit in int8 once their zero point is taken")
        if np.any(w_scale <= 0):
            raise _node_error(node, "weight scales must be positive")
        # onnxruntime computes x_scale * w_scale / y_scale in float32.
        f32 = np.float32
        acc_scale = (f32(act.scale) * w_scale.astype(f32)).astype(np.float64)
        scales = (f32(act.scale) * w_scale.astype(f32) / f32(out.scale)).astype(np.float64)
        if bias is None:
            b = np.zeros(cout, np.int64)
        elif isinstance(bias, _DequantizedConst):
            values = np.broadcast_to(bias.values.astype(np.int64).reshape(-1), (cout,))
            b_scale = np.broadcast_to(np.asarray(bias.scale, np.float64).reshape(-1), (cout,))
            b_zero = np.broadcast_to(np.asarray(bias.zero_point, np.int64).reshape(-1), (cout,))
            real = (values - b_zero) * b_scale
            same = np.abs(b_scale - acc_scale) <= 1e-6 * acc_scale
            b = np.where(same, values - b_zero, np.rint(real / acc_scale).astype(np.int64))
        else:
            values = np.asarray(bias)
            if values.dtype.kind == "f":
                b = np.rint(values.astype(np.float64).reshape(-1) / acc_scale).astype(np.int64)
            else:
                b = values.astype(np.int64).reshape(-1)  # QLinearConv's int32 B
            if b.shape != (cout,):
                raise _node_error(node, f"bias must have {cout} values, not shape {values.shape}")
        zx = act.int8_zero_point
        folded = b - zx * w8.reshape(cout, -1).sum(axis=1)
        if np.any(np.abs(folded) > (1 << 31) - 1):
            raise _node_error(
                node, "the bias with the input zero point folded in does not fit in int32"
            )
        try:
            pairs = [quantize_multiplier(float(s), self.mult_width) for s in scales]
        except ValueError as error:
            raise _node_error(node, str(error)) from None
        multipliers = np.array([m for m, _ in pairs], np.int64)
        shifts = np.array([s for _, s in pairs], np.int64)
        per_channel = not (np.all(multipliers == multipliers[0]) and np.all(shifts == shifts[0]))
        if kind == "conv":
            layer = Conv2d(
                w8.shape[1], cout, w8.shape[2], stride=attrs["stride"], padding=attrs["pads"]
            )
        else:
            layer = Linear(w8.shape[1], cout)
        layer.weight = w8
        layer.bias = folded
        layer.multiplier = multipliers if per_channel else int(multipliers[0])
        layer.shift = shifts if per_channel else int(shifts[0])
        layer.input_zero_point = zx
        layer.output_zero_point = out.int8_zero_point
        shape = self.shape_after(node, layer, act.shape)
        self.add(
            layer,
            nodes,
            input_scale=act.scale,
            input_zero_point=zx,
            weight_scale=w_scale.tolist(),
            output_scale=out.scale,
            output_zero_point=out.int8_zero_point,
            scale=scales.tolist(),
            multiplier=multipliers.tolist(),
            shift=shifts.tolist(),
        )
        if relu:
            self.add(ReLU(zero_point=out.int8_zero_point), [relu])
        return _QAct(out.scale, out.zero_point, out.dtype, shape)

    def conv_attrs(self, node, shape, weights):
        attrs = _attributes(node)
        (cout, cin, kh, kw) = weights.shape
        if attrs.get("group", 1) != 1:
            raise _node_error(node, f"group must be 1, not {attrs['group']}")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise _node_error(node, f"dilations must be 1, not {list(attrs['dilations'])}")
        if kh != kw:
            raise _node_error(node, f"the kernel must be square, not {kh}x{kw}")
        strides = list(attrs.get("strides", [1, 1]))
        if strides[0] != strides[1]:
            raise _node_error(node, f"strides must be equal, not {strides}")
        if len(shape) != 3 or shape[0] != cin:
            raise _node_error(node, f"input shape {shape} does not match weights {weights.shape}")
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        s = strides[0]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for size in shape[1:]:
                total = max((-(-size // s) - 1) * s + kh - size, 0)
                small = total // 2
                pads.append(
                    (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
                )
            pads = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
        elif auto_pad == "VALID":
            pads = [0, 0, 0, 0]
        elif auto_pad == "NOTSET":
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
        else:
            raise _node_error(node, f"auto_pad {auto_pad!r} is not an ONNX value")
        return {"stride": s, "pads": pads}

    # --- ops

    def op_QuantizeLinear(self, node):
        value = self.value(node, node.input[0], "input")
        out = self.quant_params(
            node, node.input[1], node.input[2] if len(node.input) > 2 else "", "output"
        )
        if isinstance(value, _FloatInput):
            if self.input is not None:
                raise _node_error(node, "the model input is quantised twice")
            if len(self.consumers[node.input[0]]) > 1:
                raise _node_error(node, "the model input feeds more than one node")
            self.input = out
            return _QAct(*out, value.shape)
        if isinstance(value, _Pending):
            return value.make(_QAct(*out, ()), value)
        if isinstance(value, _Dequantized):
            act = value.act
            if (act.scale, act.zero_point, act.dtype) != out:
                raise _node_error(
                    node,
                    f"requantising from scale {act.scale} zero point "
                    f"{act.zero_point} to scale {out[0]} zero point "
                    f"{out[1]} is not supported",
                )
            return act
        raise _node_error(
            node,
            "its input must be the model input, a dequantised activation "
            "or a Conv, Gemm or MatMul output",
        )

    def op_DequantizeLinear(self, node):
        value = self.value(node, node.input[0], "input")
        if isinstance(value, _Dynamic):
            return value
        if isinstance(value, _Const):
            values = np.asarray(value.value)
            dtype = {
                np.dtype(np.int8): _INT8,
                np.dtype(np.uint8): _UINT8,
                np.dtype(np.int32): _INT32,
            }.get(values.dtype)
            if dtype is None:
                raise _node_error(
                    node, f"a quantised constant must be int8, uint8 or int32, not {values.dtype}"
                )
            scale = np.asarray(self.const(node, node.input[1], "scale"), np.float64)
            zero = (
                self.const(node, node.input[2], "zero point", optional=True)
                if len(node.input) > 2
                else None
            )
            zero = np.zeros_like(scale, np.int64) if zero is None else np.asarray(zero, np.int64)
            axis = _attributes(node).get("axis", 1)
            return _DequantizedConst(values, scale, zero, axis, dtype)
        out = self.quant_params(
            node, node.input[1], node.input[2] if len(node.input) > 2 else "", "input"
        )
        act = self.act(node, node.input[0], dequantized=False)
        if (act.scale, act.zero_point, act.dtype) != out:
            raise _node_error(
                node,
                "dequantises with another scale or zero point than its input was quantised with",
            )
        return _Dequantized(act)

    def _weight(self, node, name):
        value = self.value(node, name, "weight")
        if isinstance(value, _DequantizedConst):
            return value
        if isinstance(value, _Const):
            raise _node_error(
                node,
                f"weight {name!r} is float: the model is not quantised "
                "(quantise it with onnxruntime.quantization.quantize_static)",
            )
        raise _node_error(
            node, f"weight {name!r} must be an initializer (a constant), not computed at run time"
        )

    def _per_channel(self, node, weight, axis, cout):
        scale = np.asarray(weight.scale, np.float64).reshape(-1)
        zero = np.asarray(weight.zero_point, np.int64).reshape(-1)
        if scale.size not in (1, cout):
            raise _node_error(node, f"weight scales must be 1 or {cout}, not {scale.size}")
        if scale.size == cout and cout > 1 and weight.axis % weight.values.ndim != axis:
            raise _node_error(
                node,
                f"per-channel weight scales must be along the output axis "
                f"{axis}, not {weight.axis}",
            )
        return scale, zero

    def _bias(self, node, name):
        if not name:
            return None
        value = self.value(node, name, "bias")
        if isinstance(value, _DequantizedConst):
            return value
        if isinstance(value, _Const):
            return value.value
        raise _node_error(
            node, f"bias {name!r} must be an initializer (a constant), not computed at run time"
        )

    def op_Conv(self, node):
        act = self.act(node, node.input[0], dequantized=True)
        weight = self._weight(node, node.input[1])
        if weight.values.ndim != 4:
            raise _node_error(
                node, f"a 2-D convolution's weights are 4-D, not {weight.values.shape}"
            )
        scale, zero = self._per_channel(node, weight, 0, weight.values.shape[0])
        attrs = self.conv_attrs(node, act.shape, weight.values)
        bias = self._bias(node, node.input[2] if len(node.input) > 2 else "")

        def make(out, pending):
            return self.weighted(
                node,
                pending.nodes,
                act,
                "conv",
                weight.values,
                scale,
                zero,
                weight.dtype,
                bias,
                out,
                pending.relu,
                attrs,
            )

        return _Pending(node, act, make, nodes=[node])

    def _dense(self, node, act, weights, transposed_axis):
        if len(act.shape) != 1:
            raise _node_error(
                node, f"its input must be flat (after Flatten or Reshape), not of shape {act.shape}"
            )
        if weights.ndim != 2:
            raise _node_error(node, f"weights must be 2-D, not {weights.shape}")

    def op_Gemm(self, node):
        attrs = _attributes(node)
        act = self.act(node, node.input[0], dequantized=True)
        weight = self._weight(node, node.input[1])
        if (
            attrs.get("transA", 0)
            or attrs.get("alpha", 1.0) != 1.0
            or attrs.get("beta", 1.0) != 1.0
        ):
            raise _node_error(node, "transA must be 0 and alpha and beta 1")
        return self._pending_dense(
            node, act, weight, attrs.get("transB", 0), node.input[2] if len(node.input) > 2 else ""
        )

    def op_MatMul(self, node):
        act = self.act(node, node.input[0], dequantized=True)
        weight = self._weight(node, node.input[1])
        return self._pending_dense(node, act, weight, 0, "")

    def _pending_dense(self, node, act, weight, trans_b, bias_name):
        self._dense(node, act, weight.values, trans_b)
        values = weight.values if trans_b else weight.values.T
        out_axis = 0 if trans_b else 1
        scale, zero = self._per_channel(node, weight, out_axis, values.shape[0])
        if values.shape[1] != act.shape[0]:
            raise _node_error(
                node,
                f"weights {weight.values.shape} do not match the input's {act.shape[0]} features",
            )
        bias = self._bias(node, bias_name)

        def make(out, pending):
            return self.weighted(
                node,
                pending.nodes,
                act,
                "dense",
                values,
                scale,
                zero,
                weight.dtype,
                bias,
                out,
                pending.relu,
            )

        return _Pending(node, act, make, nodes=[node])

    def _qlinear_weight(self, node, index):
        weights = self.const(node, node.input[index], "weight")
        weights = np.asarray(weights)
        dtype = {np.dtype(np.int8): _INT8, np.dtype(np.uint8): _UINT8}.get(weights.dtype)
        if dtype is None:
            raise _node_error(node, f"weights must be int8 or uint8, not {weights.dtype}")
        scale = np.asarray(self.const(node, node.input[index + 1], "weight scale"), np.float64)
        zero = np.asarray(self.const(node, node.input[index + 2], "weight zero point"), np.int64)
        return weights, scale, zero, dtype

    def _qlinear_act(self, node, index):
        act = self.act(node, node.input[index], dequantized=False)
        params = self.quant_params(node, node.input[index + 1], node.input[index + 2], "input")
        if (act.scale, act.zero_point, act.dtype) != params:
            raise _node_error(
                node,
                "its input scale and zero point differ from those its input was quantised with",
            )
        return act

    def op_QLinearConv(self, node):
        act = self._qlinear_act(node, 0)
        weights, scale, zero, dtype = self._qlinear_weight(node, 3)
        out = _QAct(*self.quant_params(node, node.input[6], node.input[7], "output"), ())
        bias = (
            self.const(node, node.input[8], "bias", optional=True) if len(node.input) > 8 else None
        )
        if weights.ndim != 4:
            raise _node_error(node, f"weights must be 4-D, not {weights.shape}")
        attrs = self.conv_attrs(node, act.shape, weights)
        return self.weighted(
            node, [node], act, "conv", weights, scale, zero, dtype, bias, out, None, attrs
        )

    def op_QLinearMatMul(self, node):
        act = self._qlinear_act(node, 0)
        weights, scale, zero, dtype = self._qlinear_weight(node, 3)
        self._dense(node, act, weights, 0)
        out = _QAct(*self.quant_params(node, node.input[6], node.input[7], "output"), ())
        return self.weighted(
            node, [node], act, "dense", weights.T, scale, zero, dtype, None, out, None
        )

    def op_QGemm(self, node):
        attrs = _attributes(node)
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
            raise _node_error(node, "transA must be 0 and alpha 1")
        act = self._qlinear_act(node, 0)
        weights, scale, zero, dtype = self._qlinear_weight(node, 3)
        self._dense(node, act, weights, attrs.get("transB", 0))
        if len(node.input) < 8 or not node.input[7]:
            raise _node_error(node, "a QGemm with a float output (no y_scale) is not supported")
        out = _QAct(
            *self.quant_params(
                node, node.input[7], node.input[8] if len(node.input) > 8 else "", "output"
            ),
            (),
        )
        bias = self.const(node, node.input[6], "bias", optional=True)
        values = weights if attrs.get("transB", 0) else weights.T
        return self.weighted(
            node, [node], act, "dense", values, scale, zero, dtype, bias, out, None
        )

    def op_Relu(self, node):
        value = self.value(node, node.input[0], "input")
        if isinstance(value, _Pending):
            if value.relu or len(self.consumers[node.input[0]]) > 1:
                raise _node_error(node, "only one Relu may follow a Conv, Gemm or MatMul")
            value.relu = node
            value.nodes.append(node)
            return value
        dequantized = isinstance(value, _Dequantized)
        act = self.act(node, node.input[0], dequantized=dequantized)
        self.add(ReLU(zero_point=act.int8_zero_point), [node])
        return _Dequantized(act) if dequantized else act

    def _passthrough(self, node, layer):
        value = self.value(node, node.input[0], "input")
        dequantized = isinstance(value, _Dequantized)
        act = self.act(node, node.input[0], dequantized=dequantized)
        shape = self.shape_after(node, layer, act.shape)
        self.add(layer, [node])
        result = _QAct(act.scale, act.zero_point, act.dtype, shape)
        return _Dequantized(result) if dequantized else result

    def op_MaxPool(self, node):
        attrs = _attributes(node)
        kernel = list(attrs.get("kernel_shape", []))
        strides = list(attrs.get("strides", [1, 1]))
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if len(kernel) != 2 or kernel[0] != kernel[1]:
            raise _node_error(node, f"the window must be square, not {kernel}")
        if strides[0] != strides[1]:
            raise _node_error(node, f"strides must be equal, not {strides}")
        if any(attrs.get("pads", [0])) or auto_pad not in ("NOTSET", "VALID"):
            raise _node_error(node, "max pooling takes no padding")
        if (
            attrs.get("ceil_mode", 0)
            or any(d != 1 for d in attrs.get("dilations", [1, 1]))
            or attrs.get("storage_order", 0)
            or len(node.output) > 1
        ):
            raise _node_error(
                node, "ceil_mode, dilations, storage_order and the Indices output are not supported"
            )
        return self._passthrough(node, MaxPool2d(kernel[0], strides[0]))

    def op_Flatten(self, node):
        if _attributes(node).get("axis", 1) != 1:
            raise _node_error(node, "axis must be 1 (one vector a sample)")
        return self._passthrough(node, Flatten())

    def op_Reshape(self, node):
        value = self.value(node, node.input[0], "input")
        act = value.act if isinstance(value, _Dequantized) else value
        target = self.const(node, node.input[1], "shape")
        target = [int(v) for v in np.asarray(target).reshape(-1)]
        features = math.prod(act.shape) if isinstance(act, _QAct) else None
        if (
            len(target) != 2
            or target[1] not in (-1, features)
            or (target[0] not in (-1, 0) and target[1] == -1 and target[0] < 1)
        ):
            raise _node_error(
                node,
                f"only the Reshape of x.view(n, -1), to (N, C*H*W), is supported, not to {target}",
            )
        return self._passthrough(node, Flatten())

    def check_engine(self, network, input_shape):
        """Compile the network for an engine generated to hold it: a layer no engine can run
        is refused, naming its first ONNX node."""
        from sysconv.compiler import CompileError, engine_for

        try:
            engine_for(network, input_shape, 8, 8, mult_width=self.mult_width)
        except CompileError as error:
            nodes = [node for index in error.layers for node in self.layers[index][1]]
            if not nodes:
                raise ModelError(f"the engine cannot run this model: {error}") from None
            raise _node_error(nodes[0], f"the engine cannot run it: {error}") from None

    def op_Constant(self, node):
        return _Const(self.onnx.numpy_helper.to_array(_attributes(node)["value"]))

    def run(self):
        for node in self.graph.node:
            if node.domain not in ("", "ai.onnx", "com.microsoft"):
                raise _node_error(node, f"domain {node.domain!r} is not supported")
            handler = getattr(self, f"op_{node.op_type}", None)
            if handler is None or (node.op_type == "QGemm") != (node.domain == "com.microsoft"):
                raise _node_error(node, "this op is not supported")
            result = handler(node)
            for name in node.output[:1]:
                self.values[name] = result
        return self.finish()

    def finish(self):
        name = self.output_info.name
        value = self.values.get(name)
        if self.input is None or not self.layers:
            raise ModelError(
                "the model is not quantised: no QuantizeLinear on its input and no "
                "quantised Conv, Gemm or MatMul (quantise it with "
                "onnxruntime.quantization.quantize_static)"
            )
        if isinstance(value, _Dequantized):
            act, output_float = value.act, True
        elif isinstance(value, _QAct):
            act, output_float = value, False
        elif isinstance(value, _Pending):
            raise _node_error(
                value.node,
                "its float output is the model's output; the last layer must be quantised",
            )
        else:
            raise ModelError(f"the model's output {name!r} is not a quantised activation")
        layers = [layer for layer, _, _ in self.layers]
        in_shape = self.values[self.input_info.name].shape
        if len(in_shape) == 1:
            layers.insert(0, Flatten())
            self.layers.insert(0, (layers[0], [], {}))
            input_shape = (in_shape[0], 1, 1)
        else:
            input_shape = in_shape
        network = Sequential(*layers)
        self.check_engine(network, input_shape)
        mapping = [
            dict(layer=repr(layer), nodes=[node.name for node in nodes], **details)
            for layer, nodes, details in self.layers
        ]
        dtype = "uint8" if act.dtype == _UINT8 else "int8"
        in_scale, in_zero, in_dtype = self.input
        return Imported(
            network=network,
            input_shape=tuple(input_shape),
            input_name=self.input_info.name,
            output_name=name,
            input_scale=in_scale,
            input_zero_point=in_zero,
            input_dtype="uint8" if in_dtype == _UINT8 else "int8",
            output_scale=act.scale,
            output_zero_point=act.zero_point if output_float else act.int8_zero_point,
            output_dtype=dtype,
            output_float=output_float,
            onnx_input_shape=tuple(in_shape),
            output_shape=tuple(act.shape),
            mapping=mapping,
            mult_width=self.mult_width,
        )


def load(path, *, mult_width=16):
    """Read the quantised ONNX model at ``path``: an :class:`Imported`.

    Parameters
    ----------
    path : str or path-like
        An ``.onnx`` file written by ``onnxruntime.quantization.quantize_static``.
    mult_width : int
        Width of the requantisation multiplier, 1 to 31: the ``mult_width`` of the engine
        that is to run the model (default 16, :class:`sysconv.hw.layer.EngineConfig`'s). The
        wider, the closer to onnxruntime (tests/test_onnx.py: 24 bits agree exactly on its
        models, 16 bits differ on about 1 % of outputs).

    Raises
    ------
    ModelError
        If the file is not an ONNX model, or the model is not one this flow runs; the message
        names the node, its op type and what is supported.
    """
    import onnx

    if not isinstance(mult_width, int) or not 1 <= mult_width <= MULTIPLIER_MAX.bit_length():
        raise ValueError(
            f"mult_width must be an integer from 1 to "
            f"{MULTIPLIER_MAX.bit_length()}, not {mult_width!r}"
        )
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except Exception:  # protobuf's DecodeError and friends: not an ONNX file
        raise ModelError(
            f"{path} is not an ONNX model (unreadable: truncated or corrupt)"
        ) from None
    if not model.graph.node:
        raise ModelError(
            f"{path} is not a valid ONNX model (no graph nodes; truncated or empty file?)"
        )
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        first = str(error).strip().splitlines()[0]
        raise ModelError(f"{path} is not a valid ONNX model ({first})") from None
    return _Importer(model, mult_width).run()
