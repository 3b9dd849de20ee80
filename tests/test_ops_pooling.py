"""Pooling, interpolation and pixel shuffle: gradcheck and gradgradcheck over drawn shapes and
arguments, forward values and gradients against torch.nn.functional, edge cases and errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, check_gradients, seeds, tensor

BATCHES = st.sampled_from([(1, 1), (1, 2), (2, 1)])


def distinct(shape, seed, device="cpu"):
    """Float64 values at least 4/n apart: no ties, so every window's max is differentiable."""
    size = math.prod(shape)
    values = (np.random.default_rng(seed).permutation(size) + 0.5 - size / 2) * (4.0 / size)
    return minigen.tensor(values.reshape(shape), dtype=minigen.float64, device=device, requires_grad=True)


def _int_or_pair(pair):
    return pair[0] if pair[0] == pair[1] else pair


@st.composite
def pool_arguments(draw, dilation=True, max_side=6):
    """An (N, C, H, W) shape and pooling arguments valid for it (padding at most half the kernel)."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilations = tuple(draw(st.integers(1, 2)) for _ in kernel) if dilation else (1, 1)
    smallest = [max(1, d * (k - 1) + 1 - 2 * p) for k, p, d in zip(kernel, padding, dilations)]
    sides = tuple(draw(st.integers(low, max(low, max_side))) for low in smallest)
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    arguments = dict(
        kernel_size=_int_or_pair(kernel),
        stride=stride if stride is None else _int_or_pair(stride),
        padding=_int_or_pair(padding),
        ceil_mode=draw(st.booleans()),
    )
    if dilation:
        arguments["dilation"] = _int_or_pair(dilations)
    return draw(BATCHES) + sides, arguments


@st.composite
def average_arguments(draw, max_side=6):
    shape, arguments = draw(pool_arguments(dilation=False, max_side=max_side))
    arguments["count_include_pad"] = draw(st.booleans())
    arguments["divisor_override"] = draw(st.sampled_from([None, None, 2, 5]))
    return shape, arguments


@st.composite
def adaptive_arguments(draw, max_side=6):
    shape = draw(BATCHES) + (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    sides = tuple(draw(st.integers(1, max_side)) for _ in range(2))
    kind = draw(st.sampled_from(["int", "pair", "none"]))
    output_size = {"int": sides[0], "pair": sides, "none": (None, sides[1])}[kind]
    return shape, output_size


INTERPOLATION_MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True),
                       ("area", None)]
SCALES = [0.5, 0.75, 1.0, 1.3, 1.5, 2.0, 2.5]


@st.composite
def interpolate_arguments(draw, max_side=4):
    """A shape and either ``size`` (int or pair) or ``scale_factor`` (number or pair) with a non-empty output."""
    if draw(st.booleans()):
        size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
        shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
        keywords = dict(size=_int_or_pair(size))
    else:
        scales = (draw(st.sampled_from(SCALES)), draw(st.sampled_from(SCALES)))
        shape = tuple(draw(st.integers(math.ceil(1 / s), max_side)) for s in scales)
        keywords = dict(scale_factor=_int_or_pair(scales))
    return draw(st.sampled_from([(1, 1), (1, 2)])) + shape, keywords


def _compare_with_torch(ours, theirs, shape, seed, atol=1e-6, rtol=1e-5, exact=False):
    """Forward values and the gradient for one upstream gradient, minigen (float32) against torch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape).astype(np.float32)
    x = minigen.tensor(values, requires_grad=True)
    x_torch = torch.tensor(values, requires_grad=True)
    y, y_torch = ours(x), theirs(x_torch)
    assert y.dtype == minigen.float32 and tuple(y.shape) == tuple(y_torch.shape)
    if exact:
        np.testing.assert_array_equal(y.detach().numpy(), y_torch.detach().numpy())
    else:
        np.testing.assert_allclose(y.detach().numpy(), y_torch.detach().numpy(), rtol=rtol, atol=atol)
    if bool((y_torch == -math.inf).any()):
        return  # a window with no input element: PyTorch 2.13's CPU backward writes out of bounds there
    upstream = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    (grad,) = minigen.grad(y, [x], minigen.tensor(upstream))
    (grad_torch,) = torch.autograd.grad(y_torch, [x_torch], torch.tensor(upstream))
    np.testing.assert_allclose(grad.numpy(), grad_torch.numpy(), rtol=rtol, atol=atol)
    assert grad.dtype == minigen.float32


