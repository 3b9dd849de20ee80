"""Property tests for matrix products: matmul (all ranks), mm, bmm, einsum, outer and dot."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, broadcastable_shapes, check_gradients, seeds, tensor

sides = st.integers(1, 3)

# (rank of input, rank of other): every promotion rule of matmul, with batch dims on either side.
RANKS = [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 3), (3, 2), (3, 3), (4, 3), (2, 4)]


@st.composite
def matmul_shapes(draw, ranks):
    """Shapes of the given ranks whose inner dims agree and whose batch dims broadcast."""
    rank_a, rank_b = ranks
    m, k, n = draw(sides), draw(sides), draw(sides)
    batch_a, batch_b = draw(broadcastable_shapes(min_dims=2, max_dims=2, max_side=2))
    shape_a = _batch(batch_a, rank_a - 2) + (m, k) if rank_a >= 2 else (k,)
    shape_b = _batch(batch_b, rank_b - 2) + (k, n) if rank_b >= 2 else (k,)
    return shape_a, shape_b


def _batch(dims, count):
    """The last ``count`` of ``dims``, padded in front with size-1 dims (still broadcastable)."""
    dims = dims[max(len(dims) - count, 0):] if count > 0 else ()
    return (1,) * (count - len(dims)) + dims


def _numpy(t):
    return t.detach().cpu().numpy()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ranks", RANKS, ids=[f"{a}d@{b}d" for a, b in RANKS])
@given(data=st.data(), seed=seeds)
def test_matmul_values_and_gradients(ranks, device, data, seed):
    shape_a, shape_b = data.draw(matmul_shapes(ranks))
    a, b = tensor(shape_a, seed, device), tensor(shape_b, seed + 1, device)
    result = minigen.matmul(a, b)
    expected = np.matmul(_numpy(a), _numpy(b))
    assert result.shape == expected.shape
    np.testing.assert_allclose(_numpy(result), expected, rtol=1e-12, atol=1e-12)
    check_gradients(lambda x, y: x @ y, (a, b))


@pytest.mark.parametrize("device", DEVICES)
@given(m=sides, k=sides, n=sides, batch=sides, seed=seeds)
def test_mm_and_bmm(device, m, k, n, batch, seed):
    a, b = tensor((m, k), seed, device), tensor((k, n), seed + 1, device)
    np.testing.assert_allclose(_numpy(minigen.mm(a, b)), _numpy(a) @ _numpy(b))
    check_gradients(minigen.mm, (a, b))
    a, b = tensor((batch, m, k), seed + 2, device), tensor((batch, k, n), seed + 3, device)
    assert a.bmm(b).shape == (batch, m, n)
    check_gradients(minigen.bmm, (a, b))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_bias", [True, False])
@given(leading=st.lists(sides, min_size=0, max_size=2), k=sides, n=sides, seed=seeds)
def test_linear_values_and_gradients(device, with_bias, leading, k, n, seed):
    from minigen.nn import functional as F

    x, weight, bias = tensor((*leading, k), seed, device), tensor((n, k), seed + 1, device), tensor((n,), seed + 2, device)
    operands = (x, weight, bias) if with_bias else (x, weight)
    expected = _numpy(x) @ _numpy(weight).T + (_numpy(bias) if with_bias else 0.0)
    result = F.linear(*operands)
    assert result.shape == expected.shape
    np.testing.assert_allclose(_numpy(result), expected, rtol=1e-12, atol=1e-12)
    check_gradients(F.linear, operands)


def test_linear_errors_name_the_shapes():
    from minigen.nn import functional as F

    with pytest.raises(RuntimeError, match=r"linear: input \(2, 3\) and weight \(4, 5\) do not align"):
        F.linear(minigen.zeros(2, 3), minigen.zeros(4, 5))
    with pytest.raises(RuntimeError, match=r"bias shape \(3,\) does not match weight \(4, 5\)"):
        F.linear(minigen.zeros(2, 5), minigen.zeros(4, 5), minigen.zeros(3))


@pytest.mark.parametrize("device", DEVICES)
@given(k=st.integers(1, 5), n=st.integers(1, 5), seed=seeds)
def test_outer_and_dot(device, k, n, seed):
    u, v, w = tensor((k,), seed, device), tensor((n,), seed + 1, device), tensor((k,), seed + 2, device)
    np.testing.assert_allclose(_numpy(minigen.outer(u, v)), np.outer(_numpy(u), _numpy(v)))
    assert u.dot(w).shape == ()
    check_gradients(minigen.outer, (u, v))
    check_gradients(minigen.dot, (u, w))


def test_float32_stays_float32_on_every_path():
    for shape_a, shape_b in [((3,), (3,)), ((2, 3), (3,)), ((4, 2, 3), (3, 5)), ((2, 3), (4, 3, 5))]:
        a = minigen.randn(*shape_a, requires_grad=True)
        b = minigen.randn(*shape_b, requires_grad=True)
        y = a @ b
        y.sum().backward()
        assert y.dtype == a.grad.dtype == b.grad.dtype == minigen.float32


# --- einsum ---------------------------------------------------------------------------

# equation -> subscripts of each operand ('...' drawn as broadcastable batch dims)
EINSUM = {
    "ij,jk->ik": ["ij", "jk"],
    "bij,bjk->bik": ["bij", "bjk"],
    "bhqd,bhkd->bhqk": ["bhqd", "bhkd"],
    "i,j->ij": ["i", "j"],
    "ij->ji": ["ij"],
    "...ij,...jk->...ik": ["...ij", "...jk"],
    "...i->...": ["...i"],
    "ij,jk": ["ij", "jk"],
    "ba": ["ba"],
    "i,i->": ["i", "i"],
    "ij->": ["ij"],
    "ij->i": ["ij"],
    "ii->i": ["ii"],
    "ii": ["ii"],
    "iij->ji": ["iij"],
    "bi,bj,bk->ijk": ["bi", "bj", "bk"],
    "bn,nd,d->b": ["bn", "nd", "d"],
}


@st.composite
def einsum_operands(draw, subscripts, seed, device):
    sizes = {label: draw(sides) for label in set("".join(subscripts).replace(".", ""))}
    batch = draw(broadcastable_shapes(min_dims=0, max_dims=2, max_side=2))
    batches = iter(batch * len(subscripts))
    operands = []
    for index, term in enumerate(subscripts):
        shape = tuple(sizes[label] for label in term.replace("...", ""))
        if "..." in term:
            shape = next(batches) + shape
        operands.append(tensor(shape, seed + index, device))
    return operands


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("equation", sorted(EINSUM))
@given(data=st.data(), seed=seeds)
def test_einsum_values_and_gradients(equation, device, data, seed):
    operands = data.draw(einsum_operands(EINSUM[equation], seed, device))
    result = minigen.einsum(equation, *operands)
    expected = np.einsum(equation, *(_numpy(t) for t in operands))
    assert result.shape == expected.shape
    np.testing.assert_allclose(_numpy(result), expected, rtol=1e-12, atol=1e-12)
    check_gradients(lambda *ts: minigen.einsum(equation, *ts), tuple(operands))


@given(seed=seeds, rows=sides, columns=sides)
def test_einsum_broadcasts_size_one_labels(seed, rows, columns):
    a, b = tensor((rows, 1), seed), tensor((rows, columns), seed + 1)
    np.testing.assert_allclose(_numpy(minigen.einsum("ij,ij->ij", a, b)), a.data * b.data)
    check_gradients(lambda x, y: minigen.einsum("ij,ij->ij", x, y), (a, b))


def test_einsum_takes_operands_as_a_list_and_matches_matmul():
    a, b = minigen.randn(2, 3), minigen.randn(3, 4)
    np.testing.assert_allclose(minigen.einsum("ij,jk->ik", [a, b]).numpy(), (a @ b).numpy(), rtol=1e-6)
    np.testing.assert_allclose(minigen.einsum("ij, jk -> ik", a, b).numpy(), (a @ b).numpy(), rtol=1e-6)
    assert minigen.einsum("ba", a).shape == (3, 2)  # implicit output: labels sorted, so a transpose


def test_einsum_errors():
    a, b = minigen.ones(2, 3), minigen.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"einsum: equation 'ij,jk->ik' has 2 operand subscripts but 1 tensors"):
        minigen.einsum("ij,jk->ik", a)
    with pytest.raises(RuntimeError, match=r"einsum: subscripts 'ijk' do not fit operand 0 of shape \(2, 3\)"):
        minigen.einsum("ijk->i", a)
    with pytest.raises(RuntimeError, match=r"einsum: subscript 'j' has size 4 in operand 1 of shape \(4, 5\) but "
                                           r"size 3"):
        minigen.einsum("ij,jk->ik", a, b)
    with pytest.raises(RuntimeError, match=r"einsum: output subscript 'k' does not appear in the inputs"):
        minigen.einsum("ij->k", a)
    with pytest.raises(RuntimeError, match=r"einsum: output subscript 'i' appears more than once"):
        minigen.einsum("ij->ii", a)
    with pytest.raises(RuntimeError, match=r"einsum: invalid subscripts 'i1'"):
        minigen.einsum("i1->i", a)
    with pytest.raises(RuntimeError, match=r"einsum: subscript 'i' is repeated in operand 0 of shape \(2, 3\)"):
        minigen.einsum("ii->i", a)
    with pytest.raises(RuntimeError, match=r"einsum: expected all operands to have the same dtype, got float32, "
                                           r"float64"):
        minigen.einsum("ij,jk->ik", a, minigen.ones(3, 2, dtype=minigen.float64))


# --- errors ------------------------------------------------------------------------------


def test_matmul_shape_errors_name_the_shapes():
    with pytest.raises(RuntimeError, match=r"^matmul: shapes \(3, 4\) and \(5, 2\) do not align \(4 != 5\)$"):
        minigen.ones(3, 4) @ minigen.ones(5, 2)
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(3,\) and \(4,\) do not align \(3 != 4\)"):
        minigen.matmul(minigen.ones(3), minigen.ones(4))
    with pytest.raises(RuntimeError, match=r"matmul: batch dims \(2,\) and \(3,\) of shapes \(2, 3, 4\) and "
                                           r"\(3, 4, 5\) do not broadcast"):
        minigen.ones(2, 3, 4) @ minigen.ones(3, 4, 5)
    with pytest.raises(RuntimeError, match=r"matmul: both arguments need at least 1 dimension, got shapes \(\) and "
                                           r"\(3,\)"):
        minigen.matmul(minigen.tensor(2.0), minigen.ones(3))
    with pytest.raises(RuntimeError, match=r"matmul: expected all operands to have the same dtype, got float32, "
                                           r"float64"):
        minigen.ones(2, 2) @ minigen.ones(2, 2, dtype=minigen.float64)
    with pytest.raises(TypeError, match=r"matmul: expected Tensors, got ndarray, Tensor"):
        np.ones((2, 2)) @ minigen.ones(2, 2)


def test_mm_bmm_dot_outer_are_strict():
    with pytest.raises(RuntimeError, match=r"mm: expected 2-D tensors, got shapes \(2, 3, 4\) and \(4, 5\)"):
        minigen.mm(minigen.ones(2, 3, 4), minigen.ones(4, 5))
    with pytest.raises(RuntimeError, match=r"mm: shapes \(3, 4\) and \(5, 2\) do not align \(4 != 5\)"):
        minigen.ones(3, 4).mm(minigen.ones(5, 2))
    with pytest.raises(RuntimeError, match=r"bmm: expected 3-D tensors, got shapes \(3, 4\) and \(2, 4, 5\)"):
        minigen.bmm(minigen.ones(3, 4), minigen.ones(2, 4, 5))
    with pytest.raises(RuntimeError, match=r"bmm: batch sizes differ \(2 != 3\) in shapes \(2, 3, 4\) and \(3, 4, 5\)"):
        minigen.bmm(minigen.ones(2, 3, 4), minigen.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"bmm: shapes \(2, 3, 4\) and \(2, 5, 6\) do not align \(4 != 5\)"):
        minigen.bmm(minigen.ones(2, 3, 4), minigen.ones(2, 5, 6))
    with pytest.raises(RuntimeError, match=r"dot: expected 1-D tensors, got shapes \(2, 2\) and \(2,\)"):
        minigen.dot(minigen.ones(2, 2), minigen.ones(2))
    with pytest.raises(RuntimeError, match=r"outer: expected 1-D tensors, got shapes \(2, 2\) and \(2,\)"):
        minigen.outer(minigen.ones(2, 2), minigen.ones(2))
