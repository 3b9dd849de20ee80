"""PyTorch parity of the elementwise ops, activations, softmax family and dropout.

Each row runs in minigen and in torch on the same float32 inputs; values,
dtypes, gradients and second derivatives must agree (see ``tests/parity.py``).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import minigen  # noqa: E402
from parity import (  # noqa: E402
    MINIGEN, QUIET, TORCH, Const, Float, case, check_parity, ids_unique, integers, mask,
)

S = (3, 4)
POSITIVE = dict(low=0.2, high=3.0)
KINKS = np.array([-1.5, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 2.0], dtype=np.float32)


def unary(name, fn, low=-2.0, high=2.0, avoid=(), shape=S, **options):
    return case(name, fn, Float(shape, low, high, avoid), **options)


UNARY = [
    unary("neg", lambda L, x: -x),
    unary("pos", lambda L, x: +x),
    unary("abs", lambda L, x: L.t.abs(x), avoid=(0,)),
    unary("abs_method", lambda L, x: abs(x), avoid=(0,)),
    unary("sign", lambda L, x: L.t.sign(x) * x, avoid=(0,)),
    unary("exp", lambda L, x: L.t.exp(x)),
    unary("exp_method", lambda L, x: x.exp()),
    unary("log", lambda L, x: L.t.log(x), **POSITIVE),
    unary("log1p", lambda L, x: L.t.log1p(x), low=-0.5, high=2.0),
    unary("expm1", lambda L, x: L.t.expm1(x)),
    unary("sqrt", lambda L, x: L.t.sqrt(x), **POSITIVE),
    unary("rsqrt", lambda L, x: L.t.rsqrt(x), **POSITIVE),
    unary("square", lambda L, x: L.t.square(x)),
    unary("sin", lambda L, x: L.t.sin(x), low=-3, high=3),
    unary("cos", lambda L, x: L.t.cos(x), low=-3, high=3),
    unary("tanh", lambda L, x: L.t.tanh(x), low=-3, high=3),
    unary("sigmoid", lambda L, x: L.t.sigmoid(x), low=-4, high=4),
    unary("sigmoid_saturated", lambda L, x: L.t.sigmoid(x), low=-30, high=30),
    unary("erf", lambda L, x: L.t.erf(x)),
    unary("relu", lambda L, x: L.t.relu(x), avoid=(0,)),
    unary("relu_functional", lambda L, x: L.F.relu(x), avoid=(0,)),
    unary("leaky_relu_default", lambda L, x: L.F.leaky_relu(x), avoid=(0,)),
    unary("leaky_relu_0.2", lambda L, x: L.F.leaky_relu(x, 0.2), avoid=(0,)),
    unary("elu_default", lambda L, x: L.F.elu(x), avoid=(0,)),
    unary("elu_alpha_0.7", lambda L, x: L.F.elu(x, alpha=0.7), avoid=(0,)),
    unary("silu", lambda L, x: L.F.silu(x), low=-4, high=4),
    unary("gelu_exact", lambda L, x: L.F.gelu(x), low=-3, high=3),
    unary("gelu_tanh", lambda L, x: L.F.gelu(x, approximate="tanh"), low=-3, high=3),
    unary("softplus_default", lambda L, x: L.F.softplus(x), low=-4, high=4),
    unary("softplus_beta_threshold", lambda L, x: L.F.softplus(x, beta=2.0, threshold=3.0), low=-4, high=4,
          avoid=(1.5,)),
    unary("softplus_large_inputs", lambda L, x: L.F.softplus(x), low=15, high=30, avoid=(20,)),
    unary("clamp_both", lambda L, x: L.t.clamp(x, -1.0, 0.5), avoid=(-1.0, 0.5)),
    unary("clamp_min_keyword", lambda L, x: L.t.clamp(x, min=0.3), avoid=(0.3,)),
    unary("clamp_max_method", lambda L, x: x.clamp(max=-0.2), avoid=(-0.2,)),
    unary("clip", lambda L, x: L.t.clip(x, -0.5, 0.5), avoid=(-0.5, 0.5)),
    unary("pow_int", lambda L, x: x**3),
    unary("pow_negative_int", lambda L, x: x**-2, **POSITIVE),
    unary("pow_fraction", lambda L, x: x**1.5, **POSITIVE),
    unary("pow_function_scalar", lambda L, x: L.t.pow(x, 2.5), **POSITIVE),
    unary("rpow", lambda L, x: 2.0**x),
    unary("rsub", lambda L, x: 1.5 - x),
    unary("rdiv", lambda L, x: 3.0 / x, low=0.3, high=3.0),
    unary("radd_rmul", lambda L, x: 2.0 + 0.5 * x),
    unary("scalar_chain", lambda L, x: (x * 2.5 + 1.0) / 4.0 - 0.5),
    unary("int_scalar_operands", lambda L, x: x * 3 - 2 + x / 2),
    unary("zero_dim", lambda L, x: L.t.tanh(x) * L.t.exp(x), shape=()),
    unary("four_dims", lambda L, x: L.F.silu(x) * L.t.sin(x), shape=(2, 1, 3, 2)),
]

BINARY = [
    case("add", lambda L, a, b: a + b, Float(S), Float(S)),
    case("add_broadcast", lambda L, a, b: a + b, Float((2, 1, 4)), Float((3, 1))),
    case("add_alpha", lambda L, a, b: L.t.add(a, b, alpha=2.5), Float(S), Float((4,))),
    case("sub_broadcast", lambda L, a, b: a - b, Float((4,)), Float((3, 1))),
    case("sub_alpha", lambda L, a, b: L.t.sub(a, b, alpha=0.5), Float(S), Float(S)),
    case("mul_broadcast", lambda L, a, b: a * b, Float((2, 3, 1)), Float((1, 4))),
    case("mul_zero_dim", lambda L, a, b: a * b, Float(()), Float(S)),
    case("div_broadcast", lambda L, a, b: a / b, Float(S), Float((3, 1), 0.5, 2.0)),
    case("div_function", lambda L, a, b: L.t.div(a, b), Float((4,)), Float(S, 0.5, 2.0)),
    case("pow_tensor", lambda L, a, b: a**b, Float(S, 0.5, 2.0), Float((4,))),
    case("pow_function_tensor", lambda L, a, b: L.t.pow(a, b), Float((3, 1), 0.5, 2.0), Float(S)),
    case("matmul_operator", lambda L, a, b: a @ b, Float((3, 4)), Float((4, 2))),
    case("maximum", lambda L, a, b: L.t.maximum(a, b), Float(S), Float((4,))),
    case("minimum", lambda L, a, b: L.t.minimum(a, b), Float((3, 1)), Float(S)),
    case("lerp_scalar_weight", lambda L, a, b: L.t.lerp(a, b, 0.3), Float(S), Float(S)),
    case("lerp_tensor_weight", lambda L, a, b, w: L.t.lerp(a, b, w), Float(S), Float((4,)), Float((3, 1), 0, 1)),
    case("where", lambda L, c, a, b: L.t.where(c, a, b), mask(S), Float(S), Float(S)),
    case("where_broadcast", lambda L, c, a, b: L.t.where(c, a, b), mask((3, 1)), Float((4,)), Float((2, 1, 1))),
    case("where_from_comparison", lambda L, a, b: L.t.where(a > b, a * a, b), Float(S), Float((4,))),
    case("where_scalar_other", lambda L, a: L.t.where(a > 0, a, 0.0), Float(S, avoid=(0,))),
    case("clamp_tensor_bounds", lambda L, x, low, high: L.t.clamp(x, low, high), Float(S), Float((4,), -2, -0.5),
         Float((3, 1), 0.5, 2)),
    case("clamp_tensor_min_only", lambda L, x, low: L.t.clamp(x, min=low), Float(S), Float((4,))),
    case("clamp_tensor_max_only", lambda L, x, high: x.clamp(max=high), Float(S), Float((3, 1))),
    case("masked_fill", lambda L, x, m: L.t.masked_fill(x, m, -1.0), Float(S), mask(S)),
    case("masked_fill_method_broadcast_mask", lambda L, x, m: x.masked_fill(m, 2.0), Float(S), mask((4,))),
]

# Exact points where the derivative is one-sided: both libraries pick the same convention.
KINK_CASES = [
    case("kink_relu", lambda L, x: L.F.relu(x), Float((8,), values=KINKS)),
    case("kink_abs", lambda L, x: L.t.abs(x), Float((8,), values=KINKS)),
    case("kink_leaky_relu", lambda L, x: L.F.leaky_relu(x, 0.1), Float((8,), values=KINKS)),
    # Second order off: torch's elu double backward uses x < 0 where its first derivative uses x <= 0.
    case("kink_elu", lambda L, x: L.F.elu(x), Float((8,), values=KINKS), second_order=False),
    case("kink_clamp_bounds", lambda L, x: L.t.clamp(x, -1.0, 0.5), Float((8,), values=KINKS)),
    case("kink_maximum_ties", lambda L, a, b: L.t.maximum(a, b), Float((8,), values=KINKS),
         Float((8,), values=np.where(np.arange(8) % 2 == 0, KINKS, 0.25))),
    case("kink_minimum_ties", lambda L, a, b: L.t.minimum(a, b), Float((8,), values=KINKS),
         Float((8,), values=np.where(np.arange(8) % 2 == 0, KINKS, 0.25))),
    case("kink_sqrt_then_square", lambda L, x: L.t.sqrt(x * x + 1.0), Float((8,), values=KINKS)),
    case("kink_sign", lambda L, x: L.t.sign(x), Float((3,), values=[-1, 0, 2])),
    case("kink_pow_square_at_zero", lambda L, x: x**2.0, Float((3,), values=[0, 1, 2])),
    case("kink_pow_zero_exponent", lambda L, x: x**0, Float((3,), values=[0, 1, 2]), marks=QUIET),
    case("kink_pow_half_at_zero", lambda L, x: x**0.5, Float((3,), values=[0, 1, 2]), second_order=False,
         marks=QUIET),
    case("kink_rdiv_at_zero", lambda L, x: 3.0 / x, Float((3,), values=[0, 1, 2]), second_order=False, marks=QUIET),
    case("kink_pow_zero_base_tensor_exponent", lambda L, a, b: a**b, Float((4,), values=[0, 0, 1, 2]),
         Float((4,), values=[2, 0.5, 1, 3]), second_order=False, marks=QUIET),
]

# Values at or beyond the edge of the domain: infinities and NaNs must match too.
EXTREMES = [
    case("edge_log_at_zero", lambda L, x: L.t.log(x), Float((3,), values=[0, 1, 2]), second_order=False, marks=QUIET),
    case("edge_log1p_at_minus_one", lambda L, x: L.t.log1p(x), Float((3,), values=[-1, 0, 2]), second_order=False,
         marks=QUIET),
    case("edge_sqrt_at_zero", lambda L, x: L.t.sqrt(x), Float((3,), values=[0, 1, 4]), second_order=False, marks=QUIET),
    case("edge_rsqrt_at_zero", lambda L, x: L.t.rsqrt(x), Float((3,), values=[0, 1, 2]), second_order=False,
         marks=QUIET),
    case("edge_div_by_zero", lambda L, a, b: a / b, Float((3,), values=[1, -1, 0]), Float((3,), values=[0, 0, 0]),
         second_order=False, marks=QUIET),
    case("edge_exp_overflow", lambda L, x: L.t.exp(x), Float((3,), values=[80, 90, 100]), second_order=False,
         marks=QUIET),
    case("edge_expm1_log1p_tiny", lambda L, x: (L.t.expm1(x), L.t.log1p(x)), Float((3,), values=[1e-8, -1e-7, 1e-6])),
    case("edge_saturating", lambda L, x: (L.t.sigmoid(x), L.t.tanh(x), L.F.silu(x), L.F.softplus(x)),
         Float((4,), values=[-100, -20, 20, 100])),
    case("edge_gelu_erf_tails", lambda L, x: (L.F.gelu(x), L.t.erf(x)), Float((6,), -8, 8)),
    case("edge_softplus_negative_beta", lambda L, x: L.F.softplus(x, beta=-1.0), Float((4,))),
    case("edge_elu_negative_alpha", lambda L, x: L.F.elu(x, alpha=-0.5), Float((4,), avoid=(0,))),
    case("edge_clamp_min_above_max", lambda L, x: L.t.clamp(x, 1.0, -1.0), Float((5,))),
    case("edge_lerp_weight_above_one", lambda L, a, b: L.t.lerp(a, b, 1.5), Float((3,)), Float((3,))),
]

COMPARISONS = [
    case(f"compare_{name}", (lambda op: lambda L, a, b: op(a, b))(op), Float(S), Float((4,)))
    for name, op in [
        ("eq", lambda a, b: a == b), ("ne", lambda a, b: a != b), ("lt", lambda a, b: a < b),
        ("le", lambda a, b: a <= b), ("gt", lambda a, b: a > b), ("ge", lambda a, b: a >= b),
    ]
] + [
    case("compare_with_scalar", lambda L, a: a > 0.25, Float(S)),
    case("compare_ties", lambda L, a, b: L.t.stack([a == b, a <= b, a >= b]), Float((8,), values=KINKS),
         Float((8,), values=np.where(np.arange(8) % 2 == 0, KINKS, 0.25))),
    case("compare_functions", lambda L, a, b: (L.t.eq(a, b), L.t.gt(a, b), L.t.le(a, b)), Float(S), Float(S)),
    case("logical_ops", lambda L, a, b: ((a > 0) & (b > 0), (a > 0) | (b > 0), (a > 0) ^ (b > 0), ~(a > 0)),
         Float(S), Float(S)),
]

# Type promotion: float32 stays float32 and integer tensors promote as in PyTorch.
DTYPES = [
    case("dtype_int_times_float_scalar", lambda L, i: i * 2.5, Const(np.arange(6).reshape(2, 3))),
    case("dtype_int_plus_int_scalar", lambda L, i: i + 2, Const(np.arange(6).reshape(2, 3))),
    case("dtype_int_true_divide", lambda L, i: i / 4, Const(np.arange(6).reshape(2, 3))),
    case("dtype_int_tensor_times_float_tensor", lambda L, i, x: i * x, Const(np.arange(3)), Float((2, 3))),
    case("dtype_bool_plus_float", lambda L, m, x: m + x, mask((2, 3)), Float((2, 3))),
    case("dtype_float_scalar_ops_stay_float32", lambda L, x: (x + 1) * 2.0 - 3 / (x * x + 1) + 2.0**x, Float(S)),
    case("dtype_int_pow", lambda L, i: i**2, Const(np.arange(6))),
    case("dtype_int_exp", lambda L, i: L.t.exp(i), Const(np.arange(-2, 3))),
    case("dtype_int_abs_neg", lambda L, i: (L.t.abs(i), -i), Const(np.arange(-2, 3))),
    case("dtype_int_unary_math", lambda L, i: (L.t.sqrt(i), L.t.sigmoid(i), L.t.tanh(i)), Const(np.arange(3))),
    case("dtype_float_scalar_pow_int", lambda L, i: 2.0**i, Const(np.arange(3))),
    case("dtype_int_scalar_pow_int", lambda L, i: 2**i, Const(np.arange(3))),
    case("dtype_clamp_int_with_float_bound", lambda L, i: L.t.clamp(i, min=0.5), Const(np.arange(3))),
    case("dtype_where_int_and_float_scalar", lambda L, m, i: L.t.where(m, i, 1.5), mask((3,)), Const(np.arange(3))),
    case("dtype_where_two_float_scalars", lambda L, x: L.t.where(x > 0, 1.0, 0.0), Float((3,))),
    case("dtype_uint8_plus_int", lambda L, i: i + 3, Const(np.arange(3, dtype=np.uint8))),
    case("dtype_int32_plus_int64", lambda L, i, j: i + j, Const(np.arange(3, dtype=np.int32)), Const(np.arange(3))),
    case("dtype_int32_plus_zero_dim_int64", lambda L, i, j: i + j, Const(np.arange(3, dtype=np.int32)),
         Const(np.array(5))),
    case("dtype_int_times_bool", lambda L, i, m: i * m, Const(np.arange(3)), mask((3,))),
    case("dtype_bool_plus_bool", lambda L, m, n: m + n, mask((3,)), mask((3,))),
    case("dtype_int_sign", lambda L, i: L.t.sign(i), Const(np.arange(-2, 3))),
    case("dtype_int_pow_float_scalar", lambda L, i: i**0.5, Const(np.arange(3))),
    case("dtype_int_pow_int_tensor", lambda L, i, j: i**j, Const(np.arange(3)), Const(np.array([2, 3, 1]))),
    case("dtype_float_pow_int_tensor", lambda L, x, j: x**j, Float((3,)), Const(np.array([2, 3, 1]))),
    case("dtype_int_tensor_pow_float_tensor", lambda L, j, x: j**x, Const(np.array([2, 3, 1])), Float((3,))),
    case("dtype_maximum_int_float", lambda L, i, x: L.t.maximum(i, x), Const(np.arange(3)), Float((3,))),
    case("dtype_where_zero_dim_float64_keeps_float32", lambda L, m, x, y: L.t.where(m, x, y.double()), mask((3,)),
         Float((3,)), Float(())),
    case("dtype_softmax_of_int_with_dtype", lambda L, i: L.F.softmax(i, 0, dtype=L.t.float32), Const(np.arange(3))),
]

SOFTMAX = [
    case("softmax_last", lambda L, x: L.F.softmax(x, dim=-1), Float((2, 3, 5), -3, 3)),
    case("softmax_dim0", lambda L, x: L.F.softmax(x, dim=0), Float((4, 3), -3, 3)),
    case("softmax_middle", lambda L, x: L.t.softmax(x, dim=1), Float((2, 4, 3), -3, 3)),
    case("softmax_method", lambda L, x: x.softmax(-1), Float((3, 5), -3, 3)),
    case("softmax_large_logits", lambda L, x: L.F.softmax(x, dim=1), Float((2, 6), 80, 100)),
    case("log_softmax_last", lambda L, x: L.F.log_softmax(x, dim=-1), Float((2, 3, 5), -3, 3)),
    case("log_softmax_dim0", lambda L, x: L.F.log_softmax(x, dim=0), Float((4, 3), -3, 3)),
    case("log_softmax_method", lambda L, x: x.log_softmax(dim=1), Float((2, 4, 3), -3, 3)),
    case("log_softmax_large_logits", lambda L, x: L.F.log_softmax(x, dim=-1), Float((2, 6), -100, 100)),
    case("log_softmax_zero_dim", lambda L, x: L.F.log_softmax(x, 0), Float(())),
    case("softmax_masked_row_is_nan", lambda L, x, m: L.F.softmax(x.masked_fill(m, float("-inf")), -1), Float((2, 3)),
         Const(np.array([[True] * 3, [False, True, False]])), second_order=False, marks=QUIET),
    case("softmax_1d", lambda L, x: L.F.softmax(x, dim=0), Float((5,), -3, 3)),
    case("softmax_dtype_float64", lambda L, x: L.F.softmax(x, dim=-1, dtype=L.t.float64), Float((3, 4), -3, 3)),
    case("dropout_p0", lambda L, x: L.F.dropout(x, p=0.0), Float(S)),
    case("dropout_eval", lambda L, x: L.F.dropout(x, p=0.5, training=False), Float(S)),
    case("dropout_p0_then_tanh", lambda L, x: L.t.tanh(L.F.dropout(x, 0.0, True)), Float(S)),
    case("one_hot_inferred_classes", lambda L, i: L.F.one_hot(i), integers((2, 5), 0, 4)),
    case("one_hot_num_classes", lambda L, i: L.F.one_hot(i, num_classes=6), integers((7,), 0, 6)),
    case("embedding", lambda L, i, w: L.F.embedding(i, w), integers((2, 5), 0, 6), Float((6, 3))),
    case("embedding_repeated_rows", lambda L, i, w: L.F.embedding(i, w),
         Const(np.array([[0, 2, 2], [2, 0, 1]])), Float((4, 3))),
    case("embedding_padding_idx", lambda L, i, w: L.F.embedding(i, w, padding_idx=1),
         Const(np.array([[0, 1, 2, 1], [3, 1, 0, 0]])), Float((4, 2))),
    case("embedding_negative_padding_idx", lambda L, i, w: L.F.embedding(i, w, padding_idx=-1),
         Const(np.array([0, 3, 1, 3])), Float((4, 2))),
    case("one_hot_zero_dim", lambda L, i: L.F.one_hot(i, 3), Const(np.array(1))),
    case("one_hot_2d_inferred", lambda L, i: L.F.one_hot(i), Const(np.array([[0, 2], [1, 0]]))),
    case("embedding_zero_dim_index", lambda L, i, w: L.F.embedding(i, w), Const(np.array(2)), Float((4, 3))),
]

ROWS = ids_unique(UNARY + BINARY + KINK_CASES + EXTREMES + COMPARISONS + DTYPES + SOFTMAX)


@pytest.mark.parametrize("parity_case", ROWS)
def test_parity(parity_case):
    check_parity(parity_case)


def _grad(L, output, x):
    return (minigen.grad if L is MINIGEN else torch.autograd.grad)(output, [x])[0]


@pytest.mark.parametrize("L", [MINIGEN, TORCH], ids=["minigen", "torch"])
@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_dropout_scales_kept_entries_as_torch(L, p):
    """Masks differ between libraries; what must agree is kept = x / (1 - p), dropped = 0, grad = mask / (1 - p)."""
    x_array = np.random.default_rng(1).uniform(0.5, 2.0, size=(64, 32)).astype(np.float32)
    weights = np.random.default_rng(2).standard_normal(x_array.shape).astype(np.float32)
    L.t.manual_seed(0)
    x = L.t.tensor(x_array, requires_grad=True)
    y = L.F.dropout(x, p=p, training=True)
    values = y.detach().numpy()
    kept = values != 0
    assert values.dtype == np.float32
    np.testing.assert_allclose(values[kept], x_array[kept] / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.05, f"kept fraction {kept.mean()} for p={p}"
    gradient = _grad(L, (y * L.t.tensor(weights)).sum(), x)
    np.testing.assert_allclose(gradient.detach().numpy(), kept * weights / (1 - p), rtol=1e-6)


@pytest.mark.parametrize("L", [MINIGEN, TORCH], ids=["minigen", "torch"])
def test_dropout_p1_zeroes_everything_and_its_gradient(L):
    x = L.t.tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    y = L.F.dropout(x, p=1.0)
    assert not np.any(y.detach().numpy())
    assert not np.any(_grad(L, y.sum(), x).detach().numpy())
