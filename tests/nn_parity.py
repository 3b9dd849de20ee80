"""PyTorch-oracle helpers shared by the ``test_nn_*`` files.

``compare_layers`` copies a torch layer's state dict into the minigen twin
(which proves parameter names and shapes line up), runs both on the same
inputs and compares outputs, buffers and the gradients of ``sum(out * w)``
for random ``w`` with respect to every parameter and every float input.
"""

import numpy as np
import pytest

import minigen
from minigen.interop import from_torch_state_dict

torch = pytest.importorskip("torch")


def minigen_tensor(array, requires_grad=False):
    array = np.asarray(array)
    return minigen.tensor(array, requires_grad=requires_grad and array.dtype.kind == "f")


def torch_tensor(array, requires_grad=False):
    array = np.asarray(array)
    return torch.tensor(array, requires_grad=requires_grad and array.dtype.kind == "f")


def as_numpy(value):
    """A NumPy copy of a torch or minigen tensor (both spell it the same way)."""
    return value.detach().numpy()


def _outputs(result):
    items = result if isinstance(result, tuple) else (result,)
    return [item for item in items if item is not None]


def _convert(value, convert):
    return convert(value) if isinstance(value, np.ndarray) else value


def assert_close(actual, expected, rtol, atol, what):
    actual, expected = as_numpy(actual), as_numpy(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch {expected.dtype}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def copy_weights(torch_module, minigen_module):
    state = torch_module.state_dict()
    assert list(state) == list(minigen_module.state_dict()), "state dict keys differ from torch"
    minigen_module.load_state_dict(from_torch_state_dict(state))


def compare_layers(torch_module, minigen_module, inputs, kwargs=None, train=True, rtol=1e-5, atol=1e-5, seed=0,
                   copy=True, steps=1):
    """Forward/backward parity of two layers; ``steps`` > 1 repeats forwards (buffers must keep matching)."""
    kwargs = kwargs or {}
    if copy:
        copy_weights(torch_module, minigen_module)
    torch_module.train(train)
    minigen_module.train(train)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        torch_inputs = [torch_tensor(a, requires_grad=True) for a in inputs]
        minigen_inputs = [minigen_tensor(a, requires_grad=True) for a in inputs]
        torch_out = _outputs(torch_module(*torch_inputs, **{k: _convert(v, torch_tensor) for k, v in kwargs.items()}))
        minigen_out = _outputs(minigen_module(*minigen_inputs,
                                              **{k: _convert(v, minigen_tensor) for k, v in kwargs.items()}))
        assert len(torch_out) == len(minigen_out)
        for index, (got, expected) in enumerate(zip(minigen_out, torch_out)):
            assert_close(got, expected, rtol, atol, f"step {step} output {index}")
        weights = [rng.standard_normal(tuple(out.shape)).astype(np.float32) for out in torch_out]
        torch_loss = sum((out * torch.tensor(w)).sum() for out, w in zip(torch_out, weights))
        minigen_loss = sum((out * minigen.tensor(w)).sum() for out, w in zip(minigen_out, weights))
        torch_module.zero_grad()
        minigen_module.zero_grad()
        torch_loss.backward()
        minigen_loss.backward()
        for index, (got, expected) in enumerate(zip(minigen_inputs, torch_inputs)):
            if expected.requires_grad:
                assert got.grad is not None, f"input {index} has no gradient"
                assert_close(got.grad, expected.grad, rtol, atol * 10, f"step {step} grad of input {index}")
        minigen_parameters = dict(minigen_module.named_parameters())
        for name, parameter in torch_module.named_parameters():
            got = minigen_parameters[name].grad
            assert got is not None, f"parameter {name} has no gradient"
            assert_close(got, parameter.grad, rtol, atol * 10, f"step {step} grad of {name}")
        minigen_state = minigen_module.state_dict()
        for name, buffer in torch_module.named_buffers():
            assert_close(minigen_state[name], buffer, rtol, atol, f"step {step} buffer {name}")
    return minigen_out, torch_out
