"""Reductions over ``dim`` (an int, a tuple of ints, or None for every dim) with ``keepdim``; cumsum.

Every backward is written with differentiable minigen ops, so any reduction
can sit under a gradient penalty (second derivatives through
``grad(..., create_graph=True)``). Elements that tie for a max or min share
the gradient evenly (``max()``, ``amax``); ``max(dim)`` sends it to the one
index it returns. Both are PyTorch's conventions.
"""

import builtins
import math
import numbers
from collections import namedtuple

from .. import backend
from ..function import Function
from ..tensor import Tensor
from .elementwise import _float_operand, abs, cast, exp, maximum, minimum, sign, sqrt, where
from .shape import broadcast_to, reshape

__all__ = [
    "sum", "mean", "prod", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    "logsumexp", "norm", "cumsum", "all", "any", "count_nonzero",
]
TENSOR_METHODS = list(__all__)

# torch.return_types.max / .min: tuples that also name their fields.
_MaxResult = namedtuple("max", ["values", "indices"])
_MinResult = namedtuple("min", ["values", "indices"])


# --- dims ------------------------------------------------------------------------


def _axis(x, dim, op):
    """One ``dim`` as a non-negative axis; a 0-d tensor accepts 0 and -1, as in PyTorch."""
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
    rank = builtins.max(x.ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(
            f"{op}: dim {dim} is out of range for a tensor of {x.ndim} dimensions, shape {tuple(x.shape)} "
            f"(expected {-rank} <= dim < {rank})"
        )
    return int(dim) % rank


def _dims(x, dim, op):
    """``dim`` as a sorted tuple of axes; None and () mean every axis, as in PyTorch."""
    if dim is None:
        return tuple(range(x.ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:
        return tuple(range(x.ndim))
    axes = [_axis(x, d, op) for d in dims]
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"{op}: dim {dims} names the same dim twice for a tensor of shape {tuple(x.shape)}")
    return tuple(sorted(axes)) if x.ndim else ()


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


def _keepdim_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(grad, x, axes, keepdim):
    """Broadcast a reduced tensor back to the shape of the input ``x``."""
    if not keepdim:
        grad = reshape(grad, _keepdim_shape(x.shape, axes))
    return broadcast_to(grad, x.shape)


def _require_float(x, op):
    if x.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point tensor, got {x.dtype}; pass dtype= or call .float()")


def _integer_sum_dtype(x, dtype):
    """PyTorch sums and multiplies bool and integer tensors in int64."""
    if dtype is not None:
        return cast(x, dtype)
    return cast(x, backend.int64) if x.dtype.kind in "biu" else x


# --- sum, mean, prod -----------------------------------------------------------------


class Sum(Function):
    saved_inputs = ()

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def backward(self, grad):
        return _expand_back(grad, self.inputs[0], self.axes, self.keepdim)


def sum(input, dim=None, keepdim=False, *, dtype=None):
    input = _integer_sum_dtype(input, dtype)
    return Sum.apply(input, axes=_dims(input, dim, "sum"), keepdim=keepdim)


class Mean(Function):
    saved_inputs = ()

    def forward(self, x):
        if _count(x.shape, self.axes) == 0:
            return self.xp.full(_reduced_shape(x.shape, self.axes, self.keepdim), math.nan, x.dtype)
        return x.mean(axis=self.axes, keepdims=self.keepdim)

    def backward(self, grad):
        # an empty group has no element to receive a gradient: any finite scale will do
        count = builtins.max(_count(self.inputs[0].shape, self.axes), 1)
        return _expand_back(grad * (1.0 / count), self.inputs[0], self.axes, self.keepdim)


def _reduced_shape(shape, axes, keepdim):
    if keepdim:
        return _keepdim_shape(shape, axes)
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype)
    _require_float(input, "mean")
    return Mean.apply(input, axes=_dims(input, dim, "mean"), keepdim=keepdim)


class Prod(Function):
    saves_output = True

    def forward(self, x):
        return x.prod(axis=self.axes, keepdims=self.keepdim)

    def backward(self, grad):
        x = self.inputs[0]
        others = _product_of_others(x, self.output, self.axes, self.keepdim)
        return _expand_back(grad, x, self.axes, self.keepdim) * others


def _product_of_others(x, product, axes, keepdim):
    """For each element, the product of the other elements of its group (d prod / dx)."""
    zero = x.data == 0
    if not zero.any():
        return _expand_back(product, x, axes, keepdim) / x
    # product / x is 0/0 at a zero. Split each group into its nonzero elements, whose product
    # divides safely, and its zeros. Only groups with one or two zeros have a nonzero value or
    # first derivative here; writing those exactly makes the second derivative of prod exact.
    dtype = x.dtype
    zeros_in_group = zero.sum(axis=axes, keepdims=True)
    is_zero = Tensor(zero)
    nonzero = where(is_zero, 1.0, x)
    nonzero_product = Prod.apply(nonzero, axes=axes, keepdim=True)
    # the zeros' sum: 0 in value, but it carries the derivative with respect to each zero
    zero_sum = Sum.apply(where(is_zero, x, 0.0), axes=axes, keepdim=True)
    no_zero = Tensor((zeros_in_group == 0).astype(dtype))
    one_zero = Tensor((zeros_in_group == 1).astype(dtype))
    two_zeros = Tensor((zeros_in_group == 2).astype(dtype))
    product_of_zeros = no_zero + one_zero * zero_sum
    product_of_other_zeros = one_zero + two_zeros * (zero_sum - x)
    return where(is_zero, nonzero_product * product_of_other_zeros, nonzero_product * product_of_zeros / nonzero)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    input = _integer_sum_dtype(input, dtype)
    return Prod.apply(input, axes=_dims(input, dim, "prod"), keepdim=keepdim)


# --- var, std -------------------------------------------------------------------------


class Var(Function):
    def forward(self, x):
        xp = self.xp
        centered = x - x.mean(axis=self.axes, keepdims=True)
        squares = (centered * centered).sum(axis=self.axes, keepdims=self.keepdim)
        divisor = _count(x.shape, self.axes) - self.correction
        if divisor <= 0:
            # PyTorch divides by max(0, N - correction): 0/0 is nan, s/0 is inf (without NumPy's warning)
            return xp.where(squares > 0, math.inf, math.nan).astype(x.dtype)
        return squares / x.dtype.type(divisor)

    def backward(self, grad):
        x = self.inputs[0]
        divisor = _count(x.shape, self.axes) - self.correction
        centered = x - Mean.apply(x, axes=self.axes, keepdim=True)
        scale = 2.0 / divisor if divisor > 0 else math.inf
        return _expand_back(grad, x, self.axes, self.keepdim) * centered * scale


def _correction(unbiased, correction, op):
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: pass either unbiased= or correction=, not both")
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's ``correction`` (default 1); ``unbiased=False`` is ``correction=0``."""
    if isinstance(dim, bool):  # the old var(input, unbiased) form
        dim, unbiased = None, dim
    correction = _correction(unbiased, correction, "var")
    _require_float(input, "var")
    return Var.apply(input, axes=_dims(input, dim, "var"), keepdim=keepdim, correction=correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: the square root of ``var`` with the same arguments."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    correction = _correction(unbiased, correction, "std")
    _require_float(input, "std")
    variance = Var.apply(input, axes=_dims(input, dim, "std"), keepdim=keepdim, correction=correction)
    # A slice with no spread has std 0 and, as in PyTorch, gradient 0 (not 0 * inf = nan):
    # the square root is only differentiated where the variance is non-zero (nan stays nan).
    spread = variance != 0
    return where(spread, sqrt(where(spread, variance, 1.0)), 0.0)


# --- max, min, amax, amin, argmax, argmin -------------------------------------------------


class Amax(Function):
    saves_output = True
    largest = True

    def forward(self, x):
        reduce = self.xp.amax if self.largest else self.xp.amin
        return reduce(x, axis=self.axes, keepdims=self.keepdim)

    def backward(self, grad):
        x = self.inputs[0]
        extremum = self.output.data if self.keepdim else self.output.data.reshape(_keepdim_shape(x.shape, self.axes))
        winners = (x.data == extremum).astype(grad.dtype)
        # every element equal to the extremum gets an equal share (PyTorch's convention for ties)
        share = Tensor(winners / winners.sum(axis=self.axes, keepdims=True))
        return _expand_back(grad, x, self.axes, self.keepdim) * share


class Amin(Amax):
    largest = False


def _extremum(x, dim, keepdim, function, op):
    axes = _dims(x, dim, op)
    empty = [a for a in axes if x.shape[a] == 0]
    if empty:
        raise RuntimeError(
            f"{op}: cannot reduce over dim {empty[0]} of size 0 of a tensor of shape {tuple(x.shape)} "
            "(the extremum of no elements is undefined)"
        )
    return function.apply(x, axes=axes, keepdim=keepdim)


def amax(input, dim=(), keepdim=False):
    """The largest value over ``dim`` (() means every dim); ties share the gradient evenly."""
    return _extremum(input, dim, keepdim, Amax, "amax")


def amin(input, dim=(), keepdim=False):
    """The smallest value over ``dim`` (() means every dim); ties share the gradient evenly."""
    return _extremum(input, dim, keepdim, Amin, "amin")


class SelectAlongDim(Function):
    """The elements of ``x`` at ``indices`` along one axis; the gradient goes back to those positions.

    The indices (an argmax or argmin) are found before the node is built, so
    they come out as a plain int64 tensor outside the graph, as in PyTorch.
    """

    def forward(self, x):
        values = self.xp.take_along_axis(x, self.indices, axis=self.axis)
        return values if self.keepdim else values.squeeze(self.axis)

    def backward(self, grad):
        x = self.inputs[0]
        positions = self.xp.arange(x.shape[self.axis]).reshape([-1 if i == self.axis else 1 for i in range(x.ndim)])
        selected = Tensor(positions == self.indices)
        return where(selected, _expand_back(grad, x, (self.axis,), self.keepdim), 0.0)


def _along_dim(x, dim, keepdim, find, result, op):
    """(values, indices) of the max or min along ``dim``; ties go to the first index."""
    axis = _axis(x, dim, op)
    if x.ndim == 0:  # a 0-d tensor is its own max, at index 0
        return _along_dim(reshape(x, 1), 0, False, find, result, op)
    if x.shape[axis] == 0:
        raise RuntimeError(f"{op}: cannot reduce over dim {axis} of size 0 of a tensor of shape {tuple(x.shape)}")
    xp = backend.array_module(x.data)
    indices = getattr(xp, find)(x.data, axis=axis, keepdims=True).astype(backend.int64, copy=False)
    values = SelectAlongDim.apply(x, indices=indices, axis=axis, keepdim=keepdim)
    return result(values, Tensor(indices if keepdim else indices.squeeze(axis)))


def max(input, dim=None, keepdim=False, *, other=None):
    """``max(input)``: the largest value (ties share the gradient evenly);
    ``max(input, dim)``: the pair (values, indices); ``max(input, other)``: ``maximum``."""
    if other is not None or isinstance(dim, Tensor):
        return maximum(input, dim if other is None else other)
    if dim is None:
        return _extremum(input, None, False, Amax, "max")
    return _along_dim(input, dim, keepdim, "argmax", _MaxResult, "max")


def min(input, dim=None, keepdim=False, *, other=None):
    """``min(input)``: the smallest value (ties share the gradient evenly);
    ``min(input, dim)``: the pair (values, indices); ``min(input, other)``: ``minimum``."""
    if other is not None or isinstance(dim, Tensor):
        return minimum(input, dim if other is None else other)
    if dim is None:
        return _extremum(input, None, False, Amin, "min")
    return _along_dim(input, dim, keepdim, "argmin", _MinResult, "min")


def _arg_extremum(x, dim, keepdim, op):
    xp = backend.array_module(x.data)
    if x.data.size == 0:
        raise RuntimeError(f"{op}: cannot find the {op[3:]} of an empty tensor of shape {tuple(x.shape)}")
    find = getattr(xp, op)
    if dim is None:  # the index into the flattened tensor
        index = xp.asarray(find(x.data.reshape(-1)))
        index = index.reshape((1,) * x.ndim) if keepdim else index
    else:
        axis = _axis(x, dim, op)
        data = x.data if x.ndim else x.data.reshape(1)
        index = xp.asarray(find(data, axis=axis, keepdims=keepdim and x.ndim > 0))
    return Tensor(index.astype(backend.int64, copy=False))


def argmax(input, dim=None, keepdim=False):
    """Index of the largest value along ``dim`` (of the flattened tensor when dim is None), int64."""
    return _arg_extremum(input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest value along ``dim`` (of the flattened tensor when dim is None), int64."""
    return _arg_extremum(input, dim, keepdim, "argmin")


# --- logsumexp, norm ------------------------------------------------------------------------


class LogSumExp(Function):
    saves_output = True

    def forward(self, x):
        xp = self.xp
        peak = xp.amax(x, axis=self.axes, keepdims=True)
        # subtracting the peak keeps exp from overflowing; a slice of infinities has no finite peak
        shifted = xp.exp(x - xp.where(xp.isfinite(peak), peak, 0)).sum(axis=self.axes, keepdims=True)
        # an all -inf slice sums to 0: log(1) + peak gives its -inf without NumPy's log(0) warning
        total = xp.log(xp.where(shifted > 0, shifted, 1)) + peak
        return total if self.keepdim else total.reshape(_reduced_shape(x.shape, self.axes, False))

    def backward(self, grad):
        # d logsumexp / dx = softmax(x) = exp(x - logsumexp(x)), differentiable through the output
        x = self.inputs[0]
        softmax = exp(x - _expand_back(self.output, x, self.axes, self.keepdim))
        return _expand_back(grad, x, self.axes, self.keepdim) * softmax


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over ``dim``, in the overflow-free form."""
    input = _float_operand(input)
    return LogSumExp.apply(input, axes=_dims(input, dim, "logsumexp"), keepdim=keepdim)


class Norm(Function):
    """(sum |x|^p)^(1/p) over ``axes``; p = 2 is the Euclidean (Frobenius) norm."""
    saves_output = True

    def forward(self, x):
        if self.p == 2:
            return self.xp.sqrt((x * x).sum(axis=self.axes, keepdims=self.keepdim))
        return (self.xp.abs(x) ** self.p).sum(axis=self.axes, keepdims=self.keepdim) ** (1.0 / self.p)

    def backward(self, grad):
        # d norm / dx = sign(x) |x|^(p-1) / norm^(p-1); where the norm is 0, so is every
        # element, and the gradient is taken as 0 (PyTorch's convention) instead of 0/0.
        x, p = self.inputs[0], self.p
        norm = self.output
        safe_norm = where(Tensor(norm.data == 0), 1.0, norm)
        safe_norm = safe_norm if p == 2 else safe_norm ** (p - 1)
        scale = _expand_back(grad / safe_norm, x, self.axes, self.keepdim)
        if p == 2:
            return x * scale
        # |x|^(p-1) is infinite at x = 0 for p < 1, and its derivative for p < 2: take both as 0 there
        at_zero = Tensor(x.data == 0)
        magnitude = where(at_zero, 0.0, abs(where(at_zero, 1.0, x)) ** (p - 1))
        return sign(x) * magnitude * scale


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over ``dim`` (every dim when None): p = 'fro' or 2, 1, inf, -inf, 0 or any other number."""
    if dtype is not None:
        input = cast(input, dtype)
    _require_float(input, "norm")
    axes = _dims(input, dim, "norm")
    if isinstance(p, str) and p != "fro":
        if p == "nuc":
            raise NotImplementedError("norm: the nuclear norm (p='nuc') is not supported")
        raise ValueError(f"norm: p must be 'fro' or a number, got {p!r}")
    if p == "fro" or p == 2:
        return Norm.apply(input, axes=axes, keepdim=keepdim, p=2)
    if p == math.inf:
        return amax(abs(input), axes, keepdim)
    if p == -math.inf:
        return amin(abs(input), axes, keepdim)
    if p == 1:
        return sum(abs(input), axes, keepdim)
    if p == 0:  # the number of nonzero elements, with a zero gradient
        return sum(sign(abs(input)), axes, keepdim)
    return Norm.apply(input, axes=axes, keepdim=keepdim, p=float(p))


# --- cumsum ------------------------------------------------------------------------------


class Cumsum(Function):
    saved_inputs = ()

    def forward(self, x):
        return self.xp.cumsum(x, axis=self.axis, dtype=x.dtype)

    def backward(self, grad):
        # y_i = sum_{j <= i} x_j, so dL/dx_j = sum_{i >= j} dL/dy_i: a cumsum from the end
        return ReverseCumsum.apply(grad, axis=self.axis)


class ReverseCumsum(Function):
    """Cumulative sum from the end of the axis; its adjoint is the ordinary cumsum."""
    saved_inputs = ()

    def forward(self, x):
        xp = self.xp
        return xp.flip(xp.cumsum(xp.flip(x, self.axis), axis=self.axis, dtype=x.dtype), self.axis)

    def backward(self, grad):
        return Cumsum.apply(grad, axis=self.axis)


def cumsum(input, dim, *, dtype=None):
    input = _integer_sum_dtype(input, dtype)
    axis = _axis(input, dim, "cumsum")
    if input.ndim == 0:
        return reshape(Cumsum.apply(reshape(input, 1), axis=0), ())
    return Cumsum.apply(input, axis=axis)


# --- logical reductions (no gradient) ------------------------------------------------------


def _logical_reduction(x, dim, keepdim, op):
    xp = backend.array_module(x.data)
    axes = _dims(x, dim, op)
    return Tensor(xp.asarray(getattr(xp, op)(x.data, axis=axes, keepdims=keepdim)))


def all(input, dim=None, keepdim=False):
    """Whether every element over ``dim`` is nonzero (a bool tensor)."""
    return _logical_reduction(input, dim, keepdim, "all")


def any(input, dim=None, keepdim=False):
    """Whether some element over ``dim`` is nonzero (a bool tensor)."""
    return _logical_reduction(input, dim, keepdim, "any")


def count_nonzero(input, dim=None):
    """The number of nonzero elements over ``dim``, int64."""
    xp = backend.array_module(input.data)
    axes = _dims(input, dim, "count_nonzero")
    return Tensor(xp.asarray((input.data != 0).sum(axis=axes, dtype=backend.int64)))
