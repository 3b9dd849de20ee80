"""Pooling, resampling and pixel shuffling of NCHW images.

Windows are read one kernel offset at a time as strided slices of a padded
copy: a Python loop over the few kernel offsets, never over pixels or the
batch. Every backward here is a linear map written as a Function whose own
backward is the forward map again (an adjoint pair), so each op is
differentiable to any order:

- max pooling gathers at each window's argmax; its backward scatters to those
  positions and the scatter's backward gathers again;
- average pooling pairs with its adjoint, which spreads each gradient evenly
  over its window;
- interpolation and adaptive average pooling are separable linear maps
  ``rows @ x @ columns.T``, whose adjoint uses the transposed matrices.

Index conventions (window starts, source coordinates, rounding) follow
PyTorch's CPU kernels so that forward values match ``torch.nn.functional``.
"""

import math
import operator

import numpy as np

from .. import backend
from ..function import Function
from ..tensor import Tensor
from .shape import permute, reshape

__all__ = [
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "interpolate", "pixel_shuffle", "pixel_unshuffle",
]
TENSOR_METHODS = []


# --- arguments ------------------------------------------------------------------------


def _pair(value, name, op):
    """An int or a sequence of one or two ints as a pair, as PyTorch's ``_pair``."""
    try:
        if not isinstance(value, (tuple, list)):
            return (operator.index(value),) * 2
        values = tuple(operator.index(v) for v in value)
    except TypeError:
        values = ()
    if len(values) == 1:
        return values * 2
    if len(values) != 2:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return values


def _batched(input, op, spatial_dims=2):
    """``input`` with a batch axis (PyTorch accepts one unbatched sample), and whether one was added."""
    if input.ndim == spatial_dims + 1:
        return reshape(input, (1,) + input.shape), True
    if input.ndim != spatial_dims + 2:
        raise RuntimeError(
            f"{op}: expected a {spatial_dims + 1}-D or {spatial_dims + 2}-D input, got shape {tuple(input.shape)}"
        )
    return input, False


def _unbatched(output, added):
    return reshape(output, output.shape[1:]) if added else output


def _check_floating(input, op):
    if input.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype}")


# --- pooling windows ----------------------------------------------------------------------


def _pooled_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's ``pooling_output_shape``: the last window must start inside the input or its left padding."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    count = span // stride + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        count -= 1
    return count


class _Windows:
    """Where each output of a 2-D pooling reads: kernel, stride, padding, dilation and the sizes they give."""

    def __init__(self, op, shape, kernel_size, stride, padding, dilation=1, ceil_mode=False):
        self.kernel = _pair(kernel_size, "kernel_size", op)
        self.stride = self.kernel if stride is None or stride in ((), []) else _pair(stride, "stride", op)
        self.padding = _pair(padding, "padding", op)
        self.dilation = _pair(dilation, "dilation", op)
        for name in ("kernel", "stride", "dilation"):
            if min(getattr(self, name)) < 1:
                raise RuntimeError(f"{op}: {name} must be positive, got {getattr(self, name)}")
        if min(self.padding) < 0 or any(p > k // 2 for p, k in zip(self.padding, self.kernel)):
            raise RuntimeError(
                f"{op}: padding must be between 0 and half the kernel size, got padding {self.padding} "
                f"for kernel_size {self.kernel}"
            )
        self.input_size = tuple(shape[-2:])
        self.output_size = tuple(
            _pooled_size(*arguments, ceil_mode)
            for arguments in zip(self.input_size, self.kernel, self.stride, self.padding, self.dilation)
        )
        if min(self.output_size) < 1:
            raise RuntimeError(
                f"{op}: input of shape {tuple(shape)} with padding {self.padding} is smaller than the kernel "
                f"{self.kernel} with dilation {self.dilation}: the output would be {self.output_size}"
            )
        # ceil_mode's last window may hang over the right padding: pad far enough for it too
        self.padded_size = tuple(
            max(size + 2 * p, (out - 1) * s + d * (k - 1) + 1)
            for size, out, k, s, p, d in zip(
                self.input_size, self.output_size, self.kernel, self.stride, self.padding, self.dilation
            )
        )
        extents = [d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation)]
        self.overlapping = any(s < extent for s, extent in zip(self.stride, extents))

    def pad(self, xp, x, value):
        """``x`` inside an array of the padded size filled with ``value`` (``x`` itself if no padding)."""
        if self.padded_size == self.input_size:
            return x
        padded = xp.full(x.shape[:-2] + self.padded_size, value, dtype=x.dtype)
        padded[self.interior()] = x
        return padded

    def interior(self):
        (top, left), (height, width) = self.padding, self.input_size
        return (Ellipsis, slice(top, top + height), slice(left, left + width))

    def offsets(self):
        """For each kernel offset (row, column): the strided slice of the padded input it reads."""
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = self.kernel, self.stride, self.dilation, self.output_size
        for row in range(kh):
            for column in range(kw):
                rows = slice(row * dh, row * dh + sh * (oh - 1) + 1, sh)
                columns = slice(column * dw, column * dw + sw * (ow - 1) + 1, sw)
                yield row, column, (Ellipsis, rows, columns)

    def positions(self, row, column):
        """Input (rows, columns) read at a kernel offset, as NumPy arrays; negative or past the end in padding."""
        return tuple(
            np.arange(count) * stride - padding + offset * dilation
            for count, stride, padding, offset, dilation in zip(
                self.output_size, self.stride, self.padding, (row, column), self.dilation
            )
        )


