"""Layers vs PyTorch: Linear, convolutions, pooling, upsampling, Embedding, Dropout, activations.

Each case builds the torch layer, copies its state dict into the minigen layer
(names and shapes must match), then compares outputs and the gradients of
every parameter and input (``nn_parity.compare_layers``). Default
initialisation statistics and reprs are compared too.
"""

import math

import numpy as np
import pytest

import minigen
from minigen import nn
from nn_parity import as_numpy, compare_layers, minigen_tensor, torch

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _same_data_whatever_the_test_order():
    global RNG
    RNG = np.random.default_rng(1234)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# --- Linear ------------------------------------------------------------------------------------

LINEAR_CASES = [
    (4, 3, {}, (5, 4)),
    (4, 3, {"bias": False}, (5, 4)),
    (6, 2, {}, (2, 3, 6)),
    (3, 5, {}, (3,)),
]


@pytest.mark.parametrize("in_features, out_features, kwargs, shape", LINEAR_CASES)
def test_linear_matches_torch(in_features, out_features, kwargs, shape):
    compare_layers(torch.nn.Linear(in_features, out_features, **kwargs),
                   nn.Linear(in_features, out_features, **kwargs), [randn(*shape)])


def test_linear_rejects_wrong_feature_size():
    with pytest.raises(ValueError, match="in_features=4"):
        nn.Linear(4, 2)(minigen.ones(3, 5))


# --- convolutions ------------------------------------------------------------------------------

