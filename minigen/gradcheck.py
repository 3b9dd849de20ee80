"""Numeric gradient checks: central differences in float64.

``gradcheck`` compares the analytic vector-Jacobian product ``v^T J`` for a
random ``v`` with central differences of ``v . f(x)``, one input element at a
time; ``gradgradcheck`` applies the same check to the first-order gradient
function, which exercises every backward recorded under ``create_graph=True``.
With ``directional=True`` only one random direction per input is perturbed
(Chainer's ``check_backward``): its cost does not grow with the input size, so
large ops can be checked too.
"""

import numpy as np

from . import backend
from .tensor import Tensor, grad


class GradcheckError(AssertionError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _random_like(rng, t, requires_grad=False):
    array = backend.to_device(rng.standard_normal(t.shape), t.device)
    result = Tensor(array)
    return result.requires_grad_(True) if requires_grad else result


def _differentiable_outputs(outputs):
    return [y for y in outputs if isinstance(y, Tensor) and y.dtype.kind == "f"]


def _weighted_sum(fn, inputs, weights):
    """v . f(x) as a Python float (the graph is recorded: ``fn`` may itself call ``grad``)."""
    outputs = _differentiable_outputs(_as_tuple(fn(*inputs)))
    return sum(float((y.data * w.data).sum()) for y, w in zip(outputs, weights))


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, directional=False, seed=0, raise_exception=True):
    """Check ``fn``'s analytic gradients against central differences.

    ``inputs`` are the arguments of ``fn``; the float64 tensors among them that
    require grad are checked. Raises ``GradcheckError`` naming the input, the
    worst element's index, both values and the absolute and relative errors.
    """
    inputs = _as_tuple(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for t in checked:
        if t.dtype != backend.float64:
            raise TypeError(f"gradcheck: inputs must be float64 for central differences, got {t.dtype}")
        t.data = backend.array_module(t.data).array(t.data)  # an owned contiguous copy, perturbed in place
    rng = np.random.default_rng(seed)
    outputs = _differentiable_outputs(_as_tuple(fn(*inputs)))
    weights = [_random_like(rng, y) for y in outputs]
    tracked = [(y, w) for y, w in zip(outputs, weights) if y.requires_grad]
    if tracked:
        analytic = grad([y for y, _ in tracked], checked, [w for _, w in tracked], allow_unused=True)
    else:
        analytic = [None] * len(checked)
    for position, (t, g) in enumerate(zip(checked, analytic)):
        expected = np.zeros(t.shape) if g is None else backend.to_device(g.data, "cpu").astype(np.float64)
        if directional:
            numeric, analytic_value = _directional(fn, inputs, t, weights, expected, rng, eps)
            error = abs(numeric - analytic_value)
            if error > atol + rtol * abs(numeric):
                return _fail(raise_exception, f"gradcheck: input {position} (shape {tuple(t.shape)}): directional "
                             f"derivative analytic {analytic_value:.6g} vs numeric {numeric:.6g} "
                             f"(abs error {error:.3g}, rel error {error / max(abs(numeric), 1e-300):.3g})")
            continue
        numeric = _numeric_gradient(fn, inputs, t, weights, eps)
        _compare(position, t, expected, numeric, atol, rtol, raise_exception, "gradcheck")
    return True


def _numeric_gradient(fn, inputs, t, weights, eps):
    flat = t.data.reshape(-1)
    numeric = np.zeros(flat.size)
    for i in range(flat.size):
        original = flat[i].item()
        flat[i] = original + eps
        plus = _weighted_sum(fn, inputs, weights)
        flat[i] = original - eps
        minus = _weighted_sum(fn, inputs, weights)
        flat[i] = original
        numeric[i] = (plus - minus) / (2 * eps)
    return numeric.reshape(t.shape)


def _directional(fn, inputs, t, weights, expected, rng, eps):
    direction = rng.standard_normal(t.shape)
    direction /= max(np.linalg.norm(direction), 1e-300)
    original = t.data
    step = backend.to_device(direction * eps, t.device)
    t.data = original + step
    plus = _weighted_sum(fn, inputs, weights)
    t.data = original - step
    minus = _weighted_sum(fn, inputs, weights)
    t.data = original
    return (plus - minus) / (2 * eps), float((expected * direction).sum())


def _compare(position, t, analytic, numeric, atol, rtol, raise_exception, name):
    error = np.abs(analytic - numeric)
    excess = error - (atol + rtol * np.abs(numeric))
    if excess.size == 0 or excess.max() <= 0:
        return True
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    relative = error[worst] / max(abs(numeric[worst]), 1e-300)
    return _fail(
        raise_exception,
        f"{name}: input {position} (shape {tuple(t.shape)}): worst element at index {tuple(int(i) for i in worst)}: "
        f"analytic {analytic[worst]:.6g} vs numeric {numeric[worst]:.6g} "
        f"(abs error {error[worst]:.3g}, rel error {relative:.3g}; atol {atol}, rtol {rtol})",
    )


def _fail(raise_exception, message):
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, directional=False, seed=0,
                  raise_exception=True):
    """Check second derivatives: gradcheck of ``x, v -> grad(fn(x), x, v, create_graph=True)``."""
    inputs = _as_tuple(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    rng = np.random.default_rng(seed + 1)
    if grad_outputs is None:
        outputs = _differentiable_outputs(_as_tuple(fn(*inputs)))
        grad_outputs = [_random_like(rng, y, requires_grad=True) for y in outputs]
    grad_outputs = list(_as_tuple(grad_outputs))
    count = len(inputs)

    def first_derivative(*arguments):
        outputs = _differentiable_outputs(_as_tuple(fn(*arguments[:count])))
        pairs = [(y, v) for y, v in zip(outputs, arguments[count:]) if y.requires_grad]
        if not pairs:
            return ()
        grads = grad([y for y, _ in pairs], checked, [v for _, v in pairs], create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     directional=directional, seed=seed, raise_exception=raise_exception)
