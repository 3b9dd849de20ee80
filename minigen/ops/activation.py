"""Softmax, log-softmax and dropout.

Softmax and log-softmax are computed in their shifted (overflow-free) forms on
raw arrays; their backward passes are written with ops on the saved output, so
they are differentiable to any order.
"""

import numbers

from .. import backend
from ..function import Function
from ..tensor import Tensor, _normalize_dim, is_grad_enabled
from .elementwise import _float_operand, exp, mul
from .reduce import sum

__all__ = ["softmax", "log_softmax", "dropout"]
TENSOR_METHODS = ["softmax", "log_softmax"]


def _shifted(xp, x, axis):
    """x - max(x) along ``axis``: every exponent is <= 0, so exp cannot overflow."""
    # asarray: NumPy makes a scalar of a 0-d result, and the callers update it in place.
    return xp.asarray(x - x.max(axis=axis, keepdims=True))


class Softmax(Function):
    def forward(self, x):
        y = _shifted(self.xp, x, self.axis)
        self.xp.exp(y, out=y)
        y /= y.sum(axis=self.axis, keepdims=True)
        return y

    def backward(self, grad):
        # dy_i/dx_j = y_i (delta_ij - y_j), so grad_x = y * (g - sum(g * y))
        y = self.output
        return y * (grad - sum(grad * y, dim=self.dim, keepdim=True))


class LogSoftmax(Function):
    def forward(self, x):
        shifted = _shifted(self.xp, x, self.axis)
        shifted -= self.xp.log(self.xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return shifted

    def backward(self, grad):
        # y = x - logsumexp(x), so grad_x = g - softmax(x) * sum(g), with softmax(x) = exp(y)
        return grad - exp(self.output) * sum(grad, dim=self.dim, keepdim=True)


def _softmax_input(op, input, dim, dtype):
    if dim is None:
        raise TypeError(
            f"{op}: dim is required (PyTorch's implicit choice of dim is deprecated); "
            "pass dim=-1 for the last dimension"
        )
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if dtype is not None:
        input = input.to(dtype)
    input = _float_operand(input)
    dim = _normalize_dim(dim, input.ndim, op)
    # NumPy has no axis 0 on a 0-d array; reducing over all (no) axes is the same thing.
    return input, dict(dim=dim, axis=dim if input.ndim else None)


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``; ``dtype`` casts the input first."""
    input, arguments = _softmax_input("softmax", input, dim, dtype)
    return Softmax.apply(input, **arguments)


def log_softmax(input, dim=None, dtype=None):
    """x - log(sum(exp(x))) along ``dim``, without forming exp(x) unshifted."""
    input, arguments = _softmax_input("log_softmax", input, dim, dtype)
    return LogSoftmax.apply(input, **arguments)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted dropout).

    The mask comes from the device's seeded generator (``minigen.manual_seed``)
    and enters the graph as a constant, so the gradient is mask / (1-p).
    ``inplace=True`` writes into ``input`` only when no graph is being recorded
    through it; otherwise the result is a new tensor, as the graph needs the input.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not isinstance(input, Tensor) or input.dtype.kind != "f":
        got = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"dropout: expected a floating-point Tensor, got {got}")
    if not training or p == 0.0:
        return input
    xp = backend.array_module(input.data)
    dtype = input.dtype
    with backend.on_device(input.device):
        if p == 1.0:
            scaled_mask = xp.zeros(input.shape, dtype)
        else:
            draw_dtype = dtype if dtype in (backend.float32, backend.float64) else backend.float32
            keep = backend.generator(input.device).random(input.shape, dtype=draw_dtype) >= p
            scaled_mask = keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))
    if inplace and not (is_grad_enabled() and input.requires_grad):
        input.data *= scaled_mask
        return input
    return mul(input, Tensor(scaled_mask))
