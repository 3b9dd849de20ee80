"""Autograd semantics: accumulation, retained and freed graphs, grad modes, detach, grad(), deep graphs."""

import gc
import weakref

import numpy as np
import pytest

import minigen
from minigen import Function, Tensor


def leaf(values):
    return minigen.tensor(values, dtype=minigen.float64, requires_grad=True)


def test_backward_accumulates_into_grad():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [2.0 + 3.0, 4.0 + 3.0]


def test_retain_graph_allows_a_second_identical_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    assert np.allclose(x.grad.numpy(), 2 * first)


def test_second_backward_through_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward()


def test_graph_is_freed_so_intermediates_are_collected():
    x = leaf(np.ones(1000))
    hidden = x.exp()
    probe = weakref.ref(hidden.data)
    loss = (hidden * 2).sum()
    del hidden
    assert probe() is not None, "the graph must keep what backward reads (exp's output) until backward"
    loss.backward()
    del loss
    assert probe() is None, "an intermediate outlived its graph: a reference cycle keeps it"


def test_intermediates_no_backward_reads_are_freed_before_backward():
    x = leaf(np.ones(1000))
    scaled = x * 3.0  # read by no backward: MulScalar, AddScalar and Sum keep only its shape
    probe = weakref.ref(scaled.data)
    loss = (scaled + 1.0).sum()
    del scaled
    assert probe() is None, "the graph kept an array that no backward reads"
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(1000, 3.0))


def test_an_output_saved_for_backward_is_rebuilt_in_the_graph_after_its_tensor_is_gone():
    x = leaf([0.5, -1.0, 2.0])
    loss = (x.tanh() * 2.0).sum()  # the tanh output tensor is dropped at once; its array is saved
    (gradient,) = minigen.grad(loss, x, create_graph=True)
    np.testing.assert_allclose(gradient.detach().numpy(), 2 * (1 - np.tanh(x.detach().numpy()) ** 2))
    (second,) = minigen.grad(gradient.sum(), x)  # the rebuilt output must still lead back to x
    t = np.tanh(x.detach().numpy())
    np.testing.assert_allclose(second.numpy(), -4 * t * (1 - t**2))


def test_no_reference_cycles_between_nodes_and_outputs():
    gc.collect()
    gc.disable()
    try:
        x = leaf(np.ones(10))
        y = (x * 2).tanh()
        probe = weakref.ref(y.creator)
        del y
        assert probe() is None
    finally:
        gc.enable()


def test_no_grad_records_nothing_and_restores_mode():
    x = leaf([1.0])
    with minigen.no_grad():
        assert not minigen.is_grad_enabled()
        y = x * 2
        with minigen.enable_grad():
            assert minigen.is_grad_enabled()
            z = x * 2
    assert minigen.is_grad_enabled()
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad and z.creator is not None


def test_no_grad_as_decorator_restores_mode_after_an_exception():
    @minigen.no_grad()
    def failing():
        assert not minigen.is_grad_enabled()
        raise ValueError("boom")

    with pytest.raises(ValueError):
        failing()
    assert minigen.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).detach() * x
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 4.0]  # only the outer factor is differentiated


def test_grad_of_non_leaf_and_no_side_effects():
    x = leaf([1.0, 2.0, 3.0])
    hidden = x * 2
    out = (hidden * hidden).sum()
    (grad_hidden,) = minigen.grad(out, hidden)
    assert grad_hidden.tolist() == [4.0, 8.0, 12.0]
    assert x.grad is None and hidden.grad is None


def test_grad_of_several_outputs_and_inputs():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    a, b = (x * w).sum(), (x * x).sum()
    gx, gw = minigen.grad([a, b], [x, w])
    assert gx.tolist() == [3.0 + 2.0, 4.0 + 4.0] and gw.tolist() == [1.0, 2.0]


def test_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    y = (x * 3).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        minigen.grad(y, [x, unused], retain_graph=True)
    gx, gu = minigen.grad(y, [x, unused], allow_unused=True)
    assert gx.tolist() == [3.0] and gu is None


def test_diamond_graph_sums_both_paths():
    x = leaf([3.0])
    y = x * 2
    z = y * y + y.exp() + y  # three uses of y
    z.backward()
    expected = 2 * (2 * 6.0 + np.exp(6.0) + 1)
    assert np.isclose(x.grad.item(), expected)


def test_deep_chain_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    assert np.isclose(x.grad.item(), 1.0001**10_000)


def test_higher_order_derivatives():
    x = leaf([1.5])
    y = (x**4).sum()
    (g1,) = minigen.grad(y, x, create_graph=True)
    (g2,) = minigen.grad(g1.sum(), x, create_graph=True)
    (g3,) = minigen.grad(g2.sum(), x, create_graph=True)
    (g4,) = minigen.grad(g3.sum(), x)
    assert np.allclose([g1.item(), g2.item(), g3.item(), g4.item()], [4 * 1.5**3, 12 * 1.5**2, 24 * 1.5, 24])


def test_backward_with_create_graph_gives_differentiable_grad():
    x = leaf([2.0])
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = minigen.grad(x.grad.sum(), x)
    assert np.isclose(g2.item(), 12.0)


def test_gradient_penalty_pattern():
    # WGAN-GP: the penalty on ||d critic / d x|| is itself differentiated w.r.t. the weights
    x = leaf(np.array([[0.5, -1.0], [2.0, 0.3]]))
    w = leaf(np.array([[1.0], [-2.0]]))
    _penalty(x, w).backward()
    assert w.grad is not None and np.all(np.isfinite(w.grad.numpy()))
    assert minigen.gradcheck(lambda w_: _penalty(x.detach(), w_), (w,))


def _penalty(x, w):
    x = x.requires_grad_()
    critic = (x * w.reshape(1, 2)).sum(dim=1).tanh()
    (g,) = minigen.grad(critic.sum(), x, create_graph=True)
    return (((g * g).sum(dim=1).sqrt() - 1.0) ** 2).mean()


def test_explicit_gradient_for_non_scalar_backward():
    x = leaf([1.0, 2.0])
    y = x * x
    y.backward(minigen.tensor([1.0, 0.5], dtype=minigen.float64))
    assert x.grad.tolist() == [2.0, 2.0]


def test_once_differentiable_function_refuses_create_graph():
    class Opaque(Function):
        once_differentiable = True

        def forward(self, x):
            return x * 2

        def backward(self, grad):
            return Tensor(grad.data * 2)

    x = leaf([1.0])
    (g,) = minigen.grad(Opaque()(x).sum(), x)
    assert g.tolist() == [2.0]
    with pytest.raises(RuntimeError, match="once-differentiable"):
        minigen.grad(Opaque()(x).sum(), x, create_graph=True)


def test_integer_outputs_do_not_require_grad():
    x = leaf([1.0, 2.0])
    assert not (x > 1).requires_grad
    assert (x * 1).requires_grad
