"""Matrix products: matmul (1-D, 2-D and batched), mm, bmm, einsum, outer and dot.

Every backward is again a product (matmul or einsum) followed by shape ops, so
these ops are differentiable to any order.
"""

import math
import string
from collections import Counter

import numpy as np

from .. import backend
from ..function import Function, bilinear_saved_inputs
from ..tensor import Tensor
from .elementwise import mul
from .shape import broadcast_to, reshape, sum_to

__all__ = ["matmul", "mm", "bmm", "einsum", "outer", "dot"]
TENSOR_METHODS = ["matmul", "mm", "bmm", "outer", "dot", "__matmul__", "__rmatmul__"]


def _check_tensors(op, *tensors, same_dtype=True):
    for t in tensors:
        if not isinstance(t, Tensor):
            names = ", ".join(type(t).__name__ for t in tensors)
            raise TypeError(f"{op}: expected Tensors, got {names}")
    if same_dtype and len({t.dtype for t in tensors}) > 1:
        listed = ", ".join(str(t.dtype) for t in tensors)
        raise RuntimeError(f"{op}: expected all operands to have the same dtype, got {listed}")


def _shape(t):
    return tuple(t.shape)


def _check_inner(op, a, b, inner_a, inner_b):
    if inner_a != inner_b:
        raise RuntimeError(f"{op}: shapes {_shape(a)} and {_shape(b)} do not align ({inner_a} != {inner_b})")


# --- matmul ----------------------------------------------------------------------------


class MatMul(Function):
    """a @ b for operands of at least 2 dims (the 1-D promotions happen in ``matmul``)."""

    def forward(self, a, b):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        if a.ndim > 2 and b.ndim == 2:
            # One large GEMM over all rows instead of one GEMM per batch element.
            rows = a.reshape(math.prod(a.shape[:-1]), a.shape[-1]) @ b
            return rows.reshape(a.shape[:-1] + b.shape[-1:])
        return self.xp.matmul(a, b)

    def backward(self, grad):
        a, b = self.inputs
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = sum_to(_matmul(grad, b.mT), a.shape)
        if self.needs_input_grad[1]:
            if a.ndim > 2 and b.ndim == 2:
                # Fold the batch into rows: one GEMM instead of a batched product and a sum.
                rows = math.prod(a.shape[:-1])
                grad_b = _matmul(reshape(a, rows, a.shape[-1]).mT, reshape(grad, rows, grad.shape[-1]))
            else:
                grad_b = sum_to(_matmul(a.mT, grad), b.shape)
        return grad_a, grad_b


class Linear(Function):
    """y = x W^T + b in one node: the rows of x (any leading dims) against W (out, in).

    One GEMM forward, and a backward whose weight gradient g^T x comes out in
    W's own (out, in) layout, so no transposed view has to be copied into
    ``.grad``. Same values as ``x @ W.mT + b``.
    """

    def forward(self, x, weight, bias=None):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        rows = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        y = rows @ weight.T
        if bias is not None:
            y += bias  # y is a fresh array: add in place
        return y.reshape(x.shape[:-1] + weight.shape[:1]) if x.ndim != 2 else y

    def backward(self, grad):
        x, weight = self.inputs[:2]
        grad_x = grad_weight = grad_bias = None
        rows = reshape(grad, -1, grad.shape[-1]) if grad.ndim != 2 else grad
        if self.needs_input_grad[0]:
            grad_x = _matmul(grad, weight)
        if self.needs_input_grad[1]:
            grad_weight = _matmul(rows.mT, reshape(x, -1, x.shape[-1]) if x.ndim != 2 else x)
        if len(self.inputs) == 2:
            return grad_x, grad_weight
        if self.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        return grad_x, grad_weight, grad_bias


def linear(input, weight, bias=None):
    """y = x W^T + b for x (..., in), W (out, in) and b (out,), as ``torch.nn.functional.linear``."""
    operands = (input, weight) if bias is None else (input, weight, bias)
    _check_tensors("linear", *operands)
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: input {_shape(input)} and weight {_shape(weight)} do not align "
                           f"(expected input (..., {weight.shape[-1]}) and a 2-D weight (out, in))")
    if bias is not None and tuple(bias.shape) != tuple(weight.shape[:1]):
        raise RuntimeError(f"linear: bias shape {_shape(bias)} does not match weight {_shape(weight)}; "
                           f"expected ({weight.shape[0]},)")
    return Linear.apply(*operands)


