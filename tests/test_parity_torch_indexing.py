"""PyTorch parity of indexing: ``__getitem__``, gather/scatter, masks and triangles (see ``tests/parity.py``)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from parity import Const, Float, case, check_parity, ids_unique, integers, mask  # noqa: E402

X = Float((3, 4, 5))
REPEATS = Const(np.array([2, 0, 2, -1]))


def item(name, key, x=X):
    """``x[key]`` for a key made of ints, slices, None, Ellipsis and lists (index tensors are case inputs)."""
    return case(f"getitem_{name}", lambda L, t: t[key], x)


GETITEM = [
    item("int", 1),
    item("negative_int", -1),
    item("two_ints", (1, 2)),
    item("all_ints_to_zero_dim", (2, 3, 4)),
    item("slice", slice(1, 3)),
    item("step_slice", (slice(None), slice(None, None, 2))),
    item("slice_past_end", slice(1, 10)),
    item("negative_slice_bounds", (slice(-2, None), slice(None, -1))),
    item("ellipsis_int", (Ellipsis, 1)),
    item("ellipsis_middle", (0, Ellipsis, slice(1, None, 2))),
    item("none", None),
    item("none_and_slices", (slice(None), None, slice(1, 3))),
    item("trailing_none", (Ellipsis, None)),
    item("int_slice_none", (1, None, slice(None, 2), 3)),
    case("getitem_int_array", lambda L, t, i: t[i], X, Const(np.array([2, 0, 1]))),
    case("getitem_int_array_repeats", lambda L, t, i: t[i], X, REPEATS),
    case("getitem_list", lambda L, t: t[[0, 2, 2]], X),
    case("getitem_int_array_2d", lambda L, t, i: t[i], X, Const(np.array([[0, 1], [2, 2]]))),
    case("getitem_int_array_second_dim", lambda L, t, i: t[:, i], X, REPEATS),
    case("getitem_two_int_arrays", lambda L, t, i, j: t[i, j], X, integers((4,), 0, 3), integers((4,), 0, 4)),
    case("getitem_int_arrays_broadcast", lambda L, t, i, j: t[i, :, j], X, integers((2, 1), 0, 3),
         integers((3,), 0, 5)),
    case("getitem_int_arrays_adjacent_after_slice", lambda L, t, i, j: t[:, i, j], X, integers((3,), 0, 4),
         integers((3,), 0, 5)),
    # Where NumPy and torch part ways: NumPy counts an int as an advanced index, so the index dims of
    # x[0, :, i] would move to the front (2, 4); torch selects with the int first and gives (4, 2).
    case("getitem_int_then_array_after_slice", lambda L, t, i: t[0, :, i], X, Const(np.array([1, 3]))),
    case("getitem_array_then_int_after_slice", lambda L, t, i: t[i, :, 0], X, Const(np.array([1, 2, 0]))),
    case("getitem_int_none_array", lambda L, t, i: t[1, None, :, i], X, Const(np.array([[1, 3], [0, 0]]))),
    case("getitem_4d_int_slice_array_int", lambda L, t, i: t[0, :, i, 1], Float((2, 3, 4, 5)), Const(np.array([3, 1]))),
    case("getitem_4d_int_slice_two_arrays", lambda L, t, i, j: t[1, :, i, j], Float((2, 3, 4, 5)),
         Const(np.array([3, 1])), Const(np.array([0, 4]))),
    case("getitem_4d_array_slice_int_array", lambda L, t, i, j: t[i, :, 2, j], Float((2, 3, 4, 5)),
         Const(np.array([1, 0, 1])), Const(np.array([0, 4, 2]))),
    case("getitem_mask_then_int", lambda L, t, m: t[m, 2], X, mask((3,))),
    case("getitem_int_slice_mask", lambda L, t, m: t[0, :, m], X, mask((5,))),
    case("getitem_zero_dim_index_tensor", lambda L, t, i: t[i], X, Const(np.array(1))),
    case("getitem_array_and_int", lambda L, t, i: t[i, 1], X, Const(np.array([2, 0]))),
    case("getitem_mask_full", lambda L, t, m: t[m], X, mask((3, 4, 5))),
    case("getitem_mask_leading", lambda L, t, m: t[m], X, mask((3, 4))),
    case("getitem_mask_second_dim", lambda L, t, m: t[:, m], X, mask((4,))),
    case("getitem_mask_from_comparison", lambda L, t: t[t > 0.5], X),
    case("getitem_mask_with_ellipsis", lambda L, t, m: t[..., m], X, mask((5,))),
    case("getitem_zero_dim", lambda L, t: t[...], Float(())),
    case("getitem_bool_scalars", lambda L, t: (t[True], t[False], t[None, True]), Float((3, 2))),
    case("getitem_list_of_bools", lambda L, t: t[[True, False, True]], Float((3, 2))),
    case("getitem_tuple_of_lists", lambda L, t: t[[0, 2], [1, 0]], Float((3, 2))),
    case("getitem_negative_int_array_2d", lambda L, t, i: t[:, i], Float((3, 4)), Const(np.array([[-1, 0], [-4, 2]]))),
    case("getitem_int32_index", lambda L, t, i: t[i], Float((3, 2)), Const(np.array([2, 0], dtype=np.int32))),
]

GATHER_SCATTER = [
    case("gather_dim0", lambda L, x, i: L.t.gather(x, 0, i), Float((3, 4)), integers((2, 4), 0, 3)),
    case("gather_dim1_smaller_index", lambda L, x, i: L.t.gather(x, 1, i), Float((3, 5)), integers((2, 3), 0, 5)),
    case("gather_last_method", lambda L, x, i: x.gather(-1, i), X, integers((3, 4, 2), 0, 5)),
    case("gather_repeats", lambda L, x, i: L.t.gather(x, 1, i), Float((2, 3)), Const(np.array([[1, 1, 1, 0]] * 2))),
    case("scatter_add_dim0", lambda L, x, i, s: L.t.scatter_add(x, 0, i, s), Float((3, 4)), integers((5, 4), 0, 3),
         Float((5, 4))),
    case("scatter_add_dim1_smaller", lambda L, x, i, s: x.scatter_add(1, i, s), Float((3, 5)),
         integers((2, 3), 0, 5), Float((2, 3))),
    case("scatter_add_3d", lambda L, x, i, s: L.t.scatter_add(x, -1, i, s), X, integers((3, 4, 6), 0, 5),
         Float((3, 4, 6))),
    case("index_select_dim0", lambda L, x, i: L.t.index_select(x, 0, i), X, Const(np.array([2, 0, 2]))),
    case("index_select_last_method", lambda L, x, i: x.index_select(-1, i), X, Const(np.array([4, 1, 1, 0]))),
    case("index_select_zero_dim_index", lambda L, x, i: L.t.index_select(x, 1, i), Float((3, 4)), Const(np.array(2))),
    case("take_along_dim", lambda L, x, i: L.t.take_along_dim(x, i, dim=1), Float((3, 4)), integers((3, 2), 0, 4)),
    case("take_along_dim_argmax", lambda L, x: L.t.take_along_dim(x, x.argmax(dim=1, keepdim=True), dim=1),
         Float((3, 4))),
    case("index_select_int32_index", lambda L, x, i: L.t.index_select(x, 0, i), Float((3, 2)),
         Const(np.array([2, 0], dtype=np.int32))),
    case("masked_fill_zero_dim_tensor_value", lambda L, x, m, v: x.masked_fill(m, v), Float((3, 4)), mask((3, 4)),
         Float(())),
    case("masked_select", lambda L, x, m: L.t.masked_select(x, m), Float((3, 4)), mask((4,))),
    case("masked_fill_broadcast", lambda L, x, m: L.t.masked_fill(x, m, -3.0), X, mask((4, 1))),
    case("masked_fill_neg_inf_softmax", lambda L, x, m: L.t.softmax(x.masked_fill(m, float("-inf")), dim=-1),
         Float((3, 4)), Const(np.triu(np.ones((3, 4), dtype=bool), k=1))),
]

TRIANGLES = [
    case("tril", lambda L, x: L.t.tril(x), Float((4, 4))),
    case("tril_diagonal_minus1", lambda L, x: L.t.tril(x, -1), Float((3, 5))),
    case("tril_batched_method", lambda L, x: x.tril(1), Float((2, 4, 3))),
    case("triu", lambda L, x: L.t.triu(x), Float((4, 4))),
    case("triu_diagonal_1", lambda L, x: L.t.triu(x, diagonal=1), Float((5, 3))),
    case("triu_batched_method", lambda L, x: x.triu(-2), Float((2, 4, 4))),
    case("tril_triu_diagonal_beyond_size", lambda L, x: (L.t.tril(x, 5), L.t.triu(x, -5), L.t.triu(x, 5)),
         Float((3, 4))),
]

ROWS = ids_unique(GETITEM + GATHER_SCATTER + TRIANGLES)


@pytest.mark.parametrize("parity_case", ROWS)
def test_parity(parity_case):
    check_parity(parity_case)
