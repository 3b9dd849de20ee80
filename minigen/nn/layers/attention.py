"""MultiheadAttention with PyTorch's parameters (in_proj_weight, in_proj_bias, out_proj) and masks."""

import math

from ... import backend, creation
from .. import functional as F
from .. import init
from ...tensor import Tensor
from ..module import Module, Parameter
from .linear import Linear


class MultiheadAttention(Module):
    """softmax(Q K^T / sqrt(d_head) + masks) V per head, heads concatenated and projected.

    Masks follow PyTorch's convention for this module: in a bool ``attn_mask``
    or ``key_padding_mask`` True means "may NOT attend"; float masks are added.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise ValueError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported by minigen")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        factory = dict(device=device, dtype=dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(creation.empty(3 * embed_dim, embed_dim, **factory))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = Parameter(creation.empty(embed_dim, embed_dim, **factory))
            self.k_proj_weight = Parameter(creation.empty(embed_dim, self.kdim, **factory))
            self.v_proj_weight = Parameter(creation.empty(embed_dim, self.vdim, **factory))
            self.in_proj_weight = None
        self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, **factory)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **factory)
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _projections(self, query, key, value):
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            weights = (self.in_proj_weight[:e], self.in_proj_weight[e : 2 * e], self.in_proj_weight[2 * e :])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        biases = (None, None, None) if self.in_proj_bias is None else (
            self.in_proj_bias[:e], self.in_proj_bias[e : 2 * e], self.in_proj_bias[2 * e :])
        return [F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases)]

    def _split_heads(self, x):
        n, length, _ = x.shape
        return x.reshape(n, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _additive_mask(self, attn_mask, key_padding_mask, n, length_q, length_k, like):
        """Both masks as one float tensor broadcastable to (N, heads, L, S), or None."""
        total = None
        if attn_mask is not None:
            if attn_mask.ndim == 3:
                attn_mask = attn_mask.reshape(n, self.num_heads, length_q, length_k)
            elif tuple(attn_mask.shape) != (length_q, length_k):
                raise ValueError(f"MultiheadAttention: attn_mask shape {tuple(attn_mask.shape)} must be "
                                 f"({length_q}, {length_k}) or ({n * self.num_heads}, {length_q}, {length_k})")
            total = _as_additive(attn_mask, like)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (n, length_k):
                raise ValueError(f"MultiheadAttention: key_padding_mask shape {tuple(key_padding_mask.shape)} must be "
                                 f"({n}, {length_k})")
            padding = _as_additive(key_padding_mask, like).reshape(n, 1, 1, length_k)
            total = padding if total is None else total + padding
        return total

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal hint")
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if not self.batch_first or unbatched:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if query.shape[-1] != self.embed_dim:
            raise ValueError(f"MultiheadAttention: query has embedding size {query.shape[-1]}, expected {self.embed_dim}")
        n, length_q, length_k = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = (self._split_heads(x) for x in self._projections(query, key, value))
        scores = (q @ k.mT) * (1.0 / math.sqrt(self.head_dim))
        mask = self._additive_mask(attn_mask, key_padding_mask, n, length_q, length_k, scores)
        if mask is not None:
            scores = scores + mask
        weights = F.softmax(scores, dim=-1)
        if self.dropout > 0:  # the returned weights are the dropped ones, as PyTorch's
            weights = F.dropout(weights, self.dropout, self.training)
        output = (weights @ v).transpose(1, 2).reshape(n, length_q, self.embed_dim)
        output = self.out_proj(output)
        if not self.batch_first or unbatched:
            output = output.transpose(0, 1)
        if unbatched:
            output = output.squeeze(1)
        if not need_weights:
            return output, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if unbatched:
            weights = weights.squeeze(0)
        return output, weights

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def _as_additive(mask, like):
    """A bool mask (True = blocked) becomes 0 / -inf in ``like``'s dtype; a float mask is used as is."""
    if mask.dtype == backend.bool_:
        xp = backend.array_module(mask.data)
        return Tensor(xp.where(mask.data, like.dtype.type(-math.inf), like.dtype.type(0)))
    return mask.to(like.dtype)
