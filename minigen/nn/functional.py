"""``minigen.nn.functional`` (import as ``F``): PyTorch's functional API.

The activations, convolutions, pooling and shape ops are the engine's own
differentiable primitives, re-exported here under their ``torch.nn.functional``
names. Below them: linear maps, normalisation, attention and the losses, each
written with differentiable ops so that they work under ``create_graph=True``.
"""

import math

from .. import backend
from ..creation import full_like
from ..function import Function
from ..ops.activation import (
    dropout, elu, gelu, leaky_relu, log_softmax, relu, sigmoid, silu, softmax, softplus, softplus_kernel, tanh,
)
from ..ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold
from ..ops.elementwise import _promote_pair, where
from ..ops.indexing import embedding, one_hot
from ..ops.linalg import linear
from ..ops.normalization import normalize_over
from ..ops.pooling import (
    adaptive_avg_pool2d, avg_pool2d, interpolate, max_pool2d, pixel_shuffle, pixel_unshuffle,
)
from ..ops.shape import pad
from ..tensor import Tensor

__all__ = [
    "relu", "leaky_relu", "elu", "silu", "gelu", "tanh", "sigmoid", "softplus", "softmax", "log_softmax",
    "dropout", "linear", "conv1d", "conv2d", "conv_transpose2d", "unfold", "fold", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "interpolate", "pixel_shuffle", "pixel_unshuffle", "pad", "embedding", "one_hot",
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "normalize", "scaled_dot_product_attention",
    "mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "cross_entropy", "nll_loss", "kl_div", "gaussian_nll_loss",
]




# --- normalisation ----------------------------------------------------------------------


def _channel_shape(x):
    return (1, -1) + (1,) * (x.ndim - 2)


def _per_channel(weight, bias, x):
    """The affine parameters shaped to broadcast over (N, C, ...)."""
    shape = _channel_shape(x)
    return (None if weight is None else weight.reshape(shape)), (None if bias is None else bias.reshape(shape))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel by the batch's statistics (training) or the running ones (eval).

    In training the running statistics move by ``momentum`` toward the batch's
    mean and unbiased variance, as PyTorch does.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2-D input (N, C, ...), got shape {tuple(input.shape)}")
    dims = (0,) + tuple(range(2, input.ndim))
    weight, bias = _per_channel(weight, bias, input)
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"shape {tuple(input.shape)}")
        output, node = normalize_over(input, dims, eps, weight, bias)
        if running_mean is not None:
            _update_running(running_mean, running_var, node.mean, node.variance, count, momentum)
        return output
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    shape = _channel_shape(input)
    normalised = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        normalised = normalised * weight
    return normalised if bias is None else normalised + bias


