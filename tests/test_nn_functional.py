"""minigen.nn.functional vs torch.nn.functional: losses, linear, attention, normalisation.

Forward values and input gradients are compared in float32; the losses that
appear inside gradient penalties also compare second derivatives taken
through ``create_graph=True``. Gradcheck in float64 and error messages follow.
"""

import numpy as np
import pytest

import minigen
from minigen.nn import functional as F
from nn_parity import as_numpy, assert_close, minigen_tensor, torch, torch_tensor

TF = torch.nn.functional
RNG = np.random.default_rng(99)


@pytest.fixture(autouse=True)
def _same_data_whatever_the_test_order():
    global RNG
    RNG = np.random.default_rng(99)
REDUCTIONS = ["mean", "sum", "none"]


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def uniform(low, high, *shape):
    return RNG.uniform(low, high, shape).astype(np.float32)


def labels(high, *shape):
    return RNG.integers(0, high, shape).astype(np.int64)


def _convert(value, convert, requires_grad=False):
    return convert(value, requires_grad) if isinstance(value, np.ndarray) else value


def compare_functional(name, args, kwargs=None, differentiable=(0,), second_order=False, rtol=1e-5, atol=1e-5):
    """Compare F.<name> with torch's on the same arrays: value, gradients of the ``differentiable``
    positional arguments and, with ``second_order``, the gradient of (grad . v) (create_graph)."""
    kwargs = kwargs or {}
    results = []
    for library, module, convert in (("torch", TF, torch_tensor), ("minigen", F, minigen_tensor)):
        inputs = [_convert(a, convert, i in differentiable) for i, a in enumerate(args)]
        options = {key: _convert(value, convert) for key, value in kwargs.items()}
        results.append((inputs, getattr(module, name)(*inputs, **options)))
    (torch_inputs, torch_out), (minigen_inputs, minigen_out) = results
    assert_close(minigen_out, torch_out, rtol, atol, "value")
    if not differentiable:
        return
    weight = randn(*torch_out.shape)
    torch_targets = [torch_inputs[i] for i in differentiable]
    minigen_targets = [minigen_inputs[i] for i in differentiable]
    torch_grads = torch.autograd.grad(torch_out, torch_targets, torch.tensor(weight), create_graph=second_order)
    minigen_grads = minigen.grad([minigen_out], minigen_targets, [minigen.tensor(weight)], create_graph=second_order)
    for index, (got, expected) in enumerate(zip(minigen_grads, torch_grads)):
        assert_close(got, expected, rtol, atol * 10, f"gradient of argument {differentiable[index]}")
    if not second_order:
        return
    directions = [randn(*g.shape) for g in torch_grads]
    torch_total = sum((g * torch.tensor(v)).sum() for g, v in zip(torch_grads, directions))
    minigen_total = sum((g * minigen.tensor(v)).sum() for g, v in zip(minigen_grads, directions))
    # a gradient that is constant in the inputs may or may not carry a graph: its derivative is zero
    torch_second = (torch.autograd.grad(torch_total, torch_targets, allow_unused=True)
                    if torch_total.requires_grad else [None] * len(torch_targets))
    minigen_second = (minigen.grad([minigen_total], minigen_targets, allow_unused=True)
                      if minigen_total.requires_grad else [None] * len(minigen_targets))
    for index, (got, expected) in enumerate(zip(minigen_second, torch_second)):
        if expected is None or expected._is_zerotensor():
            expected = np.zeros(torch_targets[index].shape)
        else:
            expected = as_numpy(expected)
        got = np.zeros(expected.shape) if got is None else as_numpy(got)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=atol * 10,
                                   err_msg=f"second derivative of argument {differentiable[index]}")


# --- regression losses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_and_l1_loss_match_torch(name, reduction, weighted):
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = uniform(0.1, 2.0, 3, 4)
    compare_functional(name, [randn(3, 4), randn(3, 4)], kwargs, differentiable=(0, 1), second_order=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, 0.0])
def test_smooth_l1_loss_matches_torch(reduction, beta):
    input, target = randn(4, 5), randn(4, 5)
    compare_functional("smooth_l1_loss", [input, target], {"reduction": reduction, "beta": beta},
                       differentiable=(0, 1), second_order=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3)])
