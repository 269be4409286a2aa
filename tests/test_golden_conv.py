"""golden.conv2d / golden.matmul against independent references, properties and error rules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.signal import correlate2d

from sysconv.golden import conv2d, matmul
from sysconv.golden._check import check_int_array, check_pair

SETTINGS = settings(max_examples=50, deadline=None)


def naive_conv2d(x, w, bias, stride, padding):
    """Nested loops over Python ints, straight from the formula; x is (N, Cin, H, W)."""
    (n, cin, h, wd), (cout, _, k_h, k_w) = x.shape, w.shape
    (s_h, s_w), (p_h, p_w) = stride, padding
    h_out, w_out = (h + 2 * p_h - k_h) // s_h + 1, (wd + 2 * p_w - k_w) // s_w + 1
    y = np.zeros((n, cout, h_out, w_out), dtype=np.int64)
    for b in range(n):
        for o in range(cout):
            for r in range(h_out):
                for q in range(w_out):
                    total = 0 if bias is None else int(bias[o])
                    for c in range(cin):
                        for i in range(k_h):
                            for j in range(k_w):
                                row, col = r * s_h + i - p_h, q * s_w + j - p_w
                                if 0 <= row < h and 0 <= col < wd:
                                    total += int(x[b, c, row, col]) * int(w[o, c, i, j])
                    y[b, o, r, q] = total
    return y


def int8(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int64)


@pytest.mark.parametrize("batch", [None, 1, 3])
@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize(
    ("stride", "padding"),
    [
        (1, 0),
        (2, 0),
        (1, 1),
        (2, 1),
        (3, 2),
        ((1, 2), (2, 0)),
        ((2, 1), (0, 1)),
    ],
)
@pytest.mark.parametrize(
    ("cin", "cout", "h", "w", "k"),
    [
        (1, 1, 5, 5, 3),
        (3, 4, 6, 7, 3),
        (2, 3, 5, 4, (2, 3)),
        (4, 2, 4, 4, 1),
        (2, 2, 3, 3, 3),
    ],
)
def test_conv2d_matches_loops(batch, use_bias, stride, padding, cin, cout, h, w, k):
    rng = np.random.default_rng([cin, cout, h, w, 0 if batch is None else batch, use_bias])
    k_h, k_w = check_pair("k", k, minimum=1)
    x = int8(rng, (batch or 1, cin, h, w))
    wt = int8(rng, (cout, cin, k_h, k_w))
    bias = rng.integers(-(2**31), 2**31, size=cout, dtype=np.int64) if use_bias else None
    expected = naive_conv2d(
        x, wt, bias, check_pair("s", stride, minimum=1), check_pair("p", padding, minimum=0)
    )
    got = conv2d(
        x if batch else x[0], wt, bias, stride=stride, padding=padding, act_bits=8, weight_bits=8
    )
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected if batch else expected[0])


@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("seed", range(4))
def test_conv2d_matches_scipy_correlate2d(padding, seed):
    rng = np.random.default_rng(seed)
    cin, cout = 3, 2
    x, w = int8(rng, (cin, 6, 5)), int8(rng, (cout, cin, 3, 2))
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    expected = np.stack(
        [sum(correlate2d(xp[c], w[o, c], mode="valid") for c in range(cin)) for o in range(cout)]
    )
    np.testing.assert_array_equal(conv2d(x, w, padding=padding), expected)


def test_conv2d_worked_example():
    x = np.arange(16, dtype=np.int8).reshape(1, 4, 4)
    w = np.array([[[[1, 0], [0, -1]]]], dtype=np.int8)
    # Cross-correlation: X(r, q) - X(r+1, q+1) = -5 everywhere, not +5 (which a flipped kernel
    # would give).
    np.testing.assert_array_equal(conv2d(x, w), np.full((1, 3, 3), -5))
    np.testing.assert_array_equal(conv2d(x, w, [7], stride=2), np.full((1, 2, 2), 2))
    np.testing.assert_array_equal(
        conv2d(x, w, padding=1)[0],
        [
            [0, -1, -2, -3, 0],
            [-4, -5, -5, -5, 3],
            [-8, -5, -5, -5, 7],
            [-12, -5, -5, -5, 11],
            [0, 12, 13, 14, 15],
        ],
    )


def test_conv2d_accepts_lists_and_narrow_dtypes():
    x = [[[1, 2], [3, 4]]]
    np.testing.assert_array_equal(conv2d(x, [[[[1]]]], [2]), [[[3, 4], [5, 6]]])
    x8 = np.full((1, 2, 2), 127, dtype=np.int8)
    w8 = np.full((1, 1, 2, 2), 127, dtype=np.int8)
    got = conv2d(x8, w8)  # 4 * 127 * 127 does not fit in int8 or int16
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [[[4 * 127 * 127]]])
    assert conv2d(
        np.ones((2, 3, 3), dtype=np.uint8), np.ones((5, 2, 3, 3), dtype=np.int16)
    ).shape == (5, 1, 1)


@st.composite
def conv_cases(draw, *, batch=None):
    batch = draw(st.sampled_from([None, 1, 2])) if batch is None else batch
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k_h, k_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p_h, p_w = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, k_h - 2 * p_h), 7)), draw(st.integers(max(1, k_w - 2 * p_w), 7))
    s_h, s_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (cin, h, w) if batch is None else (batch, cin, h, w)
    ints = st.integers(-128, 127)
    x1 = draw(hnp.arrays(np.int64, shape, elements=ints))
    x2 = draw(hnp.arrays(np.int64, shape, elements=ints))
    w1 = draw(hnp.arrays(np.int64, (cout, cin, k_h, k_w), elements=ints))
    w2 = draw(hnp.arrays(np.int64, (cout, cin, k_h, k_w), elements=ints))
    bias = draw(hnp.arrays(np.int64, (cout,), elements=st.integers(-(2**31), 2**31 - 1)))
    return x1, x2, w1, w2, bias, (s_h, s_w), (p_h, p_w)


@SETTINGS
@given(conv_cases())
def test_conv2d_linear_in_x(case):
    x1, x2, w, _, _, stride, padding = case
    np.testing.assert_array_equal(
        conv2d(x1 + x2, w, stride=stride, padding=padding),
        conv2d(x1, w, stride=stride, padding=padding)
        + conv2d(x2, w, stride=stride, padding=padding),
    )


@SETTINGS
@given(conv_cases())
def test_conv2d_linear_in_w(case):
    x, _, w1, w2, _, stride, padding = case
    np.testing.assert_array_equal(
        conv2d(x, w1 + w2, stride=stride, padding=padding),
        conv2d(x, w1, stride=stride, padding=padding)
        + conv2d(x, w2, stride=stride, padding=padding),
    )


@SETTINGS
@given(conv_cases())
def test_conv2d_padding_is_explicit_zero_pad(case):
    x, _, w, _, bias, stride, (p_h, p_w) = case
    xp = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p_h, p_h), (p_w, p_w)])
    np.testing.assert_array_equal(
        conv2d(x, w, bias, stride=stride, padding=(p_h, p_w)),
        conv2d(xp, w, bias, stride=stride, padding=0),
    )


@SETTINGS
@given(conv_cases())
def test_conv2d_stride_subsamples_stride_1(case):
    x, _, w, _, bias, (s_h, s_w), padding = case
    np.testing.assert_array_equal(
        conv2d(x, w, bias, stride=(s_h, s_w), padding=padding),
        conv2d(x, w, bias, stride=1, padding=padding)[..., ::s_h, ::s_w],
    )


@SETTINGS
@given(conv_cases())
def test_conv2d_bias_adds_per_channel(case):
    x, _, w, _, bias, stride, padding = case
    diff = conv2d(x, w, bias, stride=stride, padding=padding) - conv2d(
        x, w, stride=stride, padding=padding
    )
    np.testing.assert_array_equal(diff, np.broadcast_to(bias[:, None, None], diff.shape))


@SETTINGS
@given(conv_cases(batch=2))
def test_conv2d_batch_is_per_image(case):
    x, _, w, _, bias, stride, padding = case
    y = conv2d(x, w, bias, stride=stride, padding=padding)
    for n in range(x.shape[0]):
        np.testing.assert_array_equal(y[n], conv2d(x[n], w, bias, stride=stride, padding=padding))


@SETTINGS
@given(conv_cases(batch=1))
def test_matmul_is_1x1_conv(case):
    x, _, w, _, _, _, _ = case
    (_, cin, h, wd), cout = x.shape, w.shape[0]
    a = x[0].reshape(cin, h * wd).T  # pixels x channels
    wm = w[:, :, 0, 0].T  # channels x Cout
    y = conv2d(x[0], w[:, :, :1, :1])
    np.testing.assert_array_equal(matmul(a, wm), y.reshape(cout, h * wd).T)


@pytest.mark.parametrize("seed", range(5))
def test_matmul_matches_loops(seed):
    rng = np.random.default_rng(seed)
    n, r, c = rng.integers(1, 6, size=3)
    a, w = int8(rng, (n, r)), int8(rng, (r, c))
    expected = [
        [sum(int(a[i, k]) * int(w[k, j]) for k in range(r)) for j in range(c)] for i in range(n)
    ]
    got = matmul(a, w, act_bits=8, weight_bits=8)
    assert got.dtype == np.int64 and got.shape == (n, c)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(matmul(a[0], w), expected[0])
    assert matmul(a[0], w).shape == (c,)


def test_large_values_are_exact():
    # Beyond float64's 53-bit mantissa: a float path would round these.
    big = 2**30 + 1
    x = np.full((1, 2, 2), big, dtype=np.int64)
    w = np.full((1, 1, 2, 2), big, dtype=np.int64)
    assert int(conv2d(x, w, [1])[0, 0, 0]) == 4 * big * big + 1
    assert int(matmul([big, big], [[big], [big]])[0]) == 2 * big * big


# Error rules: each message exactly.

X, W = np.zeros((3, 4, 4), dtype=np.int8), np.zeros((2, 3, 3, 3), dtype=np.int8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(x=X.astype(np.float64)), r"x must be an integer array, not float64"),
        (dict(x=X.astype(bool)), r"x must be an integer array, not bool"),
        (dict(x=X.astype(object)), r"x must be an integer array, not object"),
        (dict(w=W.astype(np.float32)), r"w must be an integer array, not float32"),
        (dict(bias=[0.0, 1.0]), r"bias must be an integer array, not float64"),
        (dict(x=X[0]), r"x must have 3 or 4 dimensions, not 2 \(shape \(4, 4\)\)"),
        (
            dict(x=X[None, None]),
            r"x must have 3 or 4 dimensions, not 5 \(shape \(1, 1, 3, 4, 4\)\)",
        ),
        (dict(w=W[0]), r"w must have 4 dimensions, not 3 \(shape \(3, 3, 3\)\)"),
        (dict(bias=[[0, 0]]), r"bias must have 1 dimensions, not 2 \(shape \(1, 2\)\)"),
        (dict(x=np.zeros((4, 4, 4), dtype=np.int8)), r"x has Cin=4 but w expects Cin=3"),
        (dict(x=np.zeros((2, 4, 4, 4), dtype=np.int8)), r"x has Cin=4 but w expects Cin=3"),
        (dict(w=np.zeros((2, 3, 0, 3), dtype=np.int8)), r"w kernel must be at least 1x1, not 0x3"),
        (
            dict(w=np.zeros((2, 3, 5, 3), dtype=np.int8)),
            r"w kernel 5x3 is larger than the padded input 4x4",
        ),
        (
            dict(w=np.zeros((2, 3, 7, 7), dtype=np.int8), padding=(1, 2)),
            r"w kernel 7x7 is larger than the padded input 6x8",
        ),
        (dict(stride=0), r"stride must be an integer >= 1 or a pair of them, not 0"),
        (dict(stride=(1, 0)), r"stride must be an integer >= 1 or a pair of them, not \(1, 0\)"),
        (dict(stride=1.0), r"stride must be an integer >= 1 or a pair of them, not 1.0"),
        (dict(stride=True), r"stride must be an integer >= 1 or a pair of them, not True"),
        (
            dict(stride=(1, 1, 1)),
            r"stride must be an integer >= 1 or a pair of them, not \(1, 1, 1\)",
        ),
        (dict(padding=-1), r"padding must be an integer >= 0 or a pair of them, not -1"),
        (
            dict(padding=(0, -1)),
            r"padding must be an integer >= 0 or a pair of them, not \(0, -1\)",
        ),
        (dict(bias=[1, 2, 3]), r"bias must have Cout=2 entries, not 3"),
        (
            dict(x=np.full((3, 4, 4), 128)),
            r"x values must fit in signed 8-bit integers "
            r"\(-128..127\); found 128",
        ),
        (
            dict(x=np.full((3, 4, 4), 200, dtype=np.uint8)),
            r"x values must fit in signed 8-bit integers \(-128..127\); found 200",
        ),
        (
            dict(w=np.full((2, 3, 3, 3), -129)),
            r"w values must fit in signed 8-bit integers \(-128..127\); found -129",
        ),
        (dict(act_bits=0), r"act_bits must be an integer from 1 to 64, not 0"),
        (dict(weight_bits=8.0), r"weight_bits must be an integer from 1 to 64, not 8.0"),
        (
            dict(
                x=np.full((3, 4, 4), 2**31),
                w=np.full((2, 3, 3, 3), 2**31),
                act_bits=None,
                weight_bits=None,
            ),
            r"conv2d could overflow int64: max\|x\| \* max\|w\| \* Cin \* Kh \* Kw \+ "
            r"max\|bias\| = "
            r"124515522497539473408 exceeds 2\*\*63 - 1",
        ),
    ],
)
def test_conv2d_wrong(kwargs, message):
    args = dict(x=X, w=W, bias=None, stride=1, padding=0, act_bits=8, weight_bits=8)
    args.update(kwargs)
    x, w, bias = args.pop("x"), args.pop("w"), args.pop("bias")
    with pytest.raises(ValueError, match=rf"^{message}$"):
        conv2d(x, w, bias, **args)


@pytest.mark.parametrize(
    ("a", "w", "kwargs", "message"),
    [
        (
            np.zeros((2, 3)),
            np.zeros((3, 4), dtype=int),
            {},
            r"a must be an integer array, not float64",
        ),
        (
            np.zeros((2, 3), dtype=int),
            np.zeros((3, 4), dtype=bool),
            {},
            r"w must be an integer array, not bool",
        ),
        (
            np.zeros((1, 2, 3), dtype=int),
            np.zeros((3, 4), dtype=int),
            {},
            r"a must have 1 or 2 dimensions, not 3 \(shape \(1, 2, 3\)\)",
        ),
        (
            np.zeros((2, 3), dtype=int),
            np.zeros(3, dtype=int),
            {},
            r"w must have 2 dimensions, not 1 \(shape \(3,\)\)",
        ),
        (
            np.zeros((2, 3), dtype=int),
            np.zeros((4, 5), dtype=int),
            {},
            r"a has R=3 but w expects R=4 \(a shape \(2, 3\), w shape \(4, 5\)\)",
        ),
        (
            np.zeros(3, dtype=int),
            np.zeros((4, 5), dtype=int),
            {},
            r"a has R=3 but w expects R=4 \(a shape \(3,\), w shape \(4, 5\)\)",
        ),
        (
            np.full((2, 3), 128),
            np.zeros((3, 4), dtype=int),
            dict(act_bits=8),
            r"a values must fit in signed 8-bit integers \(-128..127\); found 128",
        ),
        (
            np.zeros((2, 3), dtype=int),
            np.full((3, 4), -9),
            dict(weight_bits=4),
            r"w values must fit in signed 4-bit integers \(-8..7\); found -9",
        ),
        (
            np.zeros((2, 3), dtype=int),
            np.zeros((3, 4), dtype=int),
            dict(act_bits=65),
            r"act_bits must be an integer from 1 to 64, not 65",
        ),
        (
            np.full((1, 2), 2**32),
            np.full((2, 1), 2**31),
            {},
            r"matmul could overflow int64: max\|a\| \* max\|w\| \* R = 18446744073709551616 "
            r"exceeds 2\*\*63 - 1",
        ),
    ],
)
def test_matmul_wrong(a, w, kwargs, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        matmul(a, w, **kwargs)


# The shared checkers, directly.


def test_check_int_array_converts():
    for value in (5, [1, 2], np.array([1, 2], dtype=np.uint16), np.int8(-3), []):
        got = check_int_array("v", value)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.asarray(value))
    assert check_int_array("v", [[1]], ndim=(1, 2), bits=2).shape == (1, 1)
    np.testing.assert_array_equal(check_int_array("v", [-2, 1], bits=2), [-2, 1])
    np.testing.assert_array_equal(check_int_array("v", [-1, 0], bits=1), [-1, 0])


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (1.0, {}, r"v must be an integer array, not float64"),
        (True, {}, r"v must be an integer array, not bool"),
        ("7", {}, r"v must be an integer array, not <U1"),
        (2**64, {}, r"v must be an integer array, not object"),
        (
            np.array([0, 2**63], dtype=np.uint64),
            {},
            r"v values must fit in signed 64-bit integers "
            r"\(-9223372036854775808..9223372036854775807\); found 9223372036854775808",
        ),
        ([1, 2], dict(ndim=0), r"v must have 0 dimensions, not 1 \(shape \(2,\)\)"),
        ([1, 2], dict(ndim=(0, 2, 3)), r"v must have 0, 2 or 3 dimensions, not 1 \(shape \(2,\)\)"),
        (
            [0, -3, 5],
            dict(bits=3),
            r"v values must fit in signed 3-bit integers \(-4..3\); found 5",
        ),
        (
            [0, -5, 5],
            dict(bits=3),
            r"v values must fit in signed 3-bit integers \(-4..3\); found -5",
        ),
        ([0], dict(bits=0), r"bits must be an integer from 1 to 64, not 0"),
    ],
)
def test_check_int_array_wrong(value, kwargs, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        check_int_array("v", value, **kwargs)


def test_check_pair():
    assert check_pair("p", 2, minimum=0) == (2, 2)
    assert check_pair("p", (0, 3), minimum=0) == (0, 3)
    assert check_pair("p", [1, np.int64(2)], minimum=1) == (1, 2)
    assert all(type(v) is int for v in check_pair("p", np.int32(4), minimum=1))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, r"0"),
        (1.5, r"1.5"),
        (False, r"False"),
        ((1,), r"\(1,\)"),
        ((1, 2.0), r"\(1, 2.0\)"),
        ((True, 1), r"\(True, 1\)"),
        ("11", r"'11'"),
        (None, r"None"),
        ([0, 1], r"\[0, 1\]"),
    ],
)
def test_check_pair_wrong(value, message):
    with pytest.raises(
        ValueError, match=rf"^size must be an integer >= 1 or a pair of them, not {message}$"
    ):
        check_pair("size", value, minimum=1)
