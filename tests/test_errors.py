"""Bad input raises errors that name the op and the offending shapes, dtypes or devices."""

import pytest

import minigen


def test_broadcast_mismatch_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"Add: .*\(3, 4\), \(5,\)"):
        minigen.ones(3, 4) + minigen.ones(5)
    with pytest.raises(RuntimeError, match=r"Mul: .*\(2, 3\), \(4, 3\)"):
        minigen.ones(2, 3) * minigen.ones(4, 3)


def test_reshape_mismatch():
    with pytest.raises(RuntimeError, match=r"reshape: shape \(4, 4\) is invalid for a tensor of shape \(3, 5\)"):
        minigen.ones(3, 5).reshape(4, 4)


def test_broadcast_to_mismatch():
    with pytest.raises(RuntimeError, match=r"broadcast_to: cannot broadcast shape \(3,\) to \(2, 4\)"):
        minigen.ones(3).broadcast_to(2, 4)


def test_permute_needs_a_permutation():
    with pytest.raises(RuntimeError, match=r"permute: dims \(0, 0\)"):
        minigen.ones(2, 3).permute(0, 0)


def test_dim_out_of_range():
    with pytest.raises(IndexError, match="sum: dim 3 is out of range for a tensor of 2 dimensions"):
        minigen.ones(2, 3).sum(dim=3)
    with pytest.raises(IndexError, match="size: dim -3"):
        minigen.ones(2, 3).size(-3)


def test_backward_on_non_scalar_needs_gradient():
    y = minigen.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs, got shape \(2, 3\)"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the output has shape \(2, 3\)"):
        y.backward(minigen.ones(3))


def test_backward_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minigen.ones(2).sum().backward()


def test_dtype_errors():
    with pytest.raises(RuntimeError, match="only floating-point tensors can require grad, got int64"):
        minigen.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="mean: expected a floating-point tensor, got int64"):
        minigen.tensor([1, 2]).mean()
    with pytest.raises(TypeError, match="where: condition must be a bool tensor, got float32"):
        minigen.where(minigen.ones(2), minigen.ones(2), minigen.zeros(2))
    with pytest.raises(TypeError, match="gradcheck: inputs must be float64"):
        minigen.gradcheck(lambda x: x * 2, (minigen.ones(2, requires_grad=True),))
    with pytest.raises(TypeError, match="expected a Tensor or a Python number, got list"):
        minigen.ones(2) + [1, 2]


@pytest.mark.gpu
def test_device_mismatch_names_both_devices():
    with pytest.raises(RuntimeError, match="Add: expected all tensors on the same device, got cpu, cuda:0"):
        minigen.ones(2) + minigen.ones(2, device="cuda")