def _matmul(a, b):
    """matmul without the checks: 1-D operands become a row (left) or a column (right)."""
    if a.ndim >= 2 and b.ndim >= 2:
        return MatMul.apply(a, b)
    left = reshape(a, 1, a.shape[0]) if a.ndim == 1 else a
    right = reshape(b, b.shape[0], 1) if b.ndim == 1 else b
    result = MatMul.apply(left, right)
    dims = list(result.shape)
    if b.ndim == 1:
        del dims[-1]  # the column's width
    if a.ndim == 1:
        del dims[-1 if b.ndim == 1 else -2]  # the row's height
    return reshape(result, dims)


def matmul(input, other):
    """Matrix product with PyTorch's rules.

    1-D @ 1-D is a dot product; a 1-D left operand is a row vector and a 1-D
    right operand a column vector, their added dim removed from the result;
    dims before the last two are batch dims and broadcast.
    """
    _check_tensors("matmul", input, other)
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(
            f"matmul: both arguments need at least 1 dimension, got shapes {_shape(input)} and {_shape(other)}"
        )
    _check_inner("matmul", input, other, input.shape[-1], other.shape[-2] if other.ndim > 1 else other.shape[0])
    try:
        np.broadcast_shapes(input.shape[:-2], other.shape[:-2])
    except ValueError:
        raise RuntimeError(
            f"matmul: batch dims {input.shape[:-2]} and {other.shape[:-2]} of shapes {_shape(input)} and "
            f"{_shape(other)} do not broadcast"
        ) from None
    return _matmul(input, other)


def _rmatmul(x, other):
    return matmul(other, x)


__matmul__ = matmul
__rmatmul__ = _rmatmul


def mm(input, mat2):
    """Product of two matrices (no broadcasting, no 1-D promotion)."""
    _check_tensors("mm", input, mat2)
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {_shape(input)} and {_shape(mat2)}")
    _check_inner("mm", input, mat2, input.shape[1], mat2.shape[0])
    return MatMul.apply(input, mat2)


def bmm(input, mat2):
    """Batched product of (b, n, m) and (b, m, p) tensors (no broadcasting)."""
    _check_tensors("bmm", input, mat2)
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {_shape(input)} and {_shape(mat2)}")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"bmm: batch sizes differ ({input.shape[0]} != {mat2.shape[0]}) in shapes {_shape(input)} and "
            f"{_shape(mat2)}"
        )
    _check_inner("bmm", input, mat2, input.shape[2], mat2.shape[1])
    return MatMul.apply(input, mat2)


def dot(input, tensor):
    """Inner product of two 1-D tensors."""
    _check_tensors("dot", input, tensor)
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"dot: expected 1-D tensors, got shapes {_shape(input)} and {_shape(tensor)}")
    _check_inner("dot", input, tensor, input.shape[0], tensor.shape[0])
    return _matmul(input, tensor)


def outer(input, vec2):
    """Outer product of two 1-D tensors: result[i, j] = input[i] * vec2[j]."""
    _check_tensors("outer", input, vec2, same_dtype=False)  # mul promotes, as PyTorch does here
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {_shape(input)} and {_shape(vec2)}")
    return mul(reshape(input, input.shape[0], 1), reshape(vec2, 1, vec2.shape[0]))


# --- einsum ----------------------------------------------------------------------------


class Einsum(Function):
    """An einsum over explicit subscripts (the ellipsis already spelled out as letters)."""

    def forward(self, *arrays):
        equation = ",".join(self.input_subscripts) + "->" + self.output_subscripts
        # The contraction-order search pays off as soon as two operands meet (it routes to BLAS).
        return self.xp.einsum(equation, *arrays, optimize=len(arrays) > 1)

    def backward(self, grad):
        return tuple(
            _einsum_operand_grad(self, grad, index) if needed else None
            for index, needed in enumerate(self.needs_input_grad)
        )


def _contract(input_subscripts, output_subscripts, tensors):
    return Einsum.apply(*tensors, input_subscripts=tuple(input_subscripts), output_subscripts=output_subscripts)


def _einsum_operand_grad(function, grad, index):
    """d(sum grad * out)/d(operand): einsum of the output gradient with the other operands.

    Labels the gradient einsum cannot produce are restored afterwards: labels
    summed inside this operand alone by broadcasting, repeated labels (a
    diagonal) by a constant identity mask, and size-1 (broadcast) dims by sum_to.
    """
    subscripts = function.input_subscripts[index]
    operand = function.inputs[index]
    others = [i for i in range(len(function.inputs)) if i != index]
    other_subscripts = [function.input_subscripts[i] for i in others]
    available = set(function.output_subscripts).union(*other_subscripts)
    target = "".join(dict.fromkeys(label for label in subscripts if label in available))
    if not others and target == function.output_subscripts:
        result = grad
    else:
        result = _contract(
            [function.output_subscripts] + other_subscripts, target, [grad] + [function.inputs[i] for i in others]
        )
    sizes = dict(zip(target, result.shape))
    view_shape, seen = [], set()
    for label in subscripts:
        view_shape.append(sizes[label] if label in sizes and label not in seen else 1)
        seen.add(label)
    result = reshape(result, view_shape)
    full_shape = tuple(max(v, s) for v, s in zip(view_shape, operand.shape))
    result = broadcast_to(result, full_shape)
    if len(seen) < len(subscripts):
        result = mul(result, _diagonal_mask(subscripts, full_shape, grad))
    return sum_to(result, operand.shape)