CONV2D_CASES = [
    (3, 4, 3, {}, (2, 3, 6, 6)),
    (4, 6, 3, {"stride": 2, "padding": 1, "groups": 2}, (2, 4, 7, 6)),
    (2, 4, (3, 2), {"stride": (2, 1), "padding": (1, 0), "dilation": (2, 1)}, (2, 2, 7, 5)),
    (4, 4, 3, {"groups": 4, "padding": 1}, (1, 4, 5, 5)),
    (4, 8, 3, {"groups": 4, "bias": False}, (2, 4, 5, 5)),
    (3, 5, 3, {"padding": 1, "padding_mode": "reflect"}, (2, 3, 5, 6)),
    (3, 5, 3, {"padding": (2, 1), "padding_mode": "replicate"}, (2, 3, 5, 6)),
    (3, 5, 3, {"padding": 1, "padding_mode": "circular", "stride": 2}, (2, 3, 5, 6)),
    (3, 4, 3, {"padding": "same", "dilation": 2}, (2, 3, 6, 7)),
    (3, 4, (2, 4), {"padding": "same"}, (2, 3, 5, 6)),
    (3, 4, 3, {"padding": "same", "padding_mode": "reflect"}, (2, 3, 5, 6)),
    (3, 4, (2, 3), {"padding": "same", "padding_mode": "replicate", "dilation": (1, 2)}, (1, 3, 5, 7)),
    (3, 4, 3, {"padding": "valid"}, (2, 3, 5, 5)),
    (3, 4, 1, {}, (2, 3, 4, 4)),
    (3, 4, 3, {"padding": 1}, (3, 5, 5)),  # unbatched
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's performance note
@pytest.mark.parametrize("in_channels, out_channels, kernel_size, kwargs, shape", CONV2D_CASES)
def test_conv2d_matches_torch(in_channels, out_channels, kernel_size, kwargs, shape):
    compare_layers(torch.nn.Conv2d(in_channels, out_channels, kernel_size, **kwargs),
                   nn.Conv2d(in_channels, out_channels, kernel_size, **kwargs), [randn(*shape)], atol=2e-5)


CONV1D_CASES = [
    (3, 4, 3, {}, (2, 3, 7)),
    (4, 6, 3, {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, (2, 4, 9)),
    (3, 5, 3, {"padding": 2, "padding_mode": "reflect"}, (2, 3, 6)),
    (3, 5, 2, {"padding": 1, "padding_mode": "replicate", "bias": False}, (2, 3, 6)),
    (3, 4, 4, {"padding": "same"}, (2, 3, 6)),
    (3, 4, 3, {"padding": "same", "padding_mode": "reflect"}, (2, 3, 6)),
    (3, 4, 3, {}, (3, 6)),  # unbatched
]


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, kwargs, shape", CONV1D_CASES)
def test_conv1d_matches_torch(in_channels, out_channels, kernel_size, kwargs, shape):
    compare_layers(torch.nn.Conv1d(in_channels, out_channels, kernel_size, **kwargs),
                   nn.Conv1d(in_channels, out_channels, kernel_size, **kwargs), [randn(*shape)], atol=2e-5)


CONV_TRANSPOSE2D_CASES = [
    (3, 4, 3, {}, (2, 3, 4, 4)),
    (4, 6, 3, {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}, (2, 4, 3, 4)),
    (2, 3, (3, 2), {"stride": (2, 3), "output_padding": (1, 2)}, (2, 2, 3, 3)),
    (2, 2, 3, {"stride": 2, "dilation": 2, "padding": 2, "output_padding": 1}, (1, 2, 4, 3)),
    (4, 4, 4, {"stride": 2, "padding": 1, "groups": 4, "bias": False}, (2, 4, 3, 3)),
    (3, 2, 3, {"stride": 2}, (3, 4, 4)),  # unbatched
]


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, kwargs, shape", CONV_TRANSPOSE2D_CASES)
def test_conv_transpose2d_matches_torch(in_channels, out_channels, kernel_size, kwargs, shape):
    compare_layers(torch.nn.ConvTranspose2d(in_channels, out_channels, kernel_size, **kwargs),
                   nn.ConvTranspose2d(in_channels, out_channels, kernel_size, **kwargs), [randn(*shape)], atol=2e-5)


def test_conv_transpose2d_output_size_argument_matches_torch():
    torch_layer = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = randn(1, 2, 4, 4)
    for output_size in [(7, 7), (8, 8), (7, 8), [1, 3, 8, 7]]:
        compare_layers(torch_layer, layer, [x], kwargs={"output_size": output_size}, atol=2e-5)


def test_conv_rejects_bad_groups_and_padding_mode():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'full'"):
        nn.Conv1d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="output size"):
        nn.ConvTranspose2d(2, 3, 3, stride=2)(minigen.ones(1, 2, 4, 4), output_size=(5, 5))


# --- pooling and upsampling -----------------------------------------------------------------------

POOL_CASES = [
    (torch.nn.MaxPool2d, nn.MaxPool2d, (2,), {}),
    (torch.nn.MaxPool2d, nn.MaxPool2d, (3,), {"stride": 2, "padding": 1}),
    (torch.nn.MaxPool2d, nn.MaxPool2d, ((2, 3),), {"stride": (1, 2), "dilation": (2, 1)}),
    (torch.nn.MaxPool2d, nn.MaxPool2d, (3,), {"stride": 2, "ceil_mode": True}),
    (torch.nn.AvgPool2d, nn.AvgPool2d, (2,), {}),
    (torch.nn.AvgPool2d, nn.AvgPool2d, (3,), {"stride": 2, "padding": 1}),
    (torch.nn.AvgPool2d, nn.AvgPool2d, (3,), {"stride": 2, "padding": 1, "count_include_pad": False}),
    (torch.nn.AvgPool2d, nn.AvgPool2d, ((2, 3),), {"stride": 2, "ceil_mode": True}),
    (torch.nn.AvgPool2d, nn.AvgPool2d, (2,), {"divisor_override": 3}),
    (torch.nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, ((2, 3),), {}),
    (torch.nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, (1,), {}),
    (torch.nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, ((4, 5),), {}),
    (torch.nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool2d, ((None, 2),), {}),
]


@pytest.mark.parametrize("torch_class, minigen_class, args, kwargs", POOL_CASES)
@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (3, 5, 5)])
def test_pooling_matches_torch(torch_class, minigen_class, args, kwargs, shape):
    compare_layers(torch_class(*args, **kwargs), minigen_class(*args, **kwargs), [randn(*shape)])