def test_gaussian_nll_loss_matches_torch(reduction, full, var_shape):
    var = uniform(0.2, 2.0, *var_shape)
    var.flat[0] = 1e-8  # below eps: clamped in value, gradient still flows
    compare_functional("gaussian_nll_loss", [randn(4, 3), randn(4, 3), var],
                       {"full": full, "eps": 1e-6, "reduction": reduction}, differentiable=(0, 1, 2),
                       second_order=True, rtol=1e-4)


def test_gaussian_nll_loss_var_broadcast_in_the_middle_and_float_var():
    compare_functional("gaussian_nll_loss", [randn(2, 3, 4), randn(2, 3, 4), uniform(0.5, 2, 2, 1, 4)],
                       differentiable=(0, 1, 2))
    compare_functional("gaussian_nll_loss", [randn(2, 3), randn(2, 3), 0.7], differentiable=(0, 1))


# --- binary cross entropy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (3,), (4, 3)])
def test_binary_cross_entropy_matches_torch(reduction, weight_shape):
    kwargs = {"reduction": reduction}
    if weight_shape:
        kwargs["weight"] = uniform(0.2, 2.0, *weight_shape)
    compare_functional("binary_cross_entropy", [uniform(0.05, 0.95, 4, 3), uniform(0, 1, 4, 3)], kwargs,
                       second_order=True, rtol=1e-4)


def test_binary_cross_entropy_saturated_probabilities_clamp_the_log_like_torch():
    input = np.array([0.0, 1.0, 0.0, 1.0, 1e-30], dtype=np.float32)
    target = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype=np.float32)
    compare_functional("binary_cross_entropy", [input, target], {"reduction": "none"}, differentiable=())
    x = minigen.tensor(input, requires_grad=True)
    F.binary_cross_entropy(x, minigen.tensor(target)).backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_binary_cross_entropy_after_a_saturated_sigmoid_matches_torch():
    # the VAE/GAN pattern F.binary_cross_entropy(torch.sigmoid(logits), y) with large |logits|
    logits = np.array([40.0, -40.0, -20.0, 17.0, 0.3], dtype=np.float32)
    target = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype=np.float32)
    x, expected_x = minigen.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    loss = F.binary_cross_entropy(minigen.sigmoid(x), minigen.tensor(target), reduction="sum")
    expected = TF.binary_cross_entropy(torch.sigmoid(expected_x), torch.tensor(target), reduction="sum")
    loss.backward()
    expected.backward()
    assert_close(loss, expected, 1e-5, 1e-5, "value")
    assert_close(x.grad, expected_x.grad, 1e-5, 1e-10, "gradient")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_binary_cross_entropy_with_logits_matches_torch(reduction, weighted, pos_weighted):
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = uniform(0.2, 2.0, 4, 3)
    if pos_weighted:
        kwargs["pos_weight"] = uniform(0.5, 3.0, 3)
    compare_functional("binary_cross_entropy_with_logits", [randn(4, 3) * 3, uniform(0, 1, 4, 3)], kwargs,
                       differentiable=(0, 1), second_order=True)


def test_binary_cross_entropy_with_logits_extreme_logits_stay_finite():
    logits = np.array([100.0, -100.0, 100.0, -100.0, 0.0], dtype=np.float32)
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.5], dtype=np.float32)
    for kwargs in ({"reduction": "none"}, {"reduction": "none", "pos_weight": np.full(5, 2.0, np.float32)}):
        compare_functional("binary_cross_entropy_with_logits", [logits, target], kwargs, differentiable=(0,),
                           second_order=True)
    x = minigen.tensor(logits, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, minigen.tensor(target))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()


# --- classification losses --------------------------------------------------------------------------------

CROSS_ENTROPY_CASES = [
    ((5, 4), "index", {}),
    ((5, 4), "index", {"weight": "weight"}),
    ((5, 4), "index", {"ignore_index": 1}),
    ((5, 4), "index", {"ignore_index": 1, "weight": "weight"}),
    ((5, 4), "index", {"label_smoothing": 0.2}),
    ((5, 4), "index", {"label_smoothing": 0.2, "weight": "weight"}),
    ((5, 4), "index", {"label_smoothing": 0.3, "weight": "weight", "ignore_index": 2}),
    ((2, 4, 3, 2), "index", {}),
    ((2, 4, 3, 2), "index", {"weight": "weight", "ignore_index": 0, "label_smoothing": 0.1}),
    ((2, 4, 5), "index", {"label_smoothing": 0.25}),
    ((4,), "index", {}),
    ((4,), "index", {"label_smoothing": 0.1, "weight": "weight"}),
    ((5, 4), "probabilities", {}),
    ((5, 4), "probabilities", {"weight": "weight"}),
    ((5, 4), "probabilities", {"label_smoothing": 0.2}),
    ((5, 4), "probabilities", {"label_smoothing": 0.2, "weight": "weight"}),
    ((2, 4, 3, 2), "probabilities", {"weight": "weight"}),
    ((4,), "probabilities", {}),
]


