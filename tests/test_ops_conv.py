"""Convolution ops: gradcheck and gradgradcheck over drawn geometries, forward values
against a direct loop implementation and against PyTorch, and clear errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, array, check_gradients, seeds, tensor, torch_or_skip

# --- direct loop references (float64, one output element at a time) ------------------


def _padding_pairs(padding):
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


def reference_conv2d(x, weight, bias, stride, padding, dilation, groups):
    (top, bottom), (left, right) = _padding_pairs(padding)
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, _, height, width = x.shape
    out_channels, group_channels, kernel_h, kernel_w = weight.shape
    rows = (height - dilation[0] * (kernel_h - 1) - 1) // stride[0] + 1
    cols = (width - dilation[1] * (kernel_w - 1) - 1) // stride[1] + 1
    out = np.zeros((n, out_channels, rows, cols))
    per_group = out_channels // groups
    for b in range(n):
        for o in range(out_channels):
            first = (o // per_group) * group_channels
            for p in range(rows):
                for q in range(cols):
                    for c in range(group_channels):
                        for i in range(kernel_h):
                            for j in range(kernel_w):
                                out[b, o, p, q] += (
                                    x[b, first + c, p * stride[0] + i * dilation[0], q * stride[1] + j * dilation[1]]
                                    * weight[o, c, i, j]
                                )
    if bias is not None:
        out += bias.reshape(1, -1, 1, 1)
    return out


def reference_conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation):
    n, in_channels, rows, cols = x.shape
    _, group_channels, kernel_h, kernel_w = weight.shape
    full_h = (rows - 1) * stride[0] + dilation[0] * (kernel_h - 1) + 1 + output_padding[0]
    full_w = (cols - 1) * stride[1] + dilation[1] * (kernel_w - 1) + 1 + output_padding[1]
    out = np.zeros((n, group_channels * groups, full_h, full_w))
    per_group = in_channels // groups
    for b in range(n):
        for ci in range(in_channels):
            first = (ci // per_group) * group_channels
            for p in range(rows):
                for q in range(cols):
                    for co in range(group_channels):
                        for i in range(kernel_h):
                            for j in range(kernel_w):
                                out[b, first + co, p * stride[0] + i * dilation[0], q * stride[1] + j * dilation[1]] += (
                                    x[b, ci, p, q] * weight[ci, co, i, j]
                                )
    out = out[:, :, padding[0] : full_h - padding[0], padding[1] : full_w - padding[1]]
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def reference_unfold(x, kernel_size, dilation, padding, stride):
    x = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    n, c, height, width = x.shape
    rows = (height - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1
    cols = (width - dilation[1] * (kernel_size[1] - 1) - 1) // stride[1] + 1
    out = np.zeros((n, c, kernel_size[0], kernel_size[1], rows, cols))
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            for p in range(rows):
                for q in range(cols):
                    out[:, :, i, j, p, q] = x[:, :, p * stride[0] + i * dilation[0], q * stride[1] + j * dilation[1]]
    return out.reshape(n, c * kernel_size[0] * kernel_size[1], rows * cols)


def reference_fold(columns, output_size, kernel_size, dilation, padding, stride):
    n = columns.shape[0]
    height, width = output_size[0] + 2 * padding[0], output_size[1] + 2 * padding[1]
    rows = (height - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1
    cols = (width - dilation[1] * (kernel_size[1] - 1) - 1) // stride[1] + 1
    blocks = columns.reshape(n, -1, kernel_size[0], kernel_size[1], rows, cols)
    out = np.zeros((n, blocks.shape[1], height, width))
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            for p in range(rows):
                for q in range(cols):
                    out[:, :, p * stride[0] + i * dilation[0], q * stride[1] + j * dilation[1]] += blocks[:, :, i, j, p, q]
    return out[:, :, padding[0] : padding[0] + output_size[0], padding[1] : padding[1] + output_size[1]]


# --- strategies -------------------------------------------------------------------------

@st.composite
def conv2d_cases(draw):
    """A small conv2d: groups, channels, kernel, stride, dilation, padding, input size that fits, bias or not."""
    groups = draw(st.integers(1, 2))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel = draw(st.tuples(st.integers(1, 3), st.integers(1, 2)))
    stride = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    dilation = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    if stride == (1, 1) and draw(st.booleans()):
        padding = "same"
        low = (1, 1)
    else:
        padding = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))
        low = tuple(max(1, d * (k - 1) + 1 - 2 * p) for k, d, p in zip(kernel, dilation, padding))
    size = (draw(st.integers(low[0], 5)), draw(st.integers(low[1], 5)))
    batch = draw(st.sampled_from([(), (1,), (2,)]))  # () is an unbatched (C, H, W) input
    return dict(
        input_shape=(*batch, in_channels, *size),
        weight_shape=(out_channels, in_channels // groups, *kernel),
        out_channels=out_channels,
        bias=draw(st.booleans()),
        arguments=dict(stride=stride, padding=padding, dilation=dilation, groups=groups),
    )


@st.composite
def conv1d_cases(draw):
    groups = draw(st.integers(1, 2))
    in_channels = groups * draw(st.integers(1, 2))
    kernel, stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2])) if stride == 1 else draw(st.integers(0, 2))
    low = 1 if padding == "same" else max(1, dilation * (kernel - 1) + 1 - 2 * (padding if padding != "valid" else 0))
    batch = draw(st.sampled_from([(), (2,)]))
    out_channels = groups * draw(st.integers(1, 2))
    return dict(
        input_shape=(*batch, in_channels, draw(st.integers(low, 5))),
        weight_shape=(out_channels, in_channels // groups, kernel),
        out_channels=out_channels,
        bias=draw(st.booleans()),
        arguments=dict(stride=stride, padding=padding, dilation=dilation, groups=groups),
    )


@st.composite
def conv_transpose2d_cases(draw):
    groups = draw(st.integers(1, 2))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kernel = draw(st.tuples(st.integers(1, 3), st.integers(1, 2)))
    stride = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    dilation = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    full = [(n - 1) * s + d * (k - 1) + 1 + o for n, s, d, k, o in zip(size, stride, dilation, kernel, output_padding)]
    # padding crops the full output on both sides; keep at least one row and column
    padding = tuple(draw(st.integers(0, min(2, (f - 1) // 2))) for f in full)
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return dict(
        input_shape=(*batch, in_channels, *size),
        weight_shape=(in_channels, out_channels // groups, *kernel),
        out_channels=out_channels,
        bias=draw(st.booleans()),
        arguments=dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                       dilation=dilation),
    )


@st.composite
def block_cases(draw):
    """unfold/fold geometry: kernel, dilation, padding, stride and an image size the kernel fits."""
    kernel = draw(st.tuples(st.integers(1, 3), st.integers(1, 2)))
    dilation = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    padding = draw(st.tuples(st.integers(0, 1), st.integers(0, 1)))
    stride = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)))
    size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 5)) for k, d, p in zip(kernel, dilation, padding))
    batch = draw(st.sampled_from([(), (2,)]))
    return dict(batch=batch, channels=draw(st.integers(1, 2)), size=size,
                arguments=dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride))


def _operands(case, seed, device):
    x = tensor(case["input_shape"], seed, device)
    weight = tensor(case["weight_shape"], seed + 1, device)
    bias = tensor((case["out_channels"],), seed + 2, device)
    return x, weight, bias if case["bias"] else None


def _batched(array, unbatched_ndim):
    return array[None] if array.ndim == unbatched_ndim else array


def _same_padding(arguments, kernel_size):
    """'same' as explicit (before, after) pairs, PyTorch's split."""
    if arguments["padding"] != "same":
        return arguments["padding"]
    totals = [d * (k - 1) for k, d in zip(kernel_size, arguments["dilation"])]
    return tuple((t // 2, t - t // 2) for t in totals)


# --- gradients and forward values ---------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(case=conv2d_cases(), seed=seeds)
def test_conv2d(device, case, seed):
    x, weight, bias = _operands(case, seed, device)
    arguments = case["arguments"]
    y = minigen.conv2d(x, weight, bias, **arguments)
    expected = reference_conv2d(
        _batched(x.detach().cpu().numpy(), 3), weight.detach().cpu().numpy(),
        None if bias is None else bias.detach().cpu().numpy(),
        arguments["stride"], _same_padding(arguments, weight.shape[2:]), arguments["dilation"], arguments["groups"],
    )
    np.testing.assert_allclose(_batched(y.detach().cpu().numpy(), 3), expected, atol=1e-12)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    check_gradients(lambda *t: minigen.conv2d(*t, **arguments), inputs)


@pytest.mark.parametrize("device", DEVICES)
@given(case=conv1d_cases(), seed=seeds)
def test_conv1d(device, case, seed):
    x, weight, bias = _operands(case, seed, device)
    arguments = case["arguments"]
    y = minigen.conv1d(x, weight, bias, **arguments)
    padding = {"valid": 0, "same": "same"}.get(arguments["padding"], arguments["padding"])
    if padding == "same":
        total = arguments["dilation"] * (weight.shape[2] - 1)
        padding = (total // 2, total - total // 2)
    else:
        padding = (padding, padding)
    expected = reference_conv2d(
        _batched(x.detach().cpu().numpy(), 2)[:, :, None], weight.detach().cpu().numpy()[:, :, None],
        None if bias is None else bias.detach().cpu().numpy(),
        (1, arguments["stride"]), ((0, 0), padding), (1, arguments["dilation"]), arguments["groups"],
    )[:, :, 0]
    np.testing.assert_allclose(_batched(y.detach().cpu().numpy(), 2), expected, atol=1e-12)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    check_gradients(lambda *t: minigen.conv1d(*t, **arguments), inputs)


@pytest.mark.parametrize("device", DEVICES)
@given(case=conv_transpose2d_cases(), seed=seeds)
def test_conv_transpose2d(device, case, seed):
    x, weight, bias = _operands(case, seed, device)
    arguments = case["arguments"]
    y = minigen.conv_transpose2d(x, weight, bias, **arguments)
    expected = reference_conv_transpose2d(
        _batched(x.detach().cpu().numpy(), 3), weight.detach().cpu().numpy(),
        None if bias is None else bias.detach().cpu().numpy(),
        arguments["stride"], arguments["padding"], arguments["output_padding"], arguments["groups"],
        arguments["dilation"],
    )
    np.testing.assert_allclose(_batched(y.detach().cpu().numpy(), 3), expected, atol=1e-12)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    check_gradients(lambda *t: minigen.conv_transpose2d(*t, **arguments), inputs)


@pytest.mark.parametrize("device", DEVICES)
@given(case=block_cases(), seed=seeds)
def test_unfold(device, case, seed):
    x = tensor((*case["batch"], case["channels"], *case["size"]), seed, device)
    arguments = case["arguments"]
    columns = minigen.unfold(x, **arguments)
    expected = reference_unfold(_batched(x.detach().cpu().numpy(), 3), **arguments)
    np.testing.assert_array_equal(_batched(columns.detach().cpu().numpy(), 2), expected)
    check_gradients(lambda t: minigen.unfold(t, **arguments), (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(case=block_cases(), seed=seeds)
def test_fold(device, case, seed):
    arguments = case["arguments"]
    blocks = minigen.unfold(minigen.zeros((1, case["channels"], *case["size"])), **arguments).shape[1:]
    columns = tensor((*case["batch"], *blocks), seed, device)
    image = minigen.fold(columns, case["size"], **arguments)
    expected = reference_fold(_batched(columns.detach().cpu().numpy(), 2), case["size"], **arguments)
    np.testing.assert_allclose(_batched(image.detach().cpu().numpy(), 3), expected, atol=1e-12)
    check_gradients(lambda t: minigen.fold(t, case["size"], **arguments), (columns,))


@given(case=block_cases(), seed=seeds)
def test_fold_is_the_adjoint_of_unfold(case, seed):
    # <unfold(x), c> = <x, fold(c)>
    arguments = case["arguments"]
    x = tensor((2, case["channels"], *case["size"]), seed, requires_grad=False)
    columns = minigen.unfold(x, **arguments)
    other = tensor(columns.shape, seed + 1, requires_grad=False)
    left = float((columns * other).sum())
    right = float((x * minigen.fold(other, case["size"], **arguments)).sum())
    assert abs(left - right) <= 1e-9 * max(1.0, abs(left))


@given(case=conv_transpose2d_cases(), seed=seeds)
def test_stride_one_transposed_conv_by_flipped_kernel_equals_col2im(case, seed):
    # conv_transpose2d at stride 1 runs as a convolution with the flipped kernel; col2im is the reference
    from minigen.ops import im2col

    arguments = case["arguments"]
    x = array(case["input_shape"], seed)
    x = x[None] if x.ndim == 3 else x
    weight = array(case["weight_shape"], seed + 1)
    dilation = arguments["dilation"]
    output_size = tuple((n - 1) + d * (k - 1) + o + 1 - 2 * p for n, d, k, o, p in zip(
        x.shape[2:], dilation, weight.shape[2:], arguments["output_padding"], arguments["padding"]))
    geometry = im2col.Geometry((1, 1), tuple((p, p) for p in arguments["padding"]), dilation, arguments["groups"])
    flipped = im2col.flipped_convolution(weight, x.shape[2:], output_size, geometry)
    cropped = any(p > d * (k - 1) for p, d, k in zip(arguments["padding"], dilation, weight.shape[2:]))
    assert (flipped is None) == (cropped or weight.shape[0] > weight.shape[1] * arguments["groups"])
    np.testing.assert_allclose(im2col.convolve_transpose(np, x, weight, output_size, geometry),
                               im2col.transpose_by_col2im(np, x, weight, output_size, geometry),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("short_row", [0, 100])
def test_convolutions_in_batch_chunks_and_both_layouts_match(monkeypatch, transposed, short_row):
    # im2col/col2im run a few images at a time (a budget of one element: one image per chunk), with the
    # batch outer (short_row 0) or innermost (short_row 100) in the columns, the stride-1 conv's columns read
    # from a batch-last copy of x, the stride-2 ones (grads of the transposed conv) straight from x; all must agree.
    from minigen.ops import im2col

    x = tensor((3, 4, 6, 6), 0)
    weight = tensor((4, 2, 3, 3) if transposed else (2, 4, 3, 3), 1)
    op = minigen.conv_transpose2d if transposed else minigen.conv2d
    arguments = dict(stride=2, padding=1) if transposed else dict(stride=1, padding=1)

    def values():
        y = op(x, weight, **arguments)
        return [t.detach().numpy() for t in (y, *minigen.grad((y * y).sum(), [x, weight]))]

    whole = values()
    monkeypatch.setattr(im2col, "COLUMNS_BUDGET", 1)
    monkeypatch.setattr(im2col, "SHORT_ROW", short_row)
    for a, b in zip(whole, values()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    check_gradients(lambda a, w: op(a, w, **arguments), (x, weight))


@pytest.mark.parametrize("transposed", [False, True])
def test_kept_columns_give_the_same_values_and_second_order_gradients(monkeypatch, transposed):
    # A 4x4 stride-2 conv keeps the im2col of its input for the weight gradient, and a transposed one builds
    # the im2col of its output gradient once for both gradients; with that reuse switched off every value
    # and gradient, including the double backward of a gradient penalty, must be the same.
    from minigen.ops import conv, im2col

    x = tensor((3, 2, 8, 8), 0)
    weight = tensor((2, 3, 4, 4) if transposed else (3, 2, 4, 4), 1)
    op = minigen.conv_transpose2d if transposed else minigen.conv2d

    def values():
        y = op(x, weight, stride=2, padding=1)
        grad_x, grad_weight = minigen.grad((y * y).sum(), [x, weight], create_graph=True)
        second = minigen.grad((grad_x * grad_x).sum() + (grad_weight * grad_weight).sum(), [x, weight])
        return [t.detach().numpy() for t in (y, grad_x, grad_weight, *second)]

    y = minigen.conv2d(x, weight, stride=2, padding=1) if not transposed else None
    if y is not None:
        assert isinstance(y.creator, conv.Conv2d) and y.creator.columns.shape == (1, 2 * 16, 3 * 4 * 4)
        assert minigen.conv2d(x, weight, padding=1).creator.columns is None  # 3x3 stride 1: 9x the input
        assert minigen.conv2d(x.detach(), weight.detach(), stride=2, padding=1).creator is None
    kept = values()
    monkeypatch.setattr(im2col, "reusable_columns", lambda *arguments: None)
    for a, b in zip(kept, values()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_float32_stays_float32():
    x = minigen.randn(2, 4, 6, 6)
    weight = minigen.randn(4, 2, 3, 3, requires_grad=True)
    y = minigen.conv2d(x, weight, minigen.zeros(4), padding=1, groups=2)
    z = minigen.conv_transpose2d(y, weight, stride=2, output_padding=1, groups=2)
    assert y.dtype == z.dtype == minigen.float32
    (grad,) = minigen.grad(z.sum(), [weight])
    assert grad.dtype == minigen.float32


def test_empty_batch():
    x = minigen.zeros(0, 4, 5, 5, requires_grad=True)
    weight = minigen.randn(6, 2, 3, 3, requires_grad=True)
    y = minigen.conv2d(x, weight, padding=1, groups=2)
    assert y.shape == (0, 6, 5, 5)
    grad_x, grad_weight = minigen.grad(y.sum(), [x, weight])
    assert grad_x.shape == x.shape and not grad_weight.numpy().any()
    assert minigen.conv_transpose2d(y, weight, stride=2, groups=2).shape == (0, 4, 11, 11)


def test_gradient_penalty_through_a_conv_critic():
    # WGAN-GP's term: the gradient of ||d critic / dx|| with respect to the critic's weight
    x = tensor((2, 1, 5, 5), 0)
    weight = tensor((2, 1, 3, 3), 1)
    head = tensor((1, 2, 2, 2), 2)

    def penalty(x, weight, head):
        hidden = minigen.tanh(minigen.conv2d(x, weight, stride=2, padding=1))
        score = minigen.conv2d(hidden, head).sum()
        (grad_x,) = minigen.grad(score, [x], create_graph=True)
        return ((grad_x * grad_x).sum() + 1e-3).sqrt()

    assert minigen.gradcheck(penalty, (x, weight, head))


# --- parity with PyTorch --------------------------------------------------------------------

TORCH_CONV2D = [
    dict(stride=1, padding=1),
    dict(stride=2, padding=(1, 0), dilation=(1, 2)),
    dict(padding="same", dilation=2, groups=2),
    dict(padding="valid", stride=(2, 1), groups=2),
]
TORCH_CONV_TRANSPOSE2D = [
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 1), padding=(0, 1), dilation=(1, 2), groups=2),
    dict(stride=1, dilation=2, output_padding=1, groups=2),
]


def _torch_parity(torch, ours, theirs, x, weight, bias):
    tensors = [minigen.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    torch_tensors = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    y, expected = ours(*tensors), theirs(*torch_tensors)
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    grad_output = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    grads = minigen.grad(y, tensors, minigen.tensor(grad_output))
    torch_grads = torch.autograd.grad(expected, torch_tensors, torch.tensor(grad_output))
    for g, t in zip(grads, torch_grads):
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arguments", TORCH_CONV2D)
def test_conv2d_matches_torch(arguments):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 7, 6), dtype=np.float32)
    weight = rng.standard_normal((6, 4 // arguments.get("groups", 1), 3, 2), dtype=np.float32)
    bias = rng.standard_normal(6, dtype=np.float32)
    _torch_parity(torch, lambda *t: minigen.conv2d(*t, **arguments),
                  lambda *t: torch.nn.functional.conv2d(*t, **arguments), x, weight, bias)


@pytest.mark.parametrize("arguments", TORCH_CONV_TRANSPOSE2D)
def test_conv_transpose2d_matches_torch(arguments):
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    groups = arguments.get("groups", 1)
    x = rng.standard_normal((2, 4, 5, 4), dtype=np.float32)
    weight = rng.standard_normal((4, 6 // groups, 3, 2), dtype=np.float32)
    bias = rng.standard_normal(6, dtype=np.float32)
    _torch_parity(torch, lambda *t: minigen.conv_transpose2d(*t, **arguments),
                  lambda *t: torch.nn.functional.conv_transpose2d(*t, **arguments), x, weight, bias)


def test_conv1d_unfold_fold_match_torch():
    torch = torch_or_skip()
    functional = torch.nn.functional
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 9), dtype=np.float32)
    weight = rng.standard_normal((6, 2, 3), dtype=np.float32)
    ours = minigen.conv1d(minigen.tensor(x), minigen.tensor(weight), stride=2, padding=2, dilation=2, groups=2)
    theirs = functional.conv1d(torch.tensor(x), torch.tensor(weight), stride=2, padding=2, dilation=2, groups=2)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5)
    image = rng.standard_normal((2, 3, 7, 6), dtype=np.float32)
    arguments = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=2)
    columns = minigen.unfold(minigen.tensor(image), **arguments)
    np.testing.assert_array_equal(columns.numpy(), functional.unfold(torch.tensor(image), **arguments).numpy())
    folded = minigen.fold(columns, (7, 6), **arguments)
    np.testing.assert_allclose(folded.numpy(), functional.fold(torch.tensor(columns.numpy()), (7, 6), **arguments).numpy(),
                               rtol=1e-5, atol=1e-5)


# --- errors -------------------------------------------------------------------------------------


def test_channel_mismatch_error():
    with pytest.raises(RuntimeError) as error:
        minigen.conv2d(minigen.zeros(1, 3, 5, 5), minigen.zeros(8, 4, 3, 3))
    assert str(error.value) == "conv2d: input has 3 channels but weight expects 4 (weight shape (8, 4, 3, 3), groups 1)"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: minigen.conv2d(minigen.zeros(1, 4, 5, 5), minigen.zeros(9, 2, 3, 3), groups=2),
         "conv2d: weight's 9 output channels (shape (9, 2, 3, 3)) are not divisible by groups 2"),
        (lambda: minigen.conv_transpose2d(minigen.zeros(1, 3, 5, 5), minigen.zeros(3, 2, 3, 3), groups=2),
         "conv_transpose2d: weight's 3 input channels (shape (3, 2, 3, 3)) are not divisible by groups 2"),
        (lambda: minigen.conv2d(minigen.zeros(1, 4, 2, 2), minigen.zeros(8, 4, 3, 3)),
         "conv2d: kernel size (3, 3) (dilated) is larger than the padded input (2, 2)"),
        (lambda: minigen.conv1d(minigen.zeros(1, 4, 3), minigen.zeros(8, 4, 2), dilation=3),
         "conv1d: kernel size (4,) (dilated) is larger than the padded input (3,)"),
        (lambda: minigen.conv2d(minigen.zeros(1, 4, 5, 5), minigen.zeros(8, 4, 3, 3), stride=2, padding="same"),
         "conv2d: padding='same' is not supported for strided convolutions (stride (2, 2))"),
        (lambda: minigen.conv2d(minigen.zeros(1, 4, 5, 5), minigen.zeros(8, 4, 3, 3), padding="full"),
         "conv2d: invalid padding string 'full', expected 'valid' or 'same'"),
        (lambda: minigen.conv2d(minigen.zeros(4, 5), minigen.zeros(8, 4, 3, 3)),
         "conv2d: expected a 3-D (unbatched) or 4-D (batched) input, got shape (4, 5)"),
        (lambda: minigen.conv2d(minigen.zeros(1, 4, 5, 5), minigen.zeros(8, 4, 3, 3, dtype=minigen.float64)),
         "conv2d: input dtype float32 and weight dtype float64 differ"),
        (lambda: minigen.conv2d(minigen.zeros(1, 4, 5, 5), minigen.zeros(8, 4, 3, 3), minigen.zeros(7)),
         "conv2d: bias must have shape (8,) for weight shape (8, 4, 3, 3), got (7,)"),
        (lambda: minigen.conv_transpose2d(minigen.zeros(1, 4, 5, 5), minigen.zeros(4, 2, 3, 3), stride=2,
                                          output_padding=2),
         "conv_transpose2d: output_padding (2, 2) must be non-negative and smaller than either stride (2, 2) "
         "or dilation (1, 1)"),
        (lambda: minigen.fold(minigen.zeros(1, 8, 15), (5, 5), 2),
         "fold: input of shape (1, 8, 15) does not match output_size (5, 5) and kernel_size (2, 2): expected "
         "dim -2 divisible by 4 and 4 * 4 = 16 blocks in dim -1"),
        (lambda: minigen.unfold(minigen.zeros(1, 2, 5, 5), 2, stride=0),
         "unfold: stride must be positive, got 0"),
    ],
)
def test_errors_name_the_op_and_the_shapes(call, message):
    with pytest.raises(RuntimeError) as error:
        call()
    assert str(error.value) == message
