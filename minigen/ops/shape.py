"""Shape ops: views, broadcasting, joining, splitting, flipping and padding.

Every backward here is itself built from shape ops, so these are
differentiable to any order.
"""

import functools
import itertools
import math

import numpy as np

from .. import backend
from ..function import Function
from ..tensor import Tensor, _normalize_dim

__all__ = [
    "reshape", "view", "broadcast_to", "expand", "sum_to", "permute", "transpose", "swapaxes",
    "flatten", "unflatten", "squeeze", "unsqueeze", "tile", "cat", "stack", "split", "chunk",
    "narrow", "flip", "roll", "pad",
]
TENSOR_METHODS = [
    "reshape", "view", "view_as", "expand", "expand_as", "broadcast_to", "sum_to_size",
    "permute", "transpose", "swapaxes", "T", "mT", "flatten", "unflatten", "squeeze", "unsqueeze",
    "repeat", "tile", "split", "chunk", "narrow", "flip", "roll", "contiguous",
]


def _shape_argument(shape):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike, as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class Reshape(Function):
    saved_inputs = ()

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, grad):
        return reshape(grad, self.inputs[0].shape)


def reshape(x, *shape):
    shape = _shape_argument(shape)
    size = 1
    unknown = [i for i, s in enumerate(shape) if s == -1]
    for s in shape:
        if s != -1:
            size *= s
    if len(unknown) > 1 or (not unknown and size != x.data.size) or (
        unknown and (size == 0 or x.data.size % size)
    ):
        raise RuntimeError(
            f"reshape: shape {shape} is invalid for a tensor of shape {tuple(x.shape)} ({x.data.size} elements)"
        )
    if unknown:
        shape = shape[: unknown[0]] + (x.data.size // size,) + shape[unknown[0] + 1 :]
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape)


def view(x, *shape):
    return reshape(x, *shape)


def view_as(x, other):
    return reshape(x, other.shape)


class BroadcastTo(Function):
    saved_inputs = ()

    def forward(self, x):
        return self.xp.broadcast_to(x, self.shape)

    def backward(self, grad):
        return sum_to(grad, self.inputs[0].shape)


class SumTo(Function):
    saved_inputs = ()

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1
        )
        if not axes:
            y = x
        elif x.dtype.kind == "f":  # einsum: faster over non-contiguous axes
            y = backend.sum_over(x, axes)
        else:
            y = x.sum(axis=axes, keepdims=True)
        return y.reshape(self.shape) if lead else y

    def backward(self, grad):
        return broadcast_to(grad, self.inputs[0].shape)


def broadcast_to(x, *shape):
    shape = _shape_argument(shape)
    if shape == x.shape:
        return x
    try:
        target = np.broadcast_shapes(x.shape, shape)
    except ValueError:
        target = None
    if target != shape:
        raise RuntimeError(f"broadcast_to: cannot broadcast shape {tuple(x.shape)} to {shape}")
    return BroadcastTo.apply(x, shape=shape)


def expand(x, *sizes):
    sizes = _shape_argument(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: cannot expand shape {tuple(x.shape)} to fewer dims {sizes}")
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def expand_as(x, other):
    return broadcast_to(x, other.shape)


def sum_to(x, shape):
    """Sum a broadcast gradient back down to ``shape`` (the inverse of broadcasting)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo.apply(x, shape=shape)


def sum_to_size(x, *size):
    return sum_to(x, _shape_argument(size))


class Permute(Function):
    saved_inputs = ()

    def forward(self, x):
        return x.transpose(self.dims)

    def backward(self, grad):
        return permute(grad, tuple(np.argsort(self.dims)))


def permute(x, *dims):
    dims = _shape_argument(dims)
    if len(dims) != x.ndim or sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims of shape {tuple(x.shape)}")
    dims = tuple(d % x.ndim for d in dims)
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    if x.ndim == 0:
        return x
    dim0 = _normalize_dim(dim0, x.ndim, "transpose")
    dim1 = _normalize_dim(dim1, x.ndim, "transpose")
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, dims)


swapaxes = transpose


def _T(x):
    return permute(x, tuple(reversed(range(x.ndim))))


def _mT(x):
    if x.ndim < 2:
        raise RuntimeError(f"mT: needs at least 2 dims, got shape {tuple(x.shape)}")
    return transpose(x, -2, -1)


T = property(_T)
mT = property(_mT)


def _dims_argument(dims):
    """An int or a sequence of ints as a tuple."""
    return (int(dims),) if isinstance(dims, (int, np.integer)) else tuple(int(d) for d in dims)


def _insertion_dim(dim, ndim, op):
    """A dim where a new axis goes: ``-ndim - 1 <= dim <= ndim``."""
    if not -ndim - 1 <= dim <= ndim:
        raise IndexError(f"{op}: dim {dim} is out of range [{-ndim - 1}, {ndim}] for a tensor of {ndim} dimensions")
    return dim % (ndim + 1)


def _shape_text(x):
    return str(tuple(x.shape))


# --- adding and removing dims (all reshapes) ----------------------------------------------


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim`` to ``end_dim`` into one; a 0-d tensor becomes shape (1,)."""
    if input.ndim == 0:
        return reshape(input, (1,))
    start = _normalize_dim(start_dim, input.ndim, "flatten")
    end = _normalize_dim(end_dim, input.ndim, "flatten")
    if start > end:
        raise RuntimeError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {_shape_text(input)}"
        )
    merged = math.prod(input.shape[start : end + 1])
    return reshape(input, input.shape[:start] + (merged,) + input.shape[end + 1 :])


