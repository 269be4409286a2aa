"""golden.relu / golden.requantize against Python-int references, properties and error rules."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sysconv.golden import relu, requantize

SETTINGS = settings(max_examples=50, deadline=None)


def naive_requantize(acc, multiplier, shift, bits):
    """One element with Python ints, whose ``>>`` is the arithmetic (floor) shift."""
    v = acc * multiplier
    if shift > 0:
        v = (v + (1 << (shift - 1))) >> shift
    return min(max(v, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)


ACC = st.integers(-(2**31), 2**31 - 1)
MULTIPLIER = st.integers(0, 2**31 - 1)
SHIFT = st.integers(0, 62)
BITS = st.integers(2, 32)


@SETTINGS
@given(ACC, MULTIPLIER, SHIFT, BITS)
def test_requantize_matches_python_ints(acc, multiplier, shift, bits):
    got = requantize(acc, multiplier, shift, bits)
    assert got.dtype == np.int64 and got.shape == ()
    assert int(got) == naive_requantize(acc, multiplier, shift, bits)


@SETTINGS
@given(ACC, MULTIPLIER, st.integers(1, 62))
def test_requantize_rounds_half_up(acc, multiplier, shift):
    # The documented meaning: floor(x + 1/2) for the exact rational x, before saturation.
    exact = Fraction(acc * multiplier, 2**shift)
    assert int(requantize(acc, multiplier, shift, 32)) == max(
        min(math.floor(exact + Fraction(1, 2)), 2**31 - 1), -(2**31)
    )


@pytest.mark.parametrize(
    ("acc", "multiplier", "shift", "expected"),
    [
        (-3, 1, 1, -1),  # (-3 + 1) >> 1: -1.5 rounds up to -1
        (3, 1, 1, 2),  # 1.5 -> 2
        (-5, 1, 1, -2),  # -2.5 -> -2 (half up, not half away from zero)
        (5, 1, 1, 3),
        (-1, 1, 1, 0),  # -0.5 -> 0
        (-1, 1, 2, 0),  # -0.25 -> 0
        (-3, 1, 2, -1),  # -0.75 -> -1
        (-6, 1, 2, -1),  # -1.5 -> -1
        (-7, 1, 2, -2),  # -1.75 -> -2
        (7, 3, 2, 5),  # 21 / 4 = 5.25 -> 5
        (1000, 1 << 30, 40, 1),  # 1000 / 1024 -> 1
        (-1000, 1 << 30, 40, -1),
    ],
)
def test_requantize_rounding(acc, multiplier, shift, expected):
    assert int(requantize(acc, multiplier, shift)) == expected


@pytest.mark.parametrize(
    ("acc", "multiplier", "expected"),
    [
        (5, 3, 15),
        (-5, 3, -15),
        (100, 2, 127),
        (-100, 2, -128),
        (-7, 0, 0),
        (127, 1, 127),
        (-128, 1, -128),
    ],
)
def test_requantize_shift_0_has_no_rounding_term(acc, multiplier, expected):
    assert int(requantize(acc, multiplier, 0)) == expected


@pytest.mark.parametrize("bits", [2, 4, 8, 16, 32])
def test_requantize_saturates_at_both_ends(bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    acc = np.array([hi, hi + 1, 2**40, lo, lo - 1, -(2**40), 0], dtype=np.int64)
    np.testing.assert_array_equal(requantize(acc, 1, 0, bits), [hi, hi, hi, lo, lo, lo, 0])
    # Saturation comes after rounding: 2*hi + 1 over 2 rounds to hi + 1 and 2*lo - 2 to lo - 1,
    # which saturate.
    assert int(requantize(2 * hi + 1, 1, 1, bits)) == hi
    assert int(requantize(2 * lo - 2, 1, 1, bits)) == lo


def test_requantize_per_channel():
    rng = np.random.default_rng(1)
    acc = rng.integers(-(2**20), 2**20, size=(2, 3, 4, 5), dtype=np.int64)
    multiplier = np.array([3, 1 << 20, 12345], dtype=np.int64).reshape(3, 1, 1)
    shift = np.array([0, 20, 17], dtype=np.int64).reshape(3, 1, 1)
    got = requantize(acc, multiplier, shift, 16)
    assert got.shape == acc.shape and got.dtype == np.int64
    for index in np.ndindex(acc.shape):
        c = index[1]
        assert int(got[index]) == naive_requantize(
            int(acc[index]), int(multiplier[c, 0, 0]), int(shift[c, 0, 0]), 16
        ), index
    # Per channel of an (N, C) accumulator: shape (C,) broadcasts; a scalar shift is shared.
    acc2 = acc[:, :, 0, 0]
    expected = [
        [
            naive_requantize(int(a), int(m), 17, 16)
            for a, m in zip(row, multiplier[:, 0, 0], strict=True)
        ]
        for row in acc2
    ]
    np.testing.assert_array_equal(requantize(acc2, multiplier[:, 0, 0], 17, 16), expected)


@SETTINGS
@given(hnp.arrays(np.int32, hnp.array_shapes(min_dims=3, max_dims=3, max_side=4)), st.data())
def test_requantize_per_channel_arrays_match_scalars(acc, data):
    c = acc.shape[0]
    multiplier = data.draw(hnp.arrays(np.int64, (c, 1, 1), elements=MULTIPLIER))
    shift = data.draw(hnp.arrays(np.int64, (c, 1, 1), elements=SHIFT))
    got = requantize(acc, multiplier, shift)
    for ch in range(c):
        np.testing.assert_array_equal(
            got[ch], requantize(acc[ch], int(multiplier[ch, 0, 0]), int(shift[ch, 0, 0]))
        )


def test_requantize_accepts_extremes():
    # The int64 headroom rule is exact: |acc * multiplier| == 2**62 is still allowed.
    assert int(requantize(2**62, 1, 62, 32)) == 1
    assert int(requantize(-(2**62), 1, 62, 32)) == -1
    assert int(requantize(-(2**31), 2**31 - 1, 0, 32)) == -(2**31)
    assert int(requantize(np.iinfo(np.int64).min, 0, 5)) == 0
    big = np.array([2**32, -(2**32), 7], dtype=np.int64)
    np.testing.assert_array_equal(requantize(big, [2**30, 2**30, 2**31 - 1], 62, 8), [1, -1, 0])


@SETTINGS
@given(
    hnp.arrays(
        st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8]),
        hnp.array_shapes(min_dims=0, max_dims=4, max_side=4),
    )
)
def test_relu(x):
    y = relu(x)
    assert y.dtype == np.int64 and y.shape == x.shape
    expected = np.array([max(int(v), 0) for v in x.flat], dtype=np.int64).reshape(x.shape)
    np.testing.assert_array_equal(y, expected, strict=True)
    assert (y >= 0).all()


def test_relu_examples():
    np.testing.assert_array_equal(relu([-128, -1, 0, 1, 127]), [0, 0, 0, 1, 127])
    assert int(relu(-5)) == 0


# Error rules: each message exactly.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.0, 1, 0), r"acc must be an integer array, not float64"),
        ((np.zeros(2, dtype=bool), 1, 0), r"acc must be an integer array, not bool"),
        ((1, 0.5, 0), r"multiplier must be an integer array, not float64"),
        ((1, 1, 1.0), r"shift must be an integer array, not float64"),
        (
            (1, -1, 0),
            r"multiplier values must fit in non-negative signed 32-bit integers \(0..2147483647\); "
            r"found -1",
        ),
        (
            (1, 2**31, 0),
            r"multiplier values must fit in non-negative signed 32-bit integers \(0..2147483647\); "
            r"found 2147483648",
        ),
        ((1, 1, -1), r"shift values must be valid shift amounts \(0..62\); found -1"),
        ((1, 1, [3, 63]), r"shift values must be valid shift amounts \(0..62\); found 63"),
        ((1, 1, 0, 1), r"bits must be an integer from 2 to 32, not 1"),
        ((1, 1, 0, 33), r"bits must be an integer from 2 to 32, not 33"),
        ((1, 1, 0, 8.0), r"bits must be an integer from 2 to 32, not 8.0"),
        ((1, 1, 0, True), r"bits must be an integer from 2 to 32, not True"),
        (
            (np.zeros((3, 2, 2), dtype=int), [1, 2, 3], 0),
            r"multiplier shape \(3,\) does not broadcast to acc shape \(3, 2, 2\)",
        ),
        (
            (np.zeros((3, 2, 2), dtype=int), 1, np.zeros((2, 3, 2, 2), dtype=int)),
            r"shift shape \(2, 3, 2, 2\) does not broadcast to acc shape \(3, 2, 2\)",
        ),
        ((5, [1, 2], 0), r"multiplier shape \(2,\) does not broadcast to acc shape \(\)"),
        (
            (2**62 + 1, 1, 62),
            r"\|acc \* multiplier\| must not exceed 2\*\*62; "
            r"found acc=4611686018427387905 with multiplier=1",
        ),
        (
            (np.array([2**31, -(2**31) - 2]), 2**31 - 1, 40),
            r"\|acc \* multiplier\| must not exceed 2\*\*62; "
            r"found acc=-2147483650 with multiplier=2147483647",
        ),
        (
            (np.array([[2**40], [2**40]]), np.array([[1], [2**30]]), 0),
            r"\|acc \* multiplier\| must not exceed 2\*\*62; found acc=1099511627776 with "
            r"multiplier=1073741824",
        ),
    ],
)
def test_requantize_wrong(args, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        requantize(*args)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (1.5, r"x must be an integer array, not float64"),
        (np.zeros(3, dtype=bool), r"x must be an integer array, not bool"),
        (np.array([1, None]), r"x must be an integer array, not object"),
    ],
)
def test_relu_wrong(x, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        relu(x)
