"""Losses and functional layers: float64 gradcheck/gradgradcheck over drawn shapes, and error messages."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from minigen.nn import functional as F
from helpers import DEVICES, check_gradients, seeds, shapes, tensor

REDUCTION = st.sampled_from(["mean", "sum", "none"])


def _labels(shape, classes, seed, device):
    values = np.random.default_rng(seed).integers(0, classes, shape)
    return minigen.tensor(values, dtype=minigen.int64, device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3), reduction=REDUCTION, beta=st.sampled_from([0.0, 0.5, 1.0]), seed=seeds)
def test_regression_losses_gradients(device, shape, reduction, beta, seed):
    input = tensor(shape, seed, device)
    target = tensor(shape, seed + 1, device)
    # keep |input - target| away from the kinks at 0 and beta
    difference = input.data - target.data
    for kink in (0.0, beta):
        close = np.abs(np.abs(difference) - kink) < 0.1
        difference = np.where(close, np.sign(difference + 1e-12) * (kink + 0.2), difference)
    target.data = input.data - difference
    check_gradients(lambda a, b: F.mse_loss(a, b, reduction=reduction), (input, target))
    check_gradients(lambda a, b: F.l1_loss(a, b, reduction=reduction), (input, target))
    check_gradients(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta), (input, target))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), reduction=REDUCTION, full=st.booleans(), seed=seeds)
def test_gaussian_nll_loss_gradients(device, shape, reduction, full, seed):
    input, target = tensor(shape, seed, device), tensor(shape, seed + 1, device)
    var = tensor(shape, seed + 2, device, low=0.3, high=2.0)
    check_gradients(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
                    (input, target, var))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3), reduction=REDUCTION, weighted=st.booleans(), seed=seeds)
def test_binary_cross_entropy_gradients(device, shape, reduction, weighted, seed):
    input = tensor(shape, seed, device, low=0.1, high=0.9)
    target = tensor(shape, seed + 1, device, low=0.0, high=1.0)
    weight = tensor(shape, seed + 2, device, low=0.5, high=2.0, requires_grad=False) if weighted else None
    check_gradients(lambda p, y: F.binary_cross_entropy(p, y, weight=weight, reduction=reduction), (input, target))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), reduction=REDUCTION, pos_weighted=st.booleans(), seed=seeds)
def test_binary_cross_entropy_with_logits_gradients(device, shape, reduction, pos_weighted, seed):
    logits = tensor(shape, seed, device, low=-4, high=4)
    target = tensor(shape, seed + 1, device, low=0.0, high=1.0)
    weight = tensor(shape, seed + 2, device, low=0.5, high=2.0)
    pos_weight = tensor(shape[-1:], seed + 3, device, low=0.5, high=3.0) if pos_weighted else None

    def loss(x, y, w, *maybe_pos_weight):
        return F.binary_cross_entropy_with_logits(x, y, weight=w, reduction=reduction,
                                                  pos_weight=maybe_pos_weight[0] if maybe_pos_weight else None)

    check_gradients(loss, (logits, target, weight) + ((pos_weight,) if pos_weighted else ()))


@st.composite
def classification_problems(draw):
    batch, classes = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    spatial = draw(st.sampled_from([(), (2,), (2, 1)]))
    unbatched = draw(st.booleans()) and not spatial
    shape = (classes,) if unbatched else (batch, classes) + spatial
    target_shape = () if unbatched else (batch,) + spatial
    return shape, target_shape, classes


@pytest.mark.parametrize("device", DEVICES)
@given(problem=classification_problems(), reduction=REDUCTION, weighted=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.2]), ignore=st.booleans(), seed=seeds)
def test_cross_entropy_and_nll_gradients(device, problem, reduction, weighted, smoothing, ignore, seed):
    shape, target_shape, classes = problem
    logits = tensor(shape, seed, device)
    target = _labels(target_shape, classes, seed, device)
    ignore_index = 0 if ignore and target.numel() > 1 and bool((target.data != 0).any()) else -100
    weight = tensor((classes,), seed + 1, device, low=0.5, high=2.0) if weighted else None
    extra = (weight,) if weighted else ()

    def cross_entropy(x, *w):
        return F.cross_entropy(x, target, weight=w[0] if w else None, ignore_index=ignore_index,
                               reduction=reduction, label_smoothing=smoothing)

    def nll(x, *w):
        return F.nll_loss(F.log_softmax(x, dim=0 if x.ndim == 1 else 1), target, weight=w[0] if w else None,
                          ignore_index=ignore_index, reduction=reduction)

    check_gradients(cross_entropy, (logits,) + extra)
    check_gradients(nll, (logits,) + extra)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), smoothing=st.sampled_from([0.0, 0.3]), reduction=REDUCTION, seed=seeds)
def test_cross_entropy_probability_targets_gradients(device, shape, smoothing, reduction, seed):
    logits = tensor(shape, seed, device)
    target = tensor(shape, seed + 1, device, low=0.0, high=1.0)
    check_gradients(lambda x, y: F.cross_entropy(x, y, reduction=reduction, label_smoothing=smoothing),
                    (logits, target))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]),
       log_target=st.booleans(), seed=seeds)
def test_kl_div_gradients(device, shape, reduction, log_target, seed):
    log_q = tensor(shape, seed, device, low=-3, high=0)
    target = tensor(shape, seed + 1, device, low=-3, high=0) if log_target else tensor(shape, seed + 1, device,
                                                                                       low=0.1, high=1.0)
    check_gradients(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), (log_q, target))


@pytest.mark.parametrize("device", DEVICES)
@given(batch=st.integers(1, 2), length_q=st.integers(1, 3), length_k=st.integers(1, 3), dim=st.integers(1, 3),
       causal=st.booleans(), seed=seeds)
def test_scaled_dot_product_attention_gradients(device, batch, length_q, length_k, dim, causal, seed):
    q = tensor((batch, length_q, dim), seed, device)
    k = tensor((batch, length_k, dim), seed + 1, device)
    v = tensor((batch, length_k, 2), seed + 2, device)
    check_gradients(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=causal), (q, k, v))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=2, max_dims=3, min_side=2, max_side=3), p=st.sampled_from([1.0, 2.0, 3.0]),
       seed=seeds)
def test_normalize_gradients(device, shape, p, seed):
    x = tensor(shape, seed, device, avoid=(0.0,))
    check_gradients(lambda a: F.normalize(a, p=p, dim=1), (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=st.sampled_from([(2, 3), (2, 2, 3), (3, 1, 2, 2)]), seed=seeds)
def test_instance_and_functional_norms_gradients(device, shape, seed):
    x = tensor(shape, seed, device)
    weight = tensor(shape[1:2], seed + 1, device, low=0.5, high=1.5)
    bias = tensor(shape[1:2], seed + 2, device)
    if len(shape) > 2:
        check_gradients(lambda a, w, b: F.instance_norm(a, weight=w, bias=b), (x, weight, bias))
    check_gradients(lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True), (x, weight, bias))
    check_gradients(lambda a: F.layer_norm(a, shape[-1:]), (x,))


# --- errors ---------------------------------------------------------------------------------------------


def test_shape_mismatch_errors_name_the_loss_and_shapes():
    a, b = minigen.ones(3, 1), minigen.ones(3)
    for loss in (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match=rf"{loss.__name__}.*\(3,\).*\(3, 1\)"):
            loss(a * 0.5, b * 0.5)
    with pytest.raises(ValueError, match="cross_entropy"):
        F.cross_entropy(minigen.ones(3, 4), minigen.ones(3, 5))
    with pytest.raises(ValueError, match=r"nll_loss.*\(3, 2\)"):
        F.nll_loss(minigen.ones(3, 4), minigen.zeros(3, 2, dtype=minigen.int64))
    with pytest.raises(ValueError, match="gaussian_nll_loss"):
        F.gaussian_nll_loss(minigen.ones(3, 4), minigen.ones(3, 4), minigen.ones(2, 4))


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits", "kl_div", "gaussian_nll_loss"])
def test_bad_reduction_raises(loss):
    x = minigen.full((2, 3), 0.5)
    args = (x, x, x) if loss == "gaussian_nll_loss" else (x, x)
    with pytest.raises(ValueError, match=rf"{loss}.*reduction.*'average'"):
        getattr(F, loss)(*args, reduction="average")


def test_bad_reduction_raises_for_class_losses():
    logits, target = minigen.zeros(2, 3), minigen.zeros(2, dtype=minigen.int64)
    for loss in (F.cross_entropy, F.nll_loss):
        with pytest.raises(ValueError, match="reduction"):
            loss(logits, target, reduction="average")


def test_class_losses_reject_float_targets_and_out_of_range_classes():
    with pytest.raises(TypeError, match="nll_loss.*integer"):
        F.nll_loss(minigen.zeros(2, 3), minigen.zeros(2))
    with pytest.raises(IndexError, match=r"nll_loss.*\[0, 3\)"):
        F.nll_loss(minigen.zeros(2, 3), minigen.tensor([0, 3]))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(minigen.zeros(2, 3), minigen.tensor([0, 1]), label_smoothing=1.5)


def test_gaussian_nll_loss_rejects_negative_variance():
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(minigen.ones(2), minigen.ones(2), minigen.tensor([1.0, -1.0]))