# --- max pooling -----------------------------------------------------------------------------


def _window_max(xp, padded, windows):
    result = None
    for _, _, where in windows.offsets():
        if result is None:
            result = padded[where].copy()
        else:
            xp.maximum(result, padded[where], out=result)  # propagates NaN, as PyTorch does
    return result


class MaxPool2d(Function):
    """Max over each window; the gradient goes to each window's argmax (found in backward unless given)."""
    saves_output = True
    argmax = None

    def forward(self, x):
        return _window_max(self.xp, self.windows.pad(self.xp, x, -math.inf), self.windows)

    def backward(self, grad):
        # Found only now unless return_indices asked for it: inference never pays for the argmax.
        output = self.output
        argmax = self.argmax or _max_pool_argmax(
            self.xp, self.inputs[0].data, self.windows, None if output is None else output.data
        )
        return PlaneScatter.apply(grad, argmax=argmax)


class _Argmax:
    """Each window's argmax as a flat index into its H*W plane, as PyTorch reports it.

    ``valid`` is None, or an (OH, OW) mask that is False for windows holding no
    input element at all (dilated windows on tiny inputs): their output is -inf,
    their PyTorch index lies outside the input and they route no gradient.
    """

    def __init__(self, xp, indices, valid, size, overlapping):
        self.indices, self.valid, self.size, self.overlapping = indices, valid, tuple(size), overlapping
        self.safe_indices = indices if valid is None else xp.where(valid, indices, 0)


