"""nn.utils (gradient clipping, parameter vectors, spectral norm) and nn.init vs PyTorch."""

import math

import numpy as np
import pytest

import minigen
from minigen import nn
from nn_parity import compare_layers, torch

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _same_data_whatever_the_test_order():
    global RNG
    RNG = np.random.default_rng(7)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _parameter_pairs(shapes, scale=1.0):
    """Torch and minigen parameters with identical values and gradients."""
    torch_parameters, minigen_parameters = [], []
    for shape in shapes:
        value, gradient = randn(*shape), randn(*shape) * scale
        torch_parameter = torch.nn.Parameter(torch.tensor(value))
        torch_parameter.grad = torch.tensor(gradient)
        parameter = nn.Parameter(minigen.tensor(value))
        parameter.grad = minigen.tensor(gradient)
        torch_parameters.append(torch_parameter)
        minigen_parameters.append(parameter)
    return torch_parameters, minigen_parameters


# --- gradient clipping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf"), 3.0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch_parameters, parameters = _parameter_pairs([(3, 4), (5,), (2, 1, 3)])
    norm_value = float(norm_type)
    expected = torch.nn.utils.clip_grad_norm_(torch_parameters, max_norm, norm_type=norm_value)
    total = nn.utils.clip_grad_norm_(parameters, max_norm, norm_type=norm_type)
    assert isinstance(total, minigen.Tensor) and total.ndim == 0 and total.dtype == minigen.float32
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6)
    for got, reference in zip(parameters, torch_parameters):
        np.testing.assert_allclose(got.grad.numpy(), reference.grad.numpy(), rtol=1e-6, atol=1e-7)
        assert got.grad.dtype == minigen.float32
    if max_norm < expected.item():
        clipped = torch.nn.utils.get_total_norm([p.grad for p in torch_parameters], norm_type=norm_value)
        assert clipped.item() == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_skips_missing_gradients_and_accepts_a_single_tensor():
    torch_parameters, parameters = _parameter_pairs([(3,), (4,)])
    parameters[1].grad = torch_parameters[1].grad = None
    expected = torch.nn.utils.clip_grad_norm_(torch_parameters[0], 0.1)
    total = nn.utils.clip_grad_norm_(parameters[0], 0.1)
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6)
    np.testing.assert_allclose(parameters[0].grad.numpy(), torch_parameters[0].grad.numpy(), rtol=1e-6)
    assert nn.utils.clip_grad_norm_([parameters[1]], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    _, parameters = _parameter_pairs([(3,)])
    parameters[0].grad.data[0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(parameters, 1.0, error_if_nonfinite=True)
    assert math.isnan(nn.utils.clip_grad_norm_(parameters, 1.0).item())


@pytest.mark.parametrize("clip_value", [0.1, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch_parameters, parameters = _parameter_pairs([(3, 4), (5,)], scale=2.0)
    torch.nn.utils.clip_grad_value_(torch_parameters, clip_value)
    assert nn.utils.clip_grad_value_(parameters, clip_value) is None
    for got, expected in zip(parameters, torch_parameters):
        np.testing.assert_array_equal(got.grad.numpy(), expected.grad.numpy())
        assert got.grad.dtype == minigen.float32


# --- parameter vectors ---------------------------------------------------------------------------------


def test_parameters_to_vector_and_back_match_torch():
    torch_layer, layer = torch.nn.Linear(3, 2), nn.Linear(3, 2)
    layer.load_state_dict({k: minigen.tensor(v.detach().numpy()) for k, v in torch_layer.state_dict().items()})
    vector = nn.utils.parameters_to_vector(layer.parameters())
    expected = torch.nn.utils.parameters_to_vector(torch_layer.parameters())
    np.testing.assert_array_equal(vector.detach().numpy(), expected.detach().numpy())
    (vector * minigen.arange(8, dtype=minigen.float32)).sum().backward()  # differentiable
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.arange(6).reshape(2, 3))
    new = randn(8)
    weight = layer.weight
    nn.utils.vector_to_parameters(minigen.tensor(new), layer.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), torch_layer.parameters())
    assert layer.weight is weight  # written in place
    for name, parameter in torch_layer.named_parameters():
        np.testing.assert_array_equal(getattr(layer, name).detach().numpy(), parameter.detach().numpy())


def test_vector_to_parameters_wrong_length_raises_and_writes_nothing():
    layer = nn.Linear(3, 2)
    before = layer.weight.detach().numpy().copy()
    with pytest.raises(ValueError, match="vector_to_parameters"):
        nn.utils.vector_to_parameters(minigen.zeros(7), layer.parameters())
    np.testing.assert_array_equal(layer.weight.detach().numpy(), before)


# --- spectral norm ---------------------------------------------------------------------------------------

SPECTRAL_CASES = [
    ("Linear", (5, 4), {}, (3, 5)),
    ("Linear", (5, 4), {"n_power_iterations": 3}, (3, 5)),
    ("Conv2d", (3, 4, 3), {}, (2, 3, 5, 5)),
    ("ConvTranspose2d", (3, 4, 3), {}, (2, 3, 3, 3)),
    ("ConvTranspose2d", (4, 2, 2), {"dim": 0}, (2, 4, 3, 3)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", SPECTRAL_CASES)
def test_spectral_norm_matches_torch(name, args, kwargs, shape):
    torch_layer = torch.nn.utils.spectral_norm(getattr(torch.nn, name)(*args), **kwargs)
    layer = nn.utils.spectral_norm(getattr(nn, name)(*args), **kwargs)
    assert [n for n, _ in layer.named_parameters()] == [n for n, _ in torch_layer.named_parameters()]
    inputs = [randn(*shape)]
    # training forwards: power iteration updates weight_u/weight_v (compared as buffers) step by step
    compare_layers(torch_layer, layer, inputs, train=True, steps=3, atol=2e-5)
    np.testing.assert_allclose(layer.weight.detach().numpy(), torch_layer.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    u_before = layer.weight_u.detach().numpy().copy()
    compare_layers(torch_layer, layer, inputs, train=False, copy=False, steps=2, atol=2e-5)
    np.testing.assert_array_equal(layer.weight_u.detach().numpy(), u_before)  # eval: no power iteration


def test_spectral_norm_bounds_the_largest_singular_value():
    layer = nn.utils.spectral_norm(nn.Linear(6, 4), n_power_iterations=1)
    layer.weight_orig.data *= 10
    for _ in range(30):
        layer(minigen.ones(1, 6))
    assert np.linalg.norm(layer.weight.detach().numpy(), 2) == pytest.approx(1.0, rel=1e-3)


def test_spectral_norm_rejects_bad_iterations():
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)


# --- init ---------------------------------------------------------------------------------------------------

GAIN_CASES = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
              ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
              ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", 3),
              ("selu", None)]


@pytest.mark.parametrize("nonlinearity, param", GAIN_CASES)
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="negative_slope"):
        nn.init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.init.calculate_gain("swish")


def _statistics(array):
    array = np.asarray(array, dtype=np.float64).ravel()
    return array.mean(), array.std(), array.min(), array.max()


INIT_CASES = [
    ("uniform_", {"a": -0.5, "b": 2.0}, (300, 200)),
    ("normal_", {"mean": 1.0, "std": 0.3}, (300, 200)),
    ("trunc_normal_", {}, (300, 200)),
    ("trunc_normal_", {"mean": 1.0, "std": 2.0, "a": -1.0, "b": 2.0}, (300, 200)),
    ("xavier_uniform_", {}, (300, 200)),
    ("xavier_uniform_", {"gain": 2.0}, (64, 32, 3, 3)),
    ("xavier_normal_", {"gain": 0.5}, (300, 200)),
    ("kaiming_uniform_", {}, (300, 200)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, (64, 32, 3, 3)),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}, (64, 32, 3, 3)),
    ("kaiming_normal_", {"nonlinearity": "relu"}, (300, 200)),
    ("kaiming_normal_", {"a": 0.1, "mode": "fan_out"}, (64, 32, 3, 3)),
    ("kaiming_normal_", {"nonlinearity": "tanh"}, (32, 64, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", INIT_CASES)
def test_init_statistics_match_torch(name, kwargs, shape):
    tensor = nn.Parameter(minigen.zeros(*shape))
    result = getattr(nn.init, name)(tensor, **kwargs)
    assert result is tensor and tensor.dtype == minigen.float32 and tensor.creator is None and tensor.requires_grad
    expected = getattr(torch.nn.init, name)(torch.zeros(*shape), **kwargs).detach().numpy()
    mean, std, low, high = _statistics(tensor.detach().numpy())
    torch_mean, torch_std, torch_low, torch_high = _statistics(expected)
    assert std == pytest.approx(torch_std, rel=0.03)
    assert abs(mean - torch_mean) < 0.03 * torch_std
    if name.endswith("uniform_") or name == "trunc_normal_":  # bounded: the bounds must agree
        assert low == pytest.approx(torch_low, abs=0.02 * torch_std)
        assert high == pytest.approx(torch_high, abs=0.02 * torch_std)


def test_init_formulas():
    fan_in, fan_out = 32 * 9, 64 * 9
    weight = nn.init.kaiming_normal_(minigen.empty(64, 32, 3, 3), nonlinearity="relu")
    assert weight.detach().numpy().std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)
    weight = nn.init.xavier_uniform_(minigen.empty(64, 32, 3, 3))
    assert np.abs(weight.detach().numpy()).max() == pytest.approx(math.sqrt(6 / (fan_in + fan_out)), rel=0.01)
    with pytest.raises(ValueError, match="fan"):
        nn.init.xavier_uniform_(minigen.empty(5))
    with pytest.raises(ValueError, match="mode"):
        nn.init.kaiming_uniform_(minigen.empty(3, 3), mode="fan_avg")


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (4, 2, 2, 2), (2, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape, gain):
    weight = nn.init.orthogonal_(minigen.empty(*shape), gain=gain)
    assert weight.dtype == minigen.float32
    matrix = weight.detach().numpy().reshape(shape[0], -1).astype(np.float64) / gain
    rows, cols = matrix.shape
    gram = matrix @ matrix.T if rows <= cols else matrix.T @ matrix
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)


def test_constant_initialisers():
    tensor = minigen.empty(2, 3)
    np.testing.assert_array_equal(nn.init.constant_(tensor, 0.25).detach().numpy(), 0.25)
    np.testing.assert_array_equal(nn.init.zeros_(tensor).detach().numpy(), 0.0)
    np.testing.assert_array_equal(nn.init.ones_(tensor).detach().numpy(), 1.0)
    np.testing.assert_array_equal(nn.init.eye_(tensor).detach().numpy(), np.eye(2, 3))
    assert tensor.dtype == minigen.float32


def test_init_is_reproducible_under_manual_seed():
    minigen.manual_seed(3)
    first = nn.Linear(4, 3).weight.detach().numpy().copy()
    minigen.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(4, 3).weight.detach().numpy(), first)
