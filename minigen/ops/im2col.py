"""im2col, col2im and the three GEMM-based convolution kernels on raw arrays (NumPy or CuPy).

Every convolution is im2col + one GEMM. im2col is a strided *view* of the
padded input (no loop over pixels), copied into columns laid out
(groups, C/groups*kh*kw, L) with L the output positions of a few images:
the batch sits next to the positions, so each of the three GEMMs is a plain
2-D matmul per group on contiguous data, and the weight gradient's sum over
the batch happens inside its GEMM. L is (N, Ho, Wo), or (Ho, Wo, N) where
rows are short (``SHORT_ROW``; read from a batch-last copy of the input
where the columns are much larger than it). col2im, the adjoint of im2col, adds the
columns back into a zero-padded buffer with one slice-add per kernel
offset. ``minigen.ops.conv`` builds the differentiable ops on these.
"""

from collections import namedtuple

import numpy as np

from .. import backend

# The geometry shared by a convolution and the ops of its backward:
# stride, dilation: (height, width); padding: ((top, bottom), (left, right)).
Geometry = namedtuple("Geometry", "stride padding dilation groups")
# im2col columns (and col2im's) are built this many elements at a time (16 MiB of float32), a few
# images per chunk: the peak memory of a convolution stays near its input's and output's.
COLUMNS_BUDGET = 1 << 22
# Rows of at most this many pixels are laid out with the batch innermost (``_batch_inner``).
SHORT_ROW = 8
# The weight gradient's product is computed transposed where the columns have this many times the
# gradient's rows (``convolve_grad_weight``).
TRANSPOSED_GRAD_WEIGHT = 4


# --- raw-array kernels ----------------------------------------------------------


