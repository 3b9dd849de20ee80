"""Activations, softmax, log-softmax and dropout.

Each activation's forward runs on raw arrays in few passes, without a
branch per element. Its backward is one fused node, ``<Name>Grad``, whose
forward computes ``grad * f'(x)`` on arrays and whose own backward is
written with differentiable ops (Chainer's ``TanhGrad`` pattern), so every
activation stays differentiable to any order: WGAN-GP and the contractive
autoencoder take its second derivative.

What each node saves is what PyTorch saves: the output for sigmoid, tanh,
ReLU and softmax, the input for SiLU, GELU, softplus and leaky ReLU.
"""

import math
import numbers

import numpy as np

from .. import backend
from ..function import Function
from ..tensor import Tensor, _normalize_dim, is_grad_enabled
from .elementwise import _float_operand, exp, mul, where
from .reduce import sum

__all__ = [
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "silu", "gelu", "softplus", "softmax", "log_softmax",
    "dropout",
]
TENSOR_METHODS = ["sigmoid", "tanh", "relu", "softmax", "log_softmax"]


# --- raw-array kernels: kernel(out, *inputs) writes out in place, run by backend.elementwise --------


def sigmoid_kernel(out, x):
    """1 / (1 + e^-x): no cancellation, so full relative precision for very negative x as well.

    Where e^-x overflows (x < -88 in float32) the result is 1 / inf = 0, the
    correctly rounded value but for a denormal; the overflow warning is silenced.
    """
    xp = backend.array_module(x)
    xp.negative(x, out=out)
    if xp is np:
        with np.errstate(over="ignore"):  # per thread: NumPy keeps the error state in a context variable
            np.exp(out, out=out)
    else:  # CuPy neither warns nor has errstate
        xp.exp(out, out=out)
    out += 1.0
    xp.reciprocal(out, out=out)


