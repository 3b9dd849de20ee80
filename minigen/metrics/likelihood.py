"""Likelihood bookkeeping: a stable log-mean-exp (IWAE bounds) and nats <-> bits per dimension."""

import math

import numpy as np

from .. import backend
from ..ops.reduce import logsumexp
from ..tensor import Tensor


def log_mean_exp(values, dim, keepdim=False):
    """log( (1/K) sum_k exp(values_k) ) over ``dim`` (an int), without overflow or underflow.

        log_mean_exp(v) = m + log( (1/K) sum_k exp(v_k - m) ),   m = max_k v_k

    The importance-weighted bound of Burda et al. (2016) is
    L_K = E[ log_mean_exp_k( log p(x, z_k) - log q(z_k | x) ) ] with z_k ~ q(z | x).

    On a Tensor it is ``logsumexp(values, dim) - log K``, differentiable to any order
    (the gradient is softmax(values) along ``dim``); on a NumPy/CuPy array it returns an
    array. A slice that is all -inf gives -inf.
    """
    if isinstance(values, Tensor):
        count = values.shape[dim]
        return logsumexp(values, dim, keepdim=keepdim) - math.log(count)
    xp = backend.array_module(values)
    values = xp.asarray(values)
    largest = values.max(axis=dim, keepdims=True)
    # An all -inf slice has max -inf, and -inf - (-inf) is nan: shift such slices by 0 instead.
    shift = xp.where(xp.isfinite(largest), largest, 0.0).astype(values.dtype)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for an all -inf slice
        result = shift + xp.log(xp.exp(values - shift).mean(axis=dim, keepdims=True))
    return result if keepdim else result.squeeze(axis=dim)


def nats_to_bits_per_dim(nll_nats, num_dims):
    """A negative log-likelihood per example in nats -> bits per dimension.

        bits/dim = NLL_nats / (D ln 2)

    (1 nat = 1 / ln 2 bits.) For images the NLL must be that of the discrete data:
    a density over pixels rescaled from {0, ..., 255} to [0, 1] (with uniform
    dequantisation) gives NLL_discrete = NLL_continuous + D ln 256, the change of
    variables of the rescaling; add it before converting. Works on numbers, arrays
    and Tensors.
    """
    return nll_nats / (num_dims * math.log(2.0))


def bits_per_dim_to_nats(bits_per_dim, num_dims):
    """Bits per dimension -> a negative log-likelihood per example in nats: NLL_nats = bits/dim * D ln 2."""
    return bits_per_dim * (num_dims * math.log(2.0))
