"""Indexing: ``tensor[key]``, gather and scatter, index_select, embedding, one_hot, tril/triu.

Every op here that reads elements by index has a backward that adds the
gradient back into zeros at the same positions (a scatter-add, where repeated
indices accumulate), and that scatter-add's own backward reads by index again,
so all of them are differentiable to any order.
"""

import math
import numbers

import numpy as np

from .. import backend
from ..function import Function
from ..tensor import Tensor, _normalize_dim
from .elementwise import add
from .shape import broadcast_to, flatten, reshape

# embedding is reached as minigen.nn.functional.embedding only: torch.embedding (top level)
# takes (weight, input), the reverse of F.embedding's (input, weight).
__all__ = [
    "gather", "scatter_add", "index_select", "take_along_dim", "masked_select", "tril", "triu", "one_hot",
]
TENSOR_METHODS = [
    "__getitem__", "gather", "scatter_add", "index_select", "take_along_dim", "masked_select", "tril", "triu",
]


def _shape_text(x):
    return str(tuple(x.shape))


def _is_array(item):
    return hasattr(item, "dtype") and hasattr(item, "ndim") and not isinstance(item, np.generic)


def _check_range(index, size, op, dim, shape, allow_negative=False):
    """Raise an IndexError naming the first offending value when ``index`` leaves ``[0, size)``."""
    if index.size == 0:
        return
    low, high = int(index.min()), int(index.max())
    bad = high if high >= size else low if low < (-size if allow_negative else 0) else None
    if bad is not None:
        raise IndexError(f"{op}: index {bad} is out of range for dim {dim} of size {size} (shape {shape})")


def _raw_index(index, input, op):
    """The integer array behind ``index`` (a Tensor or an array-like), on ``input``'s device."""
    data = index.data if isinstance(index, Tensor) else np.asarray(index)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got {data.dtype}")
    return backend.to_device(data, input.device)


# --- tensor[key] ----------------------------------------------------------------------------


class GetItem(Function):
    def forward(self, x):
        return x[self.key]

    def backward(self, grad):
        return GetItemBackward.apply(grad, key=self.key, shape=self.inputs[0].shape, accumulate=self.accumulate)


class GetItemBackward(Function):
    """Zeros of the indexed tensor's shape with ``grad`` added at ``key``; its backward is ``grad[key]``."""

    def forward(self, grad):
        xp = self.xp
        if not self.accumulate:  # basic indices and masks reach each element at most once
            out = xp.zeros(self.shape, dtype=grad.dtype)
            out[self.key] = grad
            return out
        size = math.prod(self.shape)
        out = xp.zeros(size, dtype=grad.dtype)
        if grad.size * 8 < size:
            # A few updates into a large tensor: not worth numbering all its elements.
            xp.add.at(out.reshape(self.shape), self.key, grad)
        else:
            # Adding at flat positions takes NumPy's fast one-dimensional path.
            positions = xp.arange(size).reshape(self.shape)[self.key]
            xp.add.at(out, positions.reshape(-1), grad.reshape(-1))
        return out.reshape(self.shape)

    def backward(self, grad):
        return GetItem.apply(grad, key=self.key, accumulate=self.accumulate)


def _prepare_key(x, key):
    """``key`` as a tuple of ints, slices, None, Ellipsis and raw arrays, checked against ``x``'s shape.

    Returns the key and whether it holds integer arrays (whose repeats must
    accumulate in the backward).
    """
    items = []
    for item in key if isinstance(key, tuple) else (key,):
        if isinstance(item, Tensor):
            item = backend.to_device(item.data, x.device)
        elif isinstance(item, (list, np.ndarray)):
            item = np.asarray(item)
            if item.size == 0 and item.dtype.kind == "f":
                item = item.astype(np.int64)  # [] is an empty integer index, as in PyTorch
            item = backend.to_device(item, x.device)
        if _is_array(item) and item.ndim == 0 and item.dtype.kind in "iub":
            item = item.item()  # PyTorch treats a 0-d index tensor as the number it holds
        items.append(item)

    def dims_used(item):
        if item is None or item is Ellipsis or isinstance(item, (bool, np.bool_)):
            return 0
        if _is_array(item) and item.dtype == np.bool_:
            return item.ndim
        return 1

    indexed = sum(dims_used(item) for item in items)
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("getitem: an index can hold only one ellipsis ('...')")
    if indexed > x.ndim:
        raise IndexError(f"getitem: too many indices ({indexed}) for a tensor of shape {_shape_text(x)}")
    dim = 0
    for item in items:
        if item is Ellipsis:
            dim += x.ndim - indexed
            continue
        _check_key_item(x, item, dim)
        dim += dims_used(item)
    accumulate = any(_is_array(item) and item.dtype.kind in "iu" for item in items)
    return tuple(items), accumulate