def test_max_pool2d_return_indices_matches_torch():
    x = randn(2, 3, 6, 7)
    output, indices = nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(minigen.tensor(x))
    torch_output, torch_indices = torch.nn.MaxPool2d(3, stride=2, padding=1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(output.detach().numpy(), torch_output.detach().numpy())
    np.testing.assert_array_equal(indices.detach().numpy(), torch_indices.detach().numpy())


UPSAMPLE_CASES = [
    {"scale_factor": 2},
    {"scale_factor": (2, 3)},
    {"size": (5, 7)},
    {"size": 3},
    {"scale_factor": 2, "mode": "bilinear"},
    {"scale_factor": 2, "mode": "bilinear", "align_corners": True},
    {"size": (5, 3), "mode": "bilinear"},
    {"size": (7, 9), "mode": "bilinear", "align_corners": True},
    {"scale_factor": 1.5},
    {"scale_factor": 1.7, "mode": "bilinear", "recompute_scale_factor": True},
]


@pytest.mark.parametrize("kwargs", UPSAMPLE_CASES)
def test_upsample_matches_torch(kwargs):
    compare_layers(torch.nn.Upsample(**kwargs), nn.Upsample(**kwargs), [randn(2, 3, 4, 5)])


# --- Embedding and Dropout ----------------------------------------------------------------------------


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_matches_torch_and_padding_row_gets_no_gradient(padding_idx):
    indices = np.array([[0, 3, 3, 5], [1, 0, 6, 3]], dtype=np.int64)
    torch_layer = torch.nn.Embedding(7, 3, padding_idx=padding_idx)
    layer = nn.Embedding(7, 3, padding_idx=padding_idx)
    compare_layers(torch_layer, layer, [indices])
    if padding_idx is not None:
        np.testing.assert_array_equal(layer.weight.grad.numpy()[padding_idx], 0.0)
    np.testing.assert_array_equal(layer.weight.grad.numpy()[2], 0.0)  # index 2 is never looked up
    assert tuple(layer(minigen.tensor(3)).shape) == (3,)


def test_embedding_default_init_is_standard_normal_with_zero_padding_row():
    weight = nn.Embedding(4000, 8, padding_idx=2).weight.detach().numpy()
    np.testing.assert_array_equal(weight[2], 0.0)
    assert abs(weight.mean()) < 0.02 and abs(weight.std() - 1.0) < 0.02


def test_dropout_eval_is_identity_and_p_zero_is_identity():
    x = minigen_tensor(randn(4, 5))
    layer = nn.Dropout(0.3).eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), x.detach().numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).detach().numpy(), x.detach().numpy())


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_train_scales_kept_values_and_gradient(p):
    x = minigen.tensor(RNG.uniform(1.0, 2.0, (200, 100)).astype(np.float32), requires_grad=True)
    layer = nn.Dropout(p)
    output = layer(x)
    kept = output.detach().numpy() != 0
    np.testing.assert_allclose(output.detach().numpy()[kept], x.detach().numpy()[kept] / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.02
    output.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / (1 - p), rtol=1e-6)
    assert output.dtype == minigen.float32


def test_dropout_p_one_zeroes_everything_and_bad_p_raises():
    x = minigen_tensor(randn(3, 4))
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).detach().numpy(), 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


# --- activations ------------------------------------------------------------------------------------

ACTIVATIONS = [
    ("ReLU", (), {}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2,), {}),
    ("SiLU", (), {}),
    ("GELU", (), {}),
    ("GELU", (), {"approximate": "tanh"}),
    ("Tanh", (), {}),
    ("Sigmoid", (), {}),
    ("Softplus", (), {}),
    ("Softplus", (), {"beta": 2.0, "threshold": 1.0}),
    ("ELU", (), {}),
    ("ELU", (0.5,), {}),
    ("Softmax", (), {"dim": 1}),
    ("Softmax", (), {"dim": -1}),
    ("Softmax", (), {"dim": 0}),
    ("LogSoftmax", (), {"dim": 1}),
]


@pytest.mark.parametrize("name, args, kwargs", ACTIVATIONS)
def test_activation_matches_torch(name, args, kwargs):
    x = randn(3, 4, 5) * 4  # wide enough to reach Softplus's threshold and the saturated tails
    x[0, 0, :3] = [30.0, -30.0, 0.5]
    compare_layers(getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs), [x])


def test_softmax_without_dim_raises():
    # PyTorch's implicit dim (deprecated, and dim=0 for 3-D input) is refused by minigen's softmax op
    with pytest.raises(TypeError, match="dim"):
        nn.Softmax()(minigen_tensor(randn(2, 3)))


# --- default initialisation ------------------------------------------------------------------------


def _uniform_bound_matches(values, bound):
    values = values.ravel()
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > bound * 0.97
    assert abs(values.std() - bound / math.sqrt(3)) < 0.03 * bound / math.sqrt(3)
    assert abs(values.mean()) < 0.05 * bound


INIT_CASES = [
    (torch.nn.Linear, nn.Linear, (100, 300), 100),
    (torch.nn.Conv2d, nn.Conv2d, (16, 96, 3), 16 * 9),
    (torch.nn.Conv2d, nn.Conv2d, (16, 96, 3, 1, 0, 1, 4), 4 * 9),
    (torch.nn.Conv1d, nn.Conv1d, (16, 96, 5), 16 * 5),
    (torch.nn.ConvTranspose2d, nn.ConvTranspose2d, (96, 16, 3), 16 * 9),
    (torch.nn.ConvTranspose2d, nn.ConvTranspose2d, (96, 16, 3, 1, 0, 0, 4), 4 * 9),
]


@pytest.mark.parametrize("torch_class, minigen_class, args, fan_in", INIT_CASES)
def test_default_init_bounds_match_torch_formula(torch_class, minigen_class, args, fan_in):
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    torch_layer = torch_class(*args)
    _uniform_bound_matches(torch_layer.weight.detach().numpy(), bound)  # the formula is torch's
    layers = [minigen_class(*args) for _ in range(20)]
    _uniform_bound_matches(np.concatenate([layer.weight.detach().numpy().ravel() for layer in layers]), bound)
    _uniform_bound_matches(np.concatenate([layer.bias.detach().numpy() for layer in layers]), bound)
    assert layers[0].weight.dtype == minigen.float32 and layers[0].weight.shape == torch_layer.weight.shape


