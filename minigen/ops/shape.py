"""Shape ops: views, broadcasting, joining, padding and indexing.

Every backward here is itself built from shape ops, so these are
differentiable to any order.
"""

import numpy as np

from ..function import Function
from ..tensor import Tensor, _normalize_dim

__all__ = [
    "reshape", "view", "broadcast_to", "expand", "sum_to", "permute", "transpose", "swapaxes",
]
TENSOR_METHODS = [
    "reshape", "view", "view_as", "expand", "expand_as", "broadcast_to", "sum_to_size",
    "permute", "transpose", "swapaxes", "T", "mT",
]


def _shape_argument(shape):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike, as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class Reshape(Function):
    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, grad):
        return reshape(grad, self.inputs[0].shape)


def reshape(x, *shape):
    shape = _shape_argument(shape)
    size = 1
    unknown = [i for i, s in enumerate(shape) if s == -1]
    for s in shape:
        if s != -1:
            size *= s
    if len(unknown) > 1 or (not unknown and size != x.data.size) or (
        unknown and (size == 0 or x.data.size % size)
    ):
        raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape {tuple(x.shape)} ({x.data.size} elements)")
    if unknown:
        shape = shape[: unknown[0]] + (x.data.size // size,) + shape[unknown[0] + 1 :]
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape)


def view(x, *shape):
    return reshape(x, *shape)


def view_as(x, other):
    return reshape(x, other.shape)


class BroadcastTo(Function):
    def forward(self, x):
        return self.xp.broadcast_to(x, self.shape)

    def backward(self, grad):
        return sum_to(grad, self.inputs[0].shape)


class SumTo(Function):
    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1
        )
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, grad):
        return broadcast_to(grad, self.inputs[0].shape)


def broadcast_to(x, *shape):
    shape = _shape_argument(shape)
    if shape == x.shape:
        return x
    try:
        target = np.broadcast_shapes(x.shape, shape)
    except ValueError:
        target = None
    if target != shape:
        raise RuntimeError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to {shape}")
    return BroadcastTo.apply(x, shape=shape)


def expand(x, *sizes):
    sizes = _shape_argument(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: cannot expand shape {tuple(x.shape)} to fewer dims {sizes}")
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def expand_as(x, other):
    return broadcast_to(x, other.shape)


def sum_to(x, shape):
    """Sum a broadcast gradient back down to ``shape`` (the inverse of broadcasting)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo.apply(x, shape=shape)


def sum_to_size(x, *size):
    return sum_to(x, _shape_argument(size))


class Permute(Function):
    def forward(self, x):
        return x.transpose(self.dims)

    def backward(self, grad):
        return permute(grad, tuple(np.argsort(self.dims)))


def permute(x, *dims):
    dims = _shape_argument(dims)
    if len(dims) != x.ndim or sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims of shape {tuple(x.shape)}")
    dims = tuple(d % x.ndim for d in dims)
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    if x.ndim == 0:
        return x
    dim0 = _normalize_dim(dim0, x.ndim, "transpose")
    dim1 = _normalize_dim(dim1, x.ndim, "transpose")
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, dims)


swapaxes = transpose


def _T(x):
    return permute(x, tuple(reversed(range(x.ndim))))


def _mT(x):
    if x.ndim < 2:
        raise RuntimeError(f"mT: needs at least 2 dims, got shape {tuple(x.shape)}")
    return transpose(x, -2, -1)


T = property(_T)
mT = property(_mT)