def _update_running(running_mean, running_var, batch_mean, batch_var, count, momentum):
    """running <- (1 - momentum) running + momentum batch, with the unbiased batch variance."""
    unbiased = batch_var.reshape(-1) * (count / max(count - 1, 1))
    running_mean.data *= 1 - momentum
    running_mean.data += batch_mean.reshape(-1) * momentum
    running_var.data *= 1 - momentum
    running_var.data += unbiased * momentum


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(normalized_shape):]) != normalized_shape:
        raise ValueError(f"layer_norm: input shape {tuple(input.shape)} does not end with normalized_shape "
                         f"{normalized_shape}")
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    return normalize_over(input, dims, eps, weight, bias)[0]


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    n, c = input.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: {c} channels are not divisible into {num_groups} groups")
    # (N, G, C/G, ...): statistics over each group's channels and positions, affine per channel
    grouped_shape = (n, num_groups, c // num_groups) + tuple(input.shape[2:])
    affine_shape = (1, num_groups, c // num_groups) + (1,) * (input.ndim - 2)
    weight = None if weight is None else weight.reshape(affine_shape)
    bias = None if bias is None else bias.reshape(affine_shape)
    dims = tuple(range(2, len(grouped_shape)))
    return normalize_over(input.reshape(grouped_shape), dims, eps, weight, bias)[0].reshape(input.shape)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    dims = tuple(range(2, input.ndim))
    weight, bias = _per_channel(weight, bias, input)
    output, node = normalize_over(input, dims, eps, weight, bias)
    if running_mean is not None:
        count = math.prod(input.shape[2:])
        _update_running(running_mean, running_var, node.mean.mean(axis=0), node.variance.mean(axis=0), count,
                        momentum)
    return output


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """x / max(||x||_p, eps) along ``dim``."""
    return input / input.norm(p=p, dim=dim, keepdim=True).clamp(min=eps)


# --- attention ------------------------------------------------------------------------------


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q K^T / sqrt(d) + mask) V.

    A bool ``attn_mask`` marks with True the positions that may be attended
    (PyTorch's convention here); a float mask is added to the scores.
    """
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: query dim {query.shape[-1]} != key dim {key.shape[-1]}")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    # the scale on the (L, d) query rather than the (L, S) scores: the same products, a smaller pass
    scores = (query * scale) @ key.mT
    length_q, length_k = query.shape[-2], key.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal, not both")
        xp = backend.array_module(scores.data)
        with backend.on_device(scores.device):
            attn_mask = Tensor(xp.tril(xp.ones((length_q, length_k), dtype=bool)))
    if attn_mask is not None:
        if attn_mask.dtype == backend.bool_:
            scores = where(attn_mask, scores, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights @ value


# --- losses -----------------------------------------------------------------------------------


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(input, target, op):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: target shape {tuple(target.shape)} must match input shape {tuple(input.shape)}")


def _weighted_reduce(loss, weight, reduction, op):
    """PyTorch's elementwise ``weight`` for mse/l1: 'mean' becomes sum(w loss) / sum(w)."""
    if weight is None:
        return _reduce(loss, reduction, op)
    _check_same_shape(loss, weight, op)
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction, op)


def mse_loss(input, target, reduction="mean", weight=None):
    _check_same_shape(input, target, "mse_loss")
    difference = input - target
    return _weighted_reduce(difference * difference, weight, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean", weight=None):
    _check_same_shape(input, target, "l1_loss")
    return _weighted_reduce((input - target).abs(), weight, reduction, "l1_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (Huber divided by beta)."""
    _check_same_shape(input, target, "smooth_l1_loss")
    distance = (input - target).abs()
    if beta == 0:
        return _reduce(distance, reduction, "smooth_l1_loss")
    loss = where(distance < beta, distance * distance * (0.5 / beta), distance - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def _clamped_log(xp, x):
    """log(x) floored at -100 (PyTorch's BCE convention), without NumPy's log(0) warning."""
    positive = x > 0
    return xp.maximum(xp.where(positive, xp.log(xp.where(positive, x, 1)), -100), -100).astype(x.dtype, copy=False)


class BinaryCrossEntropy(Function):
    """-[y log p + (1 - y) log(1 - p)] elementwise, each log floored at -100.

    One Function so that the input gradient is PyTorch's (p - y) / max(p (1 - p), 1e-12):
    differentiating the clamped logs instead gives 0 * inf = nan at a saturated p of
    exactly 0 or 1 (a float32 sigmoid reaches 1.0 from x = 17 on).
    """

    def forward(self, p, y):
        return -(y * _clamped_log(self.xp, p) + (1 - y) * _clamped_log(self.xp, 1 - p))

    def backward(self, grad):
        p, y = self.inputs
        grad_p = grad_y = None
        if self.needs_input_grad[0]:
            grad_p = grad * (p - y) / (p * (1.0 - p)).clamp(min=1e-12)
        if self.needs_input_grad[1]:
            grad_y = grad * ((1.0 - p).log().clamp(min=-100.0) - p.log().clamp(min=-100.0))
        return grad_p, grad_y


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w [y log p + (1 - y) log(1 - p)], logs clamped at -100 as PyTorch does."""
    _check_same_shape(input, target, "binary_cross_entropy")
    if bool(((input.data < 0) | (input.data > 1)).any()):
        raise ValueError("binary_cross_entropy: all elements of input must be probabilities in [0, 1]")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def _binary_cross_entropy_with_logits_kernel(out, x, y):
    softplus_kernel(out, x)  # max(x, 0) + log(1 + e^-|x|)
    out -= x * y


class BinaryCrossEntropyWithLogits(Function):
    """(1 - y) x + softplus(-x) = max(x, 0) - x y + log(1 + e^-|x|) elementwise, in one node.

    d/dx = sigmoid(x) - y: no division by a saturated probability; d/dy = -x.
    """

    def forward(self, x, y):
        return backend.elementwise(_binary_cross_entropy_with_logits_kernel, x, y)

    def backward(self, grad):
        x, y = self.inputs
        grad_x = grad * (sigmoid(x) - y) if self.needs_input_grad[0] else None
        grad_y = grad * -x if self.needs_input_grad[1] else None
        return grad_x, grad_y


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """BCE on logits x in the overflow-free form (1 - y) x + (1 + (w_pos - 1) y) softplus(-x).

    Its gradient is sigmoid(x) - y (for w_pos = 1): no division by a saturated probability.
    """
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    if pos_weight is None:
        loss = BinaryCrossEntropyWithLogits.apply(*_promote_pair(input, target))
    else:
        log_weight = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input + log_weight * softplus(-input, threshold=float("inf"))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _class_targets(input, target, op):
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be an integer tensor, got {target.dtype}")
    expected = (input.shape[0],) + tuple(input.shape[2:]) if input.ndim >= 2 else ()
    if tuple(target.shape) != expected:
        raise ValueError(f"{op}: target shape {tuple(target.shape)} does not fit input shape {tuple(input.shape)} "
                         f"(expected {expected})")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-w[y] log p[y] per element; 'mean' divides by the total weight of the non-ignored targets."""
    if input.ndim == 1:  # unbatched: one sample of C log-probabilities, a 0-d target
        loss = nll_loss(input.unsqueeze(0), target.reshape(1), weight, ignore_index, reduction)
        return loss.reshape(()) if reduction == "none" else loss
    _class_targets(input, target, "nll_loss")
    classes = input.shape[1]
    kept = target != ignore_index
    target_data = target.data
    if bool(((target_data < 0) | (target_data >= classes))[kept.data].any()):
        raise IndexError(f"nll_loss: target values must be in [0, {classes}) or ignore_index={ignore_index}")
    safe_target = where(kept, target, 0)
    picked = input.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    element_weight = kept.to(input.dtype) if weight is None else weight[safe_target] * kept.to(input.dtype)
    loss = -picked * element_weight
    if reduction == "mean":
        return _weighted_mean(loss.sum(), element_weight.sum())
    return _reduce(loss, reduction, "nll_loss")


def _weighted_mean(total_loss, total_weight):
    """total_loss / total_weight; nan with zero gradients when every target is ignored (as PyTorch),
    rather than 0/0, whose gradient would be nan too."""
    counted = total_weight != 0
    mean = total_loss / where(counted, total_weight, 1.0)
    return where(counted, mean, float("nan"))


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """log_softmax then NLL; targets as class indices or as probabilities (same shape as input)."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 1 if input.ndim >= 2 else 0
    log_probs = log_softmax(input, dim=class_dim)
    classes = input.shape[class_dim]
    weight_shape = (1, classes) + (1,) * (input.ndim - 2) if input.ndim >= 2 else (classes,)
    if target.dtype.kind == "f":
        _check_same_shape(input, target, "cross_entropy")
        if label_smoothing > 0:
            target = target * (1.0 - label_smoothing) + label_smoothing / classes
        terms = log_probs * target
        if weight is not None:
            terms = terms * weight.reshape(weight_shape)
        loss = -terms.sum(dim=class_dim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // classes)
        return _reduce(loss, reduction, "cross_entropy")
    nll = nll_loss(log_probs, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    if input.ndim == 1:
        log_probs, target = log_probs.unsqueeze(0), target.reshape(1)
        weight_shape = (1, classes)
    kept = (target != ignore_index).to(input.dtype)
    weighted = log_probs if weight is None else log_probs * weight.reshape(weight_shape)
    smooth = -weighted.sum(dim=1) * kept
    if reduction == "mean":
        if weight is None:
            smooth = _weighted_mean(smooth.sum(), kept.sum())
        else:
            smooth = _weighted_mean(smooth.sum(), (weight[where(target != ignore_index, target, 0)] * kept).sum())
    else:
        smooth = _reduce(smooth, reduction, "cross_entropy").reshape(nll.shape)
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)


def kl_div(input, target, reduction="mean", log_target=False):
    """KL(target || q) summed pointwise, with ``input`` = log q: target (log target - input)."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        positive = target > 0
        # x log x is taken as 0 at x = 0
        loss = where(positive, target * where(positive, target, 1.0).log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log var + (input - target)^2 / var) [+ 0.5 log 2 pi]; var clamped at eps without blocking its gradient.

    ``var`` is a float, a tensor of input's shape, one dim short of it, or of input's
    shape with one dim of size 1 (homoscedastic along that dim), as in PyTorch.
    """
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"gaussian_nll_loss: var must be non-negative, got {var}")
        var = full_like(input, var)
    elif bool((var.data < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (var.ndim == input.ndim
                  and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"gaussian_nll_loss: var shape {tuple(var.shape)} does not fit input shape "
                             f"{tuple(input.shape)}")
    clamped = var + (var.detach().clamp(min=eps) - var.detach())
    difference = input - target
    loss = (clamped.log() + difference * difference / clamped) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")
