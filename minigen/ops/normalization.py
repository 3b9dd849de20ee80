"""Normalisation over a group of axes, fused: the core of batch, layer, group and instance norm.

    y = (x - mean) / sqrt(var + eps) * w + b        mean and biased var over ``axes``; w, b optional

``Normalize`` computes y in a few passes and saves only x and the per-group
mean and r = 1 / sqrt(var + eps), as PyTorch does. With x_hat = (x - mean) r
and g the incoming gradient, its backward is

    dL/db = sum g,   dL/dw = sum g x_hat            over the axes w and b broadcast along
    dL/dx = r (h - mean(h) - x_hat mean(h x_hat)),   h = g w            (``NormalizeGrad``)

``NormalizeGrad`` is differentiable to any order, so norms can sit inside a
critic under a gradient penalty. The Jacobian of the normalisation is
symmetric, so the derivative of dL/dx in h is ``NormalizeGrad`` again; its
derivative in x, for an incoming u and per group (derived by hand, checked
against finite differences in the tests):

    d<u, dL/dx>/dx = -r^2 [ (c - 3 a b) x_hat + b (h - mean h) + a (u - mean u) ]
    a = mean(h x_hat),  b = mean(u x_hat),  c = mean(u h) - mean(u) mean(h)
"""

import math

import numpy as np

from .. import backend
from ..function import Function
from .shape import sum_to


def _count(shape, axes):
    return math.prod(shape[axis] for axis in axes)


def _normalize(xp, x, axes, eps, weight=None, bias=None, statistics=None):
    """``(y, mean, variance, rstd)``: y = (x - mean) * rstd [* weight] [+ bias] over ``axes``.

    The mean, biased variance and rstd = 1 / sqrt(var + eps) (size-1 dims over
    ``axes``) are computed in the same sweep over each block, with x - mean
    formed once, in y; or (mean, rstd) are given as ``statistics`` and the
    variance is None. rstd * weight is one factor where that is small (batch
    norm: per channel; group norm: per sample and channel).
    """
    y = xp.empty_like(x)
    stat_shape = tuple(1 if a in axes else size for a, size in enumerate(x.shape))
    if statistics is None:
        mean, variance, rstd = (xp.empty(stat_shape, x.dtype) for _ in range(3))
    else:
        (mean, rstd), variance = statistics, None
    scale = 1.0 / _count(x.shape, axes)
    folded = weight is not None and math.prod(np.broadcast_shapes(stat_shape, weight.shape)) * 4 <= x.size

    def kernel(y, x, mean, variance, rstd, weight, bias):
        if variance is not None:
            xp.multiply(backend.sum_over(x, axes), scale, out=mean)
        xp.subtract(x, backend.spread(mean, x.shape), out=y)
        if variance is not None:
            xp.multiply(backend.sum_over(y, axes, y), scale, out=variance)
            xp.add(variance, eps, out=rstd)
            xp.sqrt(rstd, out=rstd)
            xp.reciprocal(rstd, out=rstd)
        y *= backend.spread(rstd * weight if folded else rstd, x.shape)
        if weight is not None and not folded:
            y *= backend.spread(weight, x.shape)
        if bias is not None:
            y += backend.spread(bias, x.shape)

    backend.in_blocks(kernel, x.shape, axes, y, x, mean, variance, rstd, weight, bias)
    return y, mean, variance, rstd


class Normalize(Function):
    """y = x_hat * w + b over ``axes``; inputs x, then the weight and bias that ``affine`` names.

    ``statistics`` may pass the (mean, rstd) of x already computed (a backward
    recomputing x_hat); they are still functions of x for the derivatives.
    After the call, ``mean`` and ``variance`` hold the batch statistics.
    """

    statistics = None

    def forward(self, x, *affine):
        y, self.mean, self.variance, self.rstd = _normalize(self.xp, x, self.axes, self.eps, *self._affine(affine),
                                                             statistics=self.statistics)
        # x for every derivative, the weight for x's
        self.saved_inputs = (0, 1) if "weight" in self.affine and self.needs_input_grad[0] else (0,)
        return y

    def _affine(self, inputs):
        named = dict(zip(self.affine, inputs))
        return named.get("weight"), named.get("bias")

    def backward(self, grad):
        x = self.inputs[0]
        weight, bias = self._affine(self.inputs[1:])
        needs = dict(zip(self.affine, self.needs_input_grad[1:]))
        statistics = dict(axes=self.axes, eps=self.eps, statistics=(self.mean, self.rstd))
        grad_x = grad_weight = grad_bias = None
        if needs.get("weight"):
            grad_weight = NormalizeWeightGrad.apply(x, grad, weight_shape=weight.shape, **statistics)
        if needs.get("bias"):
            grad_bias = sum_to(grad, bias.shape)
        if self.needs_input_grad[0]:
            grad_x = NormalizeGrad.apply(x, grad if weight is None else grad * weight, **statistics)
        named = {"weight": grad_weight, "bias": grad_bias}
        return (grad_x, *(named[name] for name in self.affine))