def finite(y):
    """Zero where a dilated window held no input element (its -inf output has no central difference)."""
    return y.masked_fill(y == -math.inf, 0.0)


# --- gradients: first and second order --------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(case=pool_arguments(), seed=seeds)
def test_max_pool2d_gradients(device, case, seed):
    shape, arguments = case
    check_gradients(lambda x: finite(minigen.max_pool2d(x, **arguments)), (distinct(shape, seed, device),))


@pytest.mark.parametrize("device", DEVICES)
@given(case=pool_arguments(max_side=4), seed=seeds)
def test_max_pool2d_with_indices_gradients(device, case, seed):
    shape, arguments = case
    check_gradients(lambda x: finite(minigen.max_pool2d(x, return_indices=True, **arguments)[0]),
                    (distinct(shape, seed, device),))


@pytest.mark.parametrize("device", DEVICES)
@given(case=average_arguments(), seed=seeds)
def test_avg_pool2d_gradients(device, case, seed):
    shape, arguments = case
    check_gradients(lambda x: minigen.avg_pool2d(x, **arguments), (tensor(shape, seed, device),))


@pytest.mark.parametrize("device", DEVICES)
@given(case=adaptive_arguments(), seed=seeds)
def test_adaptive_avg_pool2d_gradients(device, case, seed):
    shape, output_size = case
    check_gradients(lambda x: minigen.adaptive_avg_pool2d(x, output_size), (tensor(shape, seed, device),))


@pytest.mark.parametrize("device", DEVICES)
@given(case=adaptive_arguments(), seed=seeds)
def test_adaptive_max_pool2d_gradients(device, case, seed):
    shape, output_size = case
    check_gradients(lambda x: minigen.adaptive_max_pool2d(x, output_size), (distinct(shape, seed, device),))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode, align_corners", INTERPOLATION_MODES)
@given(case=interpolate_arguments(), seed=seeds)
def test_interpolate_gradients(device, mode, align_corners, case, seed):
    shape, keywords = case
    check_gradients(lambda x: minigen.interpolate(x, mode=mode, align_corners=align_corners, **keywords),
                    (tensor(shape, seed, device),))


@pytest.mark.parametrize("device", DEVICES)
@given(batch=BATCHES, factor=st.integers(1, 3), sides=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=seeds)
def test_pixel_shuffle_gradients(device, batch, factor, sides, seed):
    shape = (batch[0], batch[1] * factor * factor) + sides
    x = tensor(shape, seed, device)
    check_gradients(lambda x: minigen.pixel_shuffle(x, factor), (x,))
    check_gradients(lambda x: minigen.pixel_unshuffle(minigen.pixel_shuffle(x, factor) * 2.0, factor), (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(batch=BATCHES, factor=st.integers(1, 3), sides=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=seeds)
def test_pixel_unshuffle_gradients(device, batch, factor, sides, seed):
    shape = batch + (sides[0] * factor, sides[1] * factor)
    check_gradients(lambda x: minigen.pixel_unshuffle(x, factor), (tensor(shape, seed, device),))


@pytest.mark.parametrize("device", DEVICES)
@given(case=pool_arguments(max_side=6), seed=seeds)
def test_pool1d_gradients(device, case, seed):
    shape, arguments = case
    shape = shape[:2] + shape[3:]  # (N, C, L): the drawn width with its kernel, stride, padding and dilation
    one_dimensional = {key: (value[1] if isinstance(value, tuple) else value) for key, value in arguments.items()}
    x = distinct(shape, seed, device)
    check_gradients(lambda x: finite(minigen.max_pool1d(x, **one_dimensional)), (x,))
    del one_dimensional["dilation"]
    check_gradients(lambda x: minigen.avg_pool1d(x, **one_dimensional), (x,))


def test_unbatched_inputs_keep_their_rank():
    x = distinct((2, 5, 4), 0)
    check_gradients(lambda x: minigen.max_pool2d(x, 2, padding=1), (x,))
    check_gradients(lambda x: minigen.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    assert minigen.adaptive_avg_pool2d(x, 3).shape == (2, 3, 3)
    output, indices = minigen.adaptive_max_pool2d(x, (2, 1), return_indices=True)
    assert output.shape == indices.shape == (2, 2, 1) and indices.dtype == minigen.int64
    output, indices = minigen.max_pool1d(distinct((3, 7), 1), 3, return_indices=True)
    assert output.shape == indices.shape == (3, 2)


# --- forward values and gradients against torch.nn.functional ------------------------------------


@given(case=pool_arguments(), seed=seeds)
def test_max_pool2d_matches_torch(case, seed):
    shape, arguments = case
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    _compare_with_torch(lambda x: minigen.max_pool2d(x, **arguments),
                        lambda x: functional.max_pool2d(x, **arguments), shape, seed, exact=True)
    values = torch.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))
    output, indices = minigen.max_pool2d(minigen.tensor(values.numpy()), return_indices=True, **arguments)
    expected, expected_indices = functional.max_pool2d(values, return_indices=True, **arguments)
    np.testing.assert_array_equal(output.numpy(), expected.numpy())
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())


