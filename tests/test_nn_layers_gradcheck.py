"""Property tests: float64 gradcheck (and gradgradcheck where cheap) of layers w.r.t. inputs AND parameters.

Each test draws small shapes and arguments, converts the layer with
``.double()`` and checks the gradients of the input and every parameter.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from minigen import nn
from helpers import DEVICES, check_gradients, seeds, tensor


def _check_layer(layer, x, device, second_order=True, extra=()):
    layer = layer.double().to(device)
    parameters = list(layer.parameters())
    count = 1 + len(extra)
    check_gradients(lambda *args: layer(*args[:count]), (x, *extra, *parameters), second_order=second_order)


@pytest.mark.parametrize("device", DEVICES)
@given(batch=st.integers(1, 3), in_features=st.integers(1, 4), out_features=st.integers(1, 3), bias=st.booleans(),
       seed=seeds)
def test_linear_gradients(device, batch, in_features, out_features, bias, seed):
    x = tensor((batch, in_features), seed, device)
    _check_layer(nn.Linear(in_features, out_features, bias=bias), x, device)


@st.composite
def conv_arguments(draw, transposed=False):
    groups = draw(st.integers(1, 2))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.integers(1, 2))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.integers(0, 1))
    arguments = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, bias=draw(st.booleans()))
    if transposed:
        arguments["output_padding"] = draw(st.integers(0, max(stride, dilation) - 1))
        size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        extra = arguments["output_padding"] + 1
        unpadded = [(n - 1) * stride + dilation * (k - 1) + extra for n, k in zip(size, kernel)]
        if min(unpadded) <= 2 * padding:  # the padding would crop the whole output
            arguments["padding"] = 0
    else:
        # the dilated kernel must fit in the padded input
        size = tuple(draw(st.integers(max(1, dilation * (k - 1) + 1 - 2 * padding), 5)) for k in kernel)
    return in_channels, out_channels, kernel, arguments, (draw(st.integers(1, 2)), in_channels) + size


@pytest.mark.parametrize("device", DEVICES)
@given(arguments=conv_arguments(), seed=seeds)
def test_conv2d_gradients(device, arguments, seed):
    in_channels, out_channels, kernel, kwargs, shape = arguments
    _check_layer(nn.Conv2d(in_channels, out_channels, kernel, **kwargs), tensor(shape, seed, device), device,
                 second_order=False)


@pytest.mark.parametrize("device", DEVICES)
@given(padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]), seed=seeds)
def test_conv2d_padding_modes_second_order(device, padding_mode, seed):
    layer = nn.Conv2d(2, 2, 3, padding=1, padding_mode=padding_mode)
    _check_layer(layer, tensor((1, 2, 3, 3), seed, device), device)


@pytest.mark.parametrize("device", DEVICES)
@given(arguments=conv_arguments(transposed=True), seed=seeds)
def test_conv_transpose2d_gradients(device, arguments, seed):
    in_channels, out_channels, kernel, kwargs, shape = arguments
    _check_layer(nn.ConvTranspose2d(in_channels, out_channels, kernel, **kwargs), tensor(shape, seed, device), device,
                 second_order=False)


@pytest.mark.parametrize("device", DEVICES)
@given(seed=seeds)
def test_conv_transpose2d_second_order(device, seed):
    layer = nn.ConvTranspose2d(2, 2, 2, stride=2, output_padding=1)
    _check_layer(layer, tensor((1, 2, 2, 2), seed, device), device)


@pytest.mark.parametrize("device", DEVICES)
@given(batch=st.integers(2, 3), channels=st.integers(1, 3), spatial=st.sampled_from([(), (2,), (2, 2), (1, 3)]),
       affine=st.booleans(), seed=seeds)
def test_batch_norm_train_gradients(device, batch, channels, spatial, affine, seed):
    shape = (batch, channels) + spatial
    layer = (nn.BatchNorm2d if len(spatial) == 2 else nn.BatchNorm1d)(channels, affine=affine)
    _check_layer(layer, tensor(shape, seed, device), device)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=st.sampled_from([(3,), (2, 3), (2, 2, 3), (2, 3, 2)]), last_dims=st.integers(1, 2),
       affine=st.booleans(), seed=seeds)
def test_layer_norm_gradients(device, shape, last_dims, affine, seed):
    last_dims = min(last_dims, len(shape))
    layer = nn.LayerNorm(shape[len(shape) - last_dims:], elementwise_affine=affine)
    _check_layer(layer, tensor(shape, seed, device), device)


@pytest.mark.parametrize("device", DEVICES)
@given(groups=st.integers(1, 2), per_group=st.integers(1, 2), spatial=st.sampled_from([(), (2,), (2, 2)]),
       affine=st.booleans(), seed=seeds)
def test_group_norm_gradients(device, groups, per_group, spatial, affine, seed):
    channels = groups * per_group
    if per_group * (spatial[0] if spatial else 1) * (spatial[-1] if len(spatial) > 1 else 1) < 2:
        spatial = (2,)  # a group of one value has zero variance: its normalised value is not differentiable
    layer = nn.GroupNorm(groups, channels, affine=affine)
    _check_layer(layer, tensor((2, channels) + spatial, seed, device), device)


@pytest.mark.parametrize("device", DEVICES)
@given(batch_first=st.booleans(), heads=st.integers(1, 2), length_q=st.integers(1, 3), length_k=st.integers(1, 3),
       separate_kv=st.booleans(), masked=st.booleans(), seed=seeds)
def test_multihead_attention_gradients(device, batch_first, heads, length_q, length_k, separate_kv, masked, seed):
    embed = 2 * heads
    kdim = 3 if separate_kv else None
    layer = nn.MultiheadAttention(embed, heads, kdim=kdim, vdim=kdim, batch_first=batch_first)
    order = (lambda length, features: (1, length, features)) if batch_first else (
        lambda length, features: (length, 1, features))
    query = tensor(order(length_q, embed), seed, device)
    key = tensor(order(length_k, kdim or embed), seed + 1, device)
    value = tensor(order(length_k, kdim or embed), seed + 2, device)
    mask = None
    if masked and length_k > 1:
        mask = minigen.zeros(length_q, length_k, dtype=minigen.bool, device=device)
        mask.data[:, 0] = True
    layer = layer.double().to(device)
    parameters = list(layer.parameters())

    def attend(q, k, v, *_):
        return layer(q, k, v, attn_mask=mask)

    check_gradients(attend, (query, key, value, *parameters), second_order=False)


@pytest.mark.parametrize("device", DEVICES)
def test_multihead_attention_second_order(device):
    layer = nn.MultiheadAttention(2, 1, batch_first=True).double().to(device)
    query, key = tensor((1, 2, 2), 0, device), tensor((1, 3, 2), 1, device)
    parameters = list(layer.parameters())
    check_gradients(lambda q, k, *_: layer(q, k, k), (query, key, *parameters))