def _max_pool_argmax(xp, x, windows, best=None):
    """The first max of each window (its last NaN if it has one), as PyTorch's CPU kernel picks them."""
    padded = windows.pad(xp, x, -math.inf)
    if best is None:
        best = _window_max(xp, padded, windows)
    (height, width), device = windows.input_size, backend.device_of(x)
    # Before any match, PyTorch's choice: the window's first element at or past the top-left border,
    # which is what an all -inf window keeps.
    first_rows, first_columns = (
        starts + dilation * ((np.maximum(-starts, 0) + dilation - 1) // dilation)
        for starts, dilation in zip(windows.positions(0, 0), windows.dilation)
    )
    indices = xp.empty(best.shape, dtype=np.int64)
    indices[...] = backend.to_device(first_rows[:, None] * width + first_columns[None, :], device)
    offsets = list(windows.offsets())
    for row, column, where in reversed(offsets):  # the earliest match is written last
        rows, columns = windows.positions(row, column)
        match = padded[where] == best
        inside = ((rows >= 0) & (rows < height))[:, None] & ((columns >= 0) & (columns < width))[None, :]
        if not inside.all():
            match &= backend.to_device(inside, device)  # padding equals an all -inf window's max
        xp.copyto(indices, backend.to_device(rows[:, None] * width + columns[None, :], device), where=match)
    if bool(xp.isnan(best).any()):
        for row, column, where in offsets:  # the latest NaN is written last
            rows, columns = windows.positions(row, column)
            flat = backend.to_device(rows[:, None] * width + columns[None, :], device)
            xp.copyto(indices, flat, where=xp.isnan(padded[where]))
    valid = (first_rows < height)[:, None] & (first_columns < width)[None, :]
    valid = None if valid.all() else backend.to_device(valid, device)
    return _Argmax(xp, indices, valid, windows.input_size, windows.overlapping)


def _first_max(xp, best, index, candidates):
    """Running max over ``(values, flat index)`` candidates: the first max wins, a later NaN beats anything."""
    for values, flat_index in candidates:
        better = (values > best) | xp.isnan(values)
        best = xp.where(better, values, best)
        index = xp.where(better, flat_index, index)
    return best, xp.broadcast_to(index, best.shape)


class PlaneGather(Function):
    """``out[n, c, i, j] = x[n, c].flat[indices[n, c, i, j]]`` (0 where the argmax is not valid)."""

    def forward(self, x):
        batch, channels = x.shape[:2]
        indices = self.argmax.safe_indices
        picked = self.xp.take_along_axis(x.reshape(batch, channels, -1), indices.reshape(batch, channels, -1), 2)
        picked = picked.reshape(indices.shape)
        return picked if self.argmax.valid is None else self.xp.where(self.argmax.valid, picked, 0)

    def backward(self, grad):
        return PlaneScatter.apply(grad, argmax=self.argmax)


class PlaneScatter(Function):
    """The adjoint of PlaneGather: H*W planes, zero but for ``grad`` added at the argmax positions."""

    def forward(self, grad):
        argmax = self.argmax
        batch, channels = grad.shape[:2]
        plane = argmax.size[0] * argmax.size[1]
        if argmax.valid is not None:
            grad = self.xp.where(argmax.valid, grad, 0)
        offsets = self.xp.arange(batch * channels).reshape(batch, channels, 1) * plane
        flat_index = (argmax.safe_indices.reshape(batch, channels, -1) + offsets).ravel()
        result = self.xp.zeros(batch * channels * plane, dtype=grad.dtype)
        if argmax.overlapping or argmax.valid is not None:
            self.xp.add.at(result, flat_index, grad.ravel())  # windows share inputs: accumulate
        else:
            result[flat_index] = grad.ravel()
        return result.reshape((batch, channels) + argmax.size)

    def backward(self, grad):
        return PlaneGather.apply(grad, argmax=self.argmax)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W); padding counts as -inf.

    With ``return_indices=True`` also returns the flat index into each input
    plane (H*W) of every output's max, as ``torch.nn.functional.max_pool2d``.
    """
    return _max_pool(input, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool(input, op, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _check_floating(input, op)
    x, added = _batched(input, op)
    windows = _Windows(op, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return _unbatched(MaxPool2d.apply(x, windows=windows), added)
    argmax = _max_pool_argmax(backend.array_module(x.data), x.data, windows)
    output = MaxPool2d.apply(x, windows=windows, argmax=argmax)
    return _unbatched(output, added), _index_tensor(argmax.indices, added)


def _index_tensor(indices, added):
    indices = indices.astype(np.int64)
    return Tensor(indices[0] if added else indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L): ``max_pool2d`` on rows of height 1."""
    _check_1d(input, "max_pool1d")
    x = reshape(input, input.shape[:-1] + (1, input.shape[-1]))
    result = _max_pool(
        x, "max_pool1d", (1, _single(kernel_size)), None if stride is None else (1, _single(stride)),
        (0, _single(padding)), (1, _single(dilation)), ceil_mode, return_indices,
    )
    if return_indices:
        output, indices = result
        return _drop_height(output), _drop_height(indices)
    return _drop_height(result)


def _check_1d(input, op):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2-D or 3-D input, got shape {tuple(input.shape)}")


def _single(value):
    return value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value


def _drop_height(output):
    return reshape(output, output.shape[:-2] + output.shape[-1:])


# --- average pooling ---------------------------------------------------------------------------


class AvgPool2d(Function):
    """Sum over each window divided by ``divisor`` (a number or an (OH, OW) array)."""

    def forward(self, x):
        padded = self.windows.pad(self.xp, x, 0)
        total = None
        for _, _, where in self.windows.offsets():
            if total is None:
                total = padded[where].copy()
            else:
                total += padded[where]
        total /= self.divisor
        return total

    def backward(self, grad):
        return AvgPool2dAdjoint.apply(grad, windows=self.windows, divisor=self.divisor)


