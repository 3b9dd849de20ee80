"""Convolutions (NCHW): conv1d, conv2d, conv_transpose2d, unfold and fold.

Every convolution is im2col + one GEMM. im2col is a strided *view* of the
padded input (no loop over pixels), copied once into columns laid out
(groups, C/groups*kh*kw, N*Ho*Wo): the batch sits next to the positions, so
each of the three GEMMs below is a plain 2-D matmul per group on contiguous
data, and the weight gradient's sum over the batch happens inside its GEMM.
col2im, the adjoint of im2col, adds the columns back into a zero-padded
buffer with one slice-add per kernel offset (kh*kw of them).

Three Functions carry every derivative, each written with the others:

- ``Conv2d(x, W)``: y = W * x
- ``ConvTranspose2d(g, W)``: the adjoint of ``Conv2d`` in x, g -> W^T * g
- ``Conv2dGradWeight(x, g)``: the adjoint of ``Conv2d`` in W, dL/dW = g * x

All three are bilinear, so the derivative in one argument is one of the
others with the second argument fixed. Their backwards are therefore exact to
any order, which the gradient penalties of WGAN-GP and R1 need through a
convolutional critic. ``Unfold`` and ``Fold`` (im2col and col2im as ops) are
each other's backward.
"""

from collections import namedtuple

import numpy as np

from .. import backend

from ..function import Function, bilinear_saved_inputs
from .shape import reshape

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "unfold", "fold"]
# Tensor.unfold is PyTorch's sliding-window view over one dim, a different op.
TENSOR_METHODS = []

# The geometry shared by a convolution and the ops of its backward:
# stride, dilation: (height, width); padding: ((top, bottom), (left, right)).
Geometry = namedtuple("Geometry", "stride padding dilation groups")
# im2col columns (and col2im's) are built this many elements at a time (16 MiB of float32), a few
# images per chunk: the peak memory of a convolution stays near its input's and output's.
COLUMNS_BUDGET = 1 << 22
# Rows of at most this many pixels are laid out with the batch innermost (``_batch_inner``).
SHORT_ROW = 8


# --- raw-array kernels ----------------------------------------------------------


