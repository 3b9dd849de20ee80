"""Normalisation layers and MultiheadAttention vs PyTorch.

BatchNorm/InstanceNorm run several training steps in a row: the running
statistics and ``num_batches_tracked`` must follow torch's exactly, and eval
mode must then use them.
"""

import numpy as np
import pytest

import minigen
from minigen import nn
from nn_parity import compare_layers, copy_weights, minigen_tensor, torch

RNG = np.random.default_rng(4321)


@pytest.fixture(autouse=True)
def _same_data_whatever_the_test_order():
    global RNG
    RNG = np.random.default_rng(4321)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _randomise(torch_module):
    """Non-trivial affine parameters and running statistics, so that copying them is tested."""
    with torch.no_grad():
        for name, tensor in list(torch_module.named_parameters()) + list(torch_module.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue
            values = torch.tensor(RNG.uniform(0.5, 1.5, tuple(tensor.shape)).astype(np.float32))
            tensor.copy_(values if "var" in name or name.endswith("weight") else values - 1.0)
    return torch_module


# --- BatchNorm --------------------------------------------------------------------------------------

BATCH_NORM_CASES = [
    ("BatchNorm1d", {}, (8, 3)),
    ("BatchNorm1d", {}, (4, 3, 5)),
    ("BatchNorm1d", {"momentum": None}, (4, 3, 5)),
    ("BatchNorm1d", {"affine": False}, (6, 3)),
    ("BatchNorm2d", {}, (4, 3, 3, 2)),
    ("BatchNorm2d", {"momentum": None}, (2, 3, 4, 4)),
    ("BatchNorm2d", {"momentum": 0.5, "eps": 1e-3}, (2, 3, 2, 2)),
    ("BatchNorm2d", {"affine": False}, (3, 2, 2, 3)),
    ("BatchNorm2d", {"track_running_stats": False}, (3, 2, 2, 3)),
    ("BatchNorm2d", {"bias": False}, (3, 2, 2, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", BATCH_NORM_CASES)
def test_batch_norm_training_steps_then_eval_match_torch(name, kwargs, shape):
    torch_layer = _randomise(getattr(torch.nn, name)(shape[1], **kwargs))
    layer = getattr(nn, name)(shape[1], **kwargs)
    copy_weights(torch_layer, layer)
    for step in range(3):
        x = randn(*shape) * (step + 1) + step  # statistics change from batch to batch
        compare_layers(torch_layer, layer, [x], train=True, copy=False, seed=step, atol=2e-5)
    if layer.track_running_stats:
        assert int(layer.num_batches_tracked.item()) == 3
    compare_layers(torch_layer, layer, [randn(*shape)], train=False, copy=False, atol=2e-5)


def test_batch_norm_eval_uses_running_statistics_not_the_batch():
    layer = nn.BatchNorm1d(2).eval()
    layer.running_mean.data[...] = [1.0, -1.0]
    layer.running_var.data[...] = [4.0, 0.25]
    x = minigen.tensor(np.array([[3.0, 0.0], [5.0, -1.0]], dtype=np.float32))
    expected = (x.detach().numpy() - [1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-6)
    assert int(layer.num_batches_tracked.item()) == 0


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="channels"):
        nn.BatchNorm2d(3)(minigen.ones(2, 4, 2, 2))
    with pytest.raises(ValueError, match="4-D"):
        nn.BatchNorm2d(3)(minigen.ones(2, 3))
    with pytest.raises(ValueError, match="more than 1 value"):
        nn.BatchNorm1d(3)(minigen.ones(1, 3))


# --- LayerNorm, GroupNorm, InstanceNorm ------------------------------------------------------------------

LAYER_NORM_CASES = [
    (4, {}, (3, 4)),
    ((3, 4), {}, (2, 3, 4)),
    ([2, 3], {"eps": 1e-3}, (2, 4, 2, 3)),
    (4, {"elementwise_affine": False}, (2, 3, 4)),
    (4, {"bias": False}, (5, 4)),
    (5, {}, (5,)),
]


@pytest.mark.parametrize("normalized_shape, kwargs, shape", LAYER_NORM_CASES)
def test_layer_norm_matches_torch(normalized_shape, kwargs, shape):
    compare_layers(_randomise(torch.nn.LayerNorm(normalized_shape, **kwargs)), nn.LayerNorm(normalized_shape, **kwargs),
                   [randn(*shape)], atol=2e-5)


GROUP_NORM_CASES = [
    (2, 4, {}, (3, 4, 2, 3)),
    (1, 4, {}, (2, 4, 5)),
    (4, 4, {}, (2, 4, 3, 3)),
    (3, 6, {"affine": False}, (2, 6, 2, 2)),
    (2, 4, {"eps": 1e-2}, (3, 4)),
    (2, 4, {"bias": False}, (2, 4, 3)),
]


@pytest.mark.parametrize("num_groups, num_channels, kwargs, shape", GROUP_NORM_CASES)
def test_group_norm_matches_torch(num_groups, num_channels, kwargs, shape):
    compare_layers(_randomise(torch.nn.GroupNorm(num_groups, num_channels, **kwargs)),
                   nn.GroupNorm(num_groups, num_channels, **kwargs), [randn(*shape)], atol=2e-5)


INSTANCE_NORM_CASES = [
    ({}, (2, 3, 4, 4)),
    ({"affine": True}, (2, 3, 3, 5)),
    ({"track_running_stats": True}, (2, 3, 4, 4)),
    ({"affine": True, "track_running_stats": True, "momentum": 0.3}, (3, 3, 2, 3)),
    ({"track_running_stats": True, "momentum": None}, (2, 3, 4, 4)),
    ({"affine": True}, (3, 4, 4)),  # unbatched
    ({"track_running_stats": True}, (3, 4, 4)),  # unbatched with running statistics
]


@pytest.mark.parametrize("kwargs, shape", INSTANCE_NORM_CASES)
def test_instance_norm2d_training_steps_then_eval_match_torch(kwargs, shape):
    torch_layer = _randomise(torch.nn.InstanceNorm2d(3, **kwargs))
    layer = nn.InstanceNorm2d(3, **kwargs)
    copy_weights(torch_layer, layer)
    for step in range(3):
        compare_layers(torch_layer, layer, [randn(*shape) * (step + 1) + step], train=True, copy=False, seed=step,
                       atol=2e-5)
    compare_layers(torch_layer, layer, [randn(*shape)], train=False, copy=False, atol=2e-5)


def test_instance_norm2d_channel_mismatch_warns_without_affine_and_raises_with_it():
    x = minigen_tensor(randn(2, 4, 3, 3))
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm2d(3)(x)
    with pytest.raises(ValueError, match="channels"):
        nn.InstanceNorm2d(3, affine=True)(x)


# --- MultiheadAttention -------------------------------------------------------------------------------------


def _attention_inputs(batch_first, n=2, length_q=3, length_k=4, embed=8, kdim=None, vdim=None, unbatched=False):
    def shaped(length, features):
        if unbatched:
            return randn(length, features)
        return randn(n, length, features) if batch_first else randn(length, n, features)

    return [shaped(length_q, embed), shaped(length_k, kdim or embed), shaped(length_k, vdim or embed)]


def _padding_mask(n, length_k, dtype):
    blocked = np.zeros((n, length_k), dtype=bool)
    blocked[0, -1] = blocked[-1, 1] = True
    return blocked if dtype == "bool" else np.where(blocked, -np.inf, RNG.uniform(-1, 1, blocked.shape)).astype(
        np.float32)


def _attention_mask(length_q, length_k, dtype, heads=None, n=None):
    shape = (length_q, length_k) if heads is None else (n * heads, length_q, length_k)
    blocked = np.triu(np.ones((length_q, length_k), dtype=bool), k=2)
    blocked = np.broadcast_to(blocked, shape).copy()
    if dtype == "bool":
        return blocked
    return np.where(blocked, -np.inf, RNG.uniform(-1, 1, shape)).astype(np.float32)


ATTENTION_CASES = [
    ({}, {}, {}),
    ({"batch_first": True}, {}, {}),
    ({"batch_first": True}, {}, {"need_weights": False}),
    ({}, {}, {"average_attn_weights": False}),
    ({"batch_first": True}, {}, {"key_padding_mask": "bool"}),
    ({}, {}, {"key_padding_mask": "float"}),
    ({"batch_first": True}, {}, {"attn_mask": "bool"}),
    ({}, {}, {"attn_mask": "float"}),
    ({"batch_first": True}, {}, {"attn_mask": "bool3d", "average_attn_weights": False}),
    ({}, {}, {"attn_mask": "float3d"}),
    ({"batch_first": True}, {}, {"attn_mask": "bool", "key_padding_mask": "bool"}),
    ({}, {}, {"attn_mask": "float", "key_padding_mask": "float", "average_attn_weights": False}),
    ({"kdim": 5, "vdim": 6}, {"kdim": 5, "vdim": 6}, {}),
    ({"kdim": 5, "vdim": 6, "batch_first": True}, {"kdim": 5, "vdim": 6}, {"key_padding_mask": "bool"}),
    ({"bias": False}, {}, {}),
    ({}, {"unbatched": True}, {}),
    ({"batch_first": True}, {"unbatched": True}, {"attn_mask": "bool", "average_attn_weights": False}),
    ({}, {"unbatched": True}, {"key_padding_mask": "bool"}),
    ({"batch_first": True}, {}, {"attn_mask": "causal", "is_causal": True}),
]


def _attention_kwargs(spec, n, length_q, length_k, heads, unbatched):
    kwargs = {}
    for key, value in spec.items():
        if key == "key_padding_mask":
            mask = _padding_mask(n, length_k, value)
            kwargs[key] = mask[0] if unbatched else mask
        elif value == "causal":
            kwargs[key] = np.triu(np.ones((length_q, length_k), dtype=bool), k=1)
        elif key == "attn_mask":
            three_d = value.endswith("3d")
            kwargs[key] = _attention_mask(length_q, length_k, value[:-2] if three_d else value,
                                          heads if three_d else None, n)
        else:
            kwargs[key] = value
    return kwargs


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("layer_kwargs, input_kwargs, call_spec", ATTENTION_CASES)
def test_multihead_attention_matches_torch(layer_kwargs, input_kwargs, call_spec, train):
    heads, n, length_q, length_k = 2, 2, 3, 4
    torch_layer = torch.nn.MultiheadAttention(8, heads, **layer_kwargs)
    with torch.no_grad():  # non-zero biases, so the bias slices are tested
        for name, parameter in torch_layer.named_parameters():
            if "bias" in name:
                parameter.copy_(torch.tensor(randn(*parameter.shape)))
    layer = nn.MultiheadAttention(8, heads, **layer_kwargs)
    inputs = _attention_inputs(layer_kwargs.get("batch_first", False), n, length_q, length_k, **input_kwargs)
    kwargs = _attention_kwargs(call_spec, n, length_q, length_k, heads, input_kwargs.get("unbatched", False))
    compare_layers(torch_layer, layer, inputs, kwargs=kwargs, train=train, atol=2e-5)


def test_multihead_attention_need_weights_false_returns_none():
    layer = nn.MultiheadAttention(4, 2)
    output, weights = layer(*[minigen_tensor(randn(3, 2, 4)) for _ in range(3)], need_weights=False)
    assert weights is None and tuple(output.shape) == (3, 2, 4)


def test_multihead_attention_dropout_is_off_in_eval_and_on_in_train():
    torch_layer = torch.nn.MultiheadAttention(4, 2, dropout=0.5)
    layer = nn.MultiheadAttention(4, 2, dropout=0.5)
    inputs = [randn(3, 2, 4) for _ in range(3)]
    compare_layers(torch_layer, layer, inputs, train=False)
    layer.train()
    output, weights = layer(*[minigen_tensor(a) for a in inputs], average_attn_weights=False)
    eval_output, eval_weights = layer.eval()(*[minigen_tensor(a) for a in inputs], average_attn_weights=False)
    assert not np.allclose(output.detach().numpy(), eval_output.detach().numpy())
    # as in PyTorch, training returns the dropped-out weights: zeros, and survivors scaled by 1 / (1 - p)
    dropped = weights.detach().numpy()
    kept = dropped != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(dropped[kept], 2 * eval_weights.detach().numpy()[kept], rtol=1e-5)


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(6, 4)
    layer = nn.MultiheadAttention(4, 2)
    x = minigen_tensor(randn(3, 2, 4))
    with pytest.raises(ValueError, match="key_padding_mask"):
        layer(x, x, x, key_padding_mask=minigen.zeros(3, 3, dtype=minigen.bool))
    with pytest.raises(ValueError, match="attn_mask"):
        layer(x, x, x, attn_mask=minigen.zeros(2, 2, dtype=minigen.bool))