@given(case=average_arguments(), seed=seeds)
def test_avg_pool2d_matches_torch(case, seed):
    shape, arguments = case
    functional = pytest.importorskip("torch").nn.functional
    _compare_with_torch(lambda x: minigen.avg_pool2d(x, **arguments),
                        lambda x: functional.avg_pool2d(x, **arguments), shape, seed)


@given(case=adaptive_arguments(max_side=9), seed=seeds)
def test_adaptive_pools_match_torch(case, seed):
    shape, output_size = case
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    _compare_with_torch(lambda x: minigen.adaptive_avg_pool2d(x, output_size),
                        lambda x: functional.adaptive_avg_pool2d(x, output_size), shape, seed)
    _compare_with_torch(lambda x: minigen.adaptive_max_pool2d(x, output_size),
                        lambda x: functional.adaptive_max_pool2d(x, output_size), shape, seed, exact=True)
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    _, indices = minigen.adaptive_max_pool2d(minigen.tensor(values), output_size, return_indices=True)
    _, expected = functional.adaptive_max_pool2d(torch.tensor(values), output_size, return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())


@pytest.mark.parametrize("mode, align_corners", INTERPOLATION_MODES)
@given(case=interpolate_arguments(max_side=7), recompute=st.sampled_from([None, True]), seed=seeds)
def test_interpolate_matches_torch(mode, align_corners, case, recompute, seed):
    shape, keywords = case
    functional = pytest.importorskip("torch").nn.functional
    if "size" in keywords:
        recompute = None  # PyTorch refuses recompute_scale_factor with size
    arguments = dict(mode=mode, align_corners=align_corners, recompute_scale_factor=recompute, **keywords)
    _compare_with_torch(lambda x: minigen.interpolate(x, **arguments),
                        lambda x: functional.interpolate(x, **arguments), shape, seed,
                        exact=mode.startswith("nearest"))


@pytest.mark.parametrize("scale_factor", [1.1, 2.1, 1.999, 0.3, (0.6, 3.3), 4])
@pytest.mark.parametrize("mode, align_corners", INTERPOLATION_MODES)
def test_interpolate_scale_factor_conventions_match_torch(mode, align_corners, scale_factor):
    """Scale factors whose output size rounds: PyTorch uses 1/scale_factor, with shortcuts for out == in (x2)."""
    functional = pytest.importorskip("torch").nn.functional
    arguments = dict(scale_factor=scale_factor, mode=mode, align_corners=align_corners)
    _compare_with_torch(lambda x: minigen.interpolate(x, **arguments),
                        lambda x: functional.interpolate(x, **arguments), (1, 2, 5, 7), 0,
                        exact=mode.startswith("nearest"))


def test_interpolate_float64_matches_torch_closely():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(0).standard_normal((1, 2, 5, 4))
    for align_corners in (False, True):
        ours = minigen.interpolate(minigen.tensor(values), scale_factor=2.1, mode="bilinear",
                                   align_corners=align_corners)
        theirs = torch.nn.functional.interpolate(torch.tensor(values), scale_factor=2.1, mode="bilinear",
                                                 align_corners=align_corners)
        assert ours.dtype == minigen.float64
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-12)


@given(batch=BATCHES, factor=st.integers(1, 3), sides=st.tuples(st.integers(1, 3), st.integers(1, 3)), seed=seeds)
def test_pixel_shuffle_and_unshuffle_match_torch(batch, factor, sides, seed):
    functional = pytest.importorskip("torch").nn.functional
    shape = (batch[0], batch[1] * factor * factor) + sides
    _compare_with_torch(lambda x: minigen.pixel_shuffle(x, factor),
                        lambda x: functional.pixel_shuffle(x, factor), shape, seed, exact=True)
    shape = batch + (sides[0] * factor, sides[1] * factor)
    _compare_with_torch(lambda x: minigen.pixel_unshuffle(x, factor),
                        lambda x: functional.pixel_unshuffle(x, factor), shape, seed, exact=True)