def _classification_target(shape, kind):
    if kind == "index":
        target_shape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
        target = labels(shape[1] if len(shape) > 1 else shape[0], *target_shape)
        if target.ndim:
            target.flat[0] = 1  # make sure ignore_index=1 drops something
        return np.asarray(target)
    class_dim = 1 if len(shape) > 1 else 0
    logits = randn(*shape)
    return (np.exp(logits) / np.exp(logits).sum(axis=class_dim, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, kind, spec", CROSS_ENTROPY_CASES)
def test_cross_entropy_matches_torch(shape, kind, spec, reduction):
    classes = shape[1] if len(shape) > 1 else shape[0]
    kwargs = {key: uniform(0.2, 2.0, classes) if value == "weight" else value for key, value in spec.items()}
    kwargs["reduction"] = reduction
    compare_functional("cross_entropy", [randn(*shape) * 2, _classification_target(shape, kind)], kwargs,
                       second_order=True, rtol=1e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3), (4,)])
@pytest.mark.parametrize("spec", [{}, {"weight": True}, {"ignore_index": 1}, {"weight": True, "ignore_index": 1}])
def test_nll_loss_matches_torch(shape, spec, reduction):
    classes = shape[1] if len(shape) > 1 else shape[0]
    kwargs = {"reduction": reduction}
    if spec.get("weight"):
        kwargs["weight"] = uniform(0.2, 2.0, classes)
    if "ignore_index" in spec:
        kwargs["ignore_index"] = spec["ignore_index"]
    log_probs = np.log(_classification_target(shape, "probabilities"))
    compare_functional("nll_loss", [log_probs, _classification_target(shape, "index")], kwargs, second_order=True)


def test_cross_entropy_with_every_target_ignored_matches_torch():
    target = np.full(3, -100, dtype=np.int64)
    for reduction in REDUCTIONS:
        compare_functional("cross_entropy", [randn(3, 4), target], {"reduction": reduction})


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # torch's deprecation notice
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    log_q = np.log(_classification_target((4, 5), "probabilities"))
    p = _classification_target((4, 5), "probabilities")
    p[0, :2] = 0.0  # 0 log 0 = 0
    target = np.log(p + 1e-3).astype(np.float32) if log_target else p
    with np.errstate(divide="ignore"):
        compare_functional("kl_div", [log_q, target], {"reduction": reduction, "log_target": log_target},
                           differentiable=(0, 1) if log_target else (0,), second_order=True)


# --- linear, attention ---------------------------------------------------------------------------------


@pytest.mark.parametrize("input_shape", [(3,), (5, 3), (2, 4, 3)])
@pytest.mark.parametrize("bias", [False, True])
def test_linear_matches_torch(input_shape, bias):
    args = [randn(*input_shape), randn(2, 3)] + ([randn(2)] if bias else [])
    compare_functional("linear", args, differentiable=tuple(range(len(args))), second_order=True)


SDPA_CASES = [
    ((2, 3, 4), (2, 5, 4), {}),
    ((2, 2, 3, 4), (2, 2, 3, 4), {"is_causal": True}),
    ((1, 4, 2), (1, 3, 2), {"is_causal": True}),
    ((2, 3, 4), (2, 5, 4), {"scale": 0.3}),
    ((2, 2, 3, 4), (2, 2, 5, 4), {"attn_mask": "bool"}),
    ((2, 2, 3, 4), (2, 2, 5, 4), {"attn_mask": "float"}),
    ((2, 3, 4), (2, 5, 4), {"attn_mask": "bool", "scale": 2.0}),
]