def _check_key_item(x, item, dim):
    shape = _shape_text(x)
    if item is None or isinstance(item, (bool, np.bool_)):
        return
    if isinstance(item, slice):
        if item.step is not None and int(item.step) == 0:
            raise ValueError("getitem: slice step cannot be zero")
    elif _is_integer(item):
        size = x.shape[dim]
        if not -size <= item < size:
            raise IndexError(f"getitem: index {item} is out of range for dim {dim} of size {size} (shape {shape})")
    elif _is_array(item) and item.dtype == np.bool_:
        covered = x.shape[dim : dim + item.ndim]
        if item.shape != covered:
            raise IndexError(
                f"getitem: boolean mask of shape {tuple(item.shape)} does not match the shape {covered} "
                f"of dims {dim}..{dim + item.ndim - 1} of a tensor of shape {shape}"
            )
    elif _is_array(item) and item.dtype.kind in "iu":
        _check_range(item, x.shape[dim], "getitem", dim, shape, allow_negative=True)
    elif _is_array(item):
        raise IndexError(f"getitem: tensors used as indices must be integer or bool, got {item.dtype}")
    else:
        raise IndexError(f"getitem: unsupported index {item!r} of type {type(item).__name__}")


def _is_integer(item):
    return isinstance(item, numbers.Integral) and not isinstance(item, (bool, np.bool_))


def _select_integers_first(x, key):
    """Split ``key`` into integer selections with slices, then the index arrays on their result.

    PyTorch applies integers as selections before any index array, while NumPy
    counts them among the index arrays, which places the result's dims
    differently when the two are not adjacent (``x[0, :, [1, 2]]`` has shape
    (4, 2) for x of shape (3, 4, 5) in PyTorch, (2, 4) in NumPy). A bool
    scalar becomes a new axis indexed by [0] or [], as in PyTorch.
    """
    selections, arrays = [], []
    for item in key:
        if isinstance(item, (bool, np.bool_)):
            selections.append(None)
            arrays.append(backend.to_device(np.arange(int(item)), x.device))
        elif _is_array(item):
            selections.extend([slice(None)] * (item.ndim if item.dtype == np.bool_ else 1))
            arrays.append(item)
        elif _is_integer(item):
            selections.append(item)
        else:  # slices, None and the ellipsis span the same dims before and after the selection
            selections.append(item)
            arrays.append(Ellipsis if item is Ellipsis else slice(None))
    return tuple(selections), tuple(arrays)


def _getitem(input, key):
    """PyTorch indexing: ints, slices, None, Ellipsis, integer arrays (several broadcast together) and masks."""
    key, accumulate = _prepare_key(input, key)
    if any(map(_is_integer, key)) and any(_is_array(item) or isinstance(item, (bool, np.bool_)) for item in key):
        selections, key = _select_integers_first(input, key)
        input = GetItem.apply(input, key=selections, accumulate=False)
    return GetItem.apply(input, key=key, accumulate=accumulate)


__getitem__ = _getitem


def masked_select(input, mask):
    """The elements where ``mask`` (broadcast with ``input``) is True, as a 1-d tensor."""
    if not isinstance(mask, Tensor) or mask.dtype != backend.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    try:
        shape = np.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_select: mask of shape {_shape_text(mask)} does not broadcast "
            f"with input of shape {_shape_text(input)}"
        ) from None
    xp = backend.array_module(input.data)
    mask_data = xp.broadcast_to(backend.to_device(mask.data, input.device), shape)
    return GetItem.apply(broadcast_to(input, shape), key=(mask_data,), accumulate=False)


# --- gather and scatter along one dim ----------------------------------------------------------


def _flat_positions(xp, shape, dim, index):
    """Flat positions in an array of ``shape`` of the elements an ``index`` of gather/scatter names.

    Element ``(i0, ..., ik)`` of ``index`` names ``(i0, ..., index[i0, ..., ik], ..., ik)``.
    """
    strides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    # The other dims' offsets broadcast among themselves (small); one pass then adds them.
    offsets = 0
    for d, size in enumerate(index.shape):
        if d != dim and size > 1:
            offsets = offsets + xp.arange(size).reshape((size,) + (1,) * (len(shape) - 1 - d)) * strides[d]
    positions = index.astype(np.int64)
    if strides[dim] != 1:
        positions *= strides[dim]
    positions += offsets
    return positions