class AvgPool2dAdjoint(Function):
    """The gradient of AvgPool2d: each output's gradient spread evenly over its window."""

    def forward(self, grad):
        share = grad / self.divisor
        padded = self.xp.zeros(grad.shape[:-2] + self.windows.padded_size, dtype=grad.dtype)
        for _, _, where in self.windows.offsets():
            padded[where] += share
        return padded[self.windows.interior()]

    def backward(self, grad):
        return AvgPool2d.apply(grad, windows=self.windows, divisor=self.divisor)


def _average_divisor(windows, count_include_pad, divisor_override, dtype, device):
    """PyTorch's divisor: the window clipped to the padded input, or to the input itself, or the override."""
    if divisor_override is not None:
        return float(divisor_override)
    lengths = []
    for size, count, kernel, stride, padding in zip(
        windows.input_size, windows.output_size, windows.kernel, windows.stride, windows.padding
    ):
        start = np.arange(count) * stride - padding
        end = np.minimum(start + kernel, size + padding)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        lengths.append(end - start)
    divisor = np.outer(*lengths)
    if (divisor == divisor.flat[0]).all():
        return float(divisor.flat[0])
    return backend.to_device(divisor.astype(dtype), device)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling over (N, C, H, W) or (C, H, W), with PyTorch's divisor rules."""
    return _avg_pool(input, "avg_pool2d", kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _avg_pool(input, op, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    _check_floating(input, op)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{op}: divisor_override must not be zero")
    x, added = _batched(input, op)
    windows = _Windows(op, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    divisor = _average_divisor(windows, count_include_pad, divisor_override, x.dtype, x.device)
    return _unbatched(AvgPool2d.apply(x, windows=windows, divisor=divisor), added)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L): ``avg_pool2d`` on rows of height 1."""
    _check_1d(input, "avg_pool1d")
    x = reshape(input, input.shape[:-1] + (1, input.shape[-1]))
    output = _avg_pool(
        x, "avg_pool1d", (1, _single(kernel_size)), None if stride is None else (1, _single(stride)),
        (0, _single(padding)), ceil_mode, count_include_pad, None,
    )
    return _drop_height(output)


# --- adaptive pooling ----------------------------------------------------------------------------


def _adaptive_output_size(input, output_size, op):
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(sizes) != 2:
        raise TypeError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(input.shape[-2 + i] if s is None else int(s) for i, s in enumerate(sizes))
    if min(sizes) < 1 or min(input.shape[-2:]) < 1:
        raise RuntimeError(f"{op}: cannot pool input of shape {tuple(input.shape)} to output_size {sizes}")
    return sizes


def _adaptive_bounds(size, count):
    """PyTorch's adaptive windows: [floor(i * size / count), ceil((i + 1) * size / count))."""
    index = np.arange(count)
    return index * size // count, -(-(index + 1) * size // count)


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive windows, so that the output has ``output_size`` (None keeps a side)."""
    _check_floating(input, "adaptive_avg_pool2d")
    x, added = _batched(input, "adaptive_avg_pool2d")
    sizes = _adaptive_output_size(x, output_size, "adaptive_avg_pool2d")
    maps = []
    for size, count in zip(x.shape[-2:], sizes):
        start, end = _adaptive_bounds(size, count)
        inside = (np.arange(size) >= start[:, None]) & (np.arange(size) < end[:, None])
        maps.append(_AxisMap.from_matrix(inside / (end - start)[:, None], x.dtype, x.device))
    return _unbatched(Resample.apply(x, rows=maps[0], columns=maps[1]), added)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over PyTorch's adaptive windows; indices as in ``max_pool2d``."""
    _check_floating(input, "adaptive_max_pool2d")
    x, added = _batched(input, "adaptive_max_pool2d")
    sizes = _adaptive_output_size(x, output_size, "adaptive_max_pool2d")
    xp = backend.array_module(x.data)
    (row_start, row_end), (column_start, column_end) = (
        _adaptive_bounds(size, count) for size, count in zip(x.shape[-2:], sizes)
    )

    def candidates():
        # A shorter window repeats its last element: a repeat never beats the first max.
        for row in range(int((row_end - row_start).max())):
            rows = backend.to_device(np.minimum(row_start + row, row_end - 1), x.device)
            picked_rows = xp.take(x.data, rows, axis=-2)
            for column in range(int((column_end - column_start).max())):
                columns = backend.to_device(np.minimum(column_start + column, column_end - 1), x.device)
                yield xp.take(picked_rows, columns, axis=-1), rows[:, None] * x.shape[-1] + columns[None, :]

    values = candidates()
    first, first_index = next(values)
    indices = _first_max(xp, first, first_index, values)[1]
    overlapping = x.shape[-2] % sizes[0] != 0 or x.shape[-1] % sizes[1] != 0
    argmax = _Argmax(xp, indices, None, x.shape[-2:], overlapping)
    output = _unbatched(PlaneGather.apply(x, argmax=argmax), added)
    return (output, _index_tensor(indices, added)) if return_indices else output


# --- separable resampling -------------------------------------------------------------------------


class _AxisMap:
    """A linear map along one axis, ``out = matrix @ in``, applied by ``take`` where it only picks entries."""

    def __init__(self, matrix=None, index=None, in_size=None, transpose=None):
        self.matrix, self.index, self.in_size, self._transpose = matrix, index, in_size, transpose

    @classmethod
    def from_matrix(cls, matrix, dtype, device):
        return cls(matrix=backend.to_device(np.ascontiguousarray(matrix, dtype=dtype), device))

    @property
    def out_size(self):
        return len(self.index) if self.index is not None else self.matrix.shape[0]

    def apply(self, xp, x, axis):
        if self.index is not None:
            return xp.take(x, self.index, axis=axis)
        if axis == -1:
            return xp.matmul(x, self.matrix.T)
        return xp.matmul(self.matrix, x)

    def transpose(self, dtype):
        """The adjoint map (built once; the adjoint of the adjoint is this map again)."""
        if self._transpose is None:
            matrix = self.matrix
            if matrix is None:
                xp = backend.array_module(self.index)
                matrix = xp.zeros((self.out_size, self.in_size), dtype=dtype)
                matrix[xp.arange(self.out_size), self.index] = 1
            self._transpose = _AxisMap(matrix=matrix.T.copy(), transpose=self)
        return self._transpose


class Resample(Function):
    """``rows @ x @ columns.T`` over the last two axes: interpolation and adaptive averaging."""

    def forward(self, x):
        rows, columns = self.rows, self.columns
        height, width = x.shape[-2:]
        if rows.out_size * width <= height * columns.out_size:  # the smaller intermediate first
            return columns.apply(self.xp, rows.apply(self.xp, x, -2), -1)
        return rows.apply(self.xp, columns.apply(self.xp, x, -1), -2)

    def backward(self, grad):
        return Resample.apply(grad, rows=self.rows.transpose(grad.dtype), columns=self.columns.transpose(grad.dtype))


def _source_scale(in_size, out_size, scale_factor, align_corners, dtype=np.dtype(np.float32)):
    """PyTorch's ``area_pixel_compute_scale`` in ``dtype``: the output step measured in input pixels."""
    if align_corners:
        return dtype.type(in_size - 1) / dtype.type(out_size - 1) if out_size > 1 else dtype.type(0)
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(in_size) / dtype.type(out_size)


def _nearest_index(in_size, out_size, scale_factor, exact):
    """Source pixel of each output: PyTorch's legacy ``nearest_idx`` or ``nearest_exact_idx``."""
    destination = np.arange(out_size)
    if not exact and out_size == in_size:
        return destination
    if not exact and out_size == 2 * in_size:
        return destination >> 1
    scale = _source_scale(in_size, out_size, scale_factor, False)
    if exact:
        source = np.floor(((destination + 0.5) * np.float64(scale)).astype(np.float32))
    else:
        source = np.floor(destination.astype(np.float32) * scale)
    return np.minimum(source.astype(np.int64), in_size - 1)


def _linear_matrix(in_size, out_size, scale_factor, align_corners, dtype):
    """Weights of linear interpolation along one axis, as PyTorch computes them (negative sources clamp to 0)."""
    if out_size == in_size:
        return np.eye(in_size, dtype=dtype)
    scale = _source_scale(in_size, out_size, scale_factor, align_corners, dtype)
    destination = np.arange(out_size, dtype=dtype)
    if align_corners:
        source = scale * destination
    else:
        source = np.maximum(scale * (destination + dtype.type(0.5)) - dtype.type(0.5), dtype.type(0))
    lower = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    weight = np.clip(source - lower.astype(dtype), 0, 1).astype(dtype)
    upper = lower + (lower < in_size - 1)
    matrix = np.zeros((out_size, in_size), dtype=dtype)
    np.add.at(matrix, (np.arange(out_size), lower), 1 - weight)
    np.add.at(matrix, (np.arange(out_size), upper), weight)
    return matrix


_MODES = ("nearest", "nearest-exact", "bilinear", "area")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, H, W) images to ``size`` or by ``scale_factor``, as ``torch.nn.functional.interpolate``.

    Modes: 'nearest' (PyTorch's legacy floor(dst * in / out)), 'nearest-exact',
    'bilinear' (``align_corners`` False or True) and 'area' (adaptive average).
    """
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; use one of {', '.join(_MODES)}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if align_corners is not None and mode != "bilinear":
        raise ValueError(f"interpolate: align_corners can only be set with mode 'bilinear', got mode {mode!r}")
    if input.ndim != 4:
        raise RuntimeError(f"interpolate: expected a 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    if not mode.startswith("nearest"):
        _check_floating(input, "interpolate")
    sizes, scales = _output_size(input, size, scale_factor)
    if recompute_scale_factor or mode == "area":
        scales = (None, None)
    if mode == "area":
        return adaptive_avg_pool2d(input, sizes)
    maps = []
    for in_size, out_size, scale in zip(input.shape[-2:], sizes, scales):
        if mode == "bilinear":
            dtype = np.dtype(np.float64 if input.dtype == np.float64 else np.float32)
            matrix = _linear_matrix(in_size, out_size, scale, bool(align_corners), dtype)
            maps.append(_AxisMap.from_matrix(matrix, input.dtype, input.device))
        else:
            index = _nearest_index(in_size, out_size, scale, mode == "nearest-exact")
            maps.append(_AxisMap(index=backend.to_device(index, input.device), in_size=in_size))
    return Resample.apply(input, rows=maps[0], columns=maps[1])


def _output_size(input, size, scale_factor):
    """The output (H, W) and the scale factors PyTorch hands its kernels (None when ``size`` is given)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: exactly one of size and scale_factor must be given")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if len(sizes) != 2:
            raise ValueError(f"interpolate: size must be an int or a pair for a 4-D input, got {size!r}")
        sizes = tuple(int(s) for s in sizes)
        scales = (None, None)
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
        if len(scales) != 2:
            raise ValueError(f"interpolate: scale_factor must be a number or a pair, got {scale_factor!r}")
        scales = tuple(float(s) for s in scales)
        sizes = tuple(math.floor(float(n) * s) for n, s in zip(input.shape[-2:], scales))
    if min(sizes) < 1:
        raise ValueError(f"interpolate: output size {sizes} for input of shape {tuple(input.shape)} is empty")
    return sizes, scales


# --- pixel shuffle ---------------------------------------------------------------------------------


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block."""
    r = int(upscale_factor)
    if input.ndim < 3 or r < 1 or input.shape[-3] % (r * r):
        raise RuntimeError(
            f"pixel_shuffle: expected an input of at least 3 dims whose channel dim is divisible by "
            f"upscale_factor^2 = {r * r}, got shape {tuple(input.shape)}"
        )
    *lead, channels, height, width = input.shape
    lead = tuple(lead)
    x = reshape(input, lead + (channels // (r * r), r, r, height, width))
    n = len(lead)
    x = permute(x, tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
    return reshape(x, lead + (channels // (r * r), height * r, width * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of ``pixel_shuffle``."""
    r = int(downscale_factor)
    if input.ndim < 3 or r < 1 or input.shape[-2] % r or input.shape[-1] % r:
        raise RuntimeError(
            f"pixel_unshuffle: expected an input of at least 3 dims whose height and width are divisible by "
            f"downscale_factor = {r}, got shape {tuple(input.shape)}"
        )
    *lead, channels, height, width = input.shape
    lead = tuple(lead)
    x = reshape(input, lead + (channels, height // r, r, width // r, r))
    n = len(lead)
    x = permute(x, tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return reshape(x, lead + (channels * r * r, height // r, width // r))