@pytest.mark.parametrize("query_shape, key_shape, spec", SDPA_CASES)
def test_scaled_dot_product_attention_matches_torch(query_shape, key_shape, spec):
    kwargs = dict(spec)
    length_q, length_k = query_shape[-2], key_shape[-2]
    if spec.get("attn_mask") == "bool":
        kwargs["attn_mask"] = RNG.uniform(size=(length_q, length_k)) > 0.3
        kwargs["attn_mask"][:, 0] = True  # every query sees at least one key
    elif spec.get("attn_mask") == "float":
        kwargs["attn_mask"] = randn(query_shape[0], 1, length_q, length_k)
    value_shape = key_shape[:-1] + (3,)
    compare_functional("scaled_dot_product_attention", [randn(*query_shape), randn(*key_shape), randn(*value_shape)],
                       kwargs, differentiable=(0, 1, 2), second_order=True)


# --- normalisation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_matches_torch_and_updates_running_stats(shape, training, affine):
    running = [uniform(-0.5, 0.5, 3), uniform(0.5, 1.5, 3)]
    args = [randn(*shape) * 2 + 1]
    kwargs = {"training": training, "momentum": 0.3, "eps": 1e-4}
    if affine:
        kwargs.update(weight=uniform(0.5, 1.5, 3), bias=randn(3))
    torch_running = [torch.tensor(r) for r in running]
    minigen_running = [minigen.tensor(r) for r in running]
    torch_out = TF.batch_norm(torch.tensor(args[0]), *torch_running, **{k: _convert(v, torch_tensor)
                                                                       for k, v in kwargs.items()})
    minigen_out = F.batch_norm(minigen.tensor(args[0]), *minigen_running, **{k: _convert(v, minigen_tensor)
                                                                            for k, v in kwargs.items()})
    np.testing.assert_allclose(minigen_out.detach().numpy(), torch_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    for got, expected in zip(minigen_running, torch_running):
        np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    compare_functional("batch_norm", args + running, kwargs, second_order=True, atol=2e-5)


@pytest.mark.parametrize("normalized_shape, shape", [((4,), (3, 4)), ((2, 3), (2, 2, 3)), ((5,), (5,))])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_matches_torch(normalized_shape, shape, affine):
    args = [randn(*shape) * 3, normalized_shape]
    if affine:
        args += [uniform(0.5, 1.5, *normalized_shape), randn(*normalized_shape)]
    compare_functional("layer_norm", args, {"eps": 1e-4}, differentiable=(0, 2, 3) if affine else (0,),
                       second_order=True, atol=2e-5)


@pytest.mark.parametrize("groups, shape", [(2, (3, 4, 2, 2)), (1, (2, 3, 5)), (3, (2, 3, 4))])
@pytest.mark.parametrize("affine", [False, True])
def test_group_norm_matches_torch(groups, shape, affine):
    args = [randn(*shape), groups]
    if affine:
        args += [uniform(0.5, 1.5, shape[1]), randn(shape[1])]
    compare_functional("group_norm", args, differentiable=(0, 2, 3) if affine else (0,), second_order=True,
                       atol=2e-5)


@pytest.mark.parametrize("running", [False, True])
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_matches_torch(running, use_input_stats):
    if not running and not use_input_stats:
        pytest.skip("torch needs running statistics when use_input_stats=False")
    x = randn(2, 3, 4, 3)
    kwargs = {"use_input_stats": use_input_stats, "momentum": 0.2, "weight": uniform(0.5, 1.5, 3), "bias": randn(3)}
    if running:
        kwargs.update(running_mean=uniform(-0.5, 0.5, 3), running_var=uniform(0.5, 1.5, 3))
    torch_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    minigen_kwargs = {k: minigen.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    torch_out = TF.instance_norm(torch.tensor(x), **torch_kwargs)
    minigen_out = F.instance_norm(minigen.tensor(x), **minigen_kwargs)
    np.testing.assert_allclose(minigen_out.detach().numpy(), torch_out.detach().numpy(), rtol=1e-5, atol=2e-5)
    if running:
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(as_numpy(minigen_kwargs[name]), as_numpy(torch_kwargs[name]), rtol=1e-5,
                                       atol=1e-6)
    compare_functional("instance_norm", [x], {k: v for k, v in kwargs.items() if "running" not in k}
                       if not running else kwargs, second_order=True, atol=2e-5)


@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, 1), (2.0, -1), (3.0, 0)])
def test_normalize_matches_torch(p, dim):
    x = randn(3, 4)
    compare_functional("normalize", [x], {"p": p, "dim": dim}, second_order=True)


def test_normalize_zero_vector_uses_eps():
    x = np.zeros((2, 3), dtype=np.float32)
    x[1] = [3.0, 4.0, 0.0]
    compare_functional("normalize", [x], {"eps": 1e-3}, differentiable=())
