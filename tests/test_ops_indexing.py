"""Property tests for indexing ops: values against NumPy, gradcheck and gradgradcheck over drawn shapes and indices."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, check_gradients, seeds, shapes, tensor
from minigen.ops.indexing import embedding, one_hot


def values(t):
    return t.detach().cpu().numpy()


def as_index(array, form, device="cpu"):
    """An integer or bool index array in one of the forms users pass: Tensor, NumPy array or list."""
    if form == "tensor":
        return minigen.tensor(array, device=device)
    return array.tolist() if form == "list" else array


forms = st.sampled_from(["tensor", "numpy", "list"])


def numpy_key(key):
    """The same key for NumPy: Tensors become arrays, lists stay lists."""
    items = key if isinstance(key, tuple) else (key,)
    return tuple(values(item) if isinstance(item, minigen.Tensor) else item for item in items)


@st.composite
def integer_arrays(draw, size, shape, seed):
    """Indices in [-size, size) of ``shape``, drawn from few values so that repeats are common."""
    rng = np.random.default_rng(seed)
    low = -size if draw(st.booleans()) else 0
    return rng.integers(low, size, shape) if size else np.zeros(shape, dtype=np.int64)


@st.composite
def basic_keys(draw, shape):
    """Ints, slices (any step), None and at most one Ellipsis, valid for ``shape``."""
    count = draw(st.integers(0, len(shape)))
    ellipsis_at = draw(st.none() | st.integers(0, count))
    # Items after the ellipsis index the trailing dims.
    sizes = shape[:count] if ellipsis_at is None else shape[:ellipsis_at] + shape[len(shape) - (count - ellipsis_at) :]
    items = []
    for size in sizes:
        if size and draw(st.booleans()):
            items.append(draw(st.integers(-size, size - 1)))
        else:
            bound = st.none() | st.integers(-size - 1, size + 1)
            items.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -3]))))
    if ellipsis_at is not None:
        items.insert(ellipsis_at, Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    return items[0] if len(items) == 1 and draw(st.booleans()) else tuple(items)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=seeds, data=st.data())
def test_getitem_basic(device, shape, seed, data):
    x = tensor(shape, seed, device)
    key = data.draw(basic_keys(shape))
    y = x[key]
    assert np.array_equal(values(y), values(x)[key])
    check_gradients(lambda t: t[key] * t[key], (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_getitem_integer_arrays(device, shape, seed, data):
    """One or more integer arrays (broadcast together, adjacent or not) among slices, ints and None."""
    x = tensor(shape, seed, device)
    common = data.draw(shapes(max_dims=2, max_side=3))
    key = []
    for dim, size in enumerate(shape):
        kind = data.draw(st.sampled_from(["array", "slice", "int"] if size else ["array", "slice"]))
        if kind == "array" or (dim == 0 and size):
            array_shape = tuple(1 if data.draw(st.booleans()) else s for s in common)
            array = data.draw(integer_arrays(size, array_shape, seed + dim))
            key.append(as_index(array, data.draw(forms), device))
        elif kind == "slice":
            key.append(slice(data.draw(st.sampled_from([None, 1, -1])), None))
        else:
            key.append(data.draw(st.integers(-size, size - 1)))
    key = tuple(key[: data.draw(st.integers(1, len(key)))])
    if data.draw(st.booleans()):
        key = (None,) + key
    y = x[key]
    assert np.array_equal(values(y), select_integers_then_index(values(x), numpy_key(key)))
    check_gradients(lambda t: t[key] * t[key], (x,))


def select_integers_then_index(array, key):
    """PyTorch's rule: integers select first (NumPy would count them among the index arrays)."""
    key = list(key)
    for position in reversed(range(len(key))):
        if isinstance(key[position], int):
            dim = sum(item is not None for item in key[:position])
            array = np.take(array, key.pop(position), axis=dim)
    return array[tuple(key)]


