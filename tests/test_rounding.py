"""Rounding float32 to fewer mantissa bits (innspector_tb.format.rounding): the stated bound, the special values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from innspector_tb.format import rounding

SMALLEST_NORMAL = np.float32(2.0**-126)
LARGEST = np.finfo(np.float32).max

finite_floats = st.floats(width=32, allow_nan=False, allow_infinity=False)
any_floats = st.floats(width=32, allow_nan=True, allow_infinity=True)
mantissa_bits = st.integers(min_value=0, max_value=23)


def bits_of(array):
    return np.asarray(array, np.float32).view(np.uint32)


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float32, st.integers(0, 64), elements=finite_floats), mantissa_bits)
def test_the_error_bound_holds_for_finite_floats(values, bits):
    rounded = rounding.round_mantissa(values, bits)
    assert rounded.dtype == np.float32 and rounded.shape == values.shape
    assert np.isfinite(rounded).all()  # never Inf, even next to the largest float32
    x = values.astype(np.float64)
    error = np.abs(rounded.astype(np.float64) - x)
    scale = np.maximum(np.abs(x), float(SMALLEST_NORMAL))
    assert (error <= rounding.relative_error_bound(bits) * scale).all()
    # The dropped bits are zero, and the sign is kept (a value near zero may round to a signed zero).
    assert not (bits_of(rounded) & np.uint32((1 << (23 - bits)) - 1)).any()
    assert (np.signbit(rounded) == np.signbit(values)).all()


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float32, st.integers(0, 64), elements=any_floats), mantissa_bits)
def test_rounding_is_idempotent_and_keeps_special_values(values, bits):
    rounded = rounding.round_mantissa(values, bits)
    np.testing.assert_array_equal(bits_of(rounding.round_mantissa(rounded, bits)), bits_of(rounded))
    special = ~np.isfinite(values)
    np.testing.assert_array_equal(bits_of(rounded)[special], bits_of(values)[special])  # NaN payloads too


def test_default_is_10_bits_with_relative_error_under_4_9e_4():
    assert rounding.DEFAULT_MANTISSA_BITS == 10
    assert rounding.relative_error_bound(10) == 2.0**-11 < 4.9e-4
    x = np.random.default_rng(0).lognormal(0, 5, 100_000).astype(np.float32)
    relative = np.abs(rounding.round_mantissa(x).astype(np.float64) / x - 1)
    assert relative.max() <= 2.0**-11 and relative.max() > 2.0**-12  # the bound is tight


def test_ties_go_to_even():
    one_ulp = 2.0**-10  # at 1.0 with 10 mantissa bits
    x = np.array([1 + one_ulp / 2, 1 + 3 * one_ulp / 2, -(1 + one_ulp / 2), 1 + one_ulp / 2 + 2**-23], np.float32)
    np.testing.assert_array_equal(rounding.round_mantissa(x, 10), [1.0, 1 + 2 * one_ulp, -1.0, 1 + one_ulp])


def test_nan_inf_zeros_and_subnormals():
    negative_nan = np.array([0xFFFFFFFF, 0xFFC00001, 0x7F800001], np.uint32).view(np.float32)  # would wrap or carry
    x = np.concatenate([negative_nan, np.array([np.inf, -np.inf, 0.0, -0.0], np.float32)])
    np.testing.assert_array_equal(bits_of(rounding.round_mantissa(x)), bits_of(x))
    # The largest float32 does not become Inf: it is clamped to the largest value with 10 bits.
    top = rounding.round_mantissa(np.array([LARGEST, -LARGEST], np.float32))
    assert np.isfinite(top).all() and top[0] == -top[1] == np.float32((2 - 2.0**-10) * 2.0**127)
    # Subnormals keep an absolute error of at most 2**-11 * 2**-126; the smallest rounds to zero,
    # the largest rounds up to the smallest normal.
    tiny = np.array([1e-45, 1.1e-38, 1.17549e-38, -3e-40], np.float32)
    rounded = rounding.round_mantissa(tiny)
    assert (np.abs(rounded.astype(np.float64) - tiny) <= 2.0**-11 * 2.0**-126).all()
    assert rounded[0] == 0 and rounded[2] == SMALLEST_NORMAL and np.signbit(rounded[3])


def test_float16_passes_through_other_dtypes_are_refused_and_the_input_is_kept():
    half = np.array([1.0009766, 3.14], np.float16)
    assert rounding.round_mantissa(half) is half
    x = np.array([[1.2345678, 2.3456789]], np.float32)
    before = x.copy()
    rounded = rounding.round_mantissa(x[:, ::-1])  # a non-contiguous view
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(rounded, x[:, ::-1], rtol=2.0**-11)
    np.testing.assert_array_equal(rounding.round_mantissa(x, 23), x)
    with pytest.raises(TypeError, match="float32"):
        rounding.round_mantissa(np.ones(3, np.float64))
    with pytest.raises(TypeError, match="float32"):
        rounding.round_mantissa(np.ones(3, np.int32))
    with pytest.raises(ValueError, match="0..23"):
        rounding.round_mantissa(x, 24)