class NormalizeWeightGrad(Function):
    """dL/dw = sum(g x_hat) over the axes the weight broadcasts along, from x and g; bilinear-like in g."""

    def forward(self, x, grad):
        xp, axes = self.xp, self.axes
        mean, rstd = self.statistics
        aligned = (1,) * (x.ndim - len(self.weight_shape)) + tuple(self.weight_shape)
        weight_axes = tuple(axis for axis in range(x.ndim) if aligned[axis] == 1)
        # within a group rstd is constant: sum g (x - mean) there first, then scale and finish the sum
        inner = tuple(axis for axis in weight_axes if axis in axes)
        partial = backend.sum_over(grad, inner, x - mean) * rstd
        total = partial.sum(axis=tuple(axis for axis in weight_axes if axis not in axes), keepdims=True)
        return total.reshape(self.weight_shape)

    def backward(self, grad_grad):
        x, grad = self.inputs
        statistics = dict(axes=self.axes, eps=self.eps, statistics=self.statistics)
        grad_x = grad_grad_output = None
        if self.needs_input_grad[0]:  # d<u, sum g x_hat>/dx = J^T (g u)
            grad_x = NormalizeGrad.apply(x, grad * grad_grad, **statistics)
        if self.needs_input_grad[1]:
            grad_grad_output = Normalize.apply(x, affine=(), **statistics) * grad_grad
        return grad_x, grad_grad_output


class NormalizeGrad(Function):
    """dL/dx = r (h - mean(h) - x_hat mean(h x_hat)) of a normalisation, from x and h = g w."""

    def forward(self, x, grad):
        xp, axes = self.xp, self.axes
        mean, rstd = self.statistics
        scale = 1.0 / _count(x.shape, axes)
        result = xp.empty_like(x)

        def kernel(result, x, grad, mean, rstd):
            # r h - r mean(h) - r^3 (x - mean) mean(h (x - mean)), as x_hat = (x - mean) r
            shape = x.shape
            centred = x - backend.spread(mean, shape)
            centred *= backend.spread((rstd * rstd * rstd) * (-scale * backend.sum_over(grad, axes, centred)), shape)
            xp.multiply(grad, backend.spread(rstd, shape), out=result)
            result += centred
            result -= backend.spread(rstd * (scale * backend.sum_over(grad, axes)), shape)

        backend.in_blocks(kernel, x.shape, axes, result, x, grad, mean, rstd)
        return result

    def backward(self, grad_grad):
        x, grad = self.inputs
        grad_x = grad_grad_output = None
        if self.needs_input_grad[0]:
            grad_x = self._derivative_in_x(x, grad, grad_grad)
        if self.needs_input_grad[1]:
            # the normalisation's Jacobian is symmetric: J^T u = J u
            grad_grad_output = NormalizeGrad.apply(x, grad_grad, axes=self.axes, eps=self.eps,
                                                    statistics=self.statistics)
        return grad_x, grad_grad_output

    def _derivative_in_x(self, x, h, u):
        """-r^2 [ (c - 3 a b) x_hat + b (h - mean h) + a (u - mean u) ], written with ops of x, h and u."""
        along = dict(dim=self.axes, keepdim=True)
        centred = x - x.mean(**along)
        rstd = ((centred * centred).mean(**along) + self.eps).rsqrt()
        x_hat = centred * rstd
        h_mean, u_mean = h.mean(**along), u.mean(**along)
        a, b = (h * x_hat).mean(**along), (u * x_hat).mean(**along)
        c = (u * h).mean(**along) - u_mean * h_mean
        return -(rstd * rstd) * ((c - 3.0 * a * b) * x_hat + b * (h - h_mean) + a * (u - u_mean))


def normalize_over(x, axes, eps, weight=None, bias=None):
    """``(y, node)``: x normalised over ``axes`` (then scaled and shifted), and the node holding the statistics."""
    affine = tuple(name for name, value in (("weight", weight), ("bias", bias)) if value is not None)
    node = Normalize(axes=tuple(axes), eps=eps, affine=affine)
    return node(x, *(value for value in (weight, bias) if value is not None)), node
