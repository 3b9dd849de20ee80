"""Property tests for softmax, log_softmax and dropout."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, check_gradients, seeds, shapes, tensor


def _numpy(t):
    return t.detach().cpu().numpy()


@st.composite
def shape_and_dim(draw):
    shape = draw(shapes(min_dims=0, max_dims=4))
    rank = max(len(shape), 1)
    return shape, draw(st.integers(-rank, rank - 1))


def _reference_log_softmax(x, dim):
    axis = dim if x.ndim else None
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(drawn=shape_and_dim(), seed=seeds)
def test_softmax_values_and_gradients(name, device, drawn, seed):
    shape, dim = drawn
    x = tensor(shape, seed, device, low=-3.0, high=3.0)
    result = getattr(minigen, name)(x, dim)
    expected = _reference_log_softmax(_numpy(x), dim)
    if name == "softmax":
        expected = np.exp(expected)
    np.testing.assert_allclose(_numpy(result), expected, rtol=1e-12, atol=1e-12)
    check_gradients(lambda t: getattr(t, name)(dim), (x,))


@pytest.mark.parametrize("device", DEVICES)
def test_softmax_is_stable_for_huge_logits(device):
    x = minigen.tensor([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], device=device)
    np.testing.assert_allclose(_numpy(minigen.softmax(x, dim=1)), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6)
    np.testing.assert_allclose(_numpy(minigen.log_softmax(x, dim=1)),
                               [[0, -1000, -2000], [-np.log(3)] * 3], rtol=1e-6)


def test_softmax_arguments():
    x = minigen.randn(2, 3)
    with pytest.raises(TypeError, match="softmax: dim is required"):
        minigen.softmax(x)
    with pytest.raises(TypeError, match="log_softmax: dim is required"):
        minigen.log_softmax(x)
    with pytest.raises(IndexError, match="softmax: dim 2 is out of range for a tensor of 2 dimensions"):
        x.softmax(2)
    assert minigen.softmax(x, dim=-1, dtype=minigen.float64).dtype == minigen.float64
    assert x.log_softmax(0).dtype == minigen.float32
    assert minigen.softmax(minigen.tensor([1, 2, 3]), 0).dtype == minigen.float32
    np.testing.assert_allclose(x.softmax(1).sum(1).numpy(), np.ones(2), rtol=1e-6)


# --- dropout ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_and_scaling(device, p):
    x = minigen.ones(400, 500, device=device)
    y = _numpy(minigen.dropout(x, p))
    kept = y != 0
    # The kept fraction is binomial: 5 standard deviations of 200,000 draws.
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / kept.size)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert y.dtype == np.float32


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_is_reproducible_under_manual_seed(device):
    x = minigen.randn(50, 40, device=device)
    minigen.manual_seed(7)
    first, second = _numpy(minigen.dropout(x, 0.3)), _numpy(minigen.dropout(x, 0.3))
    minigen.manual_seed(7)
    again = _numpy(minigen.dropout(x, 0.3))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_gradient_is_the_scaled_mask(device):
    x = tensor((30, 20), 0, device, avoid=(0,))
    y = minigen.dropout(x, 0.25)
    (gradient,) = minigen.grad(y.sum(), x)
    mask = _numpy(y) / _numpy(x)  # x stays away from 0, so this recovers mask / (1 - p)
    np.testing.assert_allclose(_numpy(gradient), mask, rtol=1e-12)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.75, 12)}


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=seeds, p=st.sampled_from([0.2, 0.5]))
def test_dropout_gradients_with_a_fixed_mask(device, shape, seed, p):
    x = tensor(shape, seed, device)

    def fixed_mask_dropout(t):
        minigen.manual_seed(seed)  # the same mask on every evaluation of the function
        return minigen.dropout(t, p) * t

    check_gradients(fixed_mask_dropout, (x,))


def test_dropout_identity_cases_and_errors():
    x = minigen.randn(3, 4, requires_grad=True)
    assert minigen.dropout(x, 0.5, training=False) is x
    assert minigen.dropout(x, 0.0) is x
    zeroed = minigen.dropout(x, 1.0)
    assert not zeroed.detach().numpy().any()
    zeroed.sum().backward()
    assert not x.grad.numpy().any()
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout: probability has to be between 0 and 1, but got {p}"):
            minigen.dropout(x, p)
    with pytest.raises(TypeError, match="dropout: expected a floating-point Tensor, got int64"):
        minigen.dropout(minigen.tensor([1, 2]), 0.5)


def test_dropout_inplace_writes_into_the_input_without_a_graph():
    x = minigen.ones(100, 10)
    y = minigen.dropout(x, 0.5, inplace=True)
    assert y is x and (x.numpy() == 0).any()
    leaf = minigen.ones(100, 10, requires_grad=True)
    y = minigen.dropout(leaf, 0.5, inplace=True)
    assert y is not leaf and (leaf.detach().numpy() == 1).all()


# --- fused gradient nodes, to third order -----------------------------------------------------

FUSED = {
    "sigmoid": minigen.sigmoid,
    "tanh": minigen.tanh,
    "silu": minigen.nn.functional.silu,
    "gelu": minigen.nn.functional.gelu,
    "gelu_tanh": lambda x: minigen.nn.functional.gelu(x, approximate="tanh"),
    "softmax": lambda x: minigen.softmax(x, dim=-1),
    "layer_norm": lambda x: minigen.nn.functional.layer_norm(x, x.shape[-1:]),
    "group_norm": lambda x: minigen.nn.functional.group_norm(x, 2),
}


@pytest.mark.parametrize("name", sorted(FUSED))
def test_fused_gradient_nodes_are_differentiable_to_third_order(name):
    # The backward of each of these is a fused <Name>Grad node whose own backward is written
    # with ops; gradgradcheck of the first derivative checks the third derivative of the op.
    fn = FUSED[name]
    x = tensor((2, 4, 3), 3, low=-2.0, high=2.0)
    direction = tensor((2, 4, 3), 4, requires_grad=False)

    def first_derivative(t):
        (gradient,) = minigen.grad(fn(t), t, direction, create_graph=True)
        return gradient

    check_gradients(first_derivative, (x,))


def test_leaky_relu_double_backward_does_not_reach_the_layers_below(monkeypatch):
    # The gradient of leaky ReLU is g times a mask of x that is constant in x. Were x a graph input of
    # that gradient node, a gradient penalty's backward would run the layers that made x on zero
    # gradients: here, the convolution's backward a second time.
    conv = minigen.ops.conv.Conv2d
    calls = []
    original = conv.backward
    monkeypatch.setattr(conv, "backward", lambda self, grad: calls.append(1) or original(self, grad))
    image = tensor((2, 1, 6, 6), 0, low=-1.0, high=1.0)
    weight = tensor((3, 1, 3, 3), 1, low=-1.0, high=1.0)
    score = minigen.nn.functional.leaky_relu(minigen.nn.functional.conv2d(image, weight), 0.2).sum()
    (gradient,) = minigen.grad(score, image, create_graph=True)
    assert len(calls) == 1
    (gradient * gradient).sum().backward()
    assert len(calls) == 1
    assert weight.grad is not None and np.abs(weight.grad.numpy()).sum() > 0
