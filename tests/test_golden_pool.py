"""golden.maxpool2d against nested loops, properties and error rules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sysconv.golden import maxpool2d
from sysconv.golden._check import check_pair

SETTINGS = settings(max_examples=50, deadline=None)


def naive_maxpool2d(x, size, stride, padding):
    """Nested loops over Python ints; out-of-range taps are skipped (PyTorch's -inf padding)."""
    (n, c, h, w), (k_h, k_w), (s_h, s_w), (p_h, p_w) = x.shape, size, stride, padding
    h_out, w_out = (h + 2 * p_h - k_h) // s_h + 1, (w + 2 * p_w - k_w) // s_w + 1
    y = np.zeros((n, c, h_out, w_out), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for r in range(h_out):
                for q in range(w_out):
                    taps = [
                        int(x[b, ch, row, col])
                        for row in range(r * s_h - p_h, r * s_h - p_h + k_h)
                        for col in range(q * s_w - p_w, q * s_w - p_w + k_w)
                        if 0 <= row < h and 0 <= col < w
                    ]
                    y[b, ch, r, q] = max(taps)
    return y


@pytest.mark.parametrize("batch", [None, 1, 2])
@pytest.mark.parametrize(
    ("size", "stride", "padding"),
    [
        (2, None, 0),
        (2, 1, 0),
        (2, 2, 1),
        (3, 2, 0),
        (3, 2, 1),
        (3, 1, 1),
        (1, 1, 0),
        (1, 2, 0),
        ((2, 3), None, 0),
        ((3, 2), (1, 2), (1, 0)),
        (4, 3, 2),
        (5, 2, 2),
    ],
)
@pytest.mark.parametrize(("channels", "h", "w"), [(1, 5, 5), (3, 6, 7), (2, 8, 4)])
def test_maxpool2d_matches_loops(batch, size, stride, padding, channels, h, w):
    rng = np.random.default_rng([channels, h, w, 0 if batch is None else batch])
    x = rng.integers(-128, 128, size=(batch or 1, channels, h, w), dtype=np.int64)
    size2 = check_pair("size", size, minimum=1)
    stride2 = size2 if stride is None else check_pair("stride", stride, minimum=1)
    expected = naive_maxpool2d(x, size2, stride2, check_pair("padding", padding, minimum=0))
    got = maxpool2d(x if batch else x[0], size, stride, padding)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected if batch else expected[0])


def test_maxpool2d_worked_example():
    x = np.array([[[1, 5, -3, 0], [2, -7, 4, 9], [-8, 6, 3, 3], [0, 0, -1, 2]]], dtype=np.int8)
    np.testing.assert_array_equal(maxpool2d(x, 2), [[[5, 9], [6, 3]]])
    np.testing.assert_array_equal(maxpool2d(x, 3, 1), [[[6, 9], [6, 9]]])
    np.testing.assert_array_equal(maxpool2d(x, 2, padding=1), [[[1, 5, 0], [2, 6, 9], [0, 0, 2]]])


@st.composite
def pool_cases(draw):
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s_h, s_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    p_h, p_w = draw(st.integers(0, k_h // 2)), draw(st.integers(0, k_w // 2))
    h, w = draw(st.integers(max(1, k_h - 2 * p_h), 9)), draw(st.integers(max(1, k_w - 2 * p_w), 9))
    shape = draw(st.sampled_from([(2, h, w), (2, 1, h, w)]))
    x = draw(hnp.arrays(np.int8, shape, elements=st.integers(-128, 127)))
    return x, (k_h, k_w), (s_h, s_w), (p_h, p_w)


@SETTINGS
@given(pool_cases())
def test_maxpool2d_bounded_by_input(case):
    x, size, stride, padding = case
    y = maxpool2d(x, size, stride, padding)
    # Padding never wins: every output is a real input value, so within the input's range.
    assert int(x.min()) <= int(y.min()) and int(y.max()) <= int(x.max())
    assert np.isin(y, x).all()


@SETTINGS
@given(pool_cases())
def test_maxpool2d_matches_loops_everywhere(case):
    x, size, stride, padding = case
    expected = naive_maxpool2d(x.reshape((-1,) + x.shape[-3:]), size, stride, padding)
    if x.ndim == 3:
        expected = expected[0]
    np.testing.assert_array_equal(maxpool2d(x, size, stride, padding), expected)


@SETTINGS
@given(hnp.arrays(np.int16, hnp.array_shapes(min_dims=3, max_dims=4, max_side=6)))
def test_maxpool2d_size_1_stride_1_is_identity(x):
    y = maxpool2d(x, 1, 1)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, x)


@SETTINGS
@given(pool_cases(), st.integers(-(2**63), 2**63 - 1))
def test_maxpool2d_of_constant_is_constant(case, value):
    x, size, stride, padding = case
    x = np.full(x.shape, value, dtype=np.int64)
    y = maxpool2d(x, size, stride, padding)
    np.testing.assert_array_equal(y, np.full(y.shape, value))


@pytest.mark.parametrize(("size", "padding"), [(2, 1), (3, 1), (5, 2), ((3, 2), (1, 1))])
def test_maxpool2d_padding_never_wins(size, padding):
    # Zero padding would turn the border into 0 here.
    x = np.full((2, 6, 6), -128, dtype=np.int8)
    y = maxpool2d(x, size, 1, padding)
    np.testing.assert_array_equal(y, np.full(y.shape, -128))


@pytest.mark.parametrize(
    ("h", "w", "size", "stride", "shape"),
    [
        (5, 5, 2, None, (2, 2)),
        (5, 7, 2, None, (2, 3)),
        (7, 7, 3, 2, (3, 3)),
        (6, 6, 3, 2, (2, 2)),
        (5, 4, (2, 3), (2, 3), (2, 1)),
    ],
)
def test_maxpool2d_floors_output_size(h, w, size, stride, shape):
    rng = np.random.default_rng(h * w)
    x = rng.integers(-128, 128, size=(3, h, w), dtype=np.int8)
    y = maxpool2d(x, size, stride)
    assert y.shape == (3,) + shape
    # Trailing rows and columns no full window reaches do not matter.
    x2 = x.copy()
    k_h, k_w = check_pair("size", size, minimum=1)
    s_h, s_w = check_pair("stride", size if stride is None else stride, minimum=1)
    x2[:, (shape[0] - 1) * s_h + k_h :, :] = 127
    x2[:, :, (shape[1] - 1) * s_w + k_w :] = 127
    np.testing.assert_array_equal(maxpool2d(x2, size, stride), y)


def test_maxpool2d_overlapping_windows():
    # 3x3 windows, stride 2: each interior row/column belongs to two windows.
    x = np.zeros((1, 5, 5), dtype=np.int8)
    x[0, 2, 2] = 9
    x[0, 0, 4] = 4
    x[0, 4, 0] = -1
    np.testing.assert_array_equal(maxpool2d(x, 3, 2), [[[9, 9], [9, 9]]])
    x[0, 2, 2] = -5
    np.testing.assert_array_equal(maxpool2d(x, 3, 2), [[[0, 4], [0, 0]]])


# Error rules: each message exactly.

X = np.zeros((2, 4, 4), dtype=np.int8)


@pytest.mark.parametrize(
    ("x", "size", "stride", "padding", "message"),
    [
        (X.astype(np.float32), 2, None, 0, r"x must be an integer array, not float32"),
        (X.astype(bool), 2, None, 0, r"x must be an integer array, not bool"),
        (X[0], 2, None, 0, r"x must have 3 or 4 dimensions, not 2 \(shape \(4, 4\)\)"),
        (X, 0, None, 0, r"size must be an integer >= 1 or a pair of them, not 0"),
        (X, 2.0, None, 0, r"size must be an integer >= 1 or a pair of them, not 2.0"),
        (X, 2, 0, 0, r"stride must be an integer >= 1 or a pair of them, not 0"),
        (X, 2, (2, 0), 0, r"stride must be an integer >= 1 or a pair of them, not \(2, 0\)"),
        (X, 2, None, -1, r"padding must be an integer >= 0 or a pair of them, not -1"),
        (X, 2, None, 2, r"padding must be at most half the window size, \(1, 1\), not \(2, 2\)"),
        (
            X,
            3,
            None,
            (0, 2),
            r"padding must be at most half the window size, \(1, 1\), not \(0, 2\)",
        ),
        (X, 1, None, 1, r"padding must be at most half the window size, \(0, 0\), not \(1, 1\)"),
        (X, 5, None, 0, r"size \(the pool window\) must be at most the padded input 4x4, not 5x5"),
        (
            X,
            (2, 7),
            None,
            (1, 1),
            r"size \(the pool window\) must be at most the padded input 6x6, not 2x7",
        ),
    ],
)
def test_maxpool2d_wrong(x, size, stride, padding, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        maxpool2d(x, size, stride, padding)