def _diagonal_mask(subscripts, shape, like):
    """A constant that is 1 where each repeated label has one index at all its positions, else 0."""
    xp = backend.array_module(like.data)
    with backend.on_device(like.device):
        mask = xp.ones((1,) * len(shape), dtype=bool)
        for label in set(subscripts):
            positions = [p for p, l in enumerate(subscripts) if l == label]
            index = xp.arange(shape[positions[0]])
            axes = [index.reshape([-1 if d == p else 1 for d in range(len(shape))]) for p in positions]
            for axis in axes[1:]:
                mask = mask & (axes[0] == axis)
        return Tensor(mask.astype(like.dtype))


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum``.

    ``einsum('bij,bjk->bik', a, b)``; operands may also come as one list. With
    no '->' the output holds the labels that appear once, sorted, after the
    '...' dims. '...' stands for broadcast leading dims; a label repeated in
    one operand takes its diagonal; labels missing from the output are summed.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    if not operands:
        raise RuntimeError("einsum: expected at least one operand")
    _check_tensors("einsum", *operands)
    input_subscripts, output_subscripts = _parse_equation(equation, operands)
    return _contract(input_subscripts, output_subscripts, operands)


def _parse_equation(equation, operands):
    """Explicit subscripts for each operand and the output, '...' replaced by unused letters."""
    equation = equation.replace(" ", "")
    left, arrow, right = equation.partition("->")
    terms = left.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(
            f"einsum: equation {equation!r} has {len(terms)} operand subscripts but {len(operands)} tensors were given"
        )
    for term in terms + ([right] if arrow else []):
        letters = term.replace("...", "")
        if term.count("...") > 1 or (letters and not (letters.isascii() and letters.isalpha())):
            raise RuntimeError(
                f"einsum: invalid subscripts {term!r} in {equation!r}; use letters and at most one '...'"
            )
    ellipsis_dims = []
    for index, (term, t) in enumerate(zip(terms, operands)):
        named = len(term.replace("...", ""))
        if named > t.ndim or ("..." not in term and named != t.ndim):
            raise RuntimeError(
                f"einsum: subscripts {term!r} do not fit operand {index} of shape {_shape(t)} ({t.ndim} dims)"
            )
        ellipsis_dims.append(t.ndim - named)
    unused = [c for c in string.ascii_letters if c not in equation]
    if max(ellipsis_dims) > len(unused):
        raise RuntimeError(f"einsum: {equation!r} needs more than the 52 letters einsum can name")
    ellipsis = "".join(unused[: max(ellipsis_dims)])
    expanded = [term.replace("...", ellipsis[len(ellipsis) - dims:] if dims else "")
                for term, dims in zip(terms, ellipsis_dims)]
    if arrow:
        output = right.replace("...", ellipsis)  # without '...' on the right its dims are summed
    else:
        counts = Counter("".join(terms).replace("...", ""))
        output = ellipsis + "".join(sorted(label for label, count in counts.items() if count == 1))
    _check_labels(equation, expanded, output, operands, set(ellipsis))
    return expanded, output


def _check_labels(equation, expanded, output, operands, ellipsis_labels):
    sizes = {}
    for index, (term, t) in enumerate(zip(expanded, operands)):
        own = {}
        for label, size in zip(term, t.shape):
            name = "'...'" if label in ellipsis_labels else repr(label)
            if own.get(label, size) != size:
                raise RuntimeError(
                    f"einsum: subscript {name} is repeated in operand {index} of shape {_shape(t)} "
                    f"with different sizes ({own[label]} != {size})"
                )
            own[label] = size
            known = sizes.get(label, size)
            if known != size and 1 not in (known, size):
                raise RuntimeError(
                    f"einsum: subscript {name} has size {size} in operand {index} of shape {_shape(t)} but size "
                    f"{known} in an earlier operand, and neither is 1 ({equation!r})"
                )
            sizes[label] = max(known, size)
    for label in output:
        if output.count(label) > 1:
            raise RuntimeError(f"einsum: output subscript {label!r} appears more than once in {equation!r}")
        if label not in sizes:
            raise RuntimeError(f"einsum: output subscript {label!r} does not appear in the inputs of {equation!r}")
