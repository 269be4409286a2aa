#!/usr/bin/env python3
"""Train the digits CNN in NumPy, quantise it to int8 and write ``models/digits_cnn.npz``.

The network (PyTorch names): input 3x24x24, Conv2d(3, 32, 3, 1, 1), ReLU, MaxPool2d(2, 2),
Conv2d(32, 64, 3, 1, 1), ReLU, MaxPool2d(2, 2), Flatten (64*6*6 = 2304, C, H, W order),
Linear(2304, 128), ReLU, Linear(128, 10). Data and split: :mod:`golden.digits`.

Training is float32 NumPy (im2col convolutions, hand-written backward passes, softmax
cross-entropy, Adam), seeded: the same seed on the same machine and NumPy/BLAS gives the same
model. The float model sees the int8 input dequantised, ``q / 127``, so that the only difference
between the float and the integer networks is the quantisation of weights and activations.

Post-training quantisation, layer by layer, with ``s_in`` the input scale (``1 / 127`` for the
image, then the previous Conv2d/Linear output scale, which ReLU and max pooling keep):

- weights: symmetric per layer, ``s_w = max|W| / 127``, ``Wq = round(W / s_w)`` in -127..127;
- bias: ``round(b / (s_in * s_w))`` (int32), the accumulator's scale;
- output scale ``s_out = m / 127`` with ``m`` the calibration range: the maximum over the
  training set of the layer's float output (its maximum absolute value for the logits; for
  layers followed by ReLU only the positive side matters, negatives saturate and ReLU zeroes
  them);
- requantisation ``s_in * s_w / s_out ~ multiplier / 2**shift`` with the largest shift for which
  ``multiplier = round(s_in * s_w / s_out * 2**shift)`` stays below ``2**16`` (so at least 2**15:
  16 significant bits).

Both accuracies are measured on the test split: the float model's, and the integer network's,
run by :meth:`golden.network.Sequential.run`. Usage::

    python scripts/train_digits.py [--epochs N] [--seed S] [--out models/digits_cnn.npz]
                                   [--onnx models/digits_cnn.onnx]

It also writes the trained float model as ONNX, quantised the way users quantise theirs:
``onnxruntime.quantization.quantize_static`` (QDQ, int8 activations, per-channel int8 weights)
calibrated on the first 256 training images, the float input being ``q / 127``. That file is
what ``sysconv demo`` runs (through :func:`sysconv.onnx.load`).
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from numpy.lib.stride_tricks import sliding_window_view

from sysconv.golden import digits
from sysconv.golden.network import (
    SHIFT_MAX,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)

# The engine's default multiplier width (hw.layer.EngineConfig.mult_width).
MULTIPLIER_MAX = (1 << 16) - 1

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {"seed": 0, "epochs": 12, "batch_size": 32, "learning_rate": 1e-3}
# (name, kind, fan_in, fan_out): the float parameters, in NHWC-friendly layouts (see export).
SHAPES = [
    ("conv1", 3 * 3 * 3, 32),
    ("conv2", 3 * 3 * 32, 64),
    ("fc1", 64 * 6 * 6, 128),
    ("fc2", 128, 10),
]
EVAL_BATCH = 256


def build_network():
    """The architecture, unquantised."""
    return Sequential(
        Conv2d(3, 32, 3, 1, 1),
        ReLU(),
        MaxPool2d(2, 2),
        Conv2d(32, 64, 3, 1, 1),
        ReLU(),
        MaxPool2d(2, 2),
        Flatten(),
        Linear(64 * 6 * 6, 128),
        ReLU(),
        Linear(128, 10),
    )


# --- Float model: NHWC activations, weights (fan_in, fan_out) with conv rows in (kh, kw, cin).


def init_params(rng):
    params = {}
    for name, fan_in, fan_out in SHAPES:
        # He initialisation, for ReLU networks.
        params[name + ".w"] = (
            rng.standard_normal((fan_in, fan_out)) * math.sqrt(2 / fan_in)
        ).astype(np.float32)
        params[name + ".b"] = np.zeros(fan_out, dtype=np.float32)
    return params


def im2col(x):
    """3x3 windows of ``x`` (N, H, W, C) padded by 1: (N*H*W, 9*C), columns in (kh, kw, c)."""
    (n, h, w, c) = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = sliding_window_view(xp, (3, 3), axis=(1, 2))  # (N, H, W, C, 3, 3)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, 9 * c)


def col2im(dcols, shape):
    """The adjoint of :func:`im2col`: window gradients summed back onto the input pixels."""
    (n, h, w, c) = shape
    dcols = dcols.reshape(n, h, w, 3, 3, c)
    dxp = np.zeros((n, h + 2, w + 2, c), dtype=dcols.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, i : i + h, j : j + w] += dcols[:, :, :, i, j]
    return dxp[:, 1:-1, 1:-1]


def pool_forward(a):
    """2x2 max pooling, stride 2, of (N, H, W, C); also the winner of each window."""
    (n, h, w, c) = a.shape
    r = (
        a.reshape(n, h // 2, 2, w // 2, 2, c)
        .transpose(0, 1, 3, 5, 2, 4)
        .reshape(n, h // 2, w // 2, c, 4)
    )
    index = r.argmax(axis=-1)
    return np.take_along_axis(r, index[..., np.newaxis], axis=-1)[..., 0], index


def pool_backward(dy, index, shape):
    (n, h, w, c) = shape
    d = np.zeros((n, h // 2, w // 2, c, 4), dtype=dy.dtype)
    np.put_along_axis(d, index[..., np.newaxis], dy[..., np.newaxis], axis=-1)
    return d.reshape(n, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, h, w, c)


def forward(params, x):
    """Logits of ``x`` (N, 3, 24, 24) float, and what the backward pass and calibration need."""
    x = x.transpose(0, 2, 3, 1)
    n = x.shape[0]
    cache = {"x.shape": x.shape}
    cols1 = im2col(x)
    z1 = (cols1 @ params["conv1.w"] + params["conv1.b"]).reshape(n, 24, 24, 32)
    p1, i1 = pool_forward(np.maximum(z1, 0))
    cols2 = im2col(p1)
    z2 = (cols2 @ params["conv2.w"] + params["conv2.b"]).reshape(n, 12, 12, 64)
    p2, i2 = pool_forward(np.maximum(z2, 0))
    # PyTorch's flatten order: C, H, W.
    f = p2.transpose(0, 3, 1, 2).reshape(n, -1)
    z3 = f @ params["fc1.w"] + params["fc1.b"]
    a3 = np.maximum(z3, 0)
    z4 = a3 @ params["fc2.w"] + params["fc2.b"]
    cache.update(
        cols1=cols1, z1=z1, i1=i1, cols2=cols2, z2=z2, i2=i2, p1=p1, p2=p2, f=f, z3=z3, a3=a3
    )
    return z4, cache


def backward(params, dz4, cache):
    grads = {}
    n = dz4.shape[0]
    grads["fc2.w"], grads["fc2.b"] = cache["a3"].T @ dz4, dz4.sum(0)
    dz3 = (dz4 @ params["fc2.w"].T) * (cache["z3"] > 0)
    grads["fc1.w"], grads["fc1.b"] = cache["f"].T @ dz3, dz3.sum(0)
    dp2 = (dz3 @ params["fc1.w"].T).reshape(n, 64, 6, 6).transpose(0, 2, 3, 1)
    dz2 = pool_backward(dp2, cache["i2"], (n, 12, 12, 64)) * (cache["z2"] > 0)
    dz2 = dz2.reshape(-1, 64)
    grads["conv2.w"], grads["conv2.b"] = cache["cols2"].T @ dz2, dz2.sum(0)
    dp1 = col2im(dz2 @ params["conv2.w"].T, (n, 12, 12, 32))
    dz1 = (pool_backward(dp1, cache["i1"], (n, 24, 24, 32)) * (cache["z1"] > 0)).reshape(-1, 32)
    grads["conv1.w"], grads["conv1.b"] = cache["cols1"].T @ dz1, dz1.sum(0)
    return grads


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_p[np.arange(n), labels].mean()
    d = np.exp(log_p)
    d[np.arange(n), labels] -= 1
    return float(loss), (d / n).astype(np.float32)


def predict(params, x):
    return np.concatenate(
        [forward(params, x[i : i + EVAL_BATCH])[0] for i in range(0, len(x), EVAL_BATCH)]
    ).argmax(axis=1)


def train(x, labels, *, seed, epochs, batch_size, learning_rate, log=print):
    """Adam (beta 0.9, 0.999) on shuffled mini-batches; returns the float parameters."""
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    (beta1, beta2, eps), step = (0.9, 0.999, 1e-8), 0
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            logits, cache = forward(params, x[batch])
            loss, dlogits = cross_entropy(logits, labels[batch])
            grads = backward(params, dlogits, cache)
            step += 1
            lr = learning_rate * math.sqrt(1 - beta2**step) / (1 - beta1**step)
            for k, g in grads.items():
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                params[k] -= (lr * m[k] / (np.sqrt(v[k]) + eps)).astype(np.float32)
            losses.append(loss)
        accuracy = (predict(params, x) == labels).mean()
        log(
            f"epoch {epoch + 1:2d}/{epochs}: loss {np.mean(losses):.4f}, "
            f"train accuracy {accuracy:.4f}"
        )
    return params


# --- Quantisation.


def calibration_ranges(params, x):
    """Per Conv2d/Linear, the largest float output over ``x`` (largest |.| for the logits)."""
    ranges = np.zeros(4)
    for i in range(0, len(x), EVAL_BATCH):
        z4, cache = forward(params, x[i : i + EVAL_BATCH])
        ranges = np.maximum(
            ranges, [cache["z1"].max(), cache["z2"].max(), cache["z3"].max(), np.abs(z4).max()]
        )
    return ranges


def multiplier_shift(scale):
    """``(multiplier, shift)`` with ``multiplier / 2**shift ~ scale`` and 16-bit multiplier."""
    shift = math.floor(math.log2(MULTIPLIER_MAX / scale))
    while round(scale * 2**shift) > MULTIPLIER_MAX:
        shift -= 1
    multiplier = round(scale * 2**shift)
    if not 0 <= shift <= SHIFT_MAX or multiplier < 1:
        raise ValueError(f"scale {scale} cannot be expressed as multiplier / 2**shift")
    return multiplier, shift


def export_weight(name, w):
    """Float weights from the training layout to PyTorch's (Conv2d: Cout, Cin, K, K)."""
    if name.startswith("conv"):
        cin = w.shape[0] // 9
        return w.reshape(3, 3, cin, w.shape[1]).transpose(3, 2, 0, 1)
    return w.T


