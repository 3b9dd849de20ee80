"""PyTorch parity of the reductions and of matmul, einsum and outer (see ``tests/parity.py``)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from parity import QUIET, Const, Float, case, check_parity, ids_unique, mask  # noqa: E402

X = Float((2, 3, 4))
TIES = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 2.0, 0.5], [-4.0, 0.0, -4.0, -4.0]], dtype=np.float32)

SUMS = [
    case("sum_all", lambda L, x: L.t.sum(x), X),
    case("sum_dim", lambda L, x: L.t.sum(x, dim=1), X),
    case("sum_negative_dim_keepdim", lambda L, x: x.sum(-1, keepdim=True), X),
    case("sum_dim_tuple", lambda L, x: L.t.sum(x, dim=(0, 2)), X),
    case("sum_zero_dim", lambda L, x: L.t.sum(x), Float(())),
    case("mean_all", lambda L, x: L.t.mean(x), X),
    case("mean_dim_tuple_keepdim", lambda L, x: x.mean(dim=(-1, 0), keepdim=True), X),
    case("mean_dim", lambda L, x: L.t.mean(x, 1), X),
    case("prod_all", lambda L, x: L.t.prod(x), Float((2, 3), 0.5, 1.5)),
    case("prod_dim", lambda L, x: L.t.prod(x, dim=1), Float((2, 3, 4), -2, 2, avoid=(0,))),
    case("prod_dim_keepdim", lambda L, x: x.prod(0, keepdim=True), Float((3, 4), -2, 2, avoid=(0,))),
    case("prod_with_one_zero", lambda L, x: L.t.prod(x, dim=1),
         Float((2, 3), values=[[1.5, 0.0, -2.0], [0.5, 1.0, 3.0]]), second_order=False),
    case("cumsum_dim0", lambda L, x: L.t.cumsum(x, dim=0), X),
    case("cumsum_last_method", lambda L, x: x.cumsum(-1), X),
    case("logsumexp_dim", lambda L, x: L.t.logsumexp(x, dim=1), X),
    case("logsumexp_dims_keepdim", lambda L, x: L.t.logsumexp(x, dim=(0, 2), keepdim=True), X),
    case("logsumexp_large", lambda L, x: L.t.logsumexp(x, -1), Float((3, 5), 80, 100)),
    case("logsumexp_all_minus_inf_row", lambda L, x, m: L.t.logsumexp(x.masked_fill(m, float("-inf")), -1),
         Float((2, 3)), Const(np.array([[True] * 3, [False, True, False]])), second_order=False, marks=QUIET),
    case("prod_two_zeros", lambda L, x: L.t.prod(x, 1), Float((2, 3), values=[[0, 2, 0], [0, 2, 3]]),
         second_order=False),
    case("prod_all_one_zero", lambda L, x: L.t.prod(x), Float((2, 3), values=[[1, 2, 0], [0.5, 2, 3]]),
         second_order=False),
    case("sum_dtype_float64", lambda L, x: L.t.sum(x, dtype=L.t.float64), Float((3, 4))),
    case("mean_dtype_float64", lambda L, x: L.t.mean(x, dim=1, dtype=L.t.float64), Float((3, 4))),
    case("zero_dim_reductions_dim0", lambda L, x: (L.t.sum(x, 0), L.t.cumsum(x, 0), *L.t.max(x, 0), L.t.argmax(x)),
         Float(())),
    case("sum_int_with_float_dtype", lambda L, i: L.t.sum(i, dtype=L.t.float32), Const(np.arange(3))),
    case("dims_as_lists", lambda L, x: (x.var([0, 2]), x.amax([0, 2]), L.t.logsumexp(x, [0, 2]), x.sum([1])), X),
    case("dtype_int32_sum_and_cumsum", lambda L, i: (i.sum(), L.t.cumsum(i, 0)), Const(np.arange(6, dtype=np.int32))),
    case("dtype_bool_sum", lambda L, m: (m.sum(), m.sum(dim=0)), mask((3, 4))),
    case("dtype_int_prod_max_argmax", lambda L, i: (L.t.prod(i), *L.t.max(i, dim=0), L.t.argmax(i)),
         Const(np.array([[1, 5], [3, 2]], dtype=np.int32))),
]

MOMENTS = [
    case("var_all", lambda L, x: L.t.var(x), X),
    case("var_dim_default_unbiased", lambda L, x: L.t.var(x, dim=1), X),
    case("var_unbiased_false", lambda L, x: L.t.var(x, dim=-1, unbiased=False), X),
    case("var_correction_0_keepdim", lambda L, x: x.var(dim=(0, 2), correction=0, keepdim=True), X),
    case("var_correction_2", lambda L, x: L.t.var(x, dim=2, correction=2), X),
    case("std_all", lambda L, x: L.t.std(x), X),
    case("std_dim", lambda L, x: L.t.std(x, dim=0), X),
    case("std_unbiased_false_keepdim", lambda L, x: x.std(1, unbiased=False, keepdim=True), X),
    case("std_correction_0", lambda L, x: L.t.std(x, dim=(1, 2), correction=0), X),
    case("var_positional_unbiased", lambda L, x: (x.var(False), L.t.std(x, True)), Float((3, 4))),
    case("std_positional_dim", lambda L, x: L.t.std(x, 1), Float((3, 4))),
    case("std_all_keepdim_correction_0", lambda L, x: L.t.std(x, None, keepdim=True, correction=0), Float((2, 3))),
    case("std_zero_spread_row", lambda L, x: L.t.std(x, dim=1), Float((2, 3), values=[[1, 1, 1], [1, 2, 4]]),
         second_order=False, marks=QUIET),
]

EXTREMA = [
    case("max_all", lambda L, x: L.t.max(x), X),
    case("min_all_method", lambda L, x: x.min(), X),
    case("max_dim_values_indices", lambda L, x: (lambda r: (r.values, r.indices))(L.t.max(x, dim=1)), X),
    case("max_dim_tuple_unpacking", lambda L, x: tuple(L.t.max(x, 2, keepdim=True)), X),
    case("min_dim_values_indices", lambda L, x: (lambda r: (r.values, r.indices))(L.t.min(x, dim=-1)), X),
    case("min_dim_keepdim_method", lambda L, x: tuple(x.min(dim=0, keepdim=True)), X),
    case("max_binary_other", lambda L, x, y: L.t.max(x, y), Float((3, 4)), Float((4,))),
    case("min_binary_method", lambda L, x, y: x.min(y), Float((3,)), Float((3,))),
    case("amax_dim", lambda L, x: L.t.amax(x, dim=1), X),
    case("amax_dims_keepdim", lambda L, x: x.amax(dim=(0, 2), keepdim=True), X),
    case("amax_all", lambda L, x: L.t.amax(x), X),
    case("amin_dim", lambda L, x: L.t.amin(x, dim=-1), X),
    case("amin_dims", lambda L, x: L.t.amin(x, dim=(1, 2)), X),
    case("argmax_all", lambda L, x: L.t.argmax(x), X),
    case("argmax_dim", lambda L, x: L.t.argmax(x, dim=1), X),
    case("argmax_dim_keepdim_method", lambda L, x: x.argmax(dim=-1, keepdim=True), X),
    case("argmin_all", lambda L, x: L.t.argmin(x), X),
    case("argmin_dim", lambda L, x: L.t.argmin(x, dim=0), X),
    # Ties: amax/amin share the gradient evenly among the tied entries; max(dim) picks one index.
    case("ties_amax_dim", lambda L, x: L.t.amax(x, dim=1), Float((3, 4), values=TIES), second_order=False),
    case("ties_amin_dim", lambda L, x: L.t.amin(x, dim=1), Float((3, 4), values=TIES), second_order=False),
    case("ties_amax_all", lambda L, x: L.t.amax(x), Float((3, 4), values=TIES), second_order=False),
    case("ties_max_all", lambda L, x: L.t.max(x), Float((3, 4), values=TIES), second_order=False),
    case("ties_min_all", lambda L, x: L.t.min(x), Float((3, 4), values=TIES), second_order=False),
    case("ties_argmax_dim", lambda L, x: L.t.argmax(x, dim=1), Float((3, 4), values=TIES)),
    case("ties_argmin_dim", lambda L, x: L.t.argmin(x, dim=1), Float((3, 4), values=TIES)),
    case("ties_argmax_all", lambda L, x: L.t.argmax(x), Float((3, 4), values=TIES)),
    case("ties_max_dim", lambda L, x: tuple(L.t.max(x, dim=1)), Float((3, 4), values=TIES), second_order=False),
    case("ties_min_dim", lambda L, x: tuple(L.t.min(x, dim=1)), Float((3, 4), values=TIES), second_order=False),
]

NORMS = [
    case("norm_default", lambda L, x: L.t.norm(x), X),
    case("norm_method_fro", lambda L, x: x.norm(), X),
    case("norm_p2_dim", lambda L, x: L.t.norm(x, p=2, dim=1), X),
    case("norm_p2_dim_keepdim", lambda L, x: L.t.norm(x, dim=-1, keepdim=True), X),
    case("norm_fro_dims", lambda L, x: L.t.norm(x, p="fro", dim=(1, 2)), X),
    case("norm_p1", lambda L, x: L.t.norm(x, p=1), Float((3, 4), avoid=(0,))),
    case("norm_p1_dim", lambda L, x: L.t.norm(x, p=1, dim=0), Float((3, 4), avoid=(0,))),
    case("norm_p3_dim", lambda L, x: L.t.norm(x, p=3, dim=1), Float((3, 4), avoid=(0,))),
    case("norm_inf_dim", lambda L, x: L.t.norm(x, p=float("inf"), dim=1), Float((3, 4), avoid=(0,))),
    case("norm_vector", lambda L, x: L.t.norm(x), Float((5,))),
    case("norm_inf_all", lambda L, x: L.t.norm(x, p=float("inf")), Float((3, 4), avoid=(0,))),
    case("norm_minus_inf_dim", lambda L, x: L.t.norm(x, p=float("-inf"), dim=1), Float((3, 4), avoid=(0,))),
    case("norm_p_half_dim", lambda L, x: L.t.norm(x, p=0.5, dim=1), Float((3, 4), avoid=(0,))),
    case("norm_p2_dims_tuple", lambda L, x: L.t.norm(x, p=2, dim=(0, 1)), Float((3, 4))),
    case("norm_all_keepdim", lambda L, x: L.t.norm(x, dim=None, keepdim=True), Float((3, 4))),
    case("norm_at_zero", lambda L, x: L.t.norm(x), Float((4,), values=np.zeros(4)), second_order=False),
    case("norm_at_zero_row", lambda L, x: L.t.norm(x, dim=1), Float((2, 3), values=[[0, 0, 0], [1, 2, 2]]),
         second_order=False),
    case("norm_p0_counts_nonzero", lambda L, x: L.t.norm(x, p=0), Float((2, 3), values=[[0, 1, 2], [0, 3, 0]])),
]

MATMUL_SHAPES = [
    ((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((1, 3, 4), (2, 4, 1)),
]

LINALG = [
    case(f"matmul_{'x'.join(map(str, a))}_by_{'x'.join(map(str, b))}", lambda L, p, q: L.t.matmul(p, q),
         Float(a), Float(b))
    for a, b in MATMUL_SHAPES
] + [
    case("matmul_method", lambda L, p, q: p.matmul(q), Float((2, 3)), Float((3, 2))),
    case("matmul_transposed_operand", lambda L, p, q: p.mT @ q, Float((2, 4, 3)), Float((4, 2))),
    case("mm", lambda L, p, q: L.t.mm(p, q), Float((3, 4)), Float((4, 2))),
    case("bmm", lambda L, p, q: L.t.bmm(p, q), Float((2, 3, 4)), Float((2, 4, 2))),
    case("outer", lambda L, p, q: L.t.outer(p, q), Float((3,)), Float((4,))),
    case("outer_method", lambda L, p, q: p.outer(q), Float((2,)), Float((5,))),
    case("einsum_matmul", lambda L, p, q: L.t.einsum("ij,jk->ik", p, q), Float((3, 4)), Float((4, 2))),
    case("einsum_batched", lambda L, p, q: L.t.einsum("bij,bjk->bik", p, q), Float((2, 3, 4)), Float((2, 4, 2))),
    case("einsum_attention_scores", lambda L, q, k: L.t.einsum("bhqd,bhkd->bhqk", q, k), Float((2, 2, 3, 4)),
         Float((2, 2, 5, 4))),
    case("einsum_outer", lambda L, p, q: L.t.einsum("i,j->ij", p, q), Float((3,)), Float((4,))),
    case("einsum_sum_all", lambda L, p: L.t.einsum("ij->", p), Float((3, 4))),
    case("einsum_transpose", lambda L, p: L.t.einsum("ijk->kji", p), X),
    case("einsum_trace", lambda L, p: L.t.einsum("ii", p), Float((4, 4))),
    case("einsum_diagonal", lambda L, p: L.t.einsum("ii->i", p), Float((4, 4))),
    case("einsum_implicit_output", lambda L, p, q: L.t.einsum("ij,jk", p, q), Float((3, 4)), Float((4, 2))),
    case("einsum_ellipsis", lambda L, p, q: L.t.einsum("...ij,...jk->...ik", p, q), Float((2, 3, 4)),
         Float((4, 5))),
    case("einsum_three_operands", lambda L, p, q, r: L.t.einsum("ij,jk,kl->il", p, q, r), Float((2, 3)),
         Float((3, 4)), Float((4, 2))),
    case("einsum_list_operands", lambda L, p, q: L.t.einsum("bi,bi->b", [p, q]), Float((3, 4)), Float((3, 4))),
    case("einsum_spaces", lambda L, p, q: L.t.einsum("ij, jk -> ik", p, q), Float((2, 3)), Float((3, 4))),
    case("einsum_uppercase", lambda L, p, q: L.t.einsum("iJ,Jk->ik", p, q), Float((2, 3)), Float((3, 4))),
    case("einsum_broadcast_size_one", lambda L, p, q: L.t.einsum("ij,ij->ij", p, q), Float((1, 4)), Float((3, 4))),
    case("einsum_repeated_label_kept", lambda L, p: L.t.einsum("iij->ij", p), Float((3, 3, 2))),
    case("einsum_batched_diagonal", lambda L, p, q: L.t.einsum("bii,bi->b", p, q), Float((2, 3, 3)), Float((2, 3))),
    case("einsum_ellipsis_broadcast", lambda L, p, q: L.t.einsum("...i,...i->...", p, q), Float((2, 1, 4)),
         Float((3, 4))),
    case("matmul_dot_product_reused", lambda L, a, b: (a @ b) * a.sum(), Float((4,)), Float((4,))),
    case("dtype_int_matmul", lambda L, i, j: i @ j, Const(np.arange(6).reshape(2, 3)), Const(np.arange(3))),
]

ROWS = ids_unique(SUMS + MOMENTS + EXTREMA + NORMS + LINALG)


@pytest.mark.parametrize("parity_case", ROWS)
def test_parity(parity_case):
    check_parity(parity_case)
