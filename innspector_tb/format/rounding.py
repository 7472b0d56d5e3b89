"""Rounding float32 arrays to fewer mantissa bits, so that they compress to about half their size.

A float32 has 23 explicit mantissa bits. Keeping N of them, rounded to nearest with ties to even on
the bit pattern, leaves the low 23 - N bits zero: after byte shuffling those bytes are long runs of
zeros that any codec removes. The error bound, for a finite x and its rounded value r:

    |r - x| <= 2**-(N + 1) * max(|x|, 2**-126)

that is a relative error of at most 2**-(N + 1) (4.9e-4 for N = 10, the default) for normal numbers,
and an absolute error of at most 2**-(N + 1) * 2**-126 for subnormals (|x| < 1.2e-38), whose
mantissa has fewer significant bits. NaN, +-Inf and +-0 are kept as they are (NaN payloads
included); a finite value never becomes Inf: one that would round past the largest finite float32
is clamped to the largest float32 with N mantissa bits, which keeps the bound. Rounding is
idempotent: a rounded array rounds to itself. float16 arrays (10 mantissa bits already) pass
through unchanged.

Pure numpy; every operation releases the GIL on large arrays.
"""

import numpy as np

FLOAT32_MANTISSA_BITS = 23
DEFAULT_MANTISSA_BITS = 10

_SIGN = np.uint32(0x80000000)
_EXPONENT = np.uint32(0x7F800000)


def relative_error_bound(bits):
    """The largest relative error of rounding a normal float32 to `bits` mantissa bits: 2**-(bits + 1).

    Part of the format, not only of the tests: a reader comparing stored values with others reads the
    step file's `mantissa_bits` attribute and gets its tolerance here (docs/format.md, "Precision")."""
    return 2.0 ** -(int(bits) + 1)


def round_mantissa(array, bits=DEFAULT_MANTISSA_BITS):
    """Returns `array` (float32) rounded to `bits` mantissa bits; float16 is returned unchanged.

    The input is never modified. Raises TypeError for other dtypes and ValueError for bits
    outside 0..23.
    """
    array = np.asarray(array)
    bits = int(bits)
    if not 0 <= bits <= FLOAT32_MANTISSA_BITS:
        raise ValueError("mantissa bits must be in 0..%d, got %d" % (FLOAT32_MANTISSA_BITS, bits))
    if array.dtype == np.float16:
        return array
    if array.dtype != np.float32:
        raise TypeError("only float32 (rounded) and float16 (unchanged) arrays, got %s" % array.dtype)
    drop = FLOAT32_MANTISSA_BITS - bits
    if drop == 0:
        return array.copy()
    pattern = np.ascontiguousarray(array).view(np.uint32)
    # Round half to even on the bit pattern: add half an ulp (less one, plus the lowest kept bit, so
    # that an exact tie goes to the even neighbour), then clear the dropped bits. A carry out of the
    # mantissa raises the exponent, which is the right result; a finite value never carries into the
    # sign bit (the largest finite pattern plus half an ulp is Inf, clamped below).
    out = pattern >> np.uint32(drop)
    out &= np.uint32(1)
    out += np.uint32((1 << (drop - 1)) - 1)
    out += pattern
    out &= np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    # NaN and Inf inputs are restored (a NaN's payload may have rounded to Inf, or wrapped around);
    # a finite value that rounded up to Inf is clamped. Most arrays have neither: cheap checks.
    was_special = (pattern & _EXPONENT) == _EXPONENT
    if was_special.any():
        out[was_special] = pattern[was_special]
    overflow = (out & _EXPONENT) == _EXPONENT
    overflow &= ~was_special
    if overflow.any():
        largest = np.uint32((0x7F7FFFFF >> drop) << drop)
        out[overflow] = (pattern[overflow] & _SIGN) | largest
    return out.view(np.float32).reshape(array.shape)
