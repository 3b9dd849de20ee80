"""Special functions on raw arrays that NumPy lacks (used by forward passes)."""

import numpy as np

from .. import backend

# W. J. Cody, "Rational Chebyshev approximations for the error function",
# Math. Comp. 23 (1969) 631-638, as in his SPECFUN routine CALERF: three
# near-minimax rational approximations good to about 18 significant digits.
# Coefficients are listed from the highest power down, ready for Horner's rule;
# each denominator is scaled to be monic.

# erf(x) = x P(x^2) / Q(x^2) for |x| <= 0.46875
_SMALL_LIMIT = 0.46875
_SMALL_NUMERATOR = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
                    3.77485237685302021e02, 3.20937758913846947e03)
_SMALL_DENOMINATOR = (1.0, 2.36012909523441209e01, 2.44024637934444173e02,
                      1.28261652607737228e03, 2.84423683343917062e03)

# erfc(x) = exp(-x^2) P(x) / Q(x) for 0.46875 < x <= 4
_MIDDLE_LIMIT = 4.0
_MIDDLE_NUMERATOR = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
                     6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
                     1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_MIDDLE_DENOMINATOR = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
                       1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
                       3.43936767414372164e03, 1.23033935480374942e03)

# erfc(x) = exp(-x^2) / x (1/sqrt(pi) - z P(z) / Q(z)), z = 1/x^2, for x > 4
_LARGE_NUMERATOR = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
                    1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_LARGE_DENOMINATOR = (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
                      6.05183413124413191e-2, 2.33520497626869185e-3)
_INVERSE_SQRT_PI = 0.56418958354775628695
# erfc(x) < 1e-300 beyond this, so erf(x) rounds to 1; clipping keeps every range finite.
_CLIP = 27.0
# Elements per pass: the temporaries of one chunk stay in cache across the ~40 passes.
_CHUNK = 65536


def _rational(z, numerator, denominator):
    """numerator(z) / denominator(z) by Horner's rule (denominator monic), in place."""
    top = z * numerator[0]
    top += numerator[1]
    bottom = z + denominator[1]
    for a, b in zip(numerator[2:], denominator[2:]):
        top *= z
        top += a
        bottom *= z
        bottom += b
    top /= bottom
    return top


def _erf_float64(x):
    """erf of a float64 array, to about 1e-16 absolute over the whole real line.

    Branch-free: each range is evaluated on every element and the right one is
    kept, which beats gathering each range (boolean indexing mispredicts and
    allocates). The third range runs only when some |x| > 4, which is rare in
    activations. NaN propagates through np.minimum and fails every range test.
    """
    clipped = np.minimum(np.abs(x), _CLIP)

    small = np.minimum(clipped, _SMALL_LIMIT)
    erf_small = _rational(small * small, _SMALL_NUMERATOR, _SMALL_DENOMINATOR)
    erf_small *= small

    erfc = _rational(np.minimum(clipped, _MIDDLE_LIMIT), _MIDDLE_NUMERATOR, _MIDDLE_DENOMINATOR)
    if not clipped.max(initial=0.0) <= _MIDDLE_LIMIT:  # written so that a NaN maximum also goes in
        erfc = np.where(clipped <= _MIDDLE_LIMIT, erfc, _erfc_large_scaled(clipped))
    erfc *= np.exp(-(clipped * clipped))

    np.subtract(1.0, erfc, out=erfc)
    result = np.where(clipped <= _SMALL_LIMIT, erf_small, erfc)
    return np.copysign(result, x, out=result)


def _erfc_large_scaled(clipped):
    """exp(x^2) erfc(x) by the third approximation, with x raised to at least 4 where it is not."""
    large = np.maximum(clipped, _MIDDLE_LIMIT)
    inverse_square = np.reciprocal(large * large)
    scaled = _rational(inverse_square, _LARGE_NUMERATOR, _LARGE_DENOMINATOR)
    scaled *= inverse_square
    np.subtract(_INVERSE_SQRT_PI, scaled, out=scaled)
    scaled /= large
    return scaled


def erf_array(x):
    """The error function, elementwise, in the dtype of ``x`` (computed in float64 on the CPU)."""
    if backend.array_module(x) is not np:
        from cupyx.scipy.special import erf

        return erf(x)
    flat = x.reshape(-1)
    result = np.empty(flat.shape, x.dtype)
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start:start + _CHUNK].astype(np.float64, copy=False)
        result[start:start + _CHUNK] = _erf_float64(chunk)
    return result.reshape(x.shape)
