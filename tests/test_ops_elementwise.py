"""Property tests for elementwise ops: gradcheck and gradgradcheck over drawn shapes and values."""

import math

import numpy as np
import pytest
from hypothesis import given

import minigen
from helpers import DEVICES, broadcastable_shapes, check_gradients, seeds, shapes, tensor

# name -> (function, value range, points to avoid)
UNARY = {
    "neg": (lambda x: -x, (-2, 2), ()),
    "abs": (minigen.abs, (-2, 2), (0,)),
    "exp": (minigen.exp, (-2, 2), ()),
    "log": (minigen.log, (0.2, 3), ()),
    "log1p": (minigen.log1p, (-0.5, 2), ()),
    "expm1": (minigen.expm1, (-2, 2), ()),
    "sqrt": (minigen.sqrt, (0.2, 3), ()),
    "rsqrt": (minigen.rsqrt, (0.2, 3), ()),
    "square": (minigen.square, (-2, 2), ()),
    "sin": (minigen.sin, (-3, 3), ()),
    "cos": (minigen.cos, (-3, 3), ()),
    "tanh": (minigen.tanh, (-3, 3), ()),
    "sigmoid": (minigen.sigmoid, (-4, 4), ()),
    "erf": (minigen.erf, (-2, 2), ()),
    "relu": (minigen.relu, (-2, 2), (0,)),
    "leaky_relu": (lambda x: minigen.leaky_relu(x, 0.2), (-2, 2), (0,)),
    "leaky_relu_steep": (lambda x: minigen.leaky_relu(x, -1.5), (-2, 2), (0,)),  # a slope outside [0, 1]
    "elu": (lambda x: minigen.elu(x, 0.7), (-2, 2), (0,)),
    "silu": (minigen.silu, (-4, 4), ()),
    "gelu": (minigen.gelu, (-3, 3), ()),
    "gelu_tanh": (lambda x: minigen.gelu(x, approximate="tanh"), (-3, 3), ()),
    "softplus": (minigen.softplus, (-4, 4), ()),
    "softplus_beta": (lambda x: minigen.softplus(x, beta=2.0, threshold=3.0), (-4, 4), (1.5,)),
    "clamp": (lambda x: minigen.clamp(x, -1.0, 0.5), (-2, 2), (-1.0, 0.5)),
    "clamp_min": (lambda x: x.clamp(min=0.3), (-2, 2), (0.3,)),
    "sign": (minigen.sign, (-2, 2), (0,)),
    "pow_scalar": (lambda x: x**3, (-2, 2), ()),
    "pow_fraction": (lambda x: x**1.5, (0.2, 3), ()),
    "rpow": (lambda x: 2.0**x, (-2, 2), ()),
    "rdiv": (lambda x: 3.0 / x, (0.3, 3), ()),
    "rsub": (lambda x: 1.0 - x, (-2, 2), ()),
    "scalar_ops": (lambda x: (x * 2.5 + 1.0) / 4.0 - 0.5, (-2, 2), ()),
}

BINARY = {
    "add": (lambda a, b: a + b, (-2, 2), (-2, 2)),
    "sub": (lambda a, b: a - b, (-2, 2), (-2, 2)),
    "mul": (lambda a, b: a * b, (-2, 2), (-2, 2)),
    "div": (lambda a, b: a / b, (-2, 2), (0.5, 2)),
    "pow": (lambda a, b: a**b, (0.5, 2), (-2, 2)),
    "maximum": (minigen.maximum, (-2, 2), (-2, 2)),
    "minimum": (minigen.minimum, (-2, 2), (-2, 2)),
    "lerp": (lambda a, b: minigen.lerp(a, b, 0.3), (-2, 2), (-2, 2)),
    "lerp_tensor_weight": (lambda a, b: minigen.lerp(a, a * 2, b), (-2, 2), (0, 1)),
    "where": (lambda a, b: minigen.where(a > b, a * a, b), (-2, 2), (-2, 2)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes(), seed=seeds)
def test_unary_gradients(name, device, shape, seed):
    fn, (low, high), avoid = UNARY[name]
    x = tensor(shape, seed, device, low=low, high=high, avoid=avoid)
    check_gradients(fn, (x,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcastable_shapes(), seed=seeds)
def test_binary_gradients_broadcast(name, device, pair, seed):
    fn, range_a, range_b = BINARY[name]
    a = tensor(pair[0], seed, device, low=range_a[0], high=range_a[1])
    b = tensor(pair[1], seed + 1, device, low=range_b[0], high=range_b[1])
    if name in ("maximum", "minimum", "where"):
        b.data = b.data + 0.05  # keep the two inputs apart: ties have no derivative
    check_gradients(fn, (a, b))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_ties_share_the_gradient(name):
    a = minigen.tensor([1.0, 2.0], requires_grad=True)
    b = minigen.tensor([1.0, 3.0], requires_grad=True)
    getattr(minigen, name)(a, b).sum().backward()
    assert a.grad.tolist()[0] == 0.5 and b.grad.tolist()[0] == 0.5


def test_python_scalars_do_not_promote():
    x = minigen.ones(3)
    for y in (x + 2, x * 2.5, 2.5 - x, x / 3, 1 / x, x**2, 2**x, np.float64(2) * x):
        assert y.dtype == minigen.float32
    assert (minigen.tensor([1, 2]) * 2.5).dtype == minigen.float32
    assert (minigen.tensor([1, 2]) + 2).dtype == minigen.int64
    assert (minigen.tensor([1, 2]) / 2).dtype == minigen.float32
    assert (x + minigen.ones(3, dtype=minigen.float64)).dtype == minigen.float64
    assert (x + minigen.tensor(2.0, dtype=minigen.float64)).dtype == minigen.float32


def test_comparisons_return_bool_and_carry_no_grad():
    a = minigen.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for mask in (a == 2, a != 2, a < 2, a <= 2, a > 2, a >= 2, (a > 1) & (a < 3), (a > 2) | (a < 2), ~(a > 2)):
        assert mask.dtype == minigen.bool and not mask.requires_grad
    assert (a > 1).tolist() == [False, True, True]
    assert ((a > 1) & (a < 3)).tolist() == [False, True, False]


def test_stable_forms_do_not_overflow():
    x = minigen.tensor([-1000.0, 0.0, 1000.0])
    assert np.allclose(minigen.sigmoid(x).numpy(), [0.0, 0.5, 1.0])
    assert np.allclose(minigen.softplus(x).numpy(), [0.0, math.log(2), 1000.0])
    assert np.all(np.isfinite(minigen.elu(x).numpy()))


def test_erf_matches_math_erf():
    values = np.linspace(-6, 6, 1001)
    ours = minigen.erf(minigen.tensor(values, dtype=minigen.float64)).numpy()
    assert np.max(np.abs(ours - np.array([math.erf(v) for v in values]))) < 1e-14


@given(seed=seeds, shape=shapes(min_dims=1))
def test_masked_fill_and_where_values(seed, shape):
    x = tensor(shape, seed)
    filled = x.masked_fill(x > 0, -1.0)
    expected = np.where(x.data > 0, -1.0, x.data)
    assert np.array_equal(filled.data, expected)
    check_gradients(lambda t: t.masked_fill(x.detach() > 0, 0.0) * t, (x,))