def test_getitem_integers_select_before_index_arrays_as_in_pytorch():
    x = minigen.arange(360.0).reshape(3, 4, 5, 6)
    i, j = minigen.tensor([1, 2]), minigen.tensor([[0], [1]])
    mask = minigen.tensor([True, False, True, True, False])
    every = slice(None)
    cases = [  # shapes PyTorch gives
        ((0, every, i), (4, 2, 6)), ((0, every, mask), (4, 3, 6)), ((minigen.tensor(0), every, i), (4, 2, 6)),
        ((True, i), (2, 4, 5, 6)), ((every, True, every, i), (2, 3, 4, 6)), ((None, 0, i, every, j), (2, 2, 1, 5)),
        ((0, every, True), (4, 1, 5, 6)), ((True, every, 0, i), (2, 3, 6)), ((False, 0, every, 1), (0, 4, 6)),
        ((1, i, every, 0), (2, 5)), ((i, 1, every, j), (2, 2, 5)), ((i, Ellipsis, 0), (2, 4, 5)),
    ]
    for key, shape in cases:
        assert x[key].shape == shape, key
    assert np.array_equal(x[0, :, i].numpy(), x.numpy()[0][:, [1, 2]])


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_getitem_bool_mask(device, shape, seed, data):
    x = tensor(shape, seed, device)
    start = data.draw(st.integers(0, len(shape) - 1))
    stop = data.draw(st.integers(start + 1, len(shape)))
    mask = np.random.default_rng(seed).uniform(size=shape[start:stop]) < 0.5
    key = (slice(None),) * start + (as_index(mask, data.draw(forms), device),)
    y = x[key]
    assert np.array_equal(values(y), values(x)[numpy_key(key)])
    check_gradients(lambda t: t[key] * 2.0, (x,))


def test_getitem_accumulates_repeated_indices_on_both_paths():
    for size in (4, 100):  # numbered positions, and direct adds for few updates into a large tensor
        x = minigen.zeros(size, 2, requires_grad=True)
        x[[1, 1, -1, 1]].sum().backward()
        expected = np.zeros((size, 2))
        expected[1], expected[-1] = 3.0, 1.0
        assert np.array_equal(x.grad.numpy(), expected)


def test_getitem_index_forms_and_dtypes():
    x = minigen.arange(12, dtype=minigen.float32).reshape(3, 4)
    assert x[minigen.tensor(1)].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert x[np.int64(2), np.array([0, 3])].tolist() == [8.0, 11.0]
    assert x[[]].shape == (0, 4)
    assert x[True].shape == (1, 3, 4) and x[None, ..., None].shape == (1, 3, 4, 1)
    assert x[minigen.tensor([0, 2], dtype=minigen.int32)].dtype == minigen.float32
    assert minigen.arange(5)[1:3].tolist() == [1, 2]
    w = minigen.ones(3, 4, requires_grad=True)
    w[1:, [0, 0]].sum().backward()
    assert w.grad.dtype == minigen.float32 and w.grad[:, 0].tolist() == [0.0, 2.0, 2.0]
    assert [row.tolist() for row in minigen.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3), seed=seeds, data=st.data())
def test_masked_select(device, shape, seed, data):
    x = tensor(shape, seed, device)
    mask_shape = tuple(1 if data.draw(st.booleans()) else s for s in shape)[data.draw(st.integers(0, len(shape))) :]
    mask = minigen.tensor(np.random.default_rng(seed).uniform(size=mask_shape) < 0.5, device=device)
    full = np.broadcast_shapes(shape, mask_shape)
    expected = np.broadcast_to(values(x), full)[np.broadcast_to(values(mask), full)]
    assert np.array_equal(values(minigen.masked_select(x, mask)), expected)
    check_gradients(lambda t: t.masked_select(mask) * 2.0, (x,))


# --- gather and scatter --------------------------------------------------------------------------------