def _sliding_blocks(spatial, kernel_size, geometry):
    """How many kernel positions fit along each spatial dim: (Ho, Wo)."""
    return tuple(
        (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
        for size, kernel, stride, (before, after), dilation in zip(
            spatial, kernel_size, geometry.stride, geometry.padding, geometry.dilation
        )
    )


def _copy(xp, destination, source):
    """destination[...] = source, split along axis 0 over the host threads (a plain copy on CuPy)."""
    if xp is not np:
        destination[...] = source
        return destination

    def copy(start, stop):
        np.copyto(destination[start:stop], source[start:stop])

    backend.parallel(copy, destination.shape[0], destination.size)
    return destination


def _pad(xp, x, padding):
    (top, bottom), (left, right) = padding
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    padded = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    _copy(xp, padded[:, :, top : top + h, left : left + w], x)
    return padded


def _windows(xp, x, kernel_size, output_size, geometry):
    """Every kernel window of ``x``, shape (N, C, kh, kw, Ho, Wo): a strided view of the padded input."""
    padded = _pad(xp, x, geometry.padding)
    n, c = x.shape[:2]
    stride_n, stride_c, stride_h, stride_w = padded.strides
    return xp.lib.stride_tricks.as_strided(
        padded,
        shape=(n, c, *kernel_size, *output_size),
        strides=(
            stride_n,
            stride_c,
            stride_h * geometry.dilation[0],
            stride_w * geometry.dilation[1],
            stride_h * geometry.stride[0],
            stride_w * geometry.stride[1],
        ),
    )


def _batch_inner(width):
    """Whether GEMM columns put the batch innermost: (.., H, W, N) rather than (.., N, H, W).

    NumPy copies and adds a strided block row by row, so rows of a few pixels
    cost more in loop overhead than in memory traffic; with the batch innermost
    the rows are as long as the batch. Wide maps keep the batch outer, where
    the conversion to and from (N, C, H, W) is a block copy.
    """
    return width <= SHORT_ROW


def _columns(xp, x, kernel_size, output_size, geometry):
    """im2col: the windows of ``x`` as columns (G, C/G*kh*kw, L), L = (N, Ho, Wo) or (Ho, Wo, N), copied once."""
    n, c = x.shape[:2]
    windows = _windows(xp, x, kernel_size, output_size, geometry)
    windows = windows.transpose((1, 2, 3, 4, 5, 0) if _batch_inner(output_size[1]) else (1, 2, 3, 0, 4, 5))
    columns = _copy(xp, xp.empty(windows.shape, dtype=x.dtype), windows)
    rows = c // geometry.groups * kernel_size[0] * kernel_size[1]
    return columns.reshape(geometry.groups, rows, n * output_size[0] * output_size[1])


def _images(part, channels, size):
    """GEMM output (G, C/G, L) as an (N, C, H, W) view, L in the order ``_batch_inner(size[1])`` says."""
    if _batch_inner(size[1]):
        return part.reshape(channels, *size, -1).transpose(3, 0, 1, 2)
    return part.reshape(channels, -1, *size).transpose(1, 0, 2, 3)


def _col2im(xp, columns, output_size, geometry, batch_inner=False, out=None):
    """The adjoint of im2col: add columns (C, kh, kw, N, Ho, Wo), or with ``batch_inner``
    (C, kh, kw, Ho, Wo, N), back into (N, C, H, W) (into ``out`` when given)."""
    c, kernel_h, kernel_w = columns.shape[:3]
    rows, cols = columns.shape[3:5] if batch_inner else columns.shape[4:6]
    n = columns.shape[5] if batch_inner else columns.shape[3]
    (top, bottom), (left, right) = geometry.padding
    height, width = output_size
    stride_h, stride_w = geometry.stride
    dilation_h, dilation_w = geometry.dilation
    spatial = (height + top + bottom, width + left + right)
    padded = xp.zeros((c, *spatial, n) if batch_inner else (c, n, *spatial), dtype=columns.dtype)
    # the (row, column) axes of padded, after the channel (and batch) axes
    lead = (slice(None),) if batch_inner else (slice(None), slice(None))

    def add(start, stop):  # channels [start, stop): one slice-add per kernel offset, windows never overlap in one
        for i in range(kernel_h):
            row = i * dilation_h
            for j in range(kernel_w):
                col = j * dilation_w
                window = (slice(row, row + stride_h * (rows - 1) + 1, stride_h),
                          slice(col, col + stride_w * (cols - 1) + 1, stride_w))
                padded[(slice(start, stop),) + lead[1:] + window] += columns[start:stop, i, j]

    if xp is np:
        backend.parallel(add, c, columns.size)
    else:
        add(0, c)
    if batch_inner:
        cropped = padded[:, top : top + height, left : left + width].transpose(3, 0, 1, 2)
    else:
        cropped = padded[:, :, top : top + height, left : left + width].transpose(1, 0, 2, 3)
    return _copy(xp, xp.empty(cropped.shape, dtype=columns.dtype) if out is None else out, cropped)


def _channels_first(xp, x, groups, batch_inner=False):
    """(N, C, H, W) -> contiguous (G, C/G, L), L = (N, H, W), or (H, W, N) with ``batch_inner``."""
    n, c, height, width = x.shape
    source = x.transpose(1, 2, 3, 0) if batch_inner else x.transpose(1, 0, 2, 3)
    transposed = _copy(xp, xp.empty(source.shape, dtype=x.dtype), source)
    return transposed.reshape(groups, c // groups, n * height * width)


def _kernel(xp, weight, groups):
    """The weight (rows, C/G, kh, kw) as (G, rows/G, C/G*kh*kw)."""
    rows, channels, kernel_h, kernel_w = weight.shape
    return xp.ascontiguousarray(weight).reshape(groups, rows // groups, channels * kernel_h * kernel_w)


def _batch_chunks(batch, elements_per_image):
    """Slices of the batch whose columns stay within ``COLUMNS_BUDGET`` elements (at least one image each)."""
    step = max(1, COLUMNS_BUDGET // max(elements_per_image, 1))
    return [slice(start, min(start + step, batch)) for start in range(0, batch, step)]


def _convolve(xp, x, weight, output_size, geometry):
    """conv2d on arrays: im2col, then W (G, O/G, C/G*k*k) @ columns (G, C/G*k*k, n*L), a few images at a time."""
    n, channels = x.shape[:2]
    kernel = _kernel(xp, weight, geometry.groups)
    y = xp.empty((n, weight.shape[0], *output_size), dtype=x.dtype)
    per_image = channels * weight.shape[2] * weight.shape[3] * output_size[0] * output_size[1]
    for images in _batch_chunks(n, per_image):
        part = xp.matmul(kernel, _columns(xp, x[images], weight.shape[2:], output_size, geometry))
        _copy(xp, y[images], _images(part, weight.shape[0], output_size))
    return y


def _convolve_transpose(xp, x, weight, output_size, geometry):
    """conv_transpose2d on arrays.

    At stride 1 it is a convolution of x with the flipped kernel, whose im2col
    copies less memory than col2im's read-modify-write of every kernel offset;
    otherwise GEMM then col2im.
    """
    flipped = _flipped_convolution(weight, x.shape[2:], output_size, geometry)
    if flipped is None:
        return _transpose_by_col2im(xp, x, weight, output_size, geometry)
    kernel, flipped_geometry = flipped
    return _convolve(xp, x, kernel, output_size, flipped_geometry)


def _transpose_by_col2im(xp, x, weight, output_size, geometry):
    """Columns W^T (G, C/G*k*k, Cin/G) @ x (G, Cin/G, n*L), then col2im, a few images at a time."""
    n, _, height, width = x.shape
    channels_per_group, kernel_h, kernel_w = weight.shape[1:]
    channels = geometry.groups * channels_per_group
    kernel = _kernel(xp, weight, geometry.groups).transpose(0, 2, 1)
    y = xp.empty((n, channels, *output_size), dtype=x.dtype)
    batch_inner = _batch_inner(width)
    for images in _batch_chunks(n, channels * kernel_h * kernel_w * height * width):
        columns = xp.matmul(kernel, _channels_first(xp, x[images], geometry.groups, batch_inner))
        shape = (height, width, -1) if batch_inner else (-1, height, width)
        _col2im(xp, columns.reshape(channels, kernel_h, kernel_w, *shape), output_size, geometry, batch_inner,
                out=y[images])
    return y


def _flipped_convolution(weight, input_size, output_size, geometry):
    """(kernel, geometry) of the stride-1 convolution that equals conv_transpose2d with ``weight``, or None.

    out[t] = sum_i W[i] x[t - d i + before] is a correlation with W flipped and
    padding d (k - 1) - before in front; the padding behind makes the output
    size. None where a stride or a negative padding would need cropping.
    """
    if geometry.stride != (1, 1):
        return None
    padding = []
    for size, out_size, kernel, dilation, (before, _) in zip(input_size, output_size, weight.shape[2:],
                                                             geometry.dilation, geometry.padding):
        front = dilation * (kernel - 1) - before
        back = out_size - size - front + dilation * (kernel - 1)
        if front < 0 or back < 0:
            return None
        padding.append((front, back))
    channels_in, per_group, kernel_h, kernel_w = weight.shape
    groups = geometry.groups
    if channels_in > groups * per_group:  # its im2col of x would be larger than col2im's columns
        return None
    # (C_in, C_out/G, k, k) -> (C_out, C_in/G, k, k), group by group, flipped in both spatial dims
    kernel = weight.reshape(groups, channels_in // groups, per_group, kernel_h, kernel_w).transpose(0, 2, 1, 3, 4)
    kernel = kernel[..., ::-1, ::-1].reshape(groups * per_group, channels_in // groups, kernel_h, kernel_w)
    return kernel, Geometry((1, 1), tuple(padding), geometry.dilation, groups)


def _convolve_grad_weight(xp, x, grad_output, kernel_size, geometry):
    """dL/dW = sum over images of grad_output (G, O/G, n*L) @ columns^T (G, n*L, C/G*k*k), a few at a time."""
    n, channels = x.shape[:2]
    output_size = grad_output.shape[2:]
    rows = channels // geometry.groups * kernel_size[0] * kernel_size[1]
    grad_weight = xp.zeros((geometry.groups, grad_output.shape[1] // geometry.groups, rows), dtype=x.dtype)
    for images in _batch_chunks(n, channels * kernel_size[0] * kernel_size[1] * output_size[0] * output_size[1]):
        columns = _columns(xp, x[images], kernel_size, output_size, geometry)
        grad_rows = _channels_first(xp, grad_output[images], geometry.groups, _batch_inner(output_size[1]))
        grad_weight += xp.matmul(grad_rows, columns.transpose(0, 2, 1))
    return grad_weight.reshape(grad_output.shape[1], channels // geometry.groups, *kernel_size)


# --- Functions --------------------------------------------------------------------


class Conv2d(Function):
    """y = conv2d(x, W) with the output size given (the backward of a transposed conv may crop it)."""

    def forward(self, x, weight):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        return _convolve(self.xp, x, weight, self.output_size, self.geometry)

    def backward(self, grad):
        x, weight = self.inputs
        grad_x = grad_weight = None
        if self.needs_input_grad[0]:
            grad_x = ConvTranspose2d.apply(grad, weight, output_size=x.shape[2:], geometry=self.geometry)
        if self.needs_input_grad[1]:
            grad_weight = Conv2dGradWeight.apply(x, grad, kernel_size=weight.shape[2:], geometry=self.geometry)
        return grad_x, grad_weight


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W): the adjoint of ``Conv2d`` in its input."""

    def forward(self, x, weight):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        return _convolve_transpose(self.xp, x, weight, self.output_size, self.geometry)

    def backward(self, grad):
        x, weight = self.inputs
        grad_x = grad_weight = None
        if self.needs_input_grad[0]:
            grad_x = Conv2d.apply(grad, weight, output_size=x.shape[2:], geometry=self.geometry)
        if self.needs_input_grad[1]:
            # <conv_transpose(x, W), g> = <x, conv(g, W)>, so dL/dW is the weight gradient of conv(g, W) against x
            grad_weight = Conv2dGradWeight.apply(grad, x, kernel_size=weight.shape[2:], geometry=self.geometry)
        return grad_x, grad_weight


class Conv2dGradWeight(Function):
    """dL/dW of ``Conv2d`` from its input x and output gradient g; bilinear in (x, g)."""

    def forward(self, x, grad_output):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        return _convolve_grad_weight(self.xp, x, grad_output, self.kernel_size, self.geometry)

    def backward(self, grad):
        x, grad_output = self.inputs
        grad_x = grad_grad_output = None
        # <G, grad_weight(x, g)> = <g, conv(x, G)> = <x, conv_transpose(g, G)>
        if self.needs_input_grad[0]:
            grad_x = ConvTranspose2d.apply(grad_output, grad, output_size=x.shape[2:], geometry=self.geometry)
        if self.needs_input_grad[1]:
            grad_grad_output = Conv2d.apply(x, grad, output_size=grad_output.shape[2:], geometry=self.geometry)
        return grad_x, grad_grad_output


class Unfold(Function):
    """im2col as an op: (N, C, H, W) -> (N, C*kh*kw, L)."""

    def forward(self, x):
        n, c = x.shape[:2]
        windows = self.xp.ascontiguousarray(_windows(self.xp, x, self.kernel_size, self.blocks, self.geometry))
        return windows.reshape(n, c * self.kernel_size[0] * self.kernel_size[1], self.blocks[0] * self.blocks[1])

    def backward(self, grad):
        x = self.inputs[0]
        return Fold.apply(grad, output_size=x.shape[2:], kernel_size=self.kernel_size, blocks=self.blocks,
                          geometry=self.geometry)


class Fold(Function):
    """col2im as an op: (N, C*kh*kw, L) -> (N, C, H, W), summing overlapping blocks."""

    def forward(self, columns):
        n, size, _ = columns.shape
        kernel_h, kernel_w = self.kernel_size
        columns = columns.reshape(n, size // (kernel_h * kernel_w), kernel_h, kernel_w, *self.blocks)
        return _col2im(self.xp, columns.transpose(1, 2, 3, 0, 4, 5), self.output_size, self.geometry)

    def backward(self, grad):
        return Unfold.apply(grad, kernel_size=self.kernel_size, blocks=self.blocks, geometry=self.geometry)


# --- argument checks ------------------------------------------------------------------


def _tuple(value, dims, name, op):
    """An int or a sequence of ``dims`` ints as a tuple of ``dims`` ints."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise RuntimeError(f"{op}: {name} must be an int or a tuple of {dims} ints, got {value!r}")
    return values


def _positive(value, dims, name, op):
    values = _tuple(value, dims, name, op)
    if min(values) < 1:
        raise RuntimeError(f"{op}: {name} must be positive, got {value!r}")
    return values


def _symmetric_padding(padding, dims, op):
    """An int or a tuple of non-negative ints as ((p, p), ...) per spatial dim."""
    values = _tuple(padding, dims, "padding", op)
    if min(values) < 0:
        raise RuntimeError(f"{op}: padding must be non-negative, got {padding!r}")
    return tuple((p, p) for p in values)


def _padding(padding, kernel_size, stride, dilation, op):
    """Padding as ((before, after), ...) per spatial dim, from an int, a tuple, 'valid' or 'same'."""
    dims = len(kernel_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * dims
        if padding != "same":
            raise RuntimeError(f"{op}: invalid padding string {padding!r}, expected 'valid' or 'same'")
        if any(s != 1 for s in stride):
            raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        # As PyTorch: an odd total pads one more after than before.
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    return _symmetric_padding(padding, dims, op)


def _check_operands(op, input, weight, bias, groups, dims, transposed=False):
    """Shapes, dtypes and groups of a convolution's input, weight and bias (before any reshaping)."""
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(
            f"{op}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape {tuple(input.shape)}"
        )
    if 0 in input.shape[-dims:]:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dim")
    if weight.ndim != dims + 2:
        raise RuntimeError(f"{op}: expected a {dims + 2}-D weight, got shape {tuple(weight.shape)}")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} differ")
    if not isinstance(groups, int) or groups < 1:
        raise RuntimeError(f"{op}: groups must be a positive int, got {groups!r}")
    channels = input.shape[-dims - 1]
    if transposed:
        expected, out_channels = weight.shape[0], weight.shape[1] * groups
    else:
        expected, out_channels = weight.shape[1] * groups, weight.shape[0]
    if channels != expected:
        raise RuntimeError(
            f"{op}: input has {channels} channels but weight expects {expected} "
            f"(weight shape {tuple(weight.shape)}, groups {groups})"
        )
    divided = weight.shape[0]
    if divided % groups:
        side = "input" if transposed else "output"
        raise RuntimeError(
            f"{op}: weight's {divided} {side} channels (shape {tuple(weight.shape)}) are not divisible by groups {groups}"
        )
    if bias is not None:
        if bias.shape != (out_channels,):
            raise RuntimeError(
                f"{op}: bias must have shape ({out_channels},) for weight shape {tuple(weight.shape)}, "
                f"got {tuple(bias.shape)}"
            )
        if bias.dtype != input.dtype:
            raise RuntimeError(f"{op}: bias dtype {bias.dtype} differs from input dtype {input.dtype}")


def _check_kernel_fits(op, spatial, kernel_size, padding, dilation):
    padded = tuple(size + before + after for size, (before, after) in zip(spatial, padding))
    dilated = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    if any(k > p for k, p in zip(dilated, padded)):
        raise RuntimeError(
            f"{op}: kernel size {dilated} (dilated) is larger than the padded input {padded}"
        )


def _batched(input, dims):
    """Add the batch dim to an unbatched input; say whether it was added."""
    if input.ndim == dims + 1:
        return reshape(input, (1, *input.shape)), True
    return input, False


def _unbatched(output, added):
    return reshape(output, output.shape[1:]) if added else output


def _add_bias(output, bias):
    if bias is None:
        return output
    # dL/dbias is the broadcast's backward: a sum over N, H and W.
    return output + reshape(bias, (1, -1, 1, 1))


# --- public API -------------------------------------------------------------------------


def _conv(op, input, weight, bias, stride, padding, dilation, groups, dims):
    """conv1d/conv2d: check, lift to a batched 2-D convolution, run ``Conv2d``, add the bias."""
    _check_operands(op, input, weight, bias, groups, dims)
    kernel_size = tuple(weight.shape[2:])
    stride = _positive(stride, dims, "stride", op)
    dilation = _positive(dilation, dims, "dilation", op)
    padding = _padding(padding, kernel_size, stride, dilation, op)
    _check_kernel_fits(op, input.shape[-dims:], kernel_size, padding, dilation)
    input, added = _batched(input, dims)
    if dims == 1:
        # A 1-D convolution is a 2-D one over a height-1 image.
        input = reshape(input, (input.shape[0], input.shape[1], 1, input.shape[2]))
        weight = reshape(weight, (weight.shape[0], weight.shape[1], 1, weight.shape[2]))
        stride, dilation, padding = (1, *stride), (1, *dilation), ((0, 0), *padding)
    geometry = Geometry(stride, padding, dilation, groups)
    output_size = _sliding_blocks(input.shape[2:], weight.shape[2:], geometry)
    output = _add_bias(Conv2d.apply(input, weight, output_size=output_size, geometry=geometry), bias)
    if dims == 1:
        output = reshape(output, (output.shape[0], output.shape[1], output.shape[3]))
    return _unbatched(output, added)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch) of (N, C, H, W) or (C, H, W) input."""
    return _conv("conv2d", input, weight, bias, stride, padding, dilation, groups, dims=2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of (N, C, L) or (C, L) input with a (O, C/groups, k) weight."""
    return _conv("conv1d", input, weight, bias, stride, padding, dilation, groups, dims=1)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution, the adjoint of conv2d; weight (C_in, C_out/groups, kH, kW).

    H_out = (H_in - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    _check_operands(op, input, weight, bias, groups, 2, transposed=True)
    stride = _positive(stride, 2, "stride", op)
    dilation = _positive(dilation, 2, "dilation", op)
    padding = _symmetric_padding(padding, 2, op)
    output_padding = _tuple(output_padding, 2, "output_padding", op)
    if any(not 0 <= o < max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(
            f"{op}: output_padding {output_padding} must be non-negative and smaller than either "
            f"stride {stride} or dilation {dilation}"
        )
    output_size = tuple(
        (size - 1) * s - p[0] - p[1] + d * (k - 1) + extra + 1
        for size, s, p, d, k, extra in zip(input.shape[-2:], stride, padding, dilation, weight.shape[2:], output_padding)
    )
    if min(output_size) < 1:
        raise RuntimeError(
            f"{op}: padding {tuple(p for p, _ in padding)} leaves an empty output {output_size} "
            f"for input {tuple(input.shape)}"
        )
    input, added = _batched(input, 2)
    output = ConvTranspose2d.apply(
        input, weight, output_size=output_size, geometry=Geometry(stride, padding, dilation, groups)
    )
    return _unbatched(_add_bias(output, bias), added)


def _block_geometry(op, kernel_size, dilation, padding, stride):
    kernel_size = _positive(kernel_size, 2, "kernel_size", op)
    dilation = _positive(dilation, 2, "dilation", op)
    stride = _positive(stride, 2, "stride", op)
    return kernel_size, Geometry(stride, _symmetric_padding(padding, 2, op), dilation, 1)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (N, C, H, W) as columns (N, C*kh*kw, L), as torch.nn.functional.unfold."""
    op = "unfold"
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape {tuple(input.shape)}")
    kernel_size, geometry = _block_geometry(op, kernel_size, dilation, padding, stride)
    _check_kernel_fits(op, input.shape[-2:], kernel_size, geometry.padding, geometry.dilation)
    blocks = _sliding_blocks(input.shape[-2:], kernel_size, geometry)
    input, added = _batched(input, 2)
    return _unbatched(Unfold.apply(input, kernel_size=kernel_size, blocks=blocks, geometry=geometry), added)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns (N, C*kh*kw, L) back into (N, C, H, W): the adjoint of ``unfold``."""
    op = "fold"
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input, got shape {tuple(input.shape)}")
    output_size = _positive(output_size, 2, "output_size", op)
    kernel_size, geometry = _block_geometry(op, kernel_size, dilation, padding, stride)
    _check_kernel_fits(op, output_size, kernel_size, geometry.padding, geometry.dilation)
    kernel_area = kernel_size[0] * kernel_size[1]
    blocks = _sliding_blocks(output_size, kernel_size, geometry)
    size, length = input.shape[-2:]
    if size % kernel_area or length != blocks[0] * blocks[1]:
        raise RuntimeError(
            f"{op}: input of shape {tuple(input.shape)} does not match output_size {output_size} and kernel_size "
            f"{kernel_size}: expected dim -2 divisible by {kernel_area} and {blocks[0]} * {blocks[1]} = "
            f"{blocks[0] * blocks[1]} blocks in dim -1"
        )
    input, added = _batched(input, 1)
    output = Fold.apply(input, output_size=output_size, kernel_size=kernel_size, blocks=blocks, geometry=geometry)
    return _unbatched(output, added)
