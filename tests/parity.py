"""PyTorch as an oracle for single ops: the machinery behind the ``test_parity_torch*`` files.

A case is a function ``fn(L, *inputs)`` written once for both libraries:
``L.t`` is ``torch`` (``minigen`` for minigen) and ``L.F`` is
``torch.nn.functional`` (``minigen.nn.functional``). ``check_parity``
builds the inputs with NumPy from a seed derived from the case id, runs the
case in both libraries and compares:

1. the forward outputs: count, shape, dtype, values (integer and bool
   outputs exactly, float outputs within float32 tolerance);
2. the gradients of ``L1 = sum_k sum(y_k * w_k)`` for random ``w_k`` with
   respect to every float input (backward without ``create_graph``);
3. second derivatives: ``g = grad(L2, x, create_graph=True)`` and then
   ``grad(sum_i sum(g_i * v_i), x)``, with
   ``L2 = sum_k sum(y_k * w_k) + sum(y_k * y_k * u_k) / 2``. The quadratic
   term makes the check bite on ops that are linear in their input (reshape,
   sum, conv in x), whose gradient of ``y * w`` alone would not depend on x.
"""

import zlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pytest

import minigen
import minigen.nn.functional

torch = pytest.importorskip("torch")

MINIGEN = SimpleNamespace(name="minigen", t=minigen, F=minigen.nn.functional, Tensor=minigen.Tensor)
TORCH = SimpleNamespace(name="torch", t=torch, F=torch.nn.functional, Tensor=torch.Tensor)

RTOL = 1e-4
ATOL = 1e-5


# --- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Float:
    """A float32 input that requires grad: uniform in [low, high), kept ``margin`` away from ``avoid``."""

    shape: tuple
    low: float = -2.0
    high: float = 2.0
    avoid: tuple = ()
    margin: float = 0.1
    values: Any = None  # fixed values instead of random ones (ties, special points)

    requires_grad = True

    def array(self, rng):
        if self.values is not None:
            return np.asarray(self.values, dtype=np.float32).reshape(self.shape)
        values = rng.uniform(self.low, self.high, size=self.shape)
        for point in self.avoid:
            close = np.abs(values - point) < self.margin
            values = np.where(close, point + np.copysign(2 * self.margin, values - point + 1e-12), values)
        return values.astype(np.float32)


@dataclass(frozen=True)
class Const:
    """An input that needs no grad (indices, masks, integer data): an array or ``rng -> array``."""

    value: Any

    requires_grad = False

    def array(self, rng):
        value = self.value(rng) if callable(self.value) else self.value
        value = np.asarray(value)
        return value.astype(np.float32) if value.dtype == np.float64 else value


def integers(shape, low, high):
    """Random int64 indices in [low, high), drawn from the case's generator."""
    return Const(lambda rng: rng.integers(low, high, size=shape, dtype=np.int64))


def mask(shape, probability=0.5):
    return Const(lambda rng: rng.uniform(size=shape) < probability)


def permutation(n):
    return Const(lambda rng: rng.permutation(n).astype(np.int64))


# --- cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    fn: Callable
    inputs: tuple
    rtol: float = RTOL
    atol: float = ATOL
    second_order: bool = True
    # Scale atol by each compared array's largest magnitude: for chains of ops whose gradients
    # mix entries of very different sizes, float32 cancellation errors scale with the largest.
    atol_per_max: bool = False


def case(id, fn, *inputs, second_order=True, rtol=RTOL, atol=ATOL, atol_per_max=False, marks=()):
    """One table row, as a ``pytest.param`` whose id is the case's name."""
    return pytest.param(Case(id, fn, inputs, rtol, atol, second_order, atol_per_max), id=id, marks=marks)


# Edge values (log(0), x / 0) make NumPy warn where torch stays silent; the values themselves are compared.
QUIET = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def ids_unique(rows):
    names = [row.id for row in rows]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"duplicate case ids: {duplicates}"
    return rows


# --- running -----------------------------------------------------------------------------------


def _make_inputs(L, arrays, specs):
    inputs = []
    for array, spec in zip(arrays, specs):
        if L is TORCH:
            inputs.append(torch.tensor(array, requires_grad=spec.requires_grad))
        else:
            inputs.append(minigen.tensor(array, dtype=array.dtype, requires_grad=spec.requires_grad))
    return inputs


def _flatten(result, tensor_type):
    if isinstance(result, tensor_type):
        return [result]
    if isinstance(result, (tuple, list)):
        return [y for item in result for y in _flatten(item, tensor_type)]
    raise TypeError(f"case returned {type(result).__name__}, expected a tensor or a tuple of tensors")


def _numpy(value):
    return None if value is None else value.detach().numpy()


