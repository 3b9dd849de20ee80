"""PyTorch parity of the shape ops (see ``tests/parity.py``)."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from parity import Float, case, check_parity, ids_unique  # noqa: E402

X = Float((2, 3, 4))
IMAGE = Float((2, 2, 4, 5))

VIEWS = [
    case("reshape", lambda L, x: L.t.reshape(x, (4, 6)), X),
    case("reshape_inferred", lambda L, x: x.reshape(-1, 2), X),
    case("reshape_varargs", lambda L, x: x.reshape(3, 2, 4), X),
    case("reshape_to_zero_dim", lambda L, x: x.reshape(()), Float((1, 1))),
    case("view", lambda L, x: x.view(6, 4), X),
    case("view_inferred", lambda L, x: x.view(-1), X),
    case("view_as", lambda L, x, y: x.view_as(y) * y, Float((3, 4)), Float((2, 6))),
    case("flatten_default", lambda L, x: L.t.flatten(x), X),
    case("flatten_from_dim1", lambda L, x: L.t.flatten(x, 1), IMAGE),
    case("flatten_range", lambda L, x: x.flatten(start_dim=1, end_dim=2), IMAGE),
    case("unflatten", lambda L, x: L.t.unflatten(x, 2, (2, 2)), X),
    case("unflatten_inferred", lambda L, x: x.unflatten(-1, (2, -1)), X),
    case("transpose", lambda L, x: L.t.transpose(x, 0, 2), X),
    case("transpose_negative", lambda L, x: x.transpose(-1, -2), X),
    case("T_matrix", lambda L, x: x.T, Float((3, 4))),
    case("mT", lambda L, x: x.mT, X),
    case("permute", lambda L, x: L.t.permute(x, (2, 0, 1)), X),
    case("permute_varargs", lambda L, x: x.permute(1, 2, 0), X),
    case("permute_negative", lambda L, x: x.permute(-1, 0, -2), X),
    case("swapaxes", lambda L, x: L.t.swapaxes(x, 0, 1), X),
    case("swapaxes_method", lambda L, x: x.swapaxes(2, 0), X),
    case("squeeze_all", lambda L, x: L.t.squeeze(x), Float((1, 3, 1, 2))),
    case("squeeze_dim", lambda L, x: x.squeeze(2), Float((1, 3, 1, 2))),
    case("squeeze_dim_not_one", lambda L, x: x.squeeze(1), Float((1, 3, 1, 2))),
    case("squeeze_dims_tuple", lambda L, x: L.t.squeeze(x, (0, 2)), Float((1, 3, 1, 2))),
    case("unsqueeze", lambda L, x: L.t.unsqueeze(x, 1), X),
    case("unsqueeze_negative", lambda L, x: x.unsqueeze(-1), X),
    case("unsqueeze_zero_dim", lambda L, x: x.unsqueeze(0), Float(())),
    case("expand", lambda L, x: x.expand(2, 3, 4), Float((3, 1))),
    case("expand_keep_with_minus_one", lambda L, x: x.expand(2, -1, 4), Float((1, 3, 1))),
    case("expand_as", lambda L, x, y: x.expand_as(y) * y, Float((3, 1)), Float((2, 3, 4))),
    case("broadcast_to", lambda L, x: L.t.broadcast_to(x, (2, 3, 4)), Float((4,))),
    case("broadcast_to_zero_dim", lambda L, x: L.t.broadcast_to(x, (2, 3)), Float(())),
    case("contiguous", lambda L, x: x.transpose(0, 1).contiguous().view(-1), X),
    case("expand_then_reshape", lambda L, x: x.unsqueeze(1).expand(3, 4, 2).reshape(3, 8), Float((3, 2))),
    case("zero_dim_broadcasts", lambda L, x: (x.view(1), x.expand(2, 3), x.repeat(2, 3), L.t.tile(x, (2,))),
         Float(())),
    case("shapes_as_lists", lambda L, x: (x.permute([2, 0, 1]), x.reshape([4, -1]), x.flip([0])), X),
    case("squeeze_negative_dim", lambda L, x: x.squeeze(-2), Float((3, 1, 2))),
    case("flatten_start_equals_end", lambda L, x: x.flatten(1, 1), X),
    case("zero_dim_shape_ops", lambda L, x: (L.t.squeeze(x, 0), L.t.flatten(x), L.t.transpose(x, 0, -1),
         L.t.roll(x, 1), x.flip(0), x.unsqueeze(-1)), Float(())),
]

COPIES = [
    case("repeat", lambda L, x: x.repeat(2, 1, 3), X),
    case("repeat_more_dims", lambda L, x: x.repeat(2, 2, 1), Float((3, 2))),
    case("repeat_tuple", lambda L, x: x.repeat((1, 2)), Float((3, 2))),
    case("tile", lambda L, x: L.t.tile(x, (2, 1)), X),
    case("tile_more_dims", lambda L, x: L.t.tile(x, (2, 1, 1, 2)), Float((3, 2))),
    case("tile_method", lambda L, x: x.tile((3,)), Float((2, 2))),
    case("cat_dim0", lambda L, a, b: L.t.cat([a, b]), Float((2, 3)), Float((4, 3))),
    case("cat_dim1_three", lambda L, a, b, c: L.t.cat((a, b, c), dim=1), Float((2, 1)), Float((2, 3)), Float((2, 2))),
    case("cat_negative_dim", lambda L, a, b: L.t.cat([a, b], dim=-1), X, Float((2, 3, 1))),
    case("cat_single", lambda L, a: L.t.cat([a]), X),
    case("stack_dim0", lambda L, a, b: L.t.stack([a, b]), Float((3, 4)), Float((3, 4))),
    case("stack_last", lambda L, a, b, c: L.t.stack((a, b, c), dim=-1), Float((3, 4)), Float((3, 4)), Float((3, 4))),
    case("stack_zero_dim", lambda L, a, b: L.t.stack([a, b]), Float(()), Float(())),
    case("split_size", lambda L, x: L.t.split(x, 2, dim=2), X),
    case("split_uneven", lambda L, x: x.split(2), Float((5, 2))),
    case("split_sections", lambda L, x: L.t.split(x, [1, 3], dim=-1), X),
    case("split_partial_use", lambda L, x: x.split(1, dim=1)[1], X),
    case("chunk", lambda L, x: L.t.chunk(x, 2, dim=2), X),
    case("chunk_uneven", lambda L, x: x.chunk(3, dim=0), Float((5, 2))),
    case("chunk_more_than_size", lambda L, x: x.chunk(4, dim=1), X),
    case("chunk_fewer_than_requested", lambda L, x: x.chunk(4, dim=0), Float((6, 2))),
    case("chunk_5_of_6", lambda L, x: L.t.chunk(x, 5), Float((6, 2))),
    case("split_size_larger_than_dim", lambda L, x: x.split(4, dim=1), Float((2, 3))),
    case("narrow", lambda L, x: L.t.narrow(x, 2, 1, 2), X),
    case("flip_one", lambda L, x: L.t.flip(x, (0,)), X),
    case("flip_many", lambda L, x: x.flip([1, -1]), X),
    case("roll_flat", lambda L, x: L.t.roll(x, 5), X),
    case("roll_dim", lambda L, x: L.t.roll(x, -1, 2), X),
    case("roll_dims", lambda L, x: x.roll((1, -2), (0, 2)), X),
]

PADS = [
    case("pad_constant_last", lambda L, x: L.F.pad(x, (1, 2)), X),
    case("pad_constant_value", lambda L, x: L.F.pad(x, (1, 0, 0, 2), value=1.5), X),
    case("pad_constant_three_dims", lambda L, x: L.F.pad(x, (0, 1, 2, 0, 1, 1), mode="constant"), X),
    case("pad_constant_negative", lambda L, x: L.F.pad(x, (-1, 1, 0, -1)), X),
    case("pad_reflect_1d", lambda L, x: L.F.pad(x, (2, 1), mode="reflect"), X),
    case("pad_reflect_2d", lambda L, x: L.F.pad(x, (1, 2, 2, 1), mode="reflect"), IMAGE),
    case("pad_replicate_1d", lambda L, x: L.F.pad(x, (3, 1), mode="replicate"), X),
    case("pad_replicate_2d", lambda L, x: L.F.pad(x, (2, 1, 1, 3), mode="replicate"), IMAGE),
    case("pad_reflect_unbatched_2d", lambda L, x: L.F.pad(x, (1, 1, 2, 0), mode="reflect"), Float((2, 4, 5))),
    case("pad_replicate_unbatched_2d", lambda L, x: L.F.pad(x, (1, 1, 2, 0), mode="replicate"), Float((2, 4, 5))),
    case("pad_reflect_2d_tensor_last_dim", lambda L, x: L.F.pad(x, (2, 1), mode="reflect"), Float((2, 4))),
    case("pad_constant_zero_width_last_dim", lambda L, x: L.F.pad(x, (0, 0, 1, 1)), Float((2, 3))),
    case("pad_circular_2d", lambda L, x: L.F.pad(x, (1, 2, 2, 1), mode="circular"), IMAGE),
]

ROWS = ids_unique(VIEWS + COPIES + PADS)


@pytest.mark.parametrize("parity_case", ROWS)
def test_parity(parity_case):
    check_parity(parity_case)