def quantise(params, ranges):
    """The integer network, and per layer the float scales it was derived from."""
    network = build_network()
    layers = [layer for layer in network if isinstance(layer, (Conv2d, Linear))]
    s_in, scales = digits.INPUT_SCALE, []
    for layer, (name, _, _), calibrated in zip(layers, SHAPES, ranges, strict=True):
        w = export_weight(name, params[name + ".w"].astype(np.float64))
        b = params[name + ".b"].astype(np.float64)
        s_w = float(np.abs(w).max()) / 127
        s_out = float(calibrated) / 127
        layer.weight = np.clip(np.round(w / s_w), -127, 127).astype(np.int64)
        layer.bias = np.round(b / (s_in * s_w)).astype(np.int64)
        real = s_in * s_w / s_out
        layer.multiplier, layer.shift = multiplier_shift(real)
        scales.append(
            {
                "layer": network.layers.index(layer),
                "name": name,
                "input_scale": s_in,
                "weight_scale": s_w,
                "output_scale": s_out,
                "calibration_range": float(calibrated),
                "real_multiplier": real,
                "multiplier": layer.multiplier,
                "shift": layer.shift,
            }
        )
        s_in = s_out
    return network, scales


def export_onnx(params, x_calibration, path, metadata):
    """The float model as ONNX (NCHW, PyTorch's layers), quantised by onnxruntime into
    ``path``; ``metadata`` goes into its metadata_props."""
    import tempfile

    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    inits, nodes = [], []

    def tensor(name, value):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    x = "input"
    for layer in ("conv1", "conv2"):
        w = tensor(f"{layer}.weight", export_weight(layer, params[f"{layer}.w"]))
        b = tensor(f"{layer}.bias", params[f"{layer}.b"])
        nodes += [
            helper.make_node(
                "Conv",
                [x, w, b],
                [f"{layer}.out"],
                name=layer,
                kernel_shape=[3, 3],
                pads=[1, 1, 1, 1],
            ),
            helper.make_node("Relu", [f"{layer}.out"], [f"{layer}.relu"], name=f"{layer}.relu"),
            helper.make_node(
                "MaxPool",
                [f"{layer}.relu"],
                [f"{layer}.pool"],
                name=f"{layer}.pool",
                kernel_shape=[2, 2],
                strides=[2, 2],
            ),
        ]
        x = f"{layer}.pool"
    nodes.append(helper.make_node("Flatten", [x], ["flat"], name="flatten", axis=1))
    x = "flat"
    for layer, out in (("fc1", "fc1.out"), ("fc2", "logits")):
        w = tensor(f"{layer}.weight", export_weight(layer, params[f"{layer}.w"]))
        b = tensor(f"{layer}.bias", params[f"{layer}.b"])
        nodes.append(helper.make_node("Gemm", [x, w, b], [out], name=layer, transB=1))
        x = out
        if layer == "fc1":
            nodes.append(helper.make_node("Relu", [x], ["fc1.relu"], name="fc1.relu"))
            x = "fc1.relu"
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 24, 24])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="sysconv scripts/train_digits.py",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(x_calibration[i : i + 1] for i in range(len(x_calibration)))

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {"input": batch.astype(np.float32)}

    with tempfile.TemporaryDirectory() as folder:
        float_path = Path(folder) / "float.onnx"
        onnx.save(model, float_path)
        quantize_static(
            str(float_path),
            str(path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
    quantised = onnx.load(str(path))
    for key, value in metadata.items():
        entry = quantised.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(quantised, str(path))


def int8_predict(network, images):
    return np.concatenate(
        [
            network.run(images[i : i + EVAL_BATCH]).argmax(axis=1)
            for i in range(0, len(images), EVAL_BATCH)
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "digits_cnn.npz")
    parser.add_argument(
        "--onnx",
        type=Path,
        default=ROOT / "models" / "digits_cnn.onnx",
        help="the float model quantised by onnxruntime (what the demo runs)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    train_images, train_labels = digits.load("train")
    test_images, test_labels = digits.load("test")
    to_float = np.float32(digits.INPUT_SCALE)
    x_train, x_test = train_images * to_float, test_images * to_float

    params = train(
        x_train,
        train_labels,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
    )
    trained = time.perf_counter()
    float_test = float((predict(params, x_test) == test_labels).mean())
    float_train = float((predict(params, x_train) == train_labels).mean())

    network, scales = quantise(params, calibration_ranges(params, x_train))
    test_correct = int((int8_predict(network, test_images) == test_labels).sum())
    int8_test = test_correct / len(test_labels)
    int8_train = float((int8_predict(network, train_images) == train_labels).mean())
    finished = time.perf_counter()

    network.metadata = {
        "task": "scikit-learn handwritten digits (sklearn.datasets.load_digits), 10 classes",
        "input": {
            "shape": [3, 24, 24],
            "dtype": "int8",
            "scale": digits.INPUT_SCALE,
            "quantisation": "q = round(v * 127 / 16) half up = (127 * v + 8) // 16, "
            "v the 8x8 pixel value 0..16",
            "resize": "nearest neighbour: each 8x8 pixel repeated 3x3 (np.kron)",
            "channels": "3 identical copies of the grey image",
        },
        "split": {**digits.SPLIT, "test_indices": [int(i) for i in digits.split_indices("test")]},
        "seed": args.seed,
        "training": {
            "framework": "NumPy float32 (scripts/train_digits.py)",
            "optimizer": "Adam(beta1=0.9, beta2=0.999, eps=1e-8)",
            "learning_rate": args.learning_rate,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "init": "He normal, zero biases",
            "loss": "softmax cross-entropy",
            "float_input": "q / 127",
        },
        "quantisation": {
            "weights": "symmetric per layer: round(W / (max|W| / 127))",
            "bias": "round(b / (input_scale * weight_scale)), int32",
            "calibration": "output_scale = max over the training set of the layer's float output "
            "(max |.| for the logits) / 127",
            "requantisation": "requantize(acc + bias, multiplier, shift, bits=8), multiplier < "
            "2**16 with the largest such shift",
            "layers": scales,
        },
        "float_test_accuracy": float_test,
        "float_train_accuracy": float_train,
        "int8_test_accuracy": int8_test,
        "int8_train_accuracy": int8_train,
        "int8_test_correct": test_correct,
        "n_test": len(test_labels),
        "versions": {"numpy": np.__version__, "scikit-learn": sklearn.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    network.save(args.out)
    export_onnx(
        params,
        x_train[:256],
        args.onnx,
        {
            "float_test_accuracy": float_test,
            "float_train_accuracy": float_train,
            "seed": args.seed,
            "epochs": args.epochs,
            "input": "float32 (N, 3, 24, 24): q / 127, q the int8 image of sysconv.golden.digits",
            "quantiser": "onnxruntime.quantization.quantize_static, QDQ, int8 activations, "
            "per-channel int8 weights, calibrated on the first 256 training images",
        },
    )

    for s in scales:
        print(
            f"layer {s['layer']} {s['name']}: weight scale {s['weight_scale']:.3g}, output "
            f"scale {s['output_scale']:.3g}, multiplier {s['multiplier']}, shift {s['shift']} "
            f"({s['real_multiplier']:.6g} ~ {s['multiplier'] / 2 ** s['shift']:.6g})"
        )
    print(f"float accuracy: test {float_test:.4f}, train {float_train:.4f}")
    print(
        f"int8 accuracy:  test {int8_test:.4f} ({test_correct}/{len(test_labels)}), "
        f"train {int8_train:.4f}"
    )
    print(
        f"training {trained - started:.1f} s, total {finished - started:.1f} s; wrote "
        f"{args.out} ({args.out.stat().st_size} bytes)"
    )
    if int8_test < 0.95 or float_test - int8_test > 0.01:
        print(
            "FAIL: int8 test accuracy must be >= 0.95 and within 1 point of float", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