def test_default_init_of_normalisation_and_attention_layers():
    for layer in [nn.BatchNorm2d(3), nn.LayerNorm(3), nn.GroupNorm(1, 3), nn.InstanceNorm2d(3, affine=True)]:
        np.testing.assert_array_equal(layer.weight.detach().numpy(), 1.0)
        np.testing.assert_array_equal(layer.bias.detach().numpy(), 0.0)
    attention = nn.MultiheadAttention(64, 4)
    bound = math.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ on the (3E, E) in_proj_weight
    _uniform_bound_matches(attention.in_proj_weight.detach().numpy(), bound)
    _uniform_bound_matches(attention.out_proj.weight.detach().numpy(), 1 / math.sqrt(64))
    np.testing.assert_array_equal(attention.in_proj_bias.detach().numpy(), 0.0)
    np.testing.assert_array_equal(attention.out_proj.bias.detach().numpy(), 0.0)


# --- repr ---------------------------------------------------------------------------------------------

REPR_CASES = [
    ("Linear", (3, 4), {}),
    ("Linear", (3, 4), {"bias": False}),
    ("Conv2d", (3, 8, 3), {"padding": 1}),
    ("Conv2d", (4, 8, (3, 2)), {"stride": 2, "dilation": 2, "groups": 2, "bias": False, "padding_mode": "reflect",
                                "padding": 1}),
    ("Conv2d", (3, 4, 3), {"padding": "same", "padding_mode": "reflect"}),
    ("Conv2d", (3, 4, 3), {"padding": "valid"}),
    ("Conv1d", (3, 4, 5), {"stride": 2}),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "output_padding": 1, "groups": 2, "bias": False}),
    ("BatchNorm1d", (3,), {"momentum": None}),
    ("BatchNorm2d", (8,), {"affine": False, "track_running_stats": False}),
    ("LayerNorm", ((3, 4),), {}),
    ("LayerNorm", (4,), {"bias": False}),
    ("LayerNorm", (4,), {"elementwise_affine": False}),
    ("GroupNorm", (2, 4), {}),
    ("InstanceNorm2d", (3,), {}),
    ("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True}),
    ("Embedding", (5, 3), {"padding_idx": -1}),
    ("Dropout", (), {}),
    ("Dropout", (0.1,), {}),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((2, 3),), {"stride": 1, "padding": 1}),
    ("AvgPool2d", (2,), {}),
    ("AdaptiveAvgPool2d", ((2, 3),), {}),
    ("Upsample", (), {"scale_factor": 2}),
    ("Upsample", (), {"size": (3, 4), "mode": "bilinear"}),
    ("Upsample", (), {"scale_factor": (2, 3), "mode": "bilinear", "align_corners": True}),
    ("ReLU", (), {}),
    ("ReLU", (True,), {}),
    ("LeakyReLU", (0.2,), {}),
    ("LeakyReLU", (0.2, True), {}),
    ("ELU", (), {}),
    ("ELU", (), {"inplace": True}),
    ("SiLU", (), {}),
    ("SiLU", (), {"inplace": True}),
    ("Dropout", (0.2, True), {}),
    ("GELU", ("tanh",), {}),
    ("Tanh", (), {}),
    ("Sigmoid", (), {}),
    ("Softplus", (), {}),
    ("Softmax", (), {"dim": 1}),
    ("LogSoftmax", (), {"dim": -1}),
]


@pytest.mark.parametrize("name, args, kwargs", REPR_CASES)
def test_repr_equals_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


def test_sequential_repr_equals_torch():
    def build(library):
        return library.Sequential(library.Conv2d(1, 4, 3, padding=1), library.BatchNorm2d(4), library.ReLU(),
                                  library.Flatten(), library.Linear(64, 2))

    assert repr(build(nn)) == repr(build(torch.nn))


def test_parameters_keep_float32_and_outputs_are_float32():
    layer = nn.Conv2d(2, 3, 3)
    assert layer(minigen_tensor(randn(1, 2, 4, 4))).dtype == minigen.float32
    assert as_numpy(layer.weight).dtype == np.float32


def test_dropout_inplace_writes_into_a_tensor_outside_the_graph():
    x = minigen_tensor(np.ones((50, 40), dtype=np.float32))
    output = nn.Dropout(0.5, inplace=True)(x)
    assert output is x or np.array_equal(x.detach().numpy(), output.detach().numpy())
    assert set(np.unique(x.detach().numpy())) <= {0.0, 2.0}