def _run(L, case, arrays):
    inputs = _make_inputs(L, arrays, case.inputs)
    return inputs, _flatten(case.fn(L, *inputs), L.Tensor)


def _float_inputs(case, inputs):
    return [x for x, spec in zip(inputs, case.inputs) if spec.requires_grad]


def _grad(L, output, inputs, create_graph):
    """Gradients of ``output`` as a list, None for each input it does not depend on."""
    if not output.requires_grad:
        return [None] * len(inputs)
    if L is TORCH:
        return list(torch.autograd.grad(output, inputs, create_graph=create_graph, allow_unused=True))
    return list(minigen.grad(output, inputs, create_graph=create_graph, allow_unused=True))


def _weighted(L, outputs, weights, squares=None):
    """sum_k sum(y_k * w_k), plus sum_k sum(y_k * y_k * u_k) / 2 when ``squares`` (the u_k) are given."""
    total = 0.0
    for k, (y, w) in enumerate(zip(outputs, weights)):
        total = total + (y * L.t.tensor(w)).sum()
        if squares is not None:
            total = total + (y * y * L.t.tensor(squares[k])).sum() / 2.0
    return total


def assert_close(what, ours, theirs, case):
    theirs, ours = _numpy(theirs), _numpy(ours)
    if theirs is None:  # torch: this input does not reach the output (a zero gradient)
        assert ours is None or not np.any(ours), f"{what}: torch has no gradient here but minigen's is nonzero"
        return
    if ours is None:
        ours = np.zeros_like(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype}, torch {theirs.dtype}"
    if theirs.dtype.kind in "biu":
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
        return
    atol = case.atol
    if case.atol_per_max and theirs.size:
        atol *= max(1.0, float(np.max(np.abs(theirs), where=np.isfinite(theirs), initial=0.0)))
    np.testing.assert_allclose(ours, theirs, rtol=case.rtol, atol=atol, err_msg=what)


def check_parity(case):
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    arrays = [spec.array(rng) for spec in case.inputs]
    ours_inputs, ours = _run(MINIGEN, case, arrays)
    theirs_inputs, theirs = _run(TORCH, case, arrays)

    assert len(ours) == len(theirs), f"{case.id}: {len(ours)} outputs, torch {len(theirs)}"
    for k, (y, expected) in enumerate(zip(ours, theirs)):
        assert_close(f"{case.id}: output {k}", y, expected, case)
        assert y.requires_grad == expected.requires_grad, (
            f"{case.id}: output {k} requires_grad={y.requires_grad}, torch {expected.requires_grad}"
        )

    differentiable = [k for k, y in enumerate(theirs) if y.requires_grad]
    if not differentiable:
        return
    weights = [rng.standard_normal(theirs[k].shape).astype(np.float32) for k in differentiable]

    def pick(outputs):
        return [outputs[k] for k in differentiable]

    ours_grads = _grad(MINIGEN, _weighted(MINIGEN, pick(ours), weights), _float_inputs(case, ours_inputs), False)
    theirs_grads = _grad(TORCH, _weighted(TORCH, pick(theirs), weights), _float_inputs(case, theirs_inputs), False)
    for i, (g, expected) in enumerate(zip(ours_grads, theirs_grads)):
        assert_close(f"{case.id}: grad of input {i}", g, expected, case)

    if case.second_order:
        _check_second_order(case, arrays, rng, weights, differentiable)


def _check_second_order(case, arrays, rng, weights, differentiable):
    squares = [rng.standard_normal(w.shape).astype(np.float32) for w in weights]
    directions = [
        rng.standard_normal(a.shape).astype(np.float32) for a, s in zip(arrays, case.inputs) if s.requires_grad
    ]
    results = {}
    for L in (MINIGEN, TORCH):
        inputs, outputs = _run(L, case, arrays)
        inputs = _float_inputs(case, inputs)
        loss = _weighted(L, [outputs[k] for k in differentiable], weights, squares)
        grads = _grad(L, loss, inputs, True)
        terms = [(g * L.t.tensor(v)).sum() for g, v in zip(grads, directions) if g is not None]
        product = sum(terms[1:], terms[0]) if terms else None
        hessian_vector = [None] * len(inputs) if product is None else _grad(L, product, inputs, False)
        results[L.name] = (grads, hessian_vector)
    (ours_grads, ours_hv), (theirs_grads, theirs_hv) = results["minigen"], results["torch"]
    for i, (g, expected) in enumerate(zip(ours_grads, theirs_grads)):
        assert_close(f"{case.id}: create_graph grad of input {i}", g, expected, case)
    for i, (h, expected) in enumerate(zip(ours_hv, theirs_hv)):
        assert_close(f"{case.id}: Hessian-vector product of input {i}", h, expected, case)