@given(case=pool_arguments(), seed=seeds)
def test_pool1d_matches_torch(case, seed):
    shape, arguments = case
    functional = pytest.importorskip("torch").nn.functional
    shape = shape[:2] + shape[3:]
    one_dimensional = {key: (value[1] if isinstance(value, tuple) else value) for key, value in arguments.items()}
    _compare_with_torch(lambda x: minigen.max_pool1d(x, **one_dimensional),
                        lambda x: functional.max_pool1d(x, **one_dimensional), shape, seed, exact=True)
    del one_dimensional["dilation"]
    _compare_with_torch(lambda x: minigen.avg_pool1d(x, **one_dimensional),
                        lambda x: functional.avg_pool1d(x, **one_dimensional), shape, seed)


# --- edge cases ------------------------------------------------------------------------------


def test_max_pool_nan_and_infinity_follow_torch():
    """NaN wins a window (the last NaN's index); a window of -inf points at its first element inside the input."""
    torch = pytest.importorskip("torch")
    values = np.array([[[[-np.inf, 1.0, -np.inf], [np.nan, np.nan, -np.inf], [-np.inf, -np.inf, -np.inf]]]],
                      dtype=np.float32)
    for arguments in (dict(kernel_size=2), dict(kernel_size=2, padding=1), dict(kernel_size=3, padding=1, stride=1),
                      dict(kernel_size=2, stride=1, dilation=2, padding=1)):
        output, indices = minigen.max_pool2d(minigen.tensor(values), return_indices=True, **arguments)
        expected, expected_indices = torch.nn.functional.max_pool2d(torch.tensor(values), return_indices=True,
                                                                    **arguments)
        np.testing.assert_array_equal(output.numpy(), expected.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
        np.testing.assert_array_equal(minigen.max_pool2d(minigen.tensor(values), **arguments).numpy(),
                                      expected.numpy())


def test_windows_without_input_elements_follow_torch():
    """A dilated window can fall wholly in the padding: -inf, PyTorch's out-of-input index, no gradient.

    (PyTorch 2.13's own CPU backward writes out of bounds there, so only its forward is compared.)
    """
    torch = pytest.importorskip("torch")
    values = np.array([[[[3.0, 1.0, 2.0]]]], dtype=np.float32)
    for arguments in (dict(kernel_size=2, padding=1, dilation=2), dict(kernel_size=(2, 2), padding=(1, 0),
                                                                       dilation=2, stride=1)):
        x = minigen.tensor(values, requires_grad=True)
        output, indices = minigen.max_pool2d(x, return_indices=True, **arguments)
        expected, expected_indices = torch.nn.functional.max_pool2d(torch.tensor(values), return_indices=True,
                                                                    **arguments)
        np.testing.assert_array_equal(output.detach().numpy(), expected.numpy())
        np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
        assert bool((output == -math.inf).any())
        finite(output).sum().backward()
        assert x.grad.tolist() == [[[[0.0, 0.0, 0.0]]]]
    x = distinct((1, 1, 1, 2), 0)
    check_gradients(lambda x: finite(minigen.max_pool2d(x, 2, padding=1, dilation=2)), (x,))
    check_gradients(lambda x: finite(minigen.max_pool2d(x, 2, padding=1, dilation=2, return_indices=True)[0]), (x,))


def test_max_pool_ties_send_the_gradient_to_the_first_max():
    x = minigen.ones(1, 1, 2, 2, requires_grad=True)
    minigen.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]
    x = minigen.ones(1, 1, 2, 3, requires_grad=True)
    minigen.max_pool2d(x, 2, stride=1).sum().backward()  # overlapping windows accumulate
    assert x.grad.tolist() == [[[[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]]


def test_overlapping_windows_accumulate_their_gradients():
    x = minigen.tensor([[[[0.0, 5.0, 1.0], [2.0, 3.0, 4.0]]]], requires_grad=True)
    minigen.max_pool2d(x, 2, stride=1).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]]]
    y = minigen.tensor(np.arange(16.0, dtype=np.float32).reshape(1, 1, 4, 4), requires_grad=True)
    minigen.avg_pool2d(y, 3, stride=1).sum().backward()
    expected = np.outer([1, 2, 2, 1], [1, 2, 2, 1]) / 9.0
    np.testing.assert_allclose(y.grad.numpy()[0, 0], expected, rtol=1e-6)


