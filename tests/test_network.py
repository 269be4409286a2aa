"""golden.network against loop references, the trained digits model, save/load and error rules."""

import json

import numpy as np
import pytest

from sysconv import models
from sysconv.golden import digits
from sysconv.golden.network import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential

MODEL = models.path(models.DIGITS_CNN)


# --- References: Python-int loops, and a differently written NumPy network.


def naive_requantize(acc, multiplier, shift):
    v = acc * multiplier
    if shift > 0:
        v = (v + (1 << (shift - 1))) >> shift
    return min(max(v, -128), 127)


def naive_layer(layer, x):
    """One sample (nested lists of Python ints) through one layer, by loops."""
    if isinstance(layer, ReLU):
        return np.vectorize(lambda v: max(v, 0), otypes=[object])(x)
    if isinstance(layer, Flatten):
        (c, h, w) = x.shape
        return np.array(
            [x[i // (h * w), i // w % h, i % w] for i in range(c * h * w)], dtype=object
        )
    if isinstance(layer, Linear):
        return np.array(
            [
                naive_requantize(
                    sum(int(layer.weight[o, i]) * x[i] for i in range(layer.in_features))
                    + int(layer.bias[o]),
                    layer.multiplier,
                    layer.shift,
                )
                for o in range(layer.out_features)
            ],
            dtype=object,
        )
    (c, h, w) = x.shape
    (k, s) = (layer.kernel_size, layer.stride)
    p = layer.padding if isinstance(layer, Conv2d) else 0
    (ho, wo) = ((h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    taps = [(i, j) for i in range(k) for j in range(k)]

    def pixel(ch, r, q):
        return x[ch, r, q] if 0 <= r < h and 0 <= q < w else 0

    if isinstance(layer, MaxPool2d):
        return np.array(
            [
                [
                    [max(x[ch, r * s + i, q * s + j] for i, j in taps) for q in range(wo)]
                    for r in range(ho)
                ]
                for ch in range(c)
            ],
            dtype=object,
        )
    return np.array(
        [
            [
                [
                    naive_requantize(
                        sum(
                            pixel(ch, r * s - p + i, q * s - p + j) * int(layer.weight[o, ch, i, j])
                            for ch in range(c)
                            for i, j in taps
                        )
                        + int(layer.bias[o]),
                        layer.multiplier,
                        layer.shift,
                    )
                    for q in range(wo)
                ]
                for r in range(ho)
            ]
            for o in range(layer.out_channels)
        ],
        dtype=object,
    )


def numpy_reference(network, x):
    """Every layer's output for a batch, by shifted slices and einsum, not the golden code."""
    outputs = []
    for layer in network:
        if isinstance(layer, (Conv2d, Linear)):
            if isinstance(layer, Conv2d):
                (k, s, p) = (layer.kernel_size, layer.stride, layer.padding)
                xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
                (ho, wo) = ((xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1)
                acc = sum(
                    np.einsum(
                        "nchw,oc->nohw",
                        xp[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s],
                        layer.weight[:, :, i, j],
                    )
                    for i in range(k)
                    for j in range(k)
                )
                acc = acc + layer.bias[:, None, None]
            else:
                acc = np.einsum("ni,oi->no", x, layer.weight) + layer.bias
            # int64 is exact here: |acc * multiplier| < 2**62 for these sizes.
            v = acc * layer.multiplier
            if layer.shift:
                v = (v + (1 << (layer.shift - 1))) >> layer.shift
            x = np.clip(v, -128, 127)
        elif isinstance(layer, ReLU):
            x = np.where(x > 0, x, 0)
        elif isinstance(layer, MaxPool2d):
            (k, s) = (layer.kernel_size, layer.stride)
            (ho, wo) = ((x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1)
            x = np.max(
                [
                    x[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s]
                    for i in range(k)
                    for j in range(k)
                ],
                axis=0,
            )
        else:
            x = x.reshape(len(x), -1)
        outputs.append(x)
    return outputs


def random_network(layers, input_shape, seed):
    """``layers`` quantised with random int8 weights and scales that keep outputs varied."""
    rng = np.random.default_rng(seed)
    network = Sequential(*layers)
    for layer in network:
        if isinstance(layer, (Conv2d, Linear)):
            layer.weight = rng.integers(-128, 128, size=layer.weight_shape)
            layer.bias = rng.integers(-3000, 3000, size=layer.weight_shape[0])
            fan_in = int(np.prod(layer.weight_shape[1:]))
            # Roughly 1 / (64 * sqrt(fan_in)): int8 in, about a third of int8 out.
            layer.shift = int(rng.integers(17, 22))
            layer.multiplier = int(
                (1 << layer.shift) / (64 * np.sqrt(fan_in)) * rng.uniform(0.5, 2)
            )
    network.output_shapes(input_shape)
    return network


NETWORKS = {
    "digits-like": (
        lambda: [
            Conv2d(2, 3, 3, 1, 1),
            ReLU(),
            MaxPool2d(2, 2),
            Conv2d(3, 4, 3, 1, 1),
            ReLU(),
            MaxPool2d(2, 2),
            Flatten(),
            Linear(16, 6),
            ReLU(),
            Linear(6, 3),
        ],
        (2, 8, 8),
    ),
    "strided": (
        lambda: [
            Conv2d(1, 2, 3, stride=2, padding=0),
            MaxPool2d(2, 1),
            ReLU(),
            Conv2d(2, 3, 1),
            Flatten(),
            Linear(12, 4),
        ],
        (1, 7, 7),
    ),
    "padded": (lambda: [Conv2d(3, 2, 2, 2, 2), MaxPool2d(3), Flatten(), Linear(8, 2)], (3, 8, 8)),
    "linear-only": (lambda: [Linear(5, 4), ReLU(), Linear(4, 3)], (5,)),
}


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("batch", [None, 3])
def test_run_matches_loops(name, batch):
    (layers, shape) = NETWORKS[name]
    network = random_network(layers(), shape, seed=len(name))
    rng = np.random.default_rng([len(name), batch or 0])
    x = rng.integers(-128, 128, size=(batch or 1, *shape)).astype(np.int8)
    y, outputs = network.run(x if batch else x[0], trace=True)
    assert len(outputs) == len(network) and outputs[-1] is y
    for n in range(batch or 1):
        expected = x[n].astype(object)
        for index, layer in enumerate(network):
            expected = naive_layer(layer, expected)
            got = outputs[index][n] if batch else outputs[index]
            assert got.dtype == np.int64, f"layer {index} ({layer!r}) dtype {got.dtype}"
            np.testing.assert_array_equal(
                got,
                expected.astype(np.int64),
                err_msg=f"layer {index} ({layer!r}), sample {n}, network {name}",
            )
    assert y.shape == ((batch,) if batch else ()) + network.output_shapes(shape)[-1]
    # The first layer's outputs are varied and mostly unsaturated: the comparison means something.
    first = outputs[0]
    assert len(np.unique(first)) > 1 and ((first > -128) & (first < 127)).mean() > 0.5
    np.testing.assert_array_equal(network.run(x if batch else x[0]), y)


def test_digits_model_matches_numpy_reference():
    network = Sequential.load(MODEL)
    images, _ = digits.load("test")
    x = images[:24]
    _, outputs = network.run(x, trace=True)
    expected = numpy_reference(network, x.astype(np.int64))
    assert [o.shape for o in outputs] == [(24, *s) for s in network.output_shapes((3, 24, 24))]
    for index, (got, want) in enumerate(zip(outputs, expected, strict=True)):
        np.testing.assert_array_equal(got, want, err_msg=f"layer {index} ({network[index]!r})")
        assert got.min() >= -128 and got.max() <= 127, f"layer {index} is not int8"


def test_digits_model_accuracy():
    network = Sequential.load(MODEL)
    meta = network.metadata
    assert meta["split"]["test_indices"] == digits.split_indices("test").tolist()
    images, labels = digits.load("test")
    correct = int((network.run(images).argmax(axis=1) == labels).sum())
    assert correct == meta["int8_test_correct"] and len(labels) == meta["n_test"]
    assert correct / len(labels) == meta["int8_test_accuracy"]
    assert meta["int8_test_accuracy"] >= 0.95
    assert meta["float_test_accuracy"] - meta["int8_test_accuracy"] <= 0.01


def test_digits_model_parameters():
    network = Sequential.load(MODEL)
    assert [repr(layer) for layer in network] == [
        "Conv2d(3, 32, kernel_size=3, stride=1, padding=1)",
        "ReLU()",
        "MaxPool2d(kernel_size=2, stride=2)",
        "Conv2d(32, 64, kernel_size=3, stride=1, padding=1)",
        "ReLU()",
        "MaxPool2d(kernel_size=2, stride=2)",
        "Flatten()",
        "Linear(in_features=2304, out_features=128)",
        "ReLU()",
        "Linear(in_features=128, out_features=10)",
    ]
    for layer in network:
        if isinstance(layer, (Conv2d, Linear)):
            # The hardware's 16-bit multiplier, used to at least 15 significant bits.
            assert 1 << 15 <= layer.multiplier < 1 << 16 and 0 <= layer.shift <= 62
    with np.load(MODEL) as archive:
        assert archive["0.weight"].dtype == np.int8 and archive["0.bias"].dtype == np.int32
    assert MODEL.stat().st_size < 400_000


# --- Save and load.


def test_save_load_round_trip(tmp_path):
    (layers, shape) = NETWORKS["digits-like"]
    network = random_network(layers(), shape, seed=7)
    network.metadata = {"accuracy": 0.5, "split": {"seed": 3, "indices": [1, 2]}, "name": "x"}
    network.save(tmp_path / "a.npz")
    loaded = Sequential.load(tmp_path / "a.npz")
    assert loaded == network and loaded.metadata == network.metadata
    assert repr(loaded) == repr(network)
    x = np.random.default_rng(0).integers(-128, 128, size=(2, *shape))
    np.testing.assert_array_equal(loaded.run(x), network.run(x))
    with np.load(tmp_path / "a.npz") as archive:
        assert sorted(archive.files) == sorted(
            [
                "architecture",
                "0.weight",
                "0.bias",
                "3.weight",
                "3.bias",
                "7.weight",
                "7.bias",
                "9.weight",
                "9.bias",
            ]
        )
        assert archive["3.weight"].dtype == np.int8 and archive["3.bias"].dtype == np.int32
        architecture = json.loads(str(archive["architecture"]))
    assert architecture["layers"][0] == {
        "type": "Conv2d",
        "in_channels": 2,
        "out_channels": 3,
        "kernel_size": 3,
        "stride": 1,
        "padding": 1,
        "multiplier": network[0].multiplier,
        "shift": network[0].shift,
    }
    assert architecture["layers"][2] == {"type": "MaxPool2d", "kernel_size": 2, "stride": 2}
    # Same network, same bytes: the archive is reproducible.
    loaded.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_save_unquantised(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"^Linear\(in_features=2, out_features=1\) is not "
        r"quantised: weight, bias, multiplier, shift not set$",
    ):
        Sequential(ReLU(), Linear(2, 1)).save(tmp_path / "a.npz")


def test_load_wrong_file(tmp_path):
    np.savez(tmp_path / "a.npz", weight=np.zeros(3))
    with pytest.raises(
        ValueError,
        match=r"^.*a\.npz is not a sysconv\.network file: "
        r"no architecture$",
    ):
        Sequential.load(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", architecture=np.array(json.dumps({"format": "onnx"})))
    with pytest.raises(
        ValueError,
        match=r"^.*b\.npz is not a sysconv\.network file: "
        r"format 'onnx'$",
    ):
        Sequential.load(tmp_path / "b.npz")
    np.savez(
        tmp_path / "c.npz",
        architecture=np.array(json.dumps({"format": "sysconv.network", "version": 3})),
    )
    with pytest.raises(
        ValueError,
        match=r"^.*c\.npz has sysconv\.network version 3; this code "
        r"reads versions 1, 2$",
    ):
        Sequential.load(tmp_path / "c.npz")


def test_load_validates_parameters(tmp_path):
    network = random_network([Linear(3, 2)], (3,), seed=1)
    network.save(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    architecture = json.loads(str(arrays["architecture"]))
    architecture["layers"][0]["multiplier"] = 1 << 31
    arrays["architecture"] = np.array(json.dumps(architecture))
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(
        ValueError,
        match=r"^multiplier must be an integer from 0 to "
        r"2147483647, not 2147483648$",
    ):
        Sequential.load(tmp_path / "b.npz")


# --- Flatten order and shapes.


def test_flatten_is_pytorch_view_order():
    (n, c, h, w) = (2, 3, 4, 5)
    x = np.arange(n * c * h * w).reshape(n, c, h, w)
    y = Flatten().forward(x)
    assert y.shape == (n, c * h * w)
    for index in np.ndindex(n, c, h, w):
        (b, ch, r, q) = index
        assert y[b, (ch * h + r) * w + q] == x[index]
    # Through a network: a Linear weight picking input (c, r, q) sees exactly that pixel.
    network = Sequential(Flatten(), Linear(c * h * w, 1))
    weight = np.zeros((1, c * h * w), dtype=np.int64)
    weight[0, (2 * h + 1) * w + 3] = 1
    (network[1].weight, network[1].bias, network[1].multiplier, network[1].shift) = (
        weight,
        [0],
        1,
        0,
    )
    xi = (x % 251 - 125).astype(np.int8)
    np.testing.assert_array_equal(network.run(xi)[:, 0], xi[:, 2, 1, 3])


def test_output_shapes():
    network = Sequential(
        Conv2d(3, 32, 3, 1, 1),
        ReLU(),
        MaxPool2d(2, 2),
        Conv2d(32, 64, 3, 1, 1),
        ReLU(),
        MaxPool2d(2, 2),
        Flatten(),
        Linear(2304, 128),
        ReLU(),
        Linear(128, 10),
    )
    assert network.output_shapes((3, 24, 24)) == [
        (32, 24, 24),
        (32, 24, 24),
        (32, 12, 12),
        (64, 12, 12),
        (64, 12, 12),
        (64, 6, 6),
        (2304,),
        (128,),
        (128,),
        (10,),
    ]
    assert network.sample_ndim == 3 and len(network) == 10 and network[6] == Flatten()
    assert Sequential(ReLU(), Linear(4, 2)).sample_ndim == 1
    assert Sequential(ReLU()).sample_ndim is None
    assert Sequential(ReLU(), Flatten(), Linear(4, 2)).sample_ndim is None


def test_parameters_read_only():
    conv = Conv2d(3, 32, 3, 1, 1)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (
        3,
        32,
        3,
        1,
        1,
    )
    assert (MaxPool2d(3).kernel_size, MaxPool2d(3).stride, MaxPool2d(3, 1).stride) == (3, 3, 1)
    with pytest.raises(AttributeError):
        conv.stride = 2
    conv.weight = np.zeros((32, 3, 3, 3), dtype=np.int8)
    assert conv.weight.dtype == np.int64 and not conv.quantised
    with pytest.raises(ValueError, match=r"^assignment destination is read-only$"):
        conv.weight[0, 0, 0, 0] = 1


# --- Error messages.


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Conv2d(0, 32, 3), "in_channels must be a positive integer, not 0"),
        (lambda: Conv2d(3, 2.0, 3), "out_channels must be a positive integer, not 2.0"),
        (lambda: Conv2d(3, 32, (3, 3)), "kernel_size must be a positive integer, not (3, 3)"),
        (lambda: Conv2d(3, 32, 3, True), "stride must be a positive integer, not True"),
        (lambda: Conv2d(3, 32, 3, 1, -1), "padding must be a non-negative integer, not -1"),
        (lambda: Linear(0, 10), "in_features must be a positive integer, not 0"),
        (lambda: Linear(10, "3"), "out_features must be a positive integer, not '3'"),
        (lambda: MaxPool2d(0), "kernel_size must be a positive integer, not 0"),
        (lambda: MaxPool2d(2, 0), "stride must be a positive integer or None, not 0"),
        (lambda: Sequential(), "Sequential needs at least one layer"),
        (
            lambda: Sequential(ReLU(), "relu"),
            "Sequential layer 1 must be a Conv2d, ReLU, MaxPool2d, Flatten or Linear, not 'relu'",
        ),
    ],
)
def test_wrong_constructor(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("weight", np.zeros((2, 3)), "weight must be an integer array, not float64"),
        ("weight", np.zeros((3, 2), dtype=np.int8), "weight must have shape (2, 3), not (3, 2)"),
        (
            "weight",
            [[0, 0, 128], [0, 0, 0]],
            "weight values must fit in signed 8-bit integers (-128..127); found 128",
        ),
        (
            "bias",
            [0, 1 << 31],
            "bias values must fit in signed 32-bit integers "
            "(-2147483648..2147483647); found 2147483648",
        ),
        ("bias", [0, 0, 0], "bias must have shape (2,), not (3,)"),
        (
            "multiplier",
            1 << 31,
            "multiplier must be an integer from 0 to 2147483647, not 2147483648",
        ),
        ("multiplier", -1, "multiplier must be an integer from 0 to 2147483647, not -1"),
        ("multiplier", 1.0, "multiplier must be an integer from 0 to 2147483647, not 1.0"),
        (
            "multiplier",
            [1, 2, 3],
            "multiplier must be an integer or one per output channel, shape (2,), not shape (3,)",
        ),
        ("shift", [1, 63], "shift values must be integers from 0 to 62, not 63"),
        ("input_zero_point", 128, "input_zero_point must be an integer from -128 to 127, not 128"),
        (
            "output_zero_point",
            -129,
            "output_zero_point must be an integer from -128 to 127, not -129",
        ),
        ("shift", 63, "shift must be an integer from 0 to 62, not 63"),
    ],
)
def test_wrong_parameter(name, value, message):
    layer = Linear(3, 2)
    with pytest.raises(ValueError) as info:
        setattr(layer, name, value)
    assert str(info.value) == message
    # Unchanged: not set, or the default zero point.
    assert getattr(layer, name) == (0 if name.endswith("zero_point") else None)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((3, 8, 8)), "x must be an integer array, not float64"),
        (np.zeros((8, 8), dtype=np.int8), "x must have 3 or 4 dimensions, not 2 (shape (8, 8))"),
        (
            np.full((3, 8, 8), 128),
            "x values must fit in signed 8-bit integers (-128..127); found 128",
        ),
        (
            np.zeros((2, 8, 8), dtype=np.int8),
            "layer 0: Conv2d(3, 4, kernel_size=3, stride=1, padding=1) expects 3 "
            "input channels, not 2",
        ),
        (
            np.zeros((3, 2, 2), dtype=np.int8),
            "layer 2: MaxPool2d(kernel_size=3, stride=3) needs an input of at least 3x3, not 2x2",
        ),
        (
            np.zeros((3, 9, 9), dtype=np.int8),
            "layer 4: Linear(in_features=16, out_features=2) expects 16 input features, not 36",
        ),
    ],
)
def test_wrong_input(x, message):
    network = random_network(
        [Conv2d(3, 4, 3, 1, 1), ReLU(), MaxPool2d(3), Flatten(), Linear(16, 2)], (3, 6, 6), seed=0
    )
    with pytest.raises(ValueError) as info:
        network.run(x)
    assert str(info.value) == message


def test_wrong_unquantised_run():
    network = Sequential(Conv2d(1, 1, 1), ReLU())
    network[0].weight, network[0].shift = [[[[1]]]], 0
    with pytest.raises(
        ValueError,
        match=r"^Conv2d\(1, 1, kernel_size=1, stride=1, padding=0\) "
        r"is not quantised: bias, multiplier not set$",
    ):
        network.run(np.zeros((1, 2, 2), dtype=np.int8))


def test_wrong_layer_order():
    with pytest.raises(
        ValueError,
        match=r"^layer 1: Conv2d\(8, 2, kernel_size=1, stride=1, "
        r"padding=0\) expects samples of 3 dimensions, not "
        r"shape \(8,\)$",
    ):
        Sequential(Linear(4, 8), Conv2d(8, 2, 1)).output_shapes((4,))


# --- The data.


def test_digits_inputs():
    images, labels = digits.load("all")
    assert images.shape == (1797, 3, 24, 24) and images.dtype == np.int8
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    v = np.array([[[0, 1, 8, 16] * 2] * 8])
    q = digits.quantize_images(v)
    # round(v * 127 / 16), half up: 0, 7.94 -> 8, 63.5 -> 64, 127.
    np.testing.assert_array_equal(q[0, 1, 0, :12], [0] * 3 + [8] * 3 + [64] * 3 + [127] * 3)
    assert (q[0, 0] == q[0, 2]).all() and (q[0, :, 0] == q[0, :, 2]).all()
    np.testing.assert_array_equal(q[0, 0, ::3, ::3], (127 * v[0] + 8) // 16)


def test_digits_split():
    train, test = digits.split_indices("train"), digits.split_indices("test")
    assert (len(train), len(test)) == (digits.SPLIT["n_train"], digits.SPLIT["n_test"])
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(1797))
    _, labels = digits.load("test")
    assert np.bincount(labels).min() >= 35
    with pytest.raises(ValueError, match=r"^split must be 'train', 'test' or 'all', not 'val'$"):
        digits.load("val")
