"""Reductions over ``dim`` (an int, a tuple of ints or None) with ``keepdim``."""

from ..function import Function
from ..tensor import _normalize_dim
from .shape import broadcast_to, reshape

__all__ = ["sum", "mean"]
TENSOR_METHODS = ["sum", "mean"]


def _dims(x, dim, op):
    """Normalise ``dim`` to a sorted tuple of non-negative axes (None = all)."""
    if dim is None:
        return tuple(range(x.ndim))
    if isinstance(dim, int):
        dim = (dim,)
    axes = tuple(sorted({_normalize_dim(d, x.ndim, op) for d in dim}))
    if x.ndim == 0:
        return ()
    return axes


def _keepdim_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(grad, x, axes, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        grad = reshape(grad, _keepdim_shape(x.shape, axes))
    return broadcast_to(grad, x.shape)


class Sum(Function):
    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def backward(self, grad):
        return _expand_back(grad, self.inputs[0], self.axes, self.keepdim)


def sum(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.kind in "bu" or x.dtype.kind == "i":
        x = x.to("int64")
    return Sum.apply(x, axes=_dims(x, dim, "sum"), keepdim=keepdim)


def mean(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind != "f":
        raise RuntimeError(f"mean: expected a floating-point tensor, got {x.dtype}; pass dtype= or call .float()")
    axes = _dims(x, dim, "mean")
    count = 1
    for a in axes:
        count *= x.shape[a]
    return sum(x, dim=axes, keepdim=keepdim) * (1.0 / count if count else float("nan"))
