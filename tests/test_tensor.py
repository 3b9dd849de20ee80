"""Tensor creation, attributes, conversions, devices and seeding."""

import numpy as np
import pytest

import minigen
from helpers import DEVICES


def test_defaults_are_float32_and_inferred_like_torch():
    assert minigen.tensor([1.0, 2.0]).dtype == minigen.float32
    assert minigen.tensor([1, 2]).dtype == minigen.int64
    assert minigen.tensor([True]).dtype == minigen.bool
    assert minigen.tensor(np.zeros(2, np.float64)).dtype == minigen.float64
    assert minigen.tensor([1.0], dtype=minigen.float64).dtype == minigen.float64
    for factory in (minigen.zeros, minigen.ones, minigen.empty, minigen.rand, minigen.randn):
        t = factory(2, 3)
        assert t.shape == (2, 3) and t.dtype == minigen.float32
        assert factory((2, 3)).shape == (2, 3)


@pytest.mark.parametrize("device", DEVICES)
def test_factories(device):
    assert minigen.full((2, 2), 7.0, device=device).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert minigen.full((1,), 3).dtype == minigen.int64
    assert minigen.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert minigen.arange(5).dtype == minigen.int64
    assert minigen.arange(0, 1, 0.25).dtype == minigen.float32
    assert np.allclose(minigen.linspace(0, 1, 5, device=device).tolist(), [0, 0.25, 0.5, 0.75, 1])
    assert minigen.eye(3, device=device).tolist() == np.eye(3).tolist()
    assert minigen.eye(2, 3).shape == (2, 3)
    r = minigen.randint(3, 7, (1000,), device=device)
    assert r.dtype == minigen.int64 and r.numel() == 1000
    values = r.cpu().numpy()
    assert values.min() == 3 and values.max() == 6
    u = minigen.rand(10_000, device=device).cpu().numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    n = minigen.randn(10_000, device=device).cpu().numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    g = minigen.normal(2.0, 3.0, size=(10_000,), device=device).cpu().numpy()
    assert abs(g.mean() - 2) < 0.15 and abs(g.std() - 3) < 0.15


def test_like_factories_copy_shape_dtype_device():
    x = minigen.ones(2, 3, dtype=minigen.float64)
    for like in (minigen.zeros_like, minigen.ones_like, minigen.empty_like, minigen.rand_like, minigen.randn_like):
        y = like(x)
        assert y.shape == (2, 3) and y.dtype == minigen.float64 and y.device == x.device
    assert minigen.full_like(x, 4).tolist() == [[4.0] * 3] * 2
    assert minigen.randint_like(minigen.zeros(4, dtype=minigen.int64), 0, 3).shape == (4,)


def test_manual_seed_makes_draws_reproducible():
    minigen.manual_seed(123)
    a = [minigen.randn(3).tolist(), minigen.rand(2).tolist(), minigen.randint(0, 100, (3,)).tolist()]
    minigen.manual_seed(123)
    b = [minigen.randn(3).tolist(), minigen.rand(2).tolist(), minigen.randint(0, 100, (3,)).tolist()]
    assert a == b
    minigen.manual_seed(124)
    assert minigen.randn(3).tolist() != a[0]


def test_from_numpy_shares_memory():
    array = np.zeros(3, dtype=np.float32)
    t = minigen.from_numpy(array)
    array[0] = 5
    assert t.tolist()[0] == 5
    with pytest.raises(TypeError, match="numpy.ndarray"):
        minigen.from_numpy([1, 2])


def test_attributes():
    t = minigen.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.dim() == 3 and t.ndim == 3 and t.numel() == 24 and len(t) == 2
    assert t.T.shape == (4, 3, 2)
    assert minigen.zeros(2, 5).T.shape == (5, 2) and minigen.zeros(3, 2, 5).mT.shape == (3, 5, 2)
    assert str(t.device) == "cpu" and t.device == "cpu" and not t.is_cuda
    assert t.is_leaf and t.grad_fn is None and t.is_floating_point()


def test_conversions():
    t = minigen.tensor([[1.5, 2.0]])
    assert t.tolist() == [[1.5, 2.0]]
    assert minigen.tensor(3.5).item() == 3.5 and float(minigen.tensor([2.0])) == 2.0
    assert t.to(minigen.float64).dtype == minigen.float64 and t.double().dtype == minigen.float64
    assert t.long().tolist() == [[1, 2]] and t.to(dtype=minigen.int32).dtype == minigen.int32
    assert t.to("cpu") is t and t.cpu() is t
    assert isinstance(t.numpy(), np.ndarray)
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)


def test_to_dtype_is_differentiable():
    x = minigen.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(minigen.float64)
    (y * y).sum().backward()
    assert x.grad.dtype == minigen.float32 and x.grad.tolist() == [2.0, 4.0]


def test_detach_clone_requires_grad():
    x = minigen.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.data is x.data
    c = x.clone()
    assert c.requires_grad and c.data is not x.data
    (c * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    y = minigen.zeros(2).requires_grad_()
    assert y.requires_grad and y.is_leaf


def test_numpy_refuses_tensors_that_require_grad():
    with pytest.raises(RuntimeError, match="detach"):
        minigen.ones(2, requires_grad=True).numpy()


def test_in_place_updates_need_no_grad_on_leaves():
    w = minigen.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w.zero_()
    with minigen.no_grad():
        w.fill_(3.0)
        w.copy_(minigen.tensor([4.0, 5.0]))
    assert w.tolist() == [4.0, 5.0]
    with pytest.raises(RuntimeError, match=r"copy_: source of shape \(3,\) does not broadcast to \(2,\)"):
        with minigen.no_grad():
            w.copy_(minigen.zeros(3))


def test_repr_reads_like_torch():
    assert repr(minigen.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "requires_grad=True" in repr(minigen.ones(1, requires_grad=True))
    assert "grad_fn=<Mul>" in repr(minigen.ones(1, requires_grad=True) * minigen.ones(1))
    assert "dtype=float64" in repr(minigen.ones(1, dtype=minigen.float64))


def test_devices_parse_and_compare():
    assert minigen.device("cuda") == "cuda:0" and str(minigen.device("cuda:1")) == "cuda:1"
    assert minigen.device("cpu") != "cuda"
    with pytest.raises(ValueError, match="unknown device"):
        minigen.device("tpu")


@pytest.mark.skipif(minigen.cuda_is_available(), reason="checks the message given without CuPy")
def test_cuda_without_cupy_says_how_to_install():
    with pytest.raises(RuntimeError, match=r"minigen\[cuda12\]"):
        minigen.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CuPy|CUDA"):
        minigen.ones(2).to("cuda")


@pytest.mark.gpu
def test_round_trip_to_cuda_and_back_with_gradients():
    x = minigen.tensor([1.0, 2.0], requires_grad=True)
    y = x.cuda()
    assert y.device == "cuda:0" and y.is_cuda
    (y * y).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 4.0]
    assert minigen.randn(3, device="cuda").device == "cuda:0"
