"""Gradient clipping, spectral normalisation and parameter vectors (``torch.nn.utils``)."""

import math

from .. import backend
from ..ops.shape import cat
from ..tensor import Tensor, no_grad
from .module import Parameter


def _parameters_with_grad(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so their joint norm is at most ``max_norm``; returns the norm before."""
    params = _parameters_with_grad(parameters)
    if not params:
        return Tensor(backend.module_for("cpu").asarray(0.0, dtype=backend.float32))
    xp = backend.array_module(params[0].grad.data)
    norm_type = float(norm_type)
    with no_grad():
        if math.isinf(norm_type):
            norms = [xp.abs(p.grad.data).max() for p in params]
            total = xp.max(xp.stack(norms))
        else:
            norms = [(xp.abs(p.grad.data) ** norm_type).sum() for p in params]
            total = xp.sum(xp.stack(norms)) ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(xp.isfinite(total)):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite")
        coefficient = xp.minimum(max_norm / (total + 1e-6), 1.0)
        for p in params:
            p.grad.data = p.grad.data * coefficient.astype(p.grad.dtype)
    return Tensor(xp.asarray(total))


def clip_grad_value_(parameters, clip_value):
    for p in _parameters_with_grad(parameters):
        p.grad.data = backend.array_module(p.grad.data).clip(p.grad.data, -clip_value, clip_value)


def parameters_to_vector(parameters):
    """All parameters flattened into one vector (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of ``vec`` into the parameters (in place); checks the length first,
    so a wrong vector leaves the parameters untouched."""
    parameters = list(parameters)
    needed = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.numel() != needed:
        raise ValueError(f"vector_to_parameters: expected a vector of {needed} elements, got shape {tuple(vec.shape)}")
    offset = 0
    with no_grad():
        for p in parameters:
            count = p.numel()
            p.data[...] = vec.data[offset : offset + count].reshape(p.shape)
            offset += count


class SpectralNorm:
    """W / sigma(W), sigma estimated by power iteration on the weight seen as a (h, w) matrix (Miyato et al. 2018).

    Registered as a forward pre-hook: before each call the module's ``weight`` is
    recomputed from ``weight_orig``; in training mode ``n_power_iterations``
    steps refine the singular vectors ``weight_u``/``weight_v`` (buffers, no grad),
    and sigma = u^T W v is differentiated through W only, as PyTorch does.
    """

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def _matrix(self, weight):
        if self.dim != 0:
            order = [self.dim] + [d for d in range(weight.ndim) if d != self.dim]
            weight = weight.permute(order)
        return weight.reshape(weight.shape[0], -1)

    def _normalize(self, xp, vector):
        return vector / max(float(xp.linalg.norm(vector)), self.eps)

    def compute_weight(self, module):
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        matrix = self._matrix(weight)
        if module.training:
            xp = backend.array_module(matrix.data)
            for _ in range(self.n_power_iterations):
                v.data[...] = self._normalize(xp, matrix.data.T @ u.data)
                u.data[...] = self._normalize(xp, matrix.data @ v.data)
        sigma = (Tensor(u.data.copy()) * (matrix @ Tensor(v.data.copy()))).sum()
        return weight / sigma

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Re-parameterise ``module.<name>`` as W / sigma(W); returns the module."""
    from .layers.conv import ConvTranspose2d

    if dim is None:
        dim = 1 if isinstance(module, ConvTranspose2d) else 0
    hook = SpectralNorm(name, n_power_iterations, dim, eps)
    weight = module._parameters.pop(name)
    xp = backend.array_module(weight.data)
    matrix = hook._matrix(weight.detach())
    generator = backend.generator(weight.device)
    u = hook._normalize(xp, generator.standard_normal(matrix.shape[0]).astype(weight.dtype))
    v = hook._normalize(xp, generator.standard_normal(matrix.shape[1]).astype(weight.dtype))
    module.register_parameter(name + "_orig", Parameter(weight.data))
    module.register_buffer(name + "_u", Tensor(u))
    module.register_buffer(name + "_v", Tensor(v))
    object.__setattr__(module, name, Tensor(weight.data))
    module.register_forward_pre_hook(hook)
    return module
