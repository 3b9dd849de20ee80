"""PyTorch parity of convolutions, pooling, upsampling, pixel shuffle and unfold/fold (see ``tests/parity.py``)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from parity import Float, case, check_parity, ids_unique  # noqa: E402

# Sums over a few dozen products: float32 rounding differs with the summation order.
GEMM = dict(rtol=2e-4, atol=2e-5)
IMAGE = Float((2, 3, 6, 7))


def conv(name, fn, input_shape, weight_shape, bias_shape=None, **options):
    inputs = [Float(input_shape), Float(weight_shape)] + ([Float(bias_shape)] if bias_shape else [])
    return case(name, fn, *inputs, **{**GEMM, **options})


CONV1D = [
    conv("conv1d_plain", lambda L, x, w, b: L.F.conv1d(x, w, b), (2, 3, 8), (4, 3, 3), (4,)),
    conv("conv1d_no_bias", lambda L, x, w: L.F.conv1d(x, w), (2, 3, 8), (4, 3, 3)),
    conv("conv1d_stride_padding", lambda L, x, w, b: L.F.conv1d(x, w, b, stride=2, padding=1), (2, 3, 9),
         (4, 3, 3), (4,)),
    conv("conv1d_dilation", lambda L, x, w: L.F.conv1d(x, w, dilation=2, padding=2), (1, 2, 8), (3, 2, 3)),
    conv("conv1d_groups", lambda L, x, w, b: L.F.conv1d(x, w, b, groups=2), (2, 4, 6), (6, 2, 2), (6,)),
    conv("conv1d_padding_same", lambda L, x, w: L.F.conv1d(x, w, padding="same"), (2, 2, 7), (3, 2, 4),
         marks=pytest.mark.filterwarnings("ignore:Using padding='same'")),
    conv("conv1d_padding_valid", lambda L, x, w: L.F.conv1d(x, w, padding="valid"), (2, 2, 7), (3, 2, 4)),
    conv("conv1d_unbatched", lambda L, x, w: L.F.conv1d(x, w), (3, 8), (2, 3, 3)),
    conv("conv1d_torch_namespace", lambda L, x, w: L.t.conv1d(x, w), (2, 3, 8), (4, 3, 3)),
]

CONV2D = [
    conv("conv2d_plain", lambda L, x, w, b: L.F.conv2d(x, w, b), (2, 3, 6, 7), (4, 3, 3, 3), (4,)),
    conv("conv2d_no_bias", lambda L, x, w: L.F.conv2d(x, w), (2, 3, 6, 7), (4, 3, 3, 3)),
    conv("conv2d_stride2_padding1", lambda L, x, w, b: L.F.conv2d(x, w, b, stride=2, padding=1), (2, 3, 7, 6),
         (4, 3, 3, 3), (4,)),
    conv("conv2d_stride_padding_pairs", lambda L, x, w: L.F.conv2d(x, w, stride=(1, 2), padding=(2, 0)),
         (1, 2, 6, 7), (3, 2, 3, 2)),
    conv("conv2d_dilation", lambda L, x, w: L.F.conv2d(x, w, padding=2, dilation=2), (2, 2, 7, 7), (3, 2, 3, 3)),
    conv("conv2d_dilation_pair_stride", lambda L, x, w: L.F.conv2d(x, w, stride=2, dilation=(2, 1)), (1, 2, 9, 8),
         (2, 2, 3, 3)),
    conv("conv2d_groups", lambda L, x, w, b: L.F.conv2d(x, w, b, groups=2), (2, 4, 5, 5), (6, 2, 3, 3), (6,)),
    conv("conv2d_depthwise", lambda L, x, w: L.F.conv2d(x, w, padding=1, groups=3), (2, 3, 5, 6), (6, 1, 3, 3)),
    conv("conv2d_1x1", lambda L, x, w, b: L.F.conv2d(x, w, b), (2, 5, 4, 4), (3, 5, 1, 1), (3,)),
    conv("conv2d_4x4_stride2_dcgan", lambda L, x, w: L.F.conv2d(x, w, stride=2, padding=1), (2, 3, 8, 8),
         (4, 3, 4, 4)),
    conv("conv2d_padding_same", lambda L, x, w: L.F.conv2d(x, w, padding="same"), (1, 2, 5, 6), (3, 2, 4, 3)),
    conv("conv2d_padding_same_dilated", lambda L, x, w: L.F.conv2d(x, w, padding="same", dilation=2),
         (1, 2, 7, 6), (2, 2, 3, 3)),
    conv("conv2d_unbatched", lambda L, x, w: L.F.conv2d(x, w, padding=1), (3, 5, 5), (2, 3, 3, 3)),
    conv("conv2d_torch_namespace", lambda L, x, w, b: L.t.conv2d(x, w, b, 1, 1), (2, 3, 5, 5), (2, 3, 3, 3), (2,)),
]

CONV_TRANSPOSE2D = [
    conv("conv_transpose2d_plain", lambda L, x, w, b: L.F.conv_transpose2d(x, w, b), (2, 3, 4, 5), (3, 4, 3, 3),
         (4,)),
    conv("conv_transpose2d_stride2", lambda L, x, w: L.F.conv_transpose2d(x, w, stride=2), (2, 3, 4, 4),
         (3, 2, 3, 3)),
    conv("conv_transpose2d_dcgan", lambda L, x, w, b: L.F.conv_transpose2d(x, w, b, stride=2, padding=1),
         (2, 4, 4, 4), (4, 3, 4, 4), (3,)),
    conv("conv_transpose2d_output_padding", lambda L, x, w: L.F.conv_transpose2d(x, w, stride=2, padding=1,
         output_padding=1), (2, 3, 3, 4), (3, 2, 3, 3)),
    conv("conv_transpose2d_output_padding_pair", lambda L, x, w: L.F.conv_transpose2d(x, w, stride=(2, 3),
         padding=(1, 0), output_padding=(0, 2)), (1, 2, 3, 3), (2, 2, 3, 3)),
    conv("conv_transpose2d_dilation", lambda L, x, w: L.F.conv_transpose2d(x, w, padding=1, dilation=2),
         (2, 2, 4, 4), (2, 3, 3, 3)),
    conv("conv_transpose2d_groups", lambda L, x, w, b: L.F.conv_transpose2d(x, w, b, stride=2, groups=2),
         (2, 4, 3, 3), (4, 3, 2, 2), (6,)),
    conv("conv_transpose2d_all_options", lambda L, x, w: L.F.conv_transpose2d(x, w, None, 2, 1, 1, 2, 2),
         (1, 4, 3, 3), (4, 1, 3, 3)),
    conv("conv_transpose2d_unbatched", lambda L, x, w: L.F.conv_transpose2d(x, w, stride=2), (3, 3, 3),
         (3, 2, 2, 2)),
]

POOLING = [
    case("max_pool2d_2x2", lambda L, x: L.F.max_pool2d(x, 2), Float((2, 3, 6, 6))),
    case("max_pool2d_3x3_stride2_padding1", lambda L, x: L.F.max_pool2d(x, 3, stride=2, padding=1), IMAGE),
    case("max_pool2d_rect_kernel", lambda L, x: L.F.max_pool2d(x, (2, 3), stride=(1, 2)), IMAGE),
    case("max_pool2d_dilation", lambda L, x: L.F.max_pool2d(x, 2, stride=1, dilation=2), IMAGE),
    case("max_pool2d_ceil_mode", lambda L, x: L.F.max_pool2d(x, 2, ceil_mode=True), Float((1, 2, 5, 7))),
    case("max_pool2d_overlapping", lambda L, x: L.F.max_pool2d(x, 3, stride=1), Float((1, 2, 5, 5))),
    case("max_pool2d_return_indices", lambda L, x: tuple(L.F.max_pool2d(x, 2, return_indices=True)),
         Float((2, 2, 4, 6))),
    case("max_pool2d_indices_padding", lambda L, x: tuple(L.F.max_pool2d(x, 3, 2, 1, return_indices=True)),
         IMAGE),
    case("max_pool2d_unbatched", lambda L, x: L.F.max_pool2d(x, 2), Float((3, 4, 4))),
    case("max_pool2d_ceil_mode_padding_indices", lambda L, x: tuple(L.F.max_pool2d(x, 3, 2, 1, ceil_mode=True,
         return_indices=True)), Float((1, 1, 6, 6))),
    case("max_pool2d_negative_values_padding", lambda L, x: L.F.max_pool2d(x, 3, 1, 1), Float((1, 1, 3, 3), -5, -1)),
    # Ties: the first maximum in each window (row-major) takes the gradient and gives the index.
    case("max_pool2d_ties_constant", lambda L, x: tuple(L.F.max_pool2d(x, 2, 1, return_indices=True)),
         Float((1, 1, 3, 3), values=np.ones(9))),
    case("max_pool2d_ties_pattern", lambda L, x: tuple(L.F.max_pool2d(x, 3, 2, 1, return_indices=True)),
         Float((1, 1, 4, 4), values=[1, 2, 2, 1, 2, 2, 1, 1, 0, 2, 2, 2, 1, 1, 2, 2])),
    case("avg_pool2d_2x2", lambda L, x: L.F.avg_pool2d(x, 2), Float((2, 3, 6, 6))),
    case("avg_pool2d_stride_padding", lambda L, x: L.F.avg_pool2d(x, 3, stride=2, padding=1), IMAGE),
    case("avg_pool2d_exclude_pad", lambda L, x: L.F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), IMAGE),
    case("avg_pool2d_ceil_mode", lambda L, x: L.F.avg_pool2d(x, 2, ceil_mode=True), Float((1, 2, 5, 7))),
    case("avg_pool2d_ceil_mode_padding", lambda L, x: L.F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), IMAGE),
    case("avg_pool2d_divisor_override", lambda L, x: L.F.avg_pool2d(x, 2, divisor_override=3), IMAGE),
    case("avg_pool2d_rect", lambda L, x: L.F.avg_pool2d(x, (3, 2), stride=(2, 1)), IMAGE),
    case("avg_pool2d_ceil_overhang_exclude_pad", lambda L, x: L.F.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
         count_include_pad=False), Float((1, 1, 6, 6))),
    case("adaptive_avg_pool2d_global", lambda L, x: L.F.adaptive_avg_pool2d(x, 1), IMAGE),
    case("adaptive_avg_pool2d_divisible", lambda L, x: L.F.adaptive_avg_pool2d(x, (3, 7)), IMAGE),
    case("adaptive_avg_pool2d_uneven", lambda L, x: L.F.adaptive_avg_pool2d(x, (4, 3)), IMAGE),
    case("adaptive_avg_pool2d_upsampling", lambda L, x: L.F.adaptive_avg_pool2d(x, 5), Float((1, 2, 3, 4))),
    case("adaptive_avg_pool2d_none_keeps", lambda L, x: L.F.adaptive_avg_pool2d(x, (None, 2)), IMAGE),
    case("adaptive_avg_pool2d_7_to_3", lambda L, x: L.F.adaptive_avg_pool2d(x, 3), Float((1, 1, 7, 7))),
    case("adaptive_avg_pool2d_unbatched", lambda L, x: L.F.adaptive_avg_pool2d(x, 2), Float((2, 5, 5))),
]

RESAMPLING = [
    case("interpolate_nearest_scale2", lambda L, x: L.F.interpolate(x, scale_factor=2), Float((2, 2, 3, 4))),
    case("interpolate_nearest_size", lambda L, x: L.F.interpolate(x, size=(5, 7)), Float((1, 2, 3, 4))),
    case("interpolate_nearest_downsample", lambda L, x: L.F.interpolate(x, size=(2, 3), mode="nearest"), IMAGE),
    case("interpolate_nearest_fraction", lambda L, x: L.F.interpolate(x, scale_factor=1.5), Float((1, 2, 4, 4))),
    case("interpolate_bilinear", lambda L, x: L.F.interpolate(x, scale_factor=2, mode="bilinear"),
         Float((2, 2, 3, 4))),
    case("interpolate_bilinear_align_corners", lambda L, x: L.F.interpolate(x, size=(5, 7), mode="bilinear",
         align_corners=True), Float((1, 2, 3, 4))),
    case("interpolate_bilinear_downsample", lambda L, x: L.F.interpolate(x, size=(4, 3), mode="bilinear",
         align_corners=False), IMAGE),
    case("interpolate_bilinear_align_corners_down", lambda L, x: L.F.interpolate(x, size=(4, 3), mode="bilinear",
         align_corners=True), IMAGE),
    case("interpolate_bilinear_fraction", lambda L, x: L.F.interpolate(x, scale_factor=1.7, mode="bilinear"),
         Float((1, 1, 3, 4))),
    case("interpolate_nearest_exact", lambda L, x: L.F.interpolate(x, scale_factor=1.5, mode="nearest-exact"),
         Float((1, 1, 4, 4))),
    case("interpolate_bilinear_scale_half", lambda L, x: L.F.interpolate(x, scale_factor=0.5, mode="bilinear"),
         Float((1, 1, 6, 6))),
    case("interpolate_bilinear_scale_pair", lambda L, x: L.F.interpolate(x, scale_factor=(2, 1.5), mode="bilinear",
         align_corners=True), Float((1, 1, 3, 4))),
    case("interpolate_bilinear_int_size", lambda L, x: L.F.interpolate(x, size=5, mode="bilinear"),
         Float((1, 1, 3, 4))),
    case("interpolate_bilinear_to_one_row", lambda L, x: L.F.interpolate(x, size=(1, 3), mode="bilinear",
         align_corners=True), Float((1, 1, 3, 4))),
    case("interpolate_bilinear_from_one_row", lambda L, x: L.F.interpolate(x, size=(3, 3), mode="bilinear",
         align_corners=True), Float((1, 1, 1, 2))),
    case("interpolate_recompute_scale_factor", lambda L, x: L.F.interpolate(x, scale_factor=1.7, mode="bilinear",
         recompute_scale_factor=True), Float((1, 1, 3, 4))),
    case("interpolate_area", lambda L, x: L.F.interpolate(x, size=(3, 2), mode="area"), Float((1, 1, 6, 5))),
    case("pixel_shuffle", lambda L, x: L.F.pixel_shuffle(x, 2), Float((2, 8, 2, 3))),
    case("pixel_shuffle_3", lambda L, x: L.F.pixel_shuffle(x, 3), Float((1, 9, 2, 2))),
    case("pixel_unshuffle", lambda L, x: L.F.pixel_unshuffle(x, 2), Float((2, 2, 4, 6))),
    case("pixel_shuffle_unbatched", lambda L, x: L.F.pixel_shuffle(x, 2), Float((4, 2, 3))),
    case("pixel_shuffle_extra_batch_dims", lambda L, x: L.F.pixel_shuffle(x, 2), Float((2, 1, 4, 2, 3))),
    case("pixel_unshuffle_unbatched", lambda L, x: L.F.pixel_unshuffle(x, 2), Float((1, 4, 2))),
    case("pixel_shuffle_roundtrip", lambda L, x: L.F.pixel_unshuffle(L.F.pixel_shuffle(x, 2), 2),
         Float((1, 4, 2, 2))),
    case("unfold", lambda L, x: L.F.unfold(x, 3), Float((2, 2, 5, 5))),
    case("unfold_all_options", lambda L, x: L.F.unfold(x, (2, 3), dilation=(2, 1), padding=1, stride=(2, 1)),
         IMAGE),
    case("fold", lambda L, x: L.F.fold(x, (4, 5), 2), Float((2, 8, 12))),
    case("fold_overlapping_options", lambda L, x: L.F.fold(x, output_size=(5, 5), kernel_size=3, padding=1,
         stride=2), Float((1, 18, 9))),
    case("unfold_unbatched", lambda L, x: L.F.unfold(x, 2), Float((2, 3, 3))),
    case("fold_unbatched", lambda L, x: L.F.fold(x, (3, 3), 2), Float((8, 4))),
    case("fold_unfold_roundtrip", lambda L, x: L.F.fold(L.F.unfold(x, 2, stride=1), (4, 4), 2, stride=1),
         Float((1, 2, 4, 4))),
]



def discriminator(L, x, w1, b1, w2, head):
    """A tiny DCGAN-style critic: the second-order check on it is a gradient penalty end to end."""
    h = L.F.leaky_relu(L.F.conv2d(x, w1, b1, stride=2, padding=1), 0.2)
    h = L.F.leaky_relu(L.F.conv2d(h, w2, stride=2, padding=1), 0.2)
    return L.t.flatten(h, 1) @ head


def generator(L, z, w1, w2):
    """A tiny DCGAN-style generator: transposed convs, upsampling and a tanh output."""
    h = L.F.relu(L.F.conv_transpose2d(z, w1, stride=2, padding=1))
    h = L.F.interpolate(h, scale_factor=2, mode="bilinear")
    return L.t.tanh(L.F.conv2d(h, w2, padding=1))


def attention(L, q, k, v):
    scores = q @ k.transpose(-2, -1) / 2.0
    return L.F.softmax(scores.masked_fill(L.t.ones(3, 3).triu(1) > 0, float("-inf")), dim=-1) @ v


COMPOSITES = [
    case("composite_discriminator", discriminator, Float((2, 3, 8, 8)), Float((4, 3, 4, 4)), Float((4,)),
         Float((2, 4, 4, 4)), Float((8, 1)), atol_per_max=True),
    case("composite_generator", generator, Float((2, 4, 2, 2)), Float((4, 3, 4, 4)), Float((2, 3, 3, 3)),
         atol_per_max=True),
    case("composite_causal_attention", attention, Float((2, 3, 4)), Float((2, 3, 4)), Float((2, 3, 4)),
         atol_per_max=True),
]

ROWS = ids_unique(CONV1D + CONV2D + CONV_TRANSPOSE2D + POOLING + RESAMPLING + COMPOSITES)


@pytest.mark.parametrize("parity_case", ROWS)
def test_parity(parity_case):
    check_parity(parity_case)
