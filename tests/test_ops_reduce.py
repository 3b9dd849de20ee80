"""Property tests for reductions: gradcheck and gradgradcheck over drawn shapes, dims and keepdim,
forward values against NumPy, ties, dtypes and errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, check_gradients, seeds, shapes, tensor


@st.composite
def reduction_arguments(draw, min_dims=0, max_dims=4, min_side=1, max_side=3, single_dim=False):
    """A shape, a ``dim`` (None, an int or a tuple, negatives included) and ``keepdim``."""
    shape = draw(shapes(min_dims, max_dims, min_side, max_side))
    rank = max(len(shape), 1)
    kind = "int" if single_dim else draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-rank, rank - 1))
    else:
        axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
        dim = tuple(a - rank if draw(st.booleans()) else a for a in axes)
    return shape, dim, draw(st.booleans())


def distinct(shape, seed, device="cpu", magnitudes=False):
    """Values 4/n apart (no ties, so max/min are differentiable); with ``magnitudes`` the
    absolute values are distinct and away from 0, the signs random."""
    rng = np.random.default_rng(seed)
    size = math.prod(shape)
    values = (rng.permutation(size) + 0.5 - size / 2) * (4.0 / max(size, 1))
    if magnitudes:
        values = (rng.permutation(size) + 1.0) * (2.0 / max(size, 1)) * rng.choice([-1.0, 1.0], size)
    return minigen.tensor(values.reshape(shape), dtype=minigen.float64, device=device, requires_grad=True)


def away_from_zero(shape, seed, device="cpu"):
    """Magnitudes in [0.5, 1.5) with random signs: products of up to 27 of them stay moderate."""
    x = tensor(shape, seed, device, low=0.5, high=1.5)
    signs = np.random.default_rng(seed + 1).choice([-1.0, 1.0], shape)
    x.data = x.data * minigen.tensor(signs, dtype=minigen.float64, device=device).data
    return x


def values_of(shape, seed, device, kind):
    if kind == "distinct":
        return distinct(shape, seed, device)
    if kind == "magnitudes":
        return distinct(shape, seed, device, magnitudes=True)
    if kind == "nonzero":
        return away_from_zero(shape, seed, device)
    return tensor(shape, seed, device)


def _values(result):
    return result.values if isinstance(result, tuple) else result


# name -> (function of (x, dim, keepdim), kind of values, whether dim must be a single int)
REDUCTIONS = {
    "sum": (lambda x, dim, keepdim: x.sum(dim, keepdim), "uniform", False),
    "mean": (lambda x, dim, keepdim: x.mean(dim, keepdim=keepdim), "uniform", False),
    "prod": (lambda x, dim, keepdim: minigen.prod(x, dim, keepdim), "nonzero", False),
    "amax": (lambda x, dim, keepdim: x.amax(dim, keepdim), "distinct", False),
    "amin": (lambda x, dim, keepdim: minigen.amin(x, dim, keepdim), "distinct", False),
    "max_dim": (lambda x, dim, keepdim: x.max(dim, keepdim).values, "distinct", True),
    "min_dim": (lambda x, dim, keepdim: minigen.min(x, dim=dim, keepdim=keepdim)[0], "distinct", True),
    "max_all": (lambda x, dim, keepdim: x.max() * 1.0, "distinct", False),
    "min_all": (lambda x, dim, keepdim: minigen.min(x), "distinct", False),
    "logsumexp": (lambda x, dim, keepdim: x.logsumexp(dim, keepdim), "uniform", False),
    "cumsum": (lambda x, dim, keepdim: x.cumsum(dim) * x, "uniform", True),
    "norm_2": (lambda x, dim, keepdim: x.norm(2, dim, keepdim), "nonzero", False),
    "norm_fro": (lambda x, dim, keepdim: minigen.norm(x, dim=dim, keepdim=keepdim), "nonzero", False),
    "norm_1": (lambda x, dim, keepdim: x.norm(1, dim, keepdim), "nonzero", False),
    "norm_3": (lambda x, dim, keepdim: x.norm(3, dim, keepdim), "nonzero", False),
    "norm_half": (lambda x, dim, keepdim: x.norm(0.5, dim, keepdim), "nonzero", False),
    "norm_1.5": (lambda x, dim, keepdim: x.norm(1.5, dim, keepdim), "nonzero", False),
    "norm_inf": (lambda x, dim, keepdim: x.norm(math.inf, dim, keepdim), "magnitudes", False),
    "norm_-inf": (lambda x, dim, keepdim: x.norm(-math.inf, dim, keepdim), "magnitudes", False),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data(), seed=seeds)
def test_reduction_gradients(name, device, data, seed):
    fn, kind, single_dim = REDUCTIONS[name]
    shape, dim, keepdim = data.draw(reduction_arguments(single_dim=single_dim))
    x = values_of(shape, seed, device, kind)
    check_gradients(lambda t: fn(t, dim, keepdim), (x,))


VARIANCE_ARGUMENTS = [{}, {"unbiased": True}, {"unbiased": False}, {"correction": 0}, {"correction": 0.5}]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["var", "std"])
@given(data=st.data(), seed=seeds, arguments=st.sampled_from(VARIANCE_ARGUMENTS))
def test_variance_gradients(name, device, data, seed, arguments):
    # sides >= 2, so every group has N > correction and a nonzero spread (sqrt is smooth there)
    shape, dim, keepdim = data.draw(reduction_arguments(min_dims=1, min_side=2))
    x = tensor(shape, seed, device)
    fn = getattr(minigen, name)
    check_gradients(lambda t: fn(t, dim, keepdim=keepdim, **arguments), (x,))


# --- forward values against NumPy ---------------------------------------------------------------


def _numpy_axes(dim, ndim):
    if dim is None or ndim == 0:
        return None
    return tuple(d % ndim for d in dim) if isinstance(dim, tuple) else dim % ndim


def _logsumexp(a, axis, keepdims):
    return np.log(np.exp(a).sum(axis=axis, keepdims=keepdims))


NUMPY_REDUCTIONS = {
    "sum": (lambda x, dim, keepdim: x.sum(dim, keepdim), np.sum),
    "mean": (lambda x, dim, keepdim: x.mean(dim, keepdim), np.mean),
    "prod": (lambda x, dim, keepdim: x.prod(dim, keepdim), np.prod),
    "amax": (lambda x, dim, keepdim: x.amax(dim, keepdim), np.amax),
    "amin": (lambda x, dim, keepdim: x.amin(dim, keepdim), np.amin),
    "logsumexp": (lambda x, dim, keepdim: x.logsumexp(dim, keepdim), _logsumexp),
    "var": (lambda x, dim, keepdim: x.var(dim, keepdim=keepdim, correction=0), np.var),
    "std": (lambda x, dim, keepdim: x.std(dim, keepdim=keepdim, unbiased=False), np.std),
    "norm": (lambda x, dim, keepdim: x.norm(dim=dim, keepdim=keepdim),
             lambda a, axis, keepdims: np.sqrt((a * a).sum(axis=axis, keepdims=keepdims))),
    "norm_3": (lambda x, dim, keepdim: x.norm(3, dim, keepdim),
               lambda a, axis, keepdims: (np.abs(a) ** 3).sum(axis=axis, keepdims=keepdims) ** (1 / 3)),
    "all": (lambda x, dim, keepdim: (x > -1).all(dim, keepdim), lambda a, axis, keepdims: np.all(a > -1, axis, keepdims=keepdims)),
    "any": (lambda x, dim, keepdim: (x > 1).any(dim, keepdim), lambda a, axis, keepdims: np.any(a > 1, axis, keepdims=keepdims)),
}


@pytest.mark.parametrize("name", sorted(NUMPY_REDUCTIONS))
@given(arguments=reduction_arguments(max_side=4), seed=seeds)
def test_forward_matches_numpy(name, arguments, seed):
    fn, reference = NUMPY_REDUCTIONS[name]
    shape, dim, keepdim = arguments
    x = tensor(shape, seed, requires_grad=False)
    expected = reference(x.data, axis=_numpy_axes(dim, len(shape)), keepdims=keepdim)
    result = fn(x, dim, keepdim)
    assert result.shape == np.shape(expected)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12, atol=1e-12)


@given(arguments=reduction_arguments(max_side=4, single_dim=True), seed=seeds)
def test_dim_forms_match_numpy(arguments, seed):
    shape, dim, keepdim = arguments
    x = distinct(shape, seed).detach()
    axis = _numpy_axes(dim, len(shape))
    data = x.data if x.ndim else x.data.reshape(1)
    for op, reference in (("max", np.argmax), ("min", np.argmin)):
        values, indices = getattr(x, op)(dim, keepdim)
        expected_indices = reference(data, axis=axis, keepdims=keepdim and x.ndim > 0)
        assert indices.dtype == minigen.int64 and indices.shape == np.shape(expected_indices)
        assert np.array_equal(indices.numpy(), expected_indices)
        expected_values = np.take_along_axis(data, reference(data, axis=axis, keepdims=True), axis)
        assert np.array_equal(values.numpy().reshape(-1), expected_values.reshape(-1))
        arg = getattr(minigen, "arg" + op)(x, dim, keepdim)
        assert arg.dtype == minigen.int64 and np.array_equal(arg.numpy(), expected_indices)
    assert np.array_equal(x.cumsum(dim).numpy(), np.cumsum(data, axis=axis).reshape(shape))


def test_argmax_argmin_flatten_without_dim():
    x = minigen.tensor([[1.0, 7.0, 3.0], [-4.0, 5.0, 6.0]])
    assert x.argmax().item() == 1 and x.argmin().item() == 3
    assert x.argmax().shape == () and x.argmax(keepdim=True).shape == (1, 1)
    assert minigen.argmax(x, dim=-1, keepdim=True).tolist() == [[1], [2]]
    assert minigen.argmin(minigen.tensor(3.0), 0).item() == 0


def test_logical_reductions_and_count_nonzero():
    x = minigen.tensor([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    assert x.all().dtype == minigen.bool and x.all().item() is False and x.any().item() is True
    assert x.all(dim=1).tolist() == [False, True]
    assert minigen.any(x == 0, dim=0, keepdim=True).tolist() == [[False, True, False]]
    assert minigen.all(x, dim=(0, 1)).shape == ()
    assert x.count_nonzero().item() == 5 and x.count_nonzero().dtype == minigen.int64
    assert minigen.count_nonzero(x, dim=0).tolist() == [2, 1, 2]
    assert minigen.count_nonzero(x, dim=(0, 1)).item() == 5


def test_max_returns_a_named_pair_and_dispatches_to_maximum():
    x = minigen.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 0.0]], requires_grad=True)
    result = x.max(dim=1)
    values, indices = result
    assert result.values is values and result.indices is indices
    assert values.tolist() == [5.0, 4.0] and indices.tolist() == [1, 0]
    assert indices.is_leaf and not indices.requires_grad
    assert minigen.min(x, 0, keepdim=True).indices.tolist() == [[0, 1, 1]]
    other = minigen.tensor([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]])
    assert minigen.max(x, other).tolist() == [[2.0, 5.0, 3.0], [4.0, 2.0, 2.0]]
    assert x.min(other).tolist() == [[1.0, 2.0, 2.0], [2.0, 2.0, 0.0]]
    assert minigen.max(x, other=other).tolist() == minigen.maximum(x, other).tolist()
    scalar = minigen.max(minigen.tensor(3.0), 0)
    assert scalar.values.item() == 3.0 and scalar.indices.item() == 0 and scalar.values.shape == ()


def test_max_along_dim_sends_the_gradient_to_the_returned_index():
    x = minigen.tensor([[1.0, 5.0, 5.0], [4.0, 2.0, 0.0]], requires_grad=True)
    values, _ = x.max(1)
    (values * minigen.tensor([2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]]


def test_ties_share_the_gradient_evenly():
    x = minigen.tensor([[3.0, 1.0, 3.0], [0.0, 3.0, 2.0]], requires_grad=True)
    x.max().backward()
    assert np.allclose(x.grad.numpy(), [[1 / 3, 0, 1 / 3], [0, 1 / 3, 0]])
    x.grad = None
    x.amin(dim=0).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]


TIE_CASES = {
    "max": lambda m, x: m.max(x),
    "min": lambda m, x: m.min(x),
    "max_dim": lambda m, x: m.max(x, 1).values,
    "min_dim": lambda m, x: m.min(x, 0).values,
    "amax": lambda m, x: m.amax(x, 1),
    "amax_all": lambda m, x: m.amax(x, (0, 1), keepdim=True),
    "amin": lambda m, x: m.amin(x, -1),
    "norm_inf": lambda m, x: m.norm(x, math.inf, 1),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TIE_CASES))
def test_tie_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    data = np.array([[3.0, -3.0, 3.0, 1.0], [2.0, 2.0, -1.0, -1.0], [0.0, 5.0, 5.0, 5.0]])
    weights = np.arange(1.0, 5.0)
    ours = minigen.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    ours_out, theirs_out = TIE_CASES[name](minigen, ours), TIE_CASES[name](torch, theirs)
    np.testing.assert_allclose(ours_out.detach().numpy(), theirs_out.detach().numpy())
    ours_weights = minigen.tensor(weights[: ours_out.numel()].reshape(ours_out.shape))
    (ours_out * ours_weights).sum().backward()
    (theirs_out * torch.tensor(ours_weights.numpy())).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


# --- prod with zeros, norm at zero, stable logsumexp -----------------------------------------------


PROD_WITH_ZEROS = np.array([[0.5, 1.2, -0.7, 1.1], [0.0, 1.2, -0.7, 1.1], [0.0, 1.2, 0.0, 1.1], [0.0, 0.0, 0.0, 1.1]])


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_prod_gradients_with_zeros(dim):
    # rows with no, one, two and three zeros; first and second derivatives exact at the zeros
    x = minigen.tensor(PROD_WITH_ZEROS, dtype=minigen.float64, requires_grad=True)
    check_gradients(lambda t: minigen.prod(t, dim), (x,))


def test_prod_gradient_at_a_zero_is_the_product_of_the_others():
    x = minigen.tensor([2.0, 0.0, 3.0], requires_grad=True)
    x.prod().backward()
    assert x.grad.tolist() == [0.0, 6.0, 0.0]


def test_two_norm_gradient_at_zero_is_zero():
    x = minigen.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    x.norm(dim=1).sum().backward()
    assert np.allclose(x.grad.numpy(), [[0.0, 0.0], [0.6, 0.8]])
    z = minigen.zeros(3, requires_grad=True)
    for p in (2, 3, 1.5, 0.5):
        (gradient,) = minigen.grad(z.norm(p), z)
        assert np.array_equal(gradient.numpy(), np.zeros(3)), p


def test_norm_special_orders():
    x = minigen.tensor([[3.0, -4.0, 0.0], [1.0, 0.0, -2.0]])
    assert np.allclose(x.norm(0, dim=1).numpy(), [2.0, 2.0])
    assert np.allclose(x.norm(-math.inf).numpy(), 0.0)
    assert np.allclose(x.norm(1).numpy(), 10.0)
    assert np.allclose(x.norm(math.inf, dim=0, keepdim=True).numpy(), [[3.0, 4.0, 2.0]])
    with pytest.raises(NotImplementedError, match="nuc"):
        x.norm("nuc")


def test_logsumexp_is_stable():
    x = minigen.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [-math.inf, -math.inf], [math.inf, 0.0]])
    result = x.logsumexp(1).numpy()
    assert np.allclose(result[:2], [1000 + math.log(2), -1000 + math.log(2)])
    assert result[2] == -math.inf and result[3] == math.inf
    y = minigen.tensor([1000.0, 999.0], dtype=minigen.float64, requires_grad=True)
    y.logsumexp(0).backward()
    assert np.allclose(y.grad.numpy(), [1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1))])


def test_variance_arguments_follow_torch():
    data = np.arange(12.0).reshape(3, 4) ** 1.5
    x = minigen.tensor(data, dtype=minigen.float64)
    assert np.allclose(x.var().numpy(), np.var(data, ddof=1))
    assert np.allclose(x.var(True).numpy(), np.var(data, ddof=1))
    assert np.allclose(minigen.var(x, 1, False, True).numpy(), np.var(data, 1, ddof=0, keepdims=True))
    assert np.allclose(x.std(dim=0, correction=2).numpy(), np.std(data, 0, ddof=2))
    assert np.allclose(x.var(dim=(0, 1), unbiased=False).numpy(), np.var(data))
    assert math.isnan(minigen.var(minigen.tensor([1.0])).item())
    assert minigen.var(minigen.tensor([1.0, 2.0]), correction=2).item() == math.inf
    with pytest.raises(TypeError, match="var: pass either"):
        x.var(unbiased=True, correction=1)


def test_empty_dim_tuple_reduces_every_dim():
    x = minigen.tensor(np.arange(6.0).reshape(2, 3))
    for op in ("sum", "mean", "amax", "amin", "var", "logsumexp"):
        assert getattr(x, op)(()).item() == pytest.approx(getattr(x, op)(None if op != "logsumexp" else (0, 1)).item())


# --- dtypes ---------------------------------------------------------------------------------------


FLOAT32_OPS = {
    "sum": lambda x: x.sum(1), "mean": lambda x: x.mean(), "prod": lambda x: x.prod(0),
    "var": lambda x: x.var(1), "std": lambda x: x.std(), "max": lambda x: x.max(),
    "max_dim": lambda x: x.max(1).values, "amin": lambda x: x.amin(0), "logsumexp": lambda x: x.logsumexp(1),
    "norm": lambda x: x.norm(), "norm_3": lambda x: x.norm(3, 1), "norm_1": lambda x: x.norm(1),
    "cumsum": lambda x: x.cumsum(0),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_OPS))
def test_float32_is_preserved_forward_and_backward(name):
    x = minigen.tensor(np.linspace(0.5, 2.0, 6).reshape(2, 3), dtype=minigen.float32, requires_grad=True)
    y = FLOAT32_OPS[name](x)
    assert y.dtype == minigen.float32
    (gradient,) = minigen.grad(y.sum(), x)
    assert gradient.dtype == minigen.float32


def test_integer_and_bool_reductions_follow_torch_dtypes():
    ints = minigen.tensor([[1, 2], [3, 4]], dtype=minigen.int32)
    bools = minigen.tensor([True, False, True])
    assert ints.sum().dtype == minigen.int64 and ints.sum().item() == 10
    assert bools.sum().dtype == minigen.int64 and bools.sum().item() == 2
    assert ints.prod(1).dtype == minigen.int64 and ints.prod(1).tolist() == [2, 12]
    assert ints.cumsum(0).dtype == minigen.int64
    assert ints.sum(dtype=minigen.float32).dtype == minigen.float32
    assert ints.amax().dtype == minigen.int32
    assert ints.logsumexp(1).dtype == minigen.float32
    with pytest.raises(RuntimeError, match="mean: expected a floating-point tensor"):
        ints.mean()


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["sum", "mean", "prod", "amax", "max", "argmax", "logsumexp", "cumsum", "var", "all"])
def test_out_of_range_dim_names_op_dim_and_shape(op):
    x = minigen.ones(2, 3)
    with pytest.raises(IndexError, match=rf"{op}: dim 2 is out of range for a tensor of 2 dimensions, shape \(2, 3\) \(expected -2 <= dim < 2\)"):
        getattr(x, op)(2)
    with pytest.raises(IndexError, match=rf"{op}: dim -3 is out of range"):
        getattr(x, op)(-3)


def test_other_bad_arguments():
    x = minigen.ones(2, 3)
    with pytest.raises(RuntimeError, match=r"sum: dim \(0, -2\) names the same dim twice"):
        x.sum((0, -2))
    with pytest.raises(TypeError, match="max: dim must be an int"):
        x.max((0, 1))
    with pytest.raises(RuntimeError, match=r"max: cannot reduce over dim 0 of size 0 of a tensor of shape \(0,\)"):
        minigen.zeros(0).max()
    with pytest.raises(RuntimeError, match="argmax: cannot find the max of an empty tensor"):
        minigen.zeros(0, 2).argmax()
    assert minigen.zeros(0, 2).amax(1).shape == (0,)
    assert math.isnan(minigen.zeros(0).mean().item())