class Gather(Function):
    def forward(self, x):
        # Reading at flat positions is several times faster than take_along_axis.
        return self.xp.take(x.reshape(-1), _flat_positions(self.xp, x.shape, self.dim, self.index))

    def backward(self, grad):
        return ScatterAddIntoZeros.apply(grad, dim=self.dim, index=self.index, shape=self.inputs[0].shape)


class ScatterAddIntoZeros(Function):
    """Zeros of ``shape`` with ``src`` added along ``dim`` at ``index`` (repeats accumulate); backward: gather."""

    def forward(self, src):
        xp = self.xp
        positions = _flat_positions(xp, self.shape, self.dim, self.index)
        out = xp.zeros(math.prod(self.shape), dtype=src.dtype)
        xp.add.at(out, positions.reshape(-1), src.reshape(-1))
        return out.reshape(self.shape)

    def backward(self, grad):
        return Gather.apply(grad, dim=self.dim, index=self.index)


def _check_index_shape(op, input, index, dim, src=None):
    if index.ndim != input.ndim:
        raise RuntimeError(
            f"{op}: index must have as many dims as input, got shapes {tuple(index.shape)} and {_shape_text(input)}"
        )
    for d, size in enumerate(index.shape):
        if (d != dim and size > input.shape[d]) or (src is not None and size > src.shape[d]):
            against = f"input {_shape_text(input)}" + ("" if src is None else f" and src {_shape_text(src)}")
            raise RuntimeError(f"{op}: index of shape {tuple(index.shape)} is larger than {against} in dim {d}")