def softplus_kernel(out, x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, no NumPy warning, no branch."""
    xp = backend.array_module(x)
    xp.abs(x, out=out)
    xp.negative(out, out=out)
    xp.exp(out, out=out)
    xp.log1p(out, out=out)
    out += xp.maximum(x, 0)


def _sigmoid_grad_kernel(out, y, grad):
    backend.array_module(y).subtract(1.0, y, out=out)
    out *= y
    out *= grad


def _tanh_grad_kernel(out, y, grad):
    xp = backend.array_module(y)
    xp.multiply(y, y, out=out)
    xp.subtract(1.0, out, out=out)
    out *= grad


def _silu_kernel(out, x):
    sigmoid_kernel(out, x)
    out *= x


def _silu_grad_kernel(out, x, grad):
    xp = backend.array_module(x)
    s = xp.empty_like(x)
    sigmoid_kernel(s, x)
    xp.subtract(1.0, s, out=out)
    out *= x
    out += 1.0
    out *= s
    out *= grad


_GELU_TANH_SCALE = math.sqrt(2.0 / math.pi)
_GELU_TANH_CUBIC = 0.044715


def _gelu_tanh_inner(xp, x):
    """u = sqrt(2/pi) (x + 0.044715 x^3), the argument of the tanh approximation."""
    u = xp.multiply(x, x, out=xp.empty_like(x))
    u *= _GELU_TANH_CUBIC
    u += 1.0
    u *= x
    u *= _GELU_TANH_SCALE
    return u


def _normal_cdf_kernel(out, x):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2."""
    from .special import erf_array

    out[...] = erf_array(x * (1.0 / math.sqrt(2.0)))
    out += 1.0
    out *= 0.5


def _gelu_kernel(out, x, approximate):
    if approximate == "tanh":
        xp = backend.array_module(x)
        xp.tanh(_gelu_tanh_inner(xp, x), out=out)
        out += 1.0
        out *= 0.5
    else:
        _normal_cdf_kernel(out, x)
    out *= x


def _gelu_grad_kernel(out, x, grad, approximate):
    """g * d gelu / dx: Phi(x) + x phi(x), or for the tanh form, with t = tanh(u),
    0.5 (1 + t) + 0.5 x (1 - t^2) u'(x) where u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)."""
    xp = backend.array_module(x)
    if approximate == "tanh":
        t = xp.tanh(_gelu_tanh_inner(xp, x))
        xp.multiply(x, x, out=out)
        out *= 3.0 * _GELU_TANH_CUBIC
        out += 1.0
        out *= _GELU_TANH_SCALE * 0.5  # u' / 2
        out *= x
        squared = xp.multiply(t, t, out=xp.empty_like(t))
        xp.subtract(1.0, squared, out=squared)
        out *= squared  # 0.5 x (1 - t^2) u'
        t += 1.0
        t *= 0.5
        out += t
    else:
        xp.multiply(x, x, out=out)
        out *= -0.5
        xp.exp(out, out=out)
        out *= x * (1.0 / math.sqrt(2.0 * math.pi))  # x phi(x)
        cdf = xp.empty_like(x)
        _normal_cdf_kernel(cdf, x)
        out += cdf
    out *= grad


def _normal_pdf(x):
    """phi(x) = exp(-x^2 / 2) / sqrt(2 pi), written with ops."""
    return exp(x * x * -0.5) * (1.0 / math.sqrt(2.0 * math.pi))


# --- sigmoid and tanh: the gradient from the output ----------------------------------------


class Sigmoid(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return backend.elementwise(sigmoid_kernel, x)

    def backward(self, grad):
        return SigmoidGrad.apply(self.output, grad)


class SigmoidGrad(Function):
    """g * y (1 - y) for y = sigmoid(x), fused."""

    def forward(self, y, grad):
        return backend.elementwise(_sigmoid_grad_kernel, y, grad)

    def backward(self, grad_grad):
        y, grad = self.inputs
        grad_y = grad_grad * grad * (1.0 - 2.0 * y) if self.needs_input_grad[0] else None
        grad_grad_output = SigmoidGrad.apply(y, grad_grad) if self.needs_input_grad[1] else None
        return grad_y, grad_grad_output


class Tanh(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return backend.elementwise(lambda out, x: self.xp.tanh(x, out=out), x)

    def backward(self, grad):
        return TanhGrad.apply(self.output, grad)


class TanhGrad(Function):
    """g * (1 - y^2) for y = tanh(x), fused."""

    def forward(self, y, grad):
        return backend.elementwise(_tanh_grad_kernel, y, grad)

    def backward(self, grad_grad):
        y, grad = self.inputs
        grad_y = grad_grad * grad * y * -2.0 if self.needs_input_grad[0] else None
        grad_grad_output = TanhGrad.apply(y, grad_grad) if self.needs_input_grad[1] else None
        return grad_y, grad_grad_output


def sigmoid(x):
    """Elementwise 1 / (1 + e^-x)."""
    return Sigmoid.apply(_float_operand(x))


def tanh(x):
    """Elementwise tanh."""
    return Tanh.apply(_float_operand(x))


# --- piecewise-linear units: the gradient is a constant mask ---------------------------------


class Relu(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        return backend.elementwise(lambda out, x: self.xp.maximum(x, 0, out=out), x)

    def backward(self, grad):
        # y > 0 exactly where x > 0; the mask is a constant, so the second derivative is 0
        return LeakyReluGrad.apply(Tensor(self.output.data), grad, negative_slope=0.0)


def relu(x):
    return Relu.apply(x)


class LeakyRelu(Function):
    def forward(self, x):
        slope = self.negative_slope
        if not 0.0 <= slope <= 1.0:
            return backend.where(x > 0, x, x * slope)

        def kernel(out, x):  # for a slope in [0, 1] the larger of x and slope * x is the right branch
            self.xp.multiply(x, slope, out=out)
            self.xp.maximum(x, out, out=out)

        return backend.elementwise(kernel, x)

    def backward(self, grad):
        # x goes in as a constant: the mask's derivative is 0, and as a graph input x would pull the layers
        # below it into a double backward (WGAN-GP's penalty) that would run them on zero gradients
        return LeakyReluGrad.apply(Tensor(self.inputs[0].data), grad, negative_slope=self.negative_slope)


class LeakyReluGrad(Function):
    """g where x > 0, the negative slope times g elsewhere, fused; x is a constant.

    Linear in g, so its derivative in g is this node again. ReLU's backward is
    this node with slope 0 (and its output for x: the same sign).
    """

    def forward(self, x, grad):
        slope, xp = self.negative_slope, self.xp

        def kernel(out, grad, x):  # g (slope + (1 - slope) [x > 0]): branch-free, unlike a masked copy (6x slower)
            xp.greater(x, 0, out=out)
            if slope:
                out *= 1.0 - slope
                out += slope
            out *= grad

        return backend.elementwise(kernel, grad, x)

    def backward(self, grad_grad):
        x = self.inputs[0]
        return None, LeakyReluGrad.apply(x, grad_grad, negative_slope=self.negative_slope)


def leaky_relu(x, negative_slope=0.01):
    return LeakyRelu.apply(x, negative_slope=negative_slope)


class Elu(Function):
    saves_output = True

    def forward(self, x):
        negative = self.xp.expm1(self.xp.minimum(x, 0))
        negative *= self.alpha
        return backend.where(x > 0, x, negative)

    def backward(self, grad):
        # dy/dx = 1 for x > 0, else alpha e^x = y + alpha
        positive = Tensor(self.inputs[0].data > 0)
        return where(positive, grad, grad * (self.output + self.alpha))


def elu(x, alpha=1.0):
    return Elu.apply(x, alpha=alpha)


# --- smooth units: the gradient from the input ----------------------------------------------


class Silu(Function):
    def forward(self, x):
        return backend.elementwise(_silu_kernel, x)

    def backward(self, grad):
        return SiluGrad.apply(self.inputs[0], grad)


class SiluGrad(Function):
    """g * s (1 + x (1 - s)) with s = sigmoid(x): d(x s(x))/dx, fused."""

    def forward(self, x, grad):
        return backend.elementwise(_silu_grad_kernel, x, grad)

    def backward(self, grad_grad):
        x, grad = self.inputs
        grad_x = grad_grad_output = None
        if self.needs_input_grad[0]:
            # d^2(x s)/dx^2 = s (1 - s) (2 + x (1 - 2 s))
            s = sigmoid(x)
            grad_x = grad_grad * grad * (s * (1.0 - s) * (x * (1.0 - 2.0 * s) + 2.0))
        if self.needs_input_grad[1]:
            grad_grad_output = SiluGrad.apply(x, grad_grad)
        return grad_x, grad_grad_output


def silu(x):
    """x * sigmoid(x)."""
    return Silu.apply(_float_operand(x))


class Gelu(Function):
    """x Phi(x), or with ``approximate='tanh'`` 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    def forward(self, x):
        return backend.elementwise(lambda out, x: _gelu_kernel(out, x, self.approximate), x)

    def backward(self, grad):
        return GeluGrad.apply(self.inputs[0], grad, approximate=self.approximate)


class GeluGrad(Function):
    """g * d gelu / dx, fused (``_gelu_grad_kernel``)."""

    def forward(self, x, grad):
        return backend.elementwise(lambda out, x, grad: _gelu_grad_kernel(out, x, grad, self.approximate), x, grad)

    def backward(self, grad_grad):
        x, grad = self.inputs
        grad_x = grad_grad_output = None
        if self.needs_input_grad[0]:
            grad_x = grad_grad * grad * self._second_derivative(x)
        if self.needs_input_grad[1]:
            grad_grad_output = GeluGrad.apply(x, grad_grad, approximate=self.approximate)
        return grad_x, grad_grad_output

    def _second_derivative(self, x):
        if self.approximate == "tanh":
            # (1 - t^2) (u' + 0.5 x (u'' - 2 t u'^2)), u'' = 6 * 0.044715 sqrt(2/pi) x
            t = tanh((x + x * x * x * _GELU_TANH_CUBIC) * _GELU_TANH_SCALE)
            slope = (x * x * (3.0 * _GELU_TANH_CUBIC) + 1.0) * _GELU_TANH_SCALE
            curvature = x * (6.0 * _GELU_TANH_CUBIC * _GELU_TANH_SCALE)
            return (1.0 - t * t) * (slope + x * (curvature - t * slope * slope * 2.0) * 0.5)
        # d(Phi + x phi)/dx = 2 phi - x^2 phi
        return _normal_pdf(x) * (2.0 - x * x)


def gelu(x, approximate="none"):
    """x * Phi(x); ``approximate='tanh'`` uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_float_operand(x), approximate=approximate)


class Softplus(Function):
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's linear region)."""

    def forward(self, x):
        bx = x * self.beta if self.beta != 1 else x
        soft = backend.elementwise(softplus_kernel, bx)
        if self.beta != 1:
            soft /= self.beta
        if self.threshold == math.inf:
            return soft
        return backend.where(bx > self.threshold, x, soft)

    def backward(self, grad):
        x = self.inputs[0]
        slope = sigmoid(x * self.beta)
        if self.threshold != math.inf:
            slope = where(Tensor(x.data * self.beta > self.threshold), 1.0, slope)
        return grad * slope


def softplus(x, beta=1.0, threshold=20.0):
    return Softplus.apply(_float_operand(x), beta=beta, threshold=threshold)


# --- softmax and log-softmax ------------------------------------------------------------------


def _shifted(xp, x, axis):
    """x - max(x) along ``axis``: every exponent is <= 0, so exp cannot overflow."""
    # asarray: NumPy makes a scalar of a 0-d result, and the callers update it in place.
    return xp.asarray(x - x.max(axis=axis, keepdims=True))


def _reduced_axes(x, axis):
    return tuple(range(x.ndim)) if axis is None else (axis,)


class Softmax(Function):
    saved_inputs = ()
    saves_output = True

    def forward(self, x):
        xp, axis = self.xp, self.axis
        y = xp.empty_like(x)

        def kernel(y, x):
            xp.subtract(x, x.max(axis=axis, keepdims=True), out=y)
            xp.exp(y, out=y)
            y /= y.sum(axis=axis, keepdims=True)

        backend.in_blocks(kernel, x.shape, _reduced_axes(x, axis), y, x)
        return y

    def backward(self, grad):
        return SoftmaxGrad.apply(self.output, grad, axis=self.axis, dim=self.dim)


class SoftmaxGrad(Function):
    """y * (g - sum(g * y)) for y = softmax(x): dy_i/dx_j = y_i (delta_ij - y_j), fused."""

    def forward(self, y, grad):
        xp, axis = self.xp, self.axis
        result = xp.empty_like(y)

        def kernel(result, y, grad):
            xp.multiply(grad, y, out=result)
            total = result.sum(axis=axis, keepdims=True)
            xp.subtract(grad, total, out=result)
            result *= y

        backend.in_blocks(kernel, y.shape, _reduced_axes(y, axis), result, y, grad)
        return result

    def backward(self, grad_grad):
        y, grad = self.inputs
        grad_y = grad_grad_output = None
        if self.needs_input_grad[0]:
            # d/dy_j of sum_i u_i y_i (g_i - s), s = sum_k g_k y_k: u_j (g_j - s) - g_j sum_i u_i y_i
            along = dict(dim=self.dim, keepdim=True)
            grad_y = grad_grad * (grad - sum(grad * y, **along)) - grad * sum(grad_grad * y, **along)
        if self.needs_input_grad[1]:
            grad_grad_output = SoftmaxGrad.apply(y, grad_grad, axis=self.axis, dim=self.dim)
        return grad_y, grad_grad_output


class LogSoftmax(Function):
    saved_inputs = ()
    saves_output = True

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


# --- dropout ------------------------------------------------------------------------------------


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
