"""Convolutions (NCHW): conv1d, conv2d, conv_transpose2d, unfold and fold.

Every convolution is im2col + one GEMM (the array kernels are in
``minigen.ops.im2col``).

Three Functions carry every derivative, each written with the others:

- ``Conv2d(x, W[, b])``: y = W * x (+ b)
- ``ConvTranspose2d(g, W[, b])``: the adjoint of ``Conv2d`` in x, g -> W^T * g (+ b)
- ``Conv2dGradWeight(x, g)``: the adjoint of ``Conv2d`` in W, dL/dW = g * x

All three are bilinear in (x, W), so the derivative in one argument is one of
the others with the second argument fixed. Their backwards are therefore
exact to any order, which the gradient penalties of WGAN-GP and R1 need
through a convolutional critic. A bias is added while the output is copied
out of the GEMM (no separate pass); its gradient is the sum of g over N, H, W.
``Unfold`` and ``Fold`` (im2col and col2im as ops) are each other's backward.
"""

from ..function import Function, bilinear_saved_inputs
from . import im2col
from .shape import reshape, sum_to

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "unfold", "fold"]
# Tensor.unfold is PyTorch's sliding-window view over one dim, a different op.
TENSOR_METHODS = []

# --- Functions --------------------------------------------------------------------


class Conv2d(Function):
    """y = conv2d(x, W) with the output size given (the backward of a transposed conv may crop it)."""

    # im2col of x for the whole batch: given by a caller that has them, or kept from forward for the weight gradient
    columns = None

    def forward(self, x, weight, bias=None):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        columns = self.columns
        if columns is None and self.needs_input_grad[1]:
            columns = im2col.reusable_columns(self.xp, x, weight.shape[2:], self.output_size, self.geometry)
        self.columns = columns if self.needs_input_grad[1] else None  # kept only for the weight gradient
        return im2col.convolve(self.xp, x, weight, self.output_size, self.geometry, columns, bias)

    def backward(self, grad):
        x, weight = self.inputs[:2]
        grad_x = grad_weight = None
        if self.needs_input_grad[0]:
            grad_x = ConvTranspose2d.apply(grad, weight, output_size=x.shape[2:], geometry=self.geometry)
        if self.needs_input_grad[1]:
            grad_weight = Conv2dGradWeight.apply(x, grad, kernel_size=weight.shape[2:], geometry=self.geometry,
                                                 columns=self.columns)
        return (grad_x, grad_weight, *_bias_grad(self, grad))


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W) (+ b): the adjoint of ``Conv2d`` in its input."""

    def forward(self, x, weight, bias=None):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        return im2col.convolve_transpose(self.xp, x, weight, self.output_size, self.geometry, bias)

    def backward(self, grad):
        x, weight = self.inputs[:2]
        grad_x = grad_weight = None
        kernel_size = weight.shape[2:]
        # Both gradients read the im2col of grad: build it once.
        columns = None
        if all(self.needs_input_grad[:2]):
            columns = im2col.reusable_columns(self.xp, grad.data, kernel_size, x.shape[2:], self.geometry)
        if self.needs_input_grad[0]:
            grad_x = Conv2d.apply(grad, weight, output_size=x.shape[2:], geometry=self.geometry, columns=columns)
        if self.needs_input_grad[1]:
            # <conv_transpose(x, W), g> = <x, conv(g, W)>, so dL/dW is the weight gradient of conv(g, W) against x
            grad_weight = Conv2dGradWeight.apply(grad, x, kernel_size=kernel_size, geometry=self.geometry,
                                                 columns=columns)
        return (grad_x, grad_weight, *_bias_grad(self, grad))


def _bias_grad(node, grad):
    """() for a node without a bias, else (dL/db,): the sum of grad over N, H and W (None if not needed)."""
    if len(node.inputs) == 2:
        return ()
    if not node.needs_input_grad[2]:
        return (None,)
    return (reshape(sum_to(grad, (1, grad.shape[1], 1, 1)), (grad.shape[1],)),)


class Conv2dGradWeight(Function):
    """dL/dW of ``Conv2d`` from its input x and output gradient g; bilinear in (x, g)."""

    # im2col of x for the whole batch, when the caller has them (``Conv2d``'s forward kept them)
    columns = None

    def forward(self, x, grad_output):
        self.saved_inputs = bilinear_saved_inputs(self.needs_input_grad)
        grad_weight = im2col.convolve_grad_weight(self.xp, x, grad_output, self.kernel_size, self.geometry,
                                                  self.columns)
        if not self.needs_input_grad[1]:
            self.columns = None
        return grad_weight

    def backward(self, grad):
        x, grad_output = self.inputs
        grad_x = grad_grad_output = None
        # <G, grad_weight(x, g)> = <g, conv(x, G)> = <x, conv_transpose(g, G)>
        if self.needs_input_grad[0]:
            grad_x = ConvTranspose2d.apply(grad_output, grad, output_size=x.shape[2:], geometry=self.geometry)
        if self.needs_input_grad[1]:
            grad_grad_output = Conv2d.apply(x, grad, output_size=grad_output.shape[2:], geometry=self.geometry,
                                            columns=self.columns)
        return grad_x, grad_grad_output


class Unfold(Function):
    """im2col as an op: (N, C, H, W) -> (N, C*kh*kw, L)."""

    def forward(self, x):
        n, c = x.shape[:2]
        windows = self.xp.ascontiguousarray(im2col.windows(self.xp, x, self.kernel_size, self.blocks, self.geometry))
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
        return im2col.col2im(self.xp, columns.transpose(1, 2, 3, 0, 4, 5), self.output_size, self.geometry)

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


# --- public API -------------------------------------------------------------------------


def _conv(op, input, weight, bias, stride, padding, dilation, groups, dims):
    """conv1d/conv2d: check, lift to a batched 2-D convolution, run ``Conv2d``."""
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
    geometry = im2col.Geometry(stride, padding, dilation, groups)
    output_size = im2col.sliding_blocks(input.shape[2:], weight.shape[2:], geometry)
    operands = (input, weight) if bias is None else (input, weight, bias)
    output = Conv2d.apply(*operands, output_size=output_size, geometry=geometry)
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
    operands = (input, weight) if bias is None else (input, weight, bias)
    output = ConvTranspose2d.apply(
        *operands, output_size=output_size, geometry=im2col.Geometry(stride, padding, dilation, groups)
    )
    return _unbatched(output, added)


def _block_geometry(op, kernel_size, dilation, padding, stride):
    kernel_size = _positive(kernel_size, 2, "kernel_size", op)
    dilation = _positive(dilation, 2, "dilation", op)
    stride = _positive(stride, 2, "stride", op)
    return kernel_size, im2col.Geometry(stride, _symmetric_padding(padding, 2, op), dilation, 1)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (N, C, H, W) as columns (N, C*kh*kw, L), as torch.nn.functional.unfold."""
    op = "unfold"
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape {tuple(input.shape)}")
    kernel_size, geometry = _block_geometry(op, kernel_size, dilation, padding, stride)
    _check_kernel_fits(op, input.shape[-2:], kernel_size, geometry.padding, geometry.dilation)
    blocks = im2col.sliding_blocks(input.shape[-2:], kernel_size, geometry)
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
    blocks = im2col.sliding_blocks(output_size, kernel_size, geometry)
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