def gather(input, dim, index):
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` for ``dim=0`` (and likewise for other dims)."""
    index = _raw_index(index, input, "gather")
    if input.ndim == 0:
        return reshape(gather(reshape(input, (1,)), 0, index.reshape(-1)), index.shape)
    dim = _normalize_dim(dim, input.ndim, "gather")
    _check_index_shape("gather", input, index, dim)
    _check_range(index, input.shape[dim], "gather", dim, _shape_text(input))
    return Gather.apply(input, dim=dim, index=index)


def scatter_add(input, dim, index, src):
    """A copy of ``input`` with ``src`` added along ``dim`` at ``index`` (repeated indices accumulate)."""
    index = _raw_index(index, input, "scatter_add")
    if input.ndim == 0:
        flat = scatter_add(reshape(input, (1,)), 0, index.reshape(-1), reshape(src, (-1,)))
        return reshape(flat, ())
    if src.dtype != input.dtype:
        raise RuntimeError(f"scatter_add: src dtype {src.dtype} must match input dtype {input.dtype}")
    dim = _normalize_dim(dim, input.ndim, "scatter_add")
    if src.ndim != input.ndim:
        raise RuntimeError(
            f"scatter_add: src must have as many dims as input, got shapes {_shape_text(src)} and {_shape_text(input)}"
        )
    _check_index_shape("scatter_add", input, index, dim, src)
    _check_range(index, input.shape[dim], "scatter_add", dim, _shape_text(input))
    if src.shape != index.shape:  # only the leading index.shape block of src is scattered
        src = _getitem(src, tuple(slice(0, s) for s in index.shape))
    return add(input, ScatterAddIntoZeros.apply(src, dim=dim, index=index, shape=input.shape))


def take_along_dim(input, indices, dim=None):
    """``gather`` with ``input`` and ``indices`` broadcast in the other dims; ``dim=None`` reads the flattened input."""
    index = _raw_index(indices, input, "take_along_dim")
    if dim is None:
        input, index, dim = flatten(input), index.reshape(-1), 0
    elif input.ndim != index.ndim:
        raise RuntimeError(
            f"take_along_dim: input and indices must have the same number of dims, "
            f"got shapes {_shape_text(input)} and {tuple(index.shape)}"
        )
    dim = _normalize_dim(dim, input.ndim, "take_along_dim")
    if input.ndim == 0:
        return gather(input, dim, index)
    size = input.shape[dim]
    _check_range(index, size, "take_along_dim", dim, _shape_text(input), allow_negative=True)
    try:
        shape = list(np.broadcast_shapes(_with_size(input.shape, dim, 1), _with_size(index.shape, dim, 1)))
    except ValueError:
        raise RuntimeError(
            f"take_along_dim: shapes {_shape_text(input)} and {tuple(index.shape)} do not broadcast outside dim {dim}"
        ) from None
    xp = backend.array_module(index)
    index = xp.broadcast_to(xp.where(index < 0, index + size, index), _with_size(shape, dim, index.shape[dim]))
    return gather(broadcast_to(input, _with_size(shape, dim, size)), dim, Tensor(index))


def _with_size(shape, dim, size):
    return tuple(shape[:dim]) + (size,) + tuple(shape[dim + 1 :])


class IndexSelect(Function):
    def forward(self, x):
        return self.xp.take(x, self.index, axis=self.dim)

    def backward(self, grad):
        index = self.index.reshape(_with_size((1,) * grad.ndim, self.dim, -1))
        index = self.xp.broadcast_to(index, grad.shape)
        return ScatterAddIntoZeros.apply(grad, dim=self.dim, index=index, shape=self.inputs[0].shape)


def index_select(input, dim, index):
    """The entries ``index`` (a 1-d integer tensor) of dim ``dim``."""
    index = _raw_index(index, input, "index_select")
    if index.ndim > 1:
        raise RuntimeError(f"index_select: index must be 0-d or 1-d, got shape {tuple(index.shape)}")
    if input.ndim == 0:
        return reshape(index_select(reshape(input, (1,)), 0, index), ())
    dim = _normalize_dim(dim, input.ndim, "index_select")
    _check_range(index, input.shape[dim], "index_select", dim, _shape_text(input))
    return IndexSelect.apply(input, dim=dim, index=index.reshape(-1))


# --- embeddings and one-hot codes ------------------------------------------------------------------


class Embedding(Function):
    def forward(self, weight):
        return self.xp.take(weight, self.indices, axis=0)

    def backward(self, grad):
        weight = self.inputs[0]
        rows = reshape(grad, (-1, weight.shape[1]))
        flat = self.indices.reshape(-1, 1)
        if self.padding_idx is not None:
            rows = rows * Tensor((flat != self.padding_idx).astype(rows.dtype))
        index = self.xp.broadcast_to(flat, rows.shape)
        return ScatterAddIntoZeros.apply(rows, dim=0, index=index, shape=weight.shape)


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` picked by the integer tensor ``input``; the row ``padding_idx`` gets no gradient."""
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-d, got shape {_shape_text(weight)}")
    indices = _raw_index(input, weight, "embedding")
    rows = weight.shape[0]
    _check_range(indices, rows, "embedding", 0, _shape_text(weight))
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise IndexError(f"embedding: padding_idx {padding_idx} is out of range for {rows} rows")
        padding_idx %= rows
    return Embedding.apply(weight, indices=indices, padding_idx=padding_idx)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot codes of the integer ``tensor``, in a new last dim of ``num_classes`` (-1: max + 1)."""
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got {tensor.dtype}")
    data = tensor.data
    if num_classes == -1:
        if data.size == 0:
            raise RuntimeError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(data.max()) + 1
    if data.size and (int(data.min()) < 0 or int(data.max()) >= num_classes):
        bad = int(data.min()) if int(data.min()) < 0 else int(data.max())
        raise RuntimeError(f"one_hot: class value {bad} is out of range for num_classes {num_classes}")
    xp = backend.array_module(data)
    with backend.on_device(tensor.device):
        classes = xp.arange(num_classes)
    return Tensor((data[..., None] == classes).astype(backend.int64))


# --- triangular parts --------------------------------------------------------------------------------


class Tril(Function):
    def forward(self, x):
        return self.xp.tril(x, self.diagonal)

    def backward(self, grad):
        return Tril.apply(grad, diagonal=self.diagonal)


class Triu(Function):
    def forward(self, x):
        return self.xp.triu(x, self.diagonal)

    def backward(self, grad):
        return Triu.apply(grad, diagonal=self.diagonal)


def _triangular(function, op):
    def triangular(input, diagonal=0):
        if input.ndim < 2:
            raise RuntimeError(f"{op}: input must have at least 2 dims, got shape {_shape_text(input)}")
        return function.apply(input, diagonal=int(diagonal))

    triangular.__name__ = op
    triangular.__doc__ = f"The {'lower' if op == 'tril' else 'upper'} triangle of the last two dims (others zeroed)."
    return triangular


tril = _triangular(Tril, "tril")
triu = _triangular(Triu, "triu")