def sliding_blocks(spatial, kernel_size, geometry):
    """How many kernel positions fit along each spatial dim: (Ho, Wo)."""
    return tuple(
        (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
        for size, kernel, stride, (before, after), dilation in zip(
            spatial, kernel_size, geometry.stride, geometry.padding, geometry.dilation
        )
    )


def _copy(xp, destination, source, bias=None):
    """destination[...] = source, split along axis 0 over the host threads (a plain copy on CuPy).

    With ``bias`` (C,), a convolution's output copy adds it per channel (axis 1) on the way: the
    same one pass, where a separate bias add would be a second pass over the output.
    """
    if bias is not None:
        bias = backend.spread(bias.reshape(1, -1, *(1,) * (destination.ndim - 2)), destination.shape)
    if xp is not np:
        if bias is None:
            destination[...] = source
        else:
            xp.add(source, bias, out=destination)
        return destination

    def copy(start, stop):
        if bias is None:
            np.copyto(destination[start:stop], source[start:stop])
        else:
            np.add(source[start:stop], bias, out=destination[start:stop])

    backend.parallel(copy, destination.shape[0], destination.size)
    return destination


def _pad(xp, x, padding, batch_last=False):
    """x (N, C, H, W) zero-padded; with ``batch_last`` laid out (C, H, W, N) (a copy even without padding)."""
    (top, bottom), (left, right) = padding
    if not (top or bottom or left or right or batch_last):
        return x
    n, c, h, w = x.shape
    spatial = (h + top + bottom, w + left + right)
    padded = xp.zeros((c, *spatial, n) if batch_last else (n, c, *spatial), dtype=x.dtype)
    if batch_last:
        _copy(xp, padded[:, top : top + h, left : left + w], x.transpose(1, 2, 3, 0))
    else:
        _copy(xp, padded[:, :, top : top + h, left : left + w], x)
    return padded


def windows(xp, x, kernel_size, output_size, geometry, batch_last=False):
    """Every kernel window of ``x``, shape (N, C, kh, kw, Ho, Wo): a strided view of the padded input
    (of a (C, H, W, N) copy of it with ``batch_last``, where the batch axis is the contiguous one)."""
    padded = _pad(xp, x, geometry.padding, batch_last)
    n, c = x.shape[:2]
    strides = padded.strides
    stride_n, stride_c, stride_h, stride_w = (strides[3], *strides[:3]) if batch_last else strides
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


def im2col(xp, x, kernel_size, output_size, geometry):
    """im2col: the windows of ``x`` as columns (G, C/G*kh*kw, L), L = (N, Ho, Wo) or (Ho, Wo, N), copied once."""
    n, c = x.shape[:2]
    batch_inner = _batch_inner(output_size[1])
    # Batch-innermost columns gather one element per image from an (N, C, H, W) input. Where the
    # columns are at least 4x the input, a batch-last copy of the input first makes their rows contiguous.
    batch_last = batch_inner and kernel_size[0] * kernel_size[1] >= 4 * geometry.stride[0] * geometry.stride[1]
    view = windows(xp, x, kernel_size, output_size, geometry, batch_last)
    view = view.transpose((1, 2, 3, 4, 5, 0) if batch_inner else (1, 2, 3, 0, 4, 5))
    columns = _copy(xp, xp.empty(view.shape, dtype=x.dtype), view)
    rows = c // geometry.groups * kernel_size[0] * kernel_size[1]
    return columns.reshape(geometry.groups, rows, n * output_size[0] * output_size[1])


def _images(part, channels, size):
    """GEMM output (G, C/G, L) as an (N, C, H, W) view, L in the order ``_batch_inner(size[1])`` says."""
    if _batch_inner(size[1]):
        return part.reshape(channels, *size, -1).transpose(3, 0, 1, 2)
    return part.reshape(channels, -1, *size).transpose(1, 0, 2, 3)


def col2im(xp, columns, output_size, geometry, batch_inner=False, out=None, bias=None):
    """The adjoint of im2col: add columns (C, kh, kw, N, Ho, Wo), or with ``batch_inner``
    (C, kh, kw, Ho, Wo, N), back into (N, C, H, W) (into ``out`` when given, plus ``bias`` (C,) when given)."""
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
    return _copy(xp, xp.empty(cropped.shape, dtype=columns.dtype) if out is None else out, cropped, bias)


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


def reusable_columns(xp, x, kernel_size, output_size, geometry):
    """im2col of the whole batch of ``x`` when it is worth keeping for a second GEMM, else None.

    A convolution's forward and its weight gradient read the same columns, as
    do the two gradients of a transposed convolution. Where the columns are one
    chunk and at most 4x the input (kernels up to twice the stride, such as
    4x4 at stride 2 or a patchify), keeping them costs at most four inputs'
    memory and saves one im2col; 3x3 convolutions at stride 1 (9x) rebuild them.
    """
    size = _columns_per_image(x, kernel_size, output_size) * x.shape[0]
    if size > COLUMNS_BUDGET or size > 4 * x.size:
        return None
    return im2col(xp, x, kernel_size, output_size, geometry)


def _columns_per_image(x, kernel_size, output_size):
    return x.shape[1] * kernel_size[0] * kernel_size[1] * output_size[0] * output_size[1]


def _column_chunks(xp, x, kernel_size, output_size, geometry, columns):
    """``(images, im2col of x[images])`` a few images at a time, or the whole batch's ``columns`` when given."""
    if columns is not None:
        yield slice(0, x.shape[0]), columns
        return
    for images in _batch_chunks(x.shape[0], _columns_per_image(x, kernel_size, output_size)):
        yield images, im2col(xp, x[images], kernel_size, output_size, geometry)


def convolve(xp, x, weight, output_size, geometry, columns=None, bias=None):
    """conv2d on arrays: im2col, then W (G, O/G, C/G*k*k) @ columns (G, C/G*k*k, n*L), a few images at a time
    (all at once from ``columns``, the whole batch's im2col, when given), plus ``bias`` (O,) when given."""
    kernel = _kernel(xp, weight, geometry.groups)
    y = xp.empty((x.shape[0], weight.shape[0], *output_size), dtype=x.dtype)
    for images, part in _column_chunks(xp, x, weight.shape[2:], output_size, geometry, columns):
        _copy(xp, y[images], _images(xp.matmul(kernel, part), weight.shape[0], output_size), bias)
    return y


def convolve_transpose(xp, x, weight, output_size, geometry, bias=None):
    """conv_transpose2d on arrays, plus ``bias`` (C_out,) when given.

    At stride 1 it is a convolution of x with the flipped kernel, whose im2col
    copies less memory than col2im's read-modify-write of every kernel offset;
    otherwise GEMM then col2im.
    """
    flipped = flipped_convolution(weight, x.shape[2:], output_size, geometry)
    if flipped is None:
        return transpose_by_col2im(xp, x, weight, output_size, geometry, bias)
    kernel, flipped_geometry = flipped
    return convolve(xp, x, kernel, output_size, flipped_geometry, bias=bias)


def transpose_by_col2im(xp, x, weight, output_size, geometry, bias=None):
    """Columns W^T (G, C/G*k*k, Cin/G) @ x (G, Cin/G, n*L), then col2im (adding ``bias``), a few images at a time."""
    n, _, height, width = x.shape
    channels_per_group, kernel_h, kernel_w = weight.shape[1:]
    channels = geometry.groups * channels_per_group
    kernel = _kernel(xp, weight, geometry.groups).transpose(0, 2, 1)
    y = xp.empty((n, channels, *output_size), dtype=x.dtype)
    batch_inner = _batch_inner(width)
    for images in _batch_chunks(n, channels * kernel_h * kernel_w * height * width):
        columns = xp.matmul(kernel, _channels_first(xp, x[images], geometry.groups, batch_inner))
        shape = (height, width, -1) if batch_inner else (-1, height, width)
        col2im(xp, columns.reshape(channels, kernel_h, kernel_w, *shape), output_size, geometry, batch_inner,
                out=y[images], bias=bias)
    return y


def flipped_convolution(weight, input_size, output_size, geometry):
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


def convolve_grad_weight(xp, x, grad_output, kernel_size, geometry, columns=None):
    """dL/dW = sum over images of grad_output (G, O/G, n*L) @ columns^T (G, n*L, C/G*k*k), a few at a time
    (all at once from ``columns``, the whole batch's im2col of x, when given)."""
    channels = x.shape[1]
    output_size = grad_output.shape[2:]
    rows = channels // geometry.groups * kernel_size[0] * kernel_size[1]
    shape = (geometry.groups, grad_output.shape[1] // geometry.groups, rows)
    # OpenBLAS runs this long, thin product 10-30% faster with the larger operand first: where the columns
    # have many more rows than the gradient, compute dL/dW^T = columns @ grad_output^T and transpose it after.
    transposed = rows >= TRANSPOSED_GRAD_WEIGHT * shape[1]
    grad_weight = xp.zeros((shape[0], shape[2], shape[1]) if transposed else shape, dtype=x.dtype)
    for images, part in _column_chunks(xp, x, kernel_size, output_size, geometry, columns):
        grad_rows = _channels_first(xp, grad_output[images], geometry.groups, _batch_inner(output_size[1]))
        if transposed:
            grad_weight += xp.matmul(part, grad_rows.transpose(0, 2, 1))
        else:
            grad_weight += xp.matmul(grad_rows, part.transpose(0, 2, 1))
    if transposed:
        grad_weight = grad_weight.transpose(0, 2, 1)
    return grad_weight.reshape(grad_output.shape[1], channels // geometry.groups, *kernel_size)
