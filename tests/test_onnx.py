"""Int8 ONNX models quantised by onnxruntime: the importer (sysconv.onnx), golden's integer
semantics for them (per-channel requantisation, zero points, asymmetric padding) against a
naive reference, agreement with onnxruntime, ``sysconv import`` / ``sysconv run`` and the
refusals."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from sysconv.cli import main
from sysconv.golden.network import Conv2d, Linear, ReLU, Sequential
from sysconv.onnx import SUPPORTED, ModelError, load, quantize_multiplier

SUPPORTED_TEXT = ", ".join(SUPPORTED)


# --- Small float models, built with onnx.helper, quantised with quantize_static.


def float_model(layers, input_shape, seed=0):
    """A chain of ``layers`` on float32 ``(N, *input_shape)``: ("conv", out, k, attributes),
    ("relu",), ("maxpool", k, stride), ("flatten",), ("reshape",) (x.view(n, -1)),
    ("gemm", out[, transB]), ("matmul", out), or ("raw", op_type, attributes) (any op)."""
    rng = np.random.default_rng(seed)
    nodes, inits, x, shape = [], [], "input", list(input_shape)
    for i, spec in enumerate(layers):
        kind, out, name = spec[0], f"t{i}", f"{spec[0]}{i}"
        if kind == "conv":
            _, cout, k, attrs = spec
            group = attrs.get("group", 1)
            w = rng.standard_normal((cout, shape[0] // group, k, k)) / np.sqrt(shape[0] * k * k)
            inits += [
                numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
                numpy_helper.from_array(
                    (rng.standard_normal(cout) * 0.1).astype(np.float32), f"b{i}"
                ),
            ]
            nodes.append(
                helper.make_node(
                    "Conv", [x, f"w{i}", f"b{i}"], [out], name=name, kernel_shape=[k, k], **attrs
                )
            )
            s = attrs.get("strides", [1, 1])[0]
            d = attrs.get("dilations", [1, 1])[0]
            if attrs.get("auto_pad", "NOTSET").startswith("SAME"):
                shape = [cout, -(-shape[1] // s), -(-shape[2] // s)]
            else:
                p = attrs.get("pads", [0, 0, 0, 0])
                span = d * (k - 1) + 1
                shape = [
                    cout,
                    (shape[1] + p[0] + p[2] - span) // s + 1,
                    (shape[2] + p[1] + p[3] - span) // s + 1,
                ]
        elif kind == "relu":
            nodes.append(helper.make_node("Relu", [x], [out], name=name))
        elif kind in ("maxpool", "avgpool"):
            _, k, s = spec
            op = "MaxPool" if kind == "maxpool" else "AveragePool"
            nodes.append(
                helper.make_node(op, [x], [out], name=name, kernel_shape=[k, k], strides=[s, s])
            )
            shape = [shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1]
        elif kind == "flatten":
            nodes.append(helper.make_node("Flatten", [x], [out], name=name, axis=1))
            shape = [int(np.prod(shape))]
        elif kind == "reshape":
            inits.append(numpy_helper.from_array(np.array([0, -1], np.int64), f"shape{i}"))
            nodes.append(helper.make_node("Reshape", [x, f"shape{i}"], [out], name=name))
            shape = [int(np.prod(shape))]
        elif kind == "gemm":
            fout, trans = spec[1], (spec[2] if len(spec) > 2 else 1)
            w = rng.standard_normal((fout, shape[0]) if trans else (shape[0], fout))
            inits += [
                numpy_helper.from_array((w / np.sqrt(shape[0])).astype(np.float32), f"w{i}"),
                numpy_helper.from_array(
                    (rng.standard_normal(fout) * 0.1).astype(np.float32), f"b{i}"
                ),
            ]
            nodes.append(
                helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [out], name=name, transB=trans)
            )
            shape = [fout]
        elif kind == "matmul":
            w = rng.standard_normal((shape[0], spec[1])) / np.sqrt(shape[0])
            inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{i}"))
            nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [out], name=name))
            shape = [spec[1]]
        elif kind == "add":  # x + x: a residual-like Add
            nodes.append(helper.make_node("Add", [x, x], [out], name=name))
        else:
            raise ValueError(kind)
        x = out
    nodes[-1].output[0] = "output"
    graph = helper.make_graph(
        nodes,
        "model",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *shape])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class RandomReader(CalibrationDataReader):
    def __init__(self, shape, count=8, seed=1):
        rng = np.random.default_rng(seed)
        self._data = iter(
            [{"input": rng.standard_normal((1, *shape)).astype(np.float32)} for _ in range(count)]
        )

    def get_next(self):
        return next(self._data, None)


def quantised(
    folder, name, layers, shape, *, form="qdq", per_channel=False, act="int8", seed=0, extra=None
):
    """``layers`` quantised by quantize_static into ``folder/name.onnx``."""
    float_path, path = folder / f"{name}.float.onnx", folder / f"{name}.onnx"
    onnx.save(float_model(layers, shape, seed), float_path)
    quantize_static(
        str(float_path),
        str(path),
        RandomReader(shape),
        quant_format=QuantFormat.QDQ if form == "qdq" else QuantFormat.QOperator,
        per_channel=per_channel,
        activation_type=QuantType.QInt8 if act == "int8" else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options=extra or {},
    )
    return path


def onnxruntime_run(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


# Layer chains: kernels 1 to 5, strides 1 and 2, symmetric, asymmetric and auto padding,
# pooling 2/2 and 3/2 and 2/1, Flatten and Reshape, Gemm either way and MatMul.
CHAINS = {
    "convs": (
        [
            ("conv", 4, 3, {"pads": [1, 1, 1, 1]}),
            ("relu",),
            ("maxpool", 2, 2),
            ("conv", 6, 3, {"strides": [2, 2], "pads": [0, 0, 1, 1]}),
            ("relu",),
            ("flatten",),
            ("gemm", 5),
        ],
        (3, 8, 8),
    ),
    "same": (
        [
            ("conv", 5, 2, {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
            ("relu",),
            ("conv", 4, 1, {}),
            ("maxpool", 3, 2),
            ("reshape",),
            ("matmul", 7),
            ("relu",),
            ("gemm", 4, 0),
        ],
        (3, 8, 8),
    ),
    "lower": (
        [
            ("conv", 3, 5, {"auto_pad": "SAME_LOWER"}),
            ("maxpool", 2, 1),
            ("conv", 4, 3, {"pads": [2, 0, 1, 2]}),
            ("flatten",),
            ("gemm", 6),
        ],
        (2, 7, 7),
    ),
}

# (chain, form, per-channel, activations): every form, scale kind and activation type, each
# chain at least twice.
AGREEMENT = [
    ("convs", "qdq", False, "int8"),
    ("convs", "qoperator", True, "uint8"),
    ("same", "qdq", True, "uint8"),
    ("same", "qoperator", False, "int8"),
    ("lower", "qdq", True, "int8"),
    ("lower", "qoperator", False, "uint8"),
    ("convs", "qdq", True, "uint8"),
    ("lower", "qoperator", True, "int8"),
]


def agreement(path, shape, images=100, seed=5, mult_width=16):
    """``(exact-match rate, largest difference in output steps)`` of golden (through the
    importer) against onnxruntime on ``images`` random inputs."""
    imported = load(path, mult_width=mult_width)
    x = np.random.default_rng(seed).standard_normal((images, *shape)).astype(np.float32)
    reference, ours = onnxruntime_run(path, x), imported.run(x)
    assert ours.shape == reference.shape and ours.dtype == reference.dtype
    steps = np.abs(imported.steps(ours) - imported.steps(reference))
    return float(np.mean(steps == 0)), int(steps.max())


@pytest.mark.parametrize(
    "chain, form, per_channel, act", AGREEMENT, ids=["-".join(map(str, case)) for case in AGREEMENT]
)
def test_agrees_with_onnxruntime(tmp_path, chain, form, per_channel, act):
    layers, shape = CHAINS[chain]
    path = quantised(
        tmp_path, "m", layers, shape, form=form, per_channel=per_channel, act=act, seed=len(chain)
    )
    figures = {width: agreement(path, shape, mult_width=width) for width in (16, 24)}
    print(
        f"{chain} {form} per_channel={per_channel} {act}: "
        + ", ".join(
            f"{width}-bit multiplier {exact:.2%} exact, max {steps} step(s)"
            for width, (exact, steps) in figures.items()
        )
    )
    # A 16-bit multiplier is off the float32 scale by up to 2**-17 of it: about 1 % of
    # outputs round the other way in some layer, and a step in a hidden layer can become a
    # few in the output. 24 bits leave only onnxruntime's float32 rounding.
    assert figures[16][0] >= 0.95 and figures[16][1] <= 3, figures
    assert figures[24][0] >= 0.99 and figures[24][1] <= 1, figures


@pytest.mark.parametrize("form", ["qdq", "qoperator"])
def test_explicit_relu(tmp_path, form):
    """Symmetric activations keep every Relu: after a Conv, after a MaxPool (fused into the
    pass), after a Gemm."""
    layers = [
        ("conv", 4, 3, {"pads": [1, 1, 1, 1]}),
        ("relu",),
        ("maxpool", 2, 2),
        ("relu",),
        ("flatten",),
        ("gemm", 6),
        ("relu",),
    ]
    path = quantised(
        tmp_path, "m", layers, (3, 8, 8), form=form, extra={"ActivationSymmetric": True}
    )
    imported = load(path)
    assert sum(isinstance(layer, ReLU) for layer in imported.network) == 3
    exact, steps = agreement(path, (3, 8, 8), mult_width=24)
    print(f"explicit relu {form}: 24-bit multiplier {exact:.2%} exact, max {steps} step(s)")
    assert exact >= 0.99 and steps <= 1, (exact, steps)


def test_folded_relu_is_the_zero_point_clamp(tmp_path):
    """The quantiser folds a Relu into the output range: zero point -128, no ReLU layer, the
    saturation clamps at real 0."""
    path = quantised(
        tmp_path, "m", [("conv", 4, 3, {}), ("relu",), ("flatten",), ("gemm", 3)], (2, 5, 5)
    )
    imported = load(path)
    assert not any(isinstance(layer, ReLU) for layer in imported.network)
    assert imported.network[0].output_zero_point == -128


# --- Golden's integer semantics against a naive reference.


def naive_requantize(acc, multiplier, shift, zero_point, relu):
    v = (acc * multiplier + (1 << (shift - 1))) >> shift if shift else acc * multiplier
    q = min(max(v + zero_point, -128), 127)
    return max(q, zero_point) if relu else q


def naive_conv(x, w, bias, stride, pads, zx, multiplier, shift, zy, relu):
    """Python-int loops: padding with zx, per-channel requantisation, output zero point."""
    (cin, h, wd), (cout, _, k, _) = x.shape, w.shape
    (top, left, bottom, right) = pads
    ho, wo = (h + top + bottom - k) // stride + 1, (wd + left + right - k) // stride + 1
    y = np.zeros((cout, ho, wo), np.int64)
    for o in range(cout):
        for r in range(ho):
            for q in range(wo):
                acc = int(bias[o])
                for c in range(cin):
                    for i in range(k):
                        for j in range(k):
                            row, col = r * stride + i - top, q * stride + j - left
                            inside = 0 <= row < h and 0 <= col < wd
                            value = int(x[c, row, col]) if inside else zx
                            acc += value * int(w[o, c, i, j])
                y[o, r, q] = naive_requantize(acc, int(multiplier[o]), int(shift[o]), zy, relu)
    return y


@pytest.mark.parametrize("seed", range(4))
def test_golden_conv_zero_points_per_channel_against_naive(seed):
    rng = np.random.default_rng(seed)
    cin, cout, k = rng.integers(1, 4), rng.integers(1, 5), int(rng.integers(1, 4))
    pads = tuple(int(p) for p in rng.integers(0, k, 4))
    stride = int(rng.integers(1, k + 1))
    zx, zy = (int(z) for z in rng.integers(-128, 128, 2))
    layer = Conv2d(cin, cout, k, stride=stride, padding=pads)
    layer.weight = rng.integers(-128, 128, (cout, cin, k, k))
    layer.bias = rng.integers(-5000, 5000, cout)
    multiplier, shift = rng.integers(1, 1 << 16, cout), rng.integers(8, 20, cout)
    layer.multiplier, layer.shift = multiplier, shift
    layer.input_zero_point, layer.output_zero_point = zx, zy
    x = rng.integers(-128, 128, (2, cin, 6, 5))
    for relu in (False, True):
        network = Sequential(layer, ReLU(zero_point=zy)) if relu else Sequential(layer)
        y = network.run(x)
        for n in range(2):
            expected = naive_conv(
                x[n], layer.weight, layer.bias, stride, pads, zx, multiplier, shift, zy, relu
            )
            np.testing.assert_array_equal(y[n], expected, err_msg=f"seed {seed} relu {relu}")


def test_golden_linear_zero_points_per_channel_against_naive():
    rng = np.random.default_rng(7)
    layer = Linear(9, 4)
    layer.weight, layer.bias = rng.integers(-128, 128, (4, 9)), rng.integers(-9000, 9000, 4)
    layer.multiplier, layer.shift = rng.integers(1, 1 << 16, 4), rng.integers(10, 22, 4)
    layer.input_zero_point, layer.output_zero_point = 17, -33
    x = rng.integers(-128, 128, (3, 9))
    y = Sequential(layer).run(x)
    for n in range(3):
        for o in range(4):
            acc = int(layer.bias[o]) + sum(
                int(a) * int(b) for a, b in zip(x[n], layer.weight[o], strict=True)
            )
            assert y[n, o] == naive_requantize(
                acc, int(layer.multiplier[o]), int(layer.shift[o]), -33, False
            )


def test_zero_point_folding_matches_real_arithmetic():
    """sum((x - zx) * w) + b == sum(x * w) + (b - zx * sum(w)), the padding taking zx."""
    rng = np.random.default_rng(3)
    w, b, zx = rng.integers(-128, 128, (2, 3, 3, 3)), rng.integers(-100, 100, 2), 37
    x = rng.integers(-128, 128, (3, 4, 4))
    layer = Conv2d(3, 2, 3, padding=1)
    layer.weight, layer.bias = w, b - zx * w.reshape(2, -1).sum(axis=1)
    layer.multiplier, layer.shift, layer.input_zero_point = 1, 0, zx
    # With multiplier 1 and shift 0 the output is the accumulator, saturated: compare it with
    # the real convolution of x - zx, zero padded, on small values.
    layer.weight = w // 64
    layer.bias = b - zx * (w // 64).reshape(2, -1).sum(axis=1)
    xs = x // 16
    y = Sequential(layer).run(xs)
    padded = np.pad(xs - zx, ((0, 0), (1, 1), (1, 1)))
    for o in range(2):
        for r in range(4):
            for q in range(4):
                real = int(b[o]) + int(np.sum(padded[:, r : r + 3, q : q + 3] * (w // 64)[o]))
                assert y[o, r, q] == min(max(real, -128), 127)


def test_network_file_keeps_zero_points_and_per_channel(tmp_path):
    layer = Conv2d(2, 3, 3, padding=(0, 1, 2, 1))
    rng = np.random.default_rng(0)
    layer.weight, layer.bias = rng.integers(-128, 128, (3, 2, 3, 3)), [1, 2, 3]
    layer.multiplier, layer.shift = [100, 200, 300], [4, 5, 6]
    layer.input_zero_point, layer.output_zero_point = -7, 9
    network = Sequential(layer, ReLU(zero_point=9))
    network.save(tmp_path / "n.npz")
    assert Sequential.load(tmp_path / "n.npz") == network


@pytest.mark.parametrize("scale", [1e-6, 0.00123, 0.4999, 0.5, 0.9999999, 1.0, 3.7, 100.0])
@pytest.mark.parametrize("width", [8, 16])
def test_quantize_multiplier(scale, width):
    multiplier, shift = quantize_multiplier(scale, width)
    assert 1 << (width - 1) <= multiplier < 1 << width
    # Rounded to nearest: within half a unit of the last place.
    assert abs(multiplier - scale * 2.0**shift) <= 0.5


def test_quantize_multiplier_too_wide():
    with pytest.raises(
        ValueError,
        match=r"^scale 70000\.0 needs a multiplier wider than 16 "
        r"bits$",
    ):
        quantize_multiplier(70000.0, 16)


# --- Refusals: the library raises ModelError, the command line exits 2, writing nothing.


class Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def sysconv(capsys):
    """The command line, in this process (tests/test_cli.py runs it as a program)."""

    def run(*args):
        capsys.readouterr()
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exit:
            code = exit.code
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def node_message(name, op, reason):
    return f"node {name!r} ({op}): {reason}; supported: {SUPPORTED_TEXT}"


BAD = {
    "add": (
        [("conv", 2, 3, {}), ("add",), ("flatten",), ("gemm", 2)],
        (1, 5, 5),
        "qdq",
        "add1",
        "Add",
        "this op is not supported",
    ),
    "avgpool": (
        [("conv", 2, 3, {}), ("avgpool", 2, 2), ("flatten",), ("gemm", 2)],
        (1, 6, 6),
        "qoperator",
        "avgpool1_quant",
        "QLinearAveragePool",
        "this op is not supported",
    ),
    "group": (
        [("conv", 4, 3, {"group": 2}), ("flatten",), ("gemm", 2)],
        (2, 5, 5),
        "qdq",
        "conv0",
        "Conv",
        "group must be 1, not 2",
    ),
    "dilation": (
        [("conv", 2, 3, {"dilations": [2, 2]}), ("flatten",), ("gemm", 2)],
        (1, 7, 7),
        "qoperator",
        "conv0_quant",
        "QLinearConv",
        "dilations must be 1, not [2, 2]",
    ),
    # Packed, a 16x16 kernel is a 1x1 one, but of 16*16*17 channels, beyond any engine too.
    "kernel": (
        [("conv", 2, 16, {}), ("flatten",), ("gemm", 2)],
        (17, 16, 16),
        "qdq",
        "conv0",
        "Conv",
        "the engine cannot run it: pass 0 (Conv2d, network layers 0): "
        "no engine holds it: max_kernel must be an integer from 1 to "
        "15, not 16",
    ),
}


def check_refused(sysconv, tmp_path, model, message):
    out = tmp_path / "y.npy"
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 5, 5), np.float32))
    run = sysconv("run", str(model), "--input", str(tmp_path / "x.npy"), "-o", str(out))
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.splitlines()[-1] == f"sysconv: error: {message}"
    assert "Traceback" not in run.stderr
    assert not out.exists()
    net = tmp_path / "net.npz"
    run = sysconv("import", str(model), "-o", str(net))
    assert run.returncode == 2 and run.stderr.splitlines()[-1] == f"sysconv: error: {message}"
    assert not net.exists()


@pytest.mark.parametrize("case", list(BAD))
def test_unsupported_model_exits_2(sysconv, tmp_path, case):
    layers, shape, form, name, op, reason = BAD[case]
    path = quantised(tmp_path, case, layers, shape, form=form)
    message = node_message(name, op, reason)
    with pytest.raises(ModelError) as info:
        load(path)
    assert str(info.value) == message
    check_refused(sysconv, tmp_path, path, message)


def test_float_model_exits_2(sysconv, tmp_path):
    path = tmp_path / "float.onnx"
    onnx.save(float_model([("conv", 2, 3, {}), ("flatten",), ("gemm", 2)], (1, 5, 5)), path)
    check_refused(
        sysconv,
        tmp_path,
        path,
        node_message(
            "conv0",
            "Conv",
            "its input is the float model input: the model is not quantised "
            "(quantise it with onnxruntime.quantization.quantize_static)",
        ),
    )


def test_truncated_file_exits_2(sysconv, tmp_path):
    path = quantised(tmp_path, "m", [("conv", 2, 3, {}), ("flatten",), ("gemm", 2)], (1, 5, 5))
    data = path.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    check_refused(
        sysconv, tmp_path, cut, f"{cut} is not an ONNX model (unreadable: truncated or corrupt)"
    )


def test_dynamic_weight_exits_2(sysconv, tmp_path):
    """A QDQ Conv whose int8 weights are a second graph input, not an initializer."""
    f32 = np.float32
    inits = [
        numpy_helper.from_array(np.array(v, dtype), name)
        for name, v, dtype in (
            ("s", 0.02, f32),
            ("z", 0, np.int8),
            ("ws", 0.01, f32),
            ("os", 0.05, f32),
        )
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"], name="q_in"),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"], name="dq_in"),
        helper.make_node("DequantizeLinear", ["weight", "ws", "z"], ["dw"], name="dq_w"),
        helper.make_node("Conv", ["dq", "dw"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("QuantizeLinear", ["c", "os", "z"], ["qc"], name="q_out"),
        helper.make_node("DequantizeLinear", ["qc", "os", "z"], ["output"], name="dq_out"),
    ]
    graph = helper.make_graph(
        nodes,
        "dynamic",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 5, 5]),
            helper.make_tensor_value_info("weight", TensorProto.INT8, [2, 1, 3, 3]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2, 3, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, path)
    check_refused(
        sysconv,
        tmp_path,
        path,
        node_message(
            "conv",
            "Conv",
            "weight 'dw' must be an initializer (a constant), not computed at run time",
        ),
    )


def test_missing_model_exits_2(sysconv, tmp_path):
    missing = tmp_path / "none.onnx"
    check_refused(sysconv, tmp_path, missing, f"{missing}: no such file")


# --- The command line on a good model.


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    layers = [
        ("conv", 3, 3, {"pads": [1, 0, 1, 1]}),
        ("relu",),
        ("maxpool", 2, 2),
        ("flatten",),
        ("gemm", 4),
    ]
    return quantised(folder, "small", layers, (2, 6, 6), per_channel=True, act="uint8")


def test_cli_import_and_run_golden(sysconv, tmp_path, small_model):
    net = tmp_path / "net.npz"
    run = sysconv("import", str(small_model), "-o", str(net))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("input input: scale ")
    assert lines[1] == (
        "layer 0 Conv2d(2, 3, kernel_size=3, stride=1, padding=(1, 0, 1, 1)) "
        "<- conv0 -> pass 0 (conv: Conv2d + MaxPool2d (taps packed))"
    )
    assert "multiplier [" in lines[3] and "/ 2**shift" in lines[3]
    x = np.random.default_rng(2).standard_normal((3, 2, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    reference = onnxruntime_run(small_model, x)
    for model in (small_model, net):
        out = tmp_path / "y.npy"
        run = sysconv(
            "run", str(model), "--input", str(tmp_path / "x.npy"), "-o", str(out), "--json"
        )
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        assert summary["status"] == "pass" and summary["images"] == 3
        assert summary["output"] == str(out) and summary["rtl_equals_golden"] is None
        assert summary["cycles_per_image"] == summary["predicted_cycles_per_image"] > 0
        assert [p["pass"] for p in summary["passes"]] == [
            "Conv2d + MaxPool2d (taps packed)",
            "Linear",
        ]
        assert all(0 < p["utilization"] <= 1 and p["cycles"] > 0 for p in summary["passes"])
        y = np.load(out)
        assert y.shape == reference.shape and y.dtype == reference.dtype
        np.testing.assert_array_equal(y, load(small_model).run(x))


def test_cli_run_bad_input_exits_2(sysconv, tmp_path, small_model):
    out = tmp_path / "y.npy"
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 6, 6), np.float32))
    run = sysconv("run", str(small_model), "--input", str(tmp_path / "x.npy"), "-o", str(out))
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == (
        "sysconv: error: input must have shape (N, 2, 6, 6), not (2, 3, 6, 6)"
    )
    np.save(tmp_path / "x.npy", np.zeros((2, 2, 6, 6), np.float64))
    run = sysconv("run", str(small_model), "--input", str(tmp_path / "x.npy"), "-o", str(out))
    assert run.stderr.splitlines()[-1] == (
        "sysconv: error: input must be float32, as onnxruntime takes it, not float64"
    )
    assert not out.exists()


# --- The RTL: an imported model through the engine, bit for bit against golden.


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """Per-channel scales, uint8 activations (non-zero zero points), asymmetric padding, a
    fused ReLU and pooling, and a Linear: on a 2x2 engine."""
    folder = tmp_path_factory.mktemp("onnx-rtl")
    layers = [
        ("conv", 3, 3, {"pads": [1, 0, 1, 1]}),
        ("relu",),
        ("maxpool", 2, 2),
        ("flatten",),
        ("gemm", 3),
    ]
    return quantised(folder, "tiny", layers, (2, 5, 5), per_channel=True, act="uint8")


# The conv pass plain (the engine pads its borders, the host the rest) and tap-packed (the
# host pads and lays out every patch: im2col); each engine is one simulator model.
@pytest.mark.parametrize(
    "simulator, packing",
    [("verilator", "never"), ("verilator", "always"), ("icarus", "always"), ("amaranth", "always")],
)
def test_cli_run_rtl_equals_golden(sysconv, tmp_path, tiny_model, simulator, packing, test_dir):
    x = np.random.default_rng(4).standard_normal((2, 2, 5, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    run = sysconv(
        "run",
        tiny_model,
        "--input",
        tmp_path / "x.npy",
        "-o",
        out,
        "--simulator",
        simulator,
        "--rows",
        "2",
        "--cols",
        "2",
        "--packing",
        packing,
        "--json",
        "--workdir",
        test_dir,
    )
    summary = json.loads(run.stdout)
    assert run.returncode == 0, summary["message"]
    assert summary["status"] == "pass" and summary["rtl_equals_golden"] is True
    assert summary["passes"][0]["pass"].endswith("(taps packed)") == (packing == "always")
    # Every pass's measured cycles are golden.perf's prediction: its first run, and all of
    # them (the conv pass serves both images with one packet, the second's input overlapped).
    for row in summary["passes"]:
        assert row["cycles"] == row["predicted_cycles"], row
        assert row["compute_cycles"] == row["predicted_compute_cycles"], row
    assert summary["cycles_per_image"] == summary["predicted_cycles_per_image"]
    np.testing.assert_array_equal(np.load(out), load(tiny_model).run(x))