def unflatten(input, dim, sizes):
    """Split dim ``dim`` into ``sizes`` (one of which may be -1)."""
    if input.ndim == 0:
        raise RuntimeError("unflatten: cannot unflatten a 0-d tensor")
    dim = _normalize_dim(dim, input.ndim, "unflatten")
    sizes = _dims_argument(sizes)
    size = input.shape[dim]
    known = math.prod(s for s in sizes if s != -1)
    unknown = sizes.count(-1)
    if not sizes or unknown > 1 or (not unknown and known != size) or (unknown and (known == 0 or size % known)):
        raise RuntimeError(
            f"unflatten: sizes {sizes} do not multiply to the size {size} of dim {dim} in shape {_shape_text(input)}"
        )
    if unknown:
        sizes = tuple(size // known if s == -1 else s for s in sizes)
    return reshape(input, input.shape[:dim] + sizes + input.shape[dim + 1 :])


def squeeze(input, dim=None):
    """Drop size-1 dims: all of them, or those among ``dim`` (an int or a tuple) that have size 1."""
    if dim is None:
        dims = range(input.ndim)
    else:
        dims = {_normalize_dim(d, input.ndim, "squeeze") for d in _dims_argument(dim)}
    return reshape(input, tuple(s for i, s in enumerate(input.shape) if s != 1 or i not in dims))


def unsqueeze(input, dim):
    """Insert a size-1 dim at ``dim``."""
    dim = _insertion_dim(dim, input.ndim, "unsqueeze")
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


def contiguous(input):
    """minigen has no strided layouts to compact: the tensor itself."""
    return input


# --- repeating ----------------------------------------------------------------------------


def repeat(input, *sizes):
    """Tile the tensor ``sizes[i]`` times along dim ``i`` (Tensor.repeat; leading new dims allowed)."""
    sizes = _shape_argument(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(
            f"repeat: {len(sizes)} repeat sizes {sizes} are fewer than the {input.ndim} dims "
            f"of shape {_shape_text(input)}"
        )
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"repeat: repeat sizes must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - input.ndim) + tuple(input.shape)
    # Broadcasting (1, s0, 1, s1, ...) to (r0, s0, r1, s1, ...) and merging each pair is
    # a tile; its backward (a sum over the repeat axes) then comes for free.
    interleaved = tuple(itertools.chain.from_iterable((1, s) for s in shape))
    expanded = tuple(itertools.chain.from_iterable(zip(sizes, shape)))
    tiled = broadcast_to(reshape(input, interleaved), expanded)
    return reshape(tiled, tuple(r * s for r, s in zip(sizes, shape)))


def tile(input, dims):
    """Like ``repeat``, with ``dims`` padded with leading ones when shorter than the tensor's dims."""
    dims = _dims_argument(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


# --- joining and splitting ------------------------------------------------------------------


def _result_dtype(dtypes):
    """PyTorch's promotion for joins: the highest kind (bool < integer < float) wins."""
    rank = {"b": 0, "u": 1, "i": 1, "f": 2}
    top = max(rank[d.kind] for d in dtypes)
    return functools.reduce(np.promote_types, [d for d in dtypes if rank[d.kind] == top])


class Cat(Function):
    saved_inputs = ()

    def forward(self, *arrays):
        return self.xp.concatenate(arrays, axis=self.dim)

    def backward(self, grad):
        return split(grad, [t.shape[self.dim] for t in self.inputs], self.dim)


def cat(tensors, dim=0):
    """Join tensors along an existing dim."""
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("cat: expected a non-empty sequence of Tensors")
    dtype = _result_dtype([t.dtype for t in tensors])
    # PyTorch still skips 1-d empty tensors (a legacy way to start an accumulation).
    kept = [t for t in tensors if t.shape != (0,)] or tensors[:1]
    first = kept[0]
    if first.ndim == 0:
        raise RuntimeError("cat: zero-dimensional tensors cannot be concatenated")
    dim = _normalize_dim(dim, first.ndim, "cat")
    for t in kept[1:]:
        if t.ndim != first.ndim or t.shape[:dim] != first.shape[:dim] or t.shape[dim + 1 :] != first.shape[dim + 1 :]:
            raise RuntimeError(
                f"cat: tensors must have the same shape except in dim {dim}, "
                f"got {_shape_text(first)} and {_shape_text(t)}"
            )
    return Cat.apply(*[t if t.dtype == dtype else t.to(dtype) for t in kept], dim=dim)


def stack(tensors, dim=0):
    """Join equally shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("stack: expected a non-empty sequence of Tensors")
    first = tensors[0]
    for index, t in enumerate(tensors[1:], 1):
        if t.shape != first.shape:
            raise RuntimeError(
                f"stack: expects each tensor to be equal size, got {_shape_text(first)} at entry 0 "
                f"and {_shape_text(t)} at entry {index}"
            )
    dim = _insertion_dim(dim, first.ndim, "stack")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


class Split(Function):
    saved_inputs = ()

    def forward(self, x):
        boundaries = list(itertools.accumulate(self.sizes))[:-1]
        return tuple(self.xp.split(x, boundaries, axis=self.dim))

    def backward(self, *grads):
        return cat(grads, self.dim)


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` (the last may be smaller), or of the listed section sizes; a tuple."""
    if tensor.ndim == 0:
        raise RuntimeError("split: cannot split a 0-d tensor")
    dim = _normalize_dim(dim, tensor.ndim, "split")
    size = tensor.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step < 0 or (step == 0 and size):
            raise RuntimeError(f"split: split_size must be positive, got {step} for dim {dim} of size {size}")
        sizes = [min(step, size - start) for start in range(0, size, step or 1)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != size:
            raise RuntimeError(
                f"split: sections {sizes} must be non-negative and sum to the size {size} of dim {dim} "
                f"in shape {_shape_text(tensor)}"
            )
    return Split.apply(tensor, dim=dim, sizes=tuple(sizes))


def chunk(input, chunks, dim=0):
    """``chunks`` pieces of ceil(size / chunks) elements (fewer pieces when they run out), as PyTorch."""
    if chunks <= 0:
        raise RuntimeError(f"chunk: chunks must be positive, got {chunks}")
    if input.ndim == 0:
        raise RuntimeError("chunk: cannot chunk a 0-d tensor")
    size = input.shape[_normalize_dim(dim, input.ndim, "chunk")]
    if size == 0:
        return split(input, [0] * chunks, dim)
    return split(input, -(-size // chunks), dim)


def narrow(input, dim, start, length):
    """The ``length`` elements of dim ``dim`` from ``start`` (which may count from the end)."""
    if input.ndim == 0:
        raise RuntimeError("narrow: cannot narrow a 0-d tensor")
    dim = _normalize_dim(dim, input.ndim, "narrow")
    size = input.shape[dim]
    start, length = int(start), int(length)
    if -size <= start < 0:
        start += size
    if not 0 <= start <= size or length < 0 or start + length > size:
        raise IndexError(
            f"narrow: start {start} and length {length} do not fit in dim {dim} of size {size} "
            f"(shape {_shape_text(input)})"
        )
    widths = [(0, 0)] * input.ndim
    widths[dim] = (-start, start + length - size)
    return ConstantPad.apply(input, widths=tuple(widths), value=0)


# --- reordering elements ---------------------------------------------------------------------


class Flip(Function):
    saved_inputs = ()

    def forward(self, x):
        return self.xp.flip(x, axis=self.dims)

    def backward(self, grad):
        return Flip.apply(grad, dims=self.dims)


def flip(input, dims, *more_dims):
    """Reverse the order of elements along ``dims``: ``flip(x, (0, 1))`` or ``x.flip(0, 1)``."""
    dims = _shape_argument((dims,) + more_dims)
    normalized = tuple(_normalize_dim(d, input.ndim, "flip") for d in dims)
    if len(set(normalized)) != len(normalized):
        raise RuntimeError(f"flip: dims {dims} name a dim more than once")
    if input.ndim == 0 or not dims:
        return input
    return Flip.apply(input, dims=normalized)


class Roll(Function):
    saved_inputs = ()

    def forward(self, x):
        return self.xp.roll(x, self.shifts, axis=self.dims)

    def backward(self, grad):
        return Roll.apply(grad, shifts=tuple(-s for s in self.shifts), dims=self.dims)


def roll(input, shifts, dims=None):
    """Shift elements cyclically; with ``dims=None`` the flattened tensor is rolled."""
    shifts = _dims_argument(shifts)
    if dims is None or input.ndim == 0:
        if len(shifts) != 1 or (dims is not None and _normalize_dim(dims, 0, "roll") != 0):
            raise RuntimeError(f"roll: a flattened roll takes one shift, got {shifts}")
        return reshape(Roll.apply(flatten(input), shifts=shifts, dims=(0,)), input.shape)
    dims = _dims_argument(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    dims = tuple(_normalize_dim(d, input.ndim, "roll") for d in dims)
    return Roll.apply(input, shifts=shifts, dims=dims)


# --- padding ------------------------------------------------------------------------------


class ConstantPad(Function):
    """Pad each dim by ``widths[dim] = (before, after)`` filled with ``value``; negative widths crop.

    Output index ``j`` holds input index ``j - before``, so the backward is the same
    op with the widths negated: it crops the padding off the gradient (and pads
    what was cropped with zeros).
    """
    saved_inputs = ()

    def forward(self, x):
        source, target, shape = [], [], []
        for (before, after), size in zip(self.widths, x.shape):
            low, high = max(-before, 0), size + min(after, 0)
            source.append(slice(low, high))
            target.append(slice(low + before, high + before))
            shape.append(size + before + after)
        x = x[tuple(source)]
        if x.shape == tuple(shape):
            return x  # a pure crop: a view
        out = self.xp.full(shape, self.value, dtype=x.dtype)
        out[tuple(target)] = x
        return out

    def backward(self, grad):
        negated = tuple((-before, -after) for before, after in self.widths)
        return ConstantPad.apply(grad, widths=negated, value=0)


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad: ``pad`` lists (before, after) widths starting from the LAST dim.

    Modes: 'constant' (filled with ``value``; negative widths crop), 'reflect'
    (mirror without repeating the edge; widths < size), 'replicate' (repeat the
    edge) and 'circular' (wrap around; widths <= size). Any number of dims may
    be padded in every mode.
    """
    widths = _pad_widths(input, pad)
    if mode == "constant":
        return ConstantPad.apply(input, widths=widths, value=0 if value is None else value)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value:
        raise ValueError(f"pad: mode {mode!r} takes no value, got {value}")
    crops = tuple((min(before, 0), min(after, 0)) for before, after in widths)
    if any(before or after for before, after in crops):
        input = ConstantPad.apply(input, widths=crops, value=0)
    for dim, (before, after) in enumerate(widths):
        if before > 0 or after > 0:
            input = _PAD_MODES[mode](input, dim, max(before, 0), max(after, 0))
    return input


def _pad_widths(input, pad):
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) > 2 * input.ndim:
        raise ValueError(
            f"pad: padding {pad} must have an even length of at most {2 * input.ndim} "
            f"for a tensor of shape {_shape_text(input)}"
        )
    widths = [(0, 0)] * input.ndim
    for pair in range(len(pad) // 2):
        widths[input.ndim - 1 - pair] = (pad[2 * pair], pad[2 * pair + 1])
    for dim, (size, (before, after)) in enumerate(zip(input.shape, widths)):
        if max(-before, 0) + max(-after, 0) > size:
            raise RuntimeError(
                f"pad: padding {pad} crops more than the size {size} of dim {dim} of shape {_shape_text(input)}"
            )
    return tuple(widths)


def _join(x, dim, before, after):
    return cat([part for part in (before, x, after) if part.shape[dim]], dim)


def _check_pad_fits(x, dim, before, after, limit, mode, relation):
    if before > limit or after > limit:
        raise RuntimeError(
            f"pad: {mode} padding ({before}, {after}) must be {relation} the size {x.shape[dim]} "
            f"of dim {dim} (shape {_shape_text(x)})"
        )


def _reflect(x, dim, before, after):
    size = x.shape[dim]
    _check_pad_fits(x, dim, before, after, size - 1, "reflect", "smaller than")
    return _join(x, dim, flip(narrow(x, dim, 1, before), dim), flip(narrow(x, dim, size - 1 - after, after), dim))


def _replicate(x, dim, before, after):
    size = x.shape[dim]
    if size == 0:
        raise RuntimeError(f"pad: replicate padding needs a non-empty dim {dim}, got shape {_shape_text(x)}")

    def edge(start, count):
        shape = list(x.shape)
        shape[dim] = count
        return broadcast_to(narrow(x, dim, start, 1), tuple(shape))

    return _join(x, dim, edge(0, before), edge(size - 1, after))


def _circular(x, dim, before, after):
    size = x.shape[dim]
    _check_pad_fits(x, dim, before, after, size, "circular", "at most")
    return _join(x, dim, narrow(x, dim, size - before, before), narrow(x, dim, 0, after))


_PAD_MODES = {"reflect": _reflect, "replicate": _replicate, "circular": _circular}