@pytest.mark.parametrize("op", [
    lambda x: minigen.max_pool2d(x, 3, 2, 1),
    lambda x: minigen.max_pool2d(x, 2, return_indices=True)[0],
    lambda x: minigen.avg_pool2d(x, 2, ceil_mode=True, count_include_pad=False),
    lambda x: minigen.adaptive_avg_pool2d(x, (3, 2)),
    lambda x: minigen.adaptive_max_pool2d(x, 3),
    lambda x: minigen.interpolate(x, scale_factor=1.5, mode="bilinear"),
    lambda x: minigen.interpolate(x, size=(7, 3)),
    lambda x: minigen.pixel_unshuffle(x, 1),
])
def test_float32_is_kept_and_no_graph_is_recorded_under_no_grad(op):
    x = minigen.randn(2, 3, 5, 4, requires_grad=True)
    y = op(x)
    assert y.dtype == minigen.float32 and y.requires_grad
    (grad,) = minigen.grad(y.sum(), [x])
    assert grad.dtype == minigen.float32
    with minigen.no_grad():
        assert not op(x).requires_grad


def test_global_average_pooling_is_the_mean():
    x = minigen.randn(2, 3, 5, 4)
    np.testing.assert_allclose(minigen.adaptive_avg_pool2d(x, 1).numpy()[..., 0, 0], x.numpy().mean(axis=(2, 3)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(minigen.avg_pool2d(x, (5, 4)).numpy(), minigen.adaptive_avg_pool2d(x, 1).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_nearest_interpolation_keeps_integer_inputs():
    labels = minigen.tensor([[[[1, 2], [3, 4]]]])
    resized = minigen.interpolate(labels, scale_factor=2)
    assert resized.dtype == minigen.int64
    assert resized.tolist() == [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]]
    with pytest.raises(RuntimeError, match="interpolate: expected a floating-point input, got int64"):
        minigen.interpolate(labels, scale_factor=2, mode="bilinear")


def test_pixel_unshuffle_inverts_pixel_shuffle():
    x = minigen.randn(2, 12, 3, 5)
    np.testing.assert_array_equal(minigen.pixel_unshuffle(minigen.pixel_shuffle(x, 2), 2).numpy(), x.numpy())


def test_second_derivative_of_max_pool_gathers_the_grad_grad():
    x = distinct((1, 1, 4, 4), 3)
    upstream = minigen.randn(1, 1, 2, 2, dtype=minigen.float64, requires_grad=True)
    (first,) = minigen.grad(minigen.max_pool2d(x, 2), [x], upstream, create_graph=True)
    grad_grad = minigen.randn(1, 1, 4, 4, dtype=minigen.float64)
    (second,) = minigen.grad(first, [upstream], grad_grad)
    np.testing.assert_array_equal(second.numpy(), _gather_at_argmax(x.detach().numpy(), grad_grad.numpy()))


def _gather_at_argmax(x, values):
    """``values`` read at the argmax of each 2x2 window of ``x`` (both (1, 1, 4, 4))."""
    windows = x.reshape(1, 1, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 1, 2, 2, 4)
    picked = values.reshape(1, 1, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 1, 2, 2, 4)
    return np.take_along_axis(picked, windows.argmax(-1)[..., None], axis=-1)[..., 0]


# --- errors ------------------------------------------------------------------------------------


def test_kernel_larger_than_padded_input():
    with pytest.raises(RuntimeError, match=r"max_pool2d: input of shape \(1, 1, 2, 2\) .* smaller than the kernel"):
        minigen.max_pool2d(minigen.ones(1, 1, 2, 2), 3)
    with pytest.raises(RuntimeError, match=r"avg_pool2d: input of shape \(1, 2, 5, 1\)"):
        minigen.avg_pool2d(minigen.ones(1, 2, 5, 1), 2)
    with pytest.raises(RuntimeError, match=r"max_pool2d: .*dilation \(3, 3\)"):
        minigen.max_pool2d(minigen.ones(1, 1, 5, 5), 3, dilation=3)


def test_padding_above_half_the_kernel():
    with pytest.raises(RuntimeError, match=r"max_pool2d: padding must be between 0 and half the kernel size, got "
                                           r"padding \(2, 2\) for kernel_size \(3, 3\)"):
        minigen.max_pool2d(minigen.ones(1, 1, 5, 5), 3, padding=2, dilation=2)
    with pytest.raises(RuntimeError, match="avg_pool2d: padding"):
        minigen.avg_pool2d(minigen.ones(1, 1, 5, 5), 2, padding=(0, 2))


def test_bad_pooling_arguments():
    with pytest.raises(RuntimeError, match="max_pool2d: stride must be positive"):
        minigen.max_pool2d(minigen.ones(1, 1, 4, 4), 2, stride=0)
    with pytest.raises(TypeError, match="avg_pool2d: kernel_size must be an int or a pair"):
        minigen.avg_pool2d(minigen.ones(1, 1, 4, 4), (2, 2, 2))
    with pytest.raises(RuntimeError, match="avg_pool2d: divisor_override must not be zero"):
        minigen.avg_pool2d(minigen.ones(1, 1, 4, 4), 2, divisor_override=0)
    with pytest.raises(RuntimeError, match="max_pool2d: expected a floating-point input, got int64"):
        minigen.max_pool2d(minigen.tensor([[[[1, 2], [3, 4]]]]), 2)
    with pytest.raises(RuntimeError, match=r"adaptive_avg_pool2d: cannot pool input of shape \(1, 1, 4, 4\) to "
                                           r"output_size \(0, 0\)"):
        minigen.adaptive_avg_pool2d(minigen.ones(1, 1, 4, 4), 0)


@pytest.mark.parametrize("op, name", [
    (lambda x: minigen.max_pool2d(x, 2), "max_pool2d"),
    (lambda x: minigen.avg_pool2d(x, 2), "avg_pool2d"),
    (lambda x: minigen.adaptive_avg_pool2d(x, 2), "adaptive_avg_pool2d"),
    (lambda x: minigen.adaptive_max_pool2d(x, 2), "adaptive_max_pool2d"),
])
def test_pooling_needs_3d_or_4d_input(op, name):
    with pytest.raises(RuntimeError, match=rf"{name}: expected a 3-D or 4-D input, got shape \(4, 4\)"):
        op(minigen.ones(4, 4))
    with pytest.raises(RuntimeError, match=rf"{name}: expected a 3-D or 4-D input, got shape \(1, 1, 1, 4, 4\)"):
        op(minigen.ones(1, 1, 1, 4, 4))


def test_pool1d_needs_2d_or_3d_input():
    with pytest.raises(RuntimeError, match=r"max_pool1d: expected a 2-D or 3-D input, got shape \(1, 1, 4, 4\)"):
        minigen.max_pool1d(minigen.ones(1, 1, 4, 4), 2)
    with pytest.raises(RuntimeError, match=r"avg_pool1d: expected a 2-D or 3-D input, got shape \(4,\)"):
        minigen.avg_pool1d(minigen.ones(4), 2)


def test_interpolate_errors():
    x = minigen.ones(1, 1, 3, 3)
    with pytest.raises(RuntimeError, match=r"interpolate: expected a 4-D \(N, C, H, W\) input, got shape \(1, 3, 3\)"):
        minigen.interpolate(minigen.ones(1, 3, 3), size=4)
    with pytest.raises(ValueError, match="interpolate: exactly one of size and scale_factor"):
        minigen.interpolate(x, size=4, scale_factor=2)
    with pytest.raises(ValueError, match="interpolate: exactly one of size and scale_factor"):
        minigen.interpolate(x)
    with pytest.raises(ValueError, match="interpolate: align_corners can only be set with mode 'bilinear'"):
        minigen.interpolate(x, size=4, align_corners=True)
    with pytest.raises(NotImplementedError, match="interpolate: mode 'bicubic' is not supported"):
        minigen.interpolate(x, size=4, mode="bicubic")
    with pytest.raises(ValueError, match=r"interpolate: output size \(0, 0\) for input of shape \(1, 1, 3, 3\)"):
        minigen.interpolate(x, scale_factor=0.2)


def test_pixel_shuffle_errors():
    with pytest.raises(RuntimeError, match=r"pixel_shuffle: .*upscale_factor\^2 = 4, got shape \(1, 5, 2, 2\)"):
        minigen.pixel_shuffle(minigen.ones(1, 5, 2, 2), 2)
    with pytest.raises(RuntimeError, match=r"pixel_unshuffle: .*downscale_factor = 2, got shape \(1, 5, 3, 2\)"):
        minigen.pixel_unshuffle(minigen.ones(1, 5, 3, 2), 2)
    with pytest.raises(RuntimeError, match=r"pixel_shuffle: .*got shape \(4, 4\)"):
        minigen.pixel_shuffle(minigen.ones(4, 4), 1)