@st.composite
def gather_case(draw, shape, seed, scatter=False):
    """dim and an index no larger than ``shape`` outside ``dim`` (any length along it, with repeats)."""
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(
        draw(st.integers(0, 4)) if d == dim % len(shape) else draw(st.integers(0 if scatter else 1, s))
        for d, s in enumerate(shape)
    )
    index = np.random.default_rng(seed).integers(0, shape[dim], index_shape)
    return dim, index


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_gather(device, shape, seed, data):
    x = tensor(shape, seed, device)
    dim, index = data.draw(gather_case(shape, seed))
    cropped = values(x)[tuple(slice(None) if d == dim % len(shape) else slice(0, s) for d, s in enumerate(index.shape))]
    y = minigen.gather(x, dim, minigen.tensor(index, device=device))
    assert np.array_equal(values(y), np.take_along_axis(cropped, index, axis=dim))
    idx = minigen.tensor(index, device=device)
    check_gradients(lambda t: t.gather(dim, idx) * t.gather(dim, idx), (x,))


def numpy_scatter_add(array, dim, index, src):
    out = array.copy()
    coordinates = list(np.indices(index.shape, sparse=True))
    coordinates[dim] = index
    np.add.at(out, tuple(coordinates), src[tuple(slice(0, s) for s in index.shape)])
    return out


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_scatter_add(device, shape, seed, data):
    dim, index = data.draw(gather_case(shape, seed, scatter=True))
    src_shape = tuple(s + data.draw(st.integers(0, 1)) for s in index.shape)
    x, src = tensor(shape, seed, device), tensor(src_shape, seed + 1, device)
    idx = minigen.tensor(index, device=device)
    y = minigen.scatter_add(x, dim, idx, src)
    assert np.allclose(values(y), numpy_scatter_add(values(x), dim % len(shape), index, values(src)))
    check_gradients(lambda t, s: t.scatter_add(dim, idx, s * s), (x, src))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_gather_and_scatter_add_match_numpy_with_repeats(dim):
    rng = np.random.default_rng(dim % 3)
    shape = (3, 4, 5)
    index = rng.integers(0, shape[dim], (2, 3, 4))
    x, src = rng.standard_normal(shape), rng.standard_normal((3, 3, 4))
    idx = minigen.tensor(index)
    cropped = x[tuple(slice(None) if d == dim % 3 else slice(0, s) for d, s in enumerate(index.shape))]
    gathered = minigen.gather(minigen.tensor(x), dim, idx)
    assert np.array_equal(gathered.numpy(), np.take_along_axis(cropped, index, axis=dim))
    scattered = minigen.scatter_add(minigen.tensor(x), dim, idx, minigen.tensor(src))
    assert np.allclose(scattered.numpy(), numpy_scatter_add(x, dim % 3, index, src))


def test_gather_and_scatter_add_on_0d():
    x = minigen.tensor(5.0, requires_grad=True)
    assert x.gather(0, minigen.tensor(0)).item() == 5.0
    assert minigen.scatter_add(minigen.tensor(1.0), 0, minigen.tensor(0), minigen.tensor(2.0)).item() == 3.0


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_index_select(device, shape, seed, data):
    x = tensor(shape, seed, device)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    index = np.random.default_rng(seed).integers(0, shape[dim], data.draw(st.sampled_from([(), (0,), (1,), (4,)])))
    idx = minigen.tensor(index, device=device)
    y = minigen.index_select(x, dim, idx)
    assert np.array_equal(values(y), np.take(values(x), index.reshape(-1), axis=dim))
    check_gradients(lambda t: t.index_select(dim, idx) * t.index_select(dim, idx), (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_take_along_dim(device, shape, seed, data):
    x = tensor(shape, seed, device)
    rng = np.random.default_rng(seed)
    if data.draw(st.booleans()):
        dim = None
        index = rng.integers(-x.numel(), x.numel(), data.draw(shapes(max_dims=2)))
        expected = np.take_along_axis(values(x).reshape(-1), index.reshape(-1), axis=0)
    else:
        dim = data.draw(st.integers(-len(shape), len(shape) - 1))
        index_shape = tuple(
            data.draw(st.integers(0, 3)) if d == dim % len(shape) else data.draw(st.sampled_from([1, s]))
            for d, s in enumerate(shape)
        )
        x_shape = tuple(1 if data.draw(st.booleans()) and d != dim % len(shape) else s for d, s in enumerate(shape))
        x = tensor(x_shape, seed, device)
        index = rng.integers(-shape[dim], shape[dim], index_shape)
        expected = np.take_along_axis(values(x), index, axis=dim)
    idx = minigen.tensor(index, device=device)
    assert np.array_equal(values(minigen.take_along_dim(x, idx, dim)), expected)
    check_gradients(lambda t: t.take_along_dim(idx, dim) * 2.0, (x,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["tril", "triu"])
@given(shape=shapes(min_dims=2, max_dims=3), seed=seeds, diagonal=st.integers(-3, 3))
def test_tril_triu(device, name, shape, seed, diagonal):
    x = tensor(shape, seed, device)
    y = getattr(minigen, name)(x, diagonal)
    assert np.array_equal(values(y), getattr(np, name)(values(x), diagonal))
    check_gradients(lambda t: getattr(t, name)(diagonal) * t, (x,))


# --- embeddings and one-hot codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(seed=seeds, rows=st.integers(1, 5), width=st.integers(1, 3), index_shape=shapes(max_dims=2), data=st.data())
def test_embedding(device, seed, rows, width, index_shape, data):
    weight = tensor((rows, width), seed, device)
    index = np.random.default_rng(seed).integers(0, rows, index_shape)
    padding_idx = data.draw(st.none() | st.integers(-rows, rows - 1))
    idx = minigen.tensor(index, device=device)
    y = embedding(idx, weight, padding_idx)
    assert np.array_equal(values(y), values(weight)[index])
    # The padding row gets no gradient: mask its uses so the numeric derivative agrees.
    keep = np.ones(index.shape + (1,)) if padding_idx is None else (index != padding_idx % rows)[..., None]
    keep = minigen.tensor(keep.astype(np.float64), device=device)
    check_gradients(lambda w: embedding(idx, w, padding_idx) * embedding(idx, w, padding_idx) * keep, (weight,))


def test_embedding_padding_row_gets_no_gradient():
    weight = minigen.ones(4, 2, requires_grad=True)
    embedding(minigen.tensor([[0, 2, 2], [3, 2, 0]]), weight, padding_idx=2).sum().backward()
    assert weight.grad.tolist() == [[2.0, 2.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    assert weight.grad.dtype == minigen.float32


@given(seed=seeds, index_shape=shapes(max_dims=3), classes=st.integers(1, 5), infer=st.booleans())
def test_one_hot(seed, index_shape, classes, infer):
    index = np.random.default_rng(seed).integers(0, classes, index_shape)
    if infer and index.size:
        codes = one_hot(minigen.tensor(index))
        classes = int(index.max()) + 1
    else:
        codes = one_hot(minigen.tensor(index), classes)
    assert codes.dtype == minigen.int64 and np.array_equal(codes.numpy(), np.eye(classes, dtype=np.int64)[index])


# --- errors ------------------------------------------------------------------------------------------------------


MATRIX = minigen.ones(3, 4)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: MATRIX[3], IndexError, r"getitem: index 3 is out of range for dim 0 of size 3 \(shape \(3, 4\)\)"),
        (lambda: MATRIX[:, -5], IndexError, "getitem: index -5 is out of range for dim 1 of size 4"),
        (lambda: MATRIX[[0, 7]], IndexError, "getitem: index 7 is out of range for dim 0 of size 3"),
        (lambda: MATRIX[..., minigen.tensor([-5])], IndexError, "getitem: index -5 .* dim 1 of size 4"),
        (lambda: MATRIX[minigen.tensor([True, False])], IndexError,
         r"getitem: boolean mask of shape \(2,\) does not match the shape \(3,\) of dims 0..0"),
        (lambda: MATRIX[:, :, 0], IndexError, r"getitem: too many indices \(3\) for a tensor of shape \(3, 4\)"),
        (lambda: MATRIX[..., ...], IndexError, "getitem: an index can hold only one ellipsis"),
        (lambda: MATRIX[minigen.tensor([0.5])], IndexError, "getitem: tensors used as indices must be integer or bool"),
        (lambda: MATRIX["a"], IndexError, "getitem: unsupported index 'a'"),
        (lambda: MATRIX[::0], ValueError, "getitem: slice step cannot be zero"),
        (lambda: MATRIX.gather(1, minigen.tensor([[4]])), IndexError,
         r"gather: index 4 is out of range for dim 1 of size 4 \(shape \(3, 4\)\)"),
        (lambda: MATRIX.gather(1, minigen.tensor([[-1]])), IndexError, "gather: index -1 is out of range"),
        (lambda: MATRIX.gather(1, minigen.tensor([0])), RuntimeError, "gather: index must have as many dims"),
        (lambda: MATRIX.gather(0, minigen.tensor([[0] * 5])), RuntimeError,
         r"gather: index of shape \(1, 5\) is larger than input \(3, 4\) in dim 1"),
        (lambda: MATRIX.gather(0, minigen.tensor([[0.0]])), TypeError, "gather: index must be an integer tensor"),
        (lambda: minigen.ones(3).scatter_add(0, minigen.tensor([0, 1]), minigen.ones(1)), RuntimeError,
         r"scatter_add: index of shape \(2,\) is larger than input \(3,\) and src \(1,\) in dim 0"),
        (lambda: minigen.ones(3).scatter_add(0, minigen.tensor([0]), minigen.ones(1, dtype=minigen.float64)),
         RuntimeError,
         "scatter_add: src dtype float64 must match input dtype float32"),
        (lambda: MATRIX.index_select(0, minigen.tensor([[0]])), RuntimeError, "index_select: index must be 0-d or 1-d"),
        (lambda: MATRIX.index_select(1, minigen.tensor([4])), IndexError,
         "index_select: index 4 is out of range for dim 1"),
        (lambda: MATRIX.take_along_dim(minigen.tensor([0]), 0), RuntimeError,
         "take_along_dim: input and indices must have the same number of dims"),
        (lambda: MATRIX.take_along_dim(minigen.tensor([[0], [1]]), 1), RuntimeError,
         r"take_along_dim: shapes \(3, 4\) and \(2, 1\) do not broadcast outside dim 1"),
        (lambda: MATRIX.masked_select(minigen.tensor([True, False])), RuntimeError,
         r"masked_select: mask of shape \(2,\) does not broadcast with input of shape \(3, 4\)"),
        (lambda: MATRIX.masked_select(minigen.ones(4)), TypeError, "masked_select: mask must be a bool tensor"),
        (lambda: minigen.tril(minigen.ones(3)), RuntimeError,
         r"tril: input must have at least 2 dims, got shape \(3,\)"),
        (lambda: embedding(minigen.tensor([5]), minigen.ones(3, 2)), IndexError,
         r"embedding: index 5 is out of range for dim 0 of size 3 \(shape \(3, 2\)\)"),
        (lambda: embedding(minigen.tensor([0]), minigen.ones(3)), RuntimeError, "embedding: weight must be 2-d"),
        (lambda: embedding(minigen.tensor([0]), minigen.ones(3, 2), padding_idx=3), IndexError,
         "embedding: padding_idx 3"),
        (lambda: one_hot(minigen.tensor([0, 3]), 3), RuntimeError,
         "one_hot: class value 3 is out of range for num_classes 3"),
        (lambda: one_hot(minigen.tensor([-1])), RuntimeError, "one_hot: class value -1 is out of range"),
        (lambda: one_hot(minigen.tensor([0.0])), TypeError, "one_hot: expected an integer tensor"),
        (lambda: one_hot(minigen.tensor([], dtype=minigen.int64)), RuntimeError, "one_hot: cannot infer num_classes"),
    ],
)
def test_errors_name_the_op_and_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()
