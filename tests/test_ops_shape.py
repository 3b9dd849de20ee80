"""Property tests for shape ops: values against NumPy, gradcheck and gradgradcheck over drawn shapes and arguments."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigen
from helpers import DEVICES, check_gradients, seeds, shapes, tensor
from minigen.ops.shape import pad


def values(t):
    return t.detach().cpu().numpy()


@st.composite
def dim_of(draw, ndim, extra=0):
    """A dim of a tensor with ``ndim`` dims (``extra=1``: a place to insert one), possibly negative."""
    span = max(ndim + extra, 1)
    dim = draw(st.integers(0, span - 1))
    return dim - span if draw(st.booleans()) else dim


# --- reshapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=seeds, data=st.data())
def test_flatten(device, shape, seed, data):
    x = tensor(shape, seed, device)
    start = data.draw(dim_of(len(shape)))
    end = data.draw(dim_of(len(shape)))
    if len(shape) and start % len(shape) > end % len(shape):
        start, end = end, start
    y = minigen.flatten(x, start, end)
    if shape:
        first, last = start % len(shape), end % len(shape)
        expected = shape[:first] + (int(np.prod(shape[first : last + 1])),) + shape[last + 1 :]
    else:
        expected = (1,)
    assert y.shape == expected and np.array_equal(values(y).reshape(-1), values(x).reshape(-1))
    check_gradients(lambda t: t.flatten(start, end) * 2.0, (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3), seed=seeds, data=st.data())
def test_unflatten(device, shape, seed, data):
    x = tensor(shape, seed, device)
    dim = data.draw(dim_of(len(shape)))
    size = shape[dim]
    first = data.draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
    sizes = (first, -1) if data.draw(st.booleans()) else (first, size // first)
    y = minigen.unflatten(x, dim, sizes)
    d = dim % len(shape)
    assert y.shape == shape[:d] + (first, size // first) + shape[d + 1 :]
    check_gradients(lambda t: t.unflatten(dim, sizes) * 2.0, (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_side=2), seed=seeds, data=st.data())
def test_squeeze_and_unsqueeze(device, shape, seed, data):
    x = tensor(shape, seed, device)
    ndim = len(shape)
    several = st.lists(dim_of(ndim), max_size=3, unique_by=lambda d: d % max(ndim, 1)).map(tuple)
    dim = data.draw(st.none() | dim_of(ndim) | several)
    y = minigen.squeeze(x, dim)
    if dim is None:
        expected = np.squeeze(values(x)).shape
    else:
        chosen = {d % max(ndim, 1) for d in ((dim,) if isinstance(dim, int) else dim)}
        expected = tuple(s for i, s in enumerate(shape) if s != 1 or i not in chosen)
    assert y.shape == expected
    where = data.draw(dim_of(ndim, extra=1))
    z = x.unsqueeze(where)
    assert z.shape == np.expand_dims(values(x), where).shape
    check_gradients(lambda t: t.squeeze(dim).unsqueeze(0) * t.unsqueeze(where).sum(), (x,))


def test_contiguous_is_the_tensor_itself():
    x = minigen.ones(2, 3).permute(1, 0)
    assert x.contiguous() is x


# --- repeating -------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3, max_side=3), seed=seeds, data=st.data())
def test_repeat_and_tile(device, shape, seed, data):
    x = tensor(shape, seed, device)
    sizes = tuple(data.draw(st.lists(st.integers(0, 3), min_size=len(shape), max_size=len(shape) + 2)))
    y = x.repeat(*sizes)
    assert np.array_equal(values(y), np.tile(values(x), sizes))
    dims = tuple(data.draw(st.lists(st.integers(1, 3), max_size=len(shape) + 1)))
    assert np.array_equal(values(minigen.tile(x, dims)), np.tile(values(x), dims))
    check_gradients(lambda t: t.repeat(sizes) * t.tile(dims).sum(), (x,))


# --- joining and splitting ----------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=3), seed=seeds, data=st.data())
def test_cat(device, shape, seed, data):
    dim = data.draw(dim_of(len(shape)))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    parts = []
    for index, size in enumerate(sizes):
        part_shape = list(shape)
        part_shape[dim] = size
        parts.append(tensor(tuple(part_shape), seed + index, device))
    y = minigen.cat(parts, dim)
    assert np.array_equal(values(y), np.concatenate([values(p) for p in parts], axis=dim))
    check_gradients(lambda *ts: minigen.cat(ts, dim=dim), tuple(parts))


def test_cat_promotes_dtypes_and_skips_empty_vectors():
    a = minigen.ones(2, dtype=minigen.float32)
    assert minigen.cat([a, minigen.ones(1, dtype=minigen.float64)]).dtype == minigen.float64
    assert minigen.cat([minigen.tensor([1, 2]), a]).dtype == minigen.float32
    assert minigen.cat([minigen.tensor([True]), minigen.tensor([3])]).tolist() == [1, 3]
    assert minigen.cat([minigen.zeros(0), minigen.ones(2, 3)]).shape == (2, 3)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3, max_side=3), seed=seeds, count=st.integers(1, 3), data=st.data())
def test_stack(device, shape, seed, count, data):
    parts = tuple(tensor(shape, seed + i, device) for i in range(count))
    dim = data.draw(dim_of(len(shape), extra=1))
    y = minigen.stack(parts, dim)
    assert np.array_equal(values(y), np.stack([values(p) for p in parts], axis=dim))
    check_gradients(lambda *ts: minigen.stack(ts, dim) * 2.0, parts)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=5), seed=seeds, data=st.data())
def test_split(device, shape, seed, data):
    x = tensor(shape, seed, device)
    dim = data.draw(dim_of(len(shape)))
    size = shape[dim]
    if data.draw(st.booleans()):
        split_size = data.draw(st.integers(1, size + 1))
        expected = [min(split_size, size - start) for start in range(0, size, split_size)]
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=3)))
        split_size = [b - a for a, b in zip([0] + cuts, cuts + [size])]
        expected = split_size
    pieces = minigen.split(x, split_size, dim)
    assert isinstance(pieces, tuple) and [p.shape[dim] for p in pieces] == expected
    assert np.array_equal(np.concatenate([values(p) for p in pieces], axis=dim), values(x))
    # Only some pieces used: the others' gradients are zeros.
    check_gradients(lambda t: tuple(p * (i + 1.0) for i, p in enumerate(t.split(split_size, dim)) if i != 1), (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=5), seed=seeds, chunks=st.integers(1, 6), data=st.data())
def test_chunk(device, shape, seed, chunks, data):
    x = tensor(shape, seed, device)
    dim = data.draw(dim_of(len(shape)))
    size = shape[dim]
    step = -(-size // chunks)
    pieces = x.chunk(chunks, dim)
    assert [p.shape[dim] for p in pieces] == [min(step, size - start) for start in range(0, size, step)]
    check_gradients(lambda t: minigen.chunk(t, chunks, dim)[-1] * 3.0, (x,))


def test_chunk_and_split_match_torch_counts():
    assert [p.shape for p in minigen.zeros(6).chunk(4)] == [(2,), (2,), (2,)]
    assert [p.shape for p in minigen.zeros(5).chunk(4)] == [(2,), (2,), (1,)]
    assert [p.shape for p in minigen.zeros(0).chunk(3)] == [(0,)] * 3
    assert [p.shape for p in minigen.zeros(0).split(2)] == [(0,)]


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds, data=st.data())
def test_narrow(device, shape, seed, data):
    x = tensor(shape, seed, device)
    dim = data.draw(dim_of(len(shape)))
    size = shape[dim]
    start = data.draw(st.integers(0, size))
    length = data.draw(st.integers(0, size - start))
    given_start = start - size if start < size and data.draw(st.booleans()) else start
    y = x.narrow(dim, given_start, length)
    assert np.array_equal(values(y), np.take(values(x), range(start, start + length), axis=dim))
    check_gradients(lambda t: minigen.narrow(t, dim, given_start, length) * 2.0, (x,))


# --- reordering ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=seeds, data=st.data())
def test_flip(device, shape, seed, data):
    x = tensor(shape, seed, device)
    ndim = max(len(shape), 1)
    dims = tuple(data.draw(st.lists(dim_of(len(shape)), max_size=3, unique_by=lambda d: d % ndim)))
    expected = np.flip(values(x), tuple(d % ndim for d in dims)) if shape else values(x)
    assert np.array_equal(values(minigen.flip(x, dims)), expected)
    if dims:
        assert np.array_equal(values(x.flip(*dims)), expected)
    check_gradients(lambda t: minigen.flip(t, dims) * t, (x,))


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3), seed=seeds, data=st.data())
def test_roll(device, shape, seed, data):
    x = tensor(shape, seed, device)
    if not shape or data.draw(st.booleans()):
        shifts, dims = data.draw(st.integers(-5, 5)), None
        expected = np.roll(values(x), shifts)
    else:
        dims = tuple(data.draw(st.lists(dim_of(len(shape)), min_size=1, max_size=3)))
        shifts = tuple(data.draw(st.integers(-5, 5)) for _ in dims)
        expected = np.roll(values(x), shifts, axis=dims)
    assert np.array_equal(values(minigen.roll(x, shifts, dims)), expected)
    check_gradients(lambda t: t.roll(shifts, dims) * t, (x,))


# --- padding ----------------------------------------------------------------------------------------------

NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@st.composite
def pad_widths(draw, shape, mode):
    """A torch-style pad tuple (last dim first) valid for ``mode``."""
    count = draw(st.integers(0, len(shape)))
    widths = []
    for size in reversed(shape[len(shape) - count :]):
        if mode == "constant":
            before = draw(st.integers(-size, 2))
            after = draw(st.integers(-(size - max(-before, 0)), 2))
        elif mode == "reflect":
            before, after = draw(st.integers(0, size - 1)), draw(st.integers(0, size - 1))
        elif mode == "circular":  # a negative width crops first; the rest wraps around what is left
            before = draw(st.integers(1 - size, size))
            after = draw(st.integers(0, size + min(before, 0)))
        else:
            before, after = draw(st.integers(1 - size, 3)), draw(st.integers(0, 3))
        widths += [before, after]
    return tuple(widths)


def numpy_pad(array, widths, mode, value):
    pairs = [(0, 0)] * array.ndim
    for k in range(len(widths) // 2):
        pairs[array.ndim - 1 - k] = (widths[2 * k], widths[2 * k + 1])
    crop = tuple(slice(max(-b, 0), array.shape[d] - max(-a, 0)) for d, (b, a) in enumerate(pairs))
    array = array[crop]
    grow = [(max(b, 0), max(a, 0)) for b, a in pairs]
    if array.ndim == 0:
        return array
    if mode == "constant":
        return np.pad(array, grow, mode="constant", constant_values=value)
    return np.pad(array, grow, mode=NUMPY_PAD_MODES[mode])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@given(shape=shapes(max_dims=3, max_side=3), seed=seeds, data=st.data())
def test_pad(device, mode, shape, seed, data):
    x = tensor(shape, seed, device)
    widths = data.draw(pad_widths(shape, mode))
    value = data.draw(st.sampled_from([None, 1.5])) if mode == "constant" else None
    y = pad(x, widths, mode=mode, value=value)
    assert np.array_equal(values(y), numpy_pad(values(x), widths, mode, value or 0.0))
    check_gradients(lambda t: pad(t, widths, mode, value) * 2.0, (x,))


def test_pad_keeps_dtype_and_crops_into_a_view():
    x = minigen.arange(6, dtype=minigen.int32).reshape(2, 3)
    assert pad(x, (1, 1), value=7).dtype == minigen.int32
    assert pad(x, (1, 1), value=7).tolist() == [[7, 0, 1, 2, 7], [7, 3, 4, 5, 7]]
    assert np.shares_memory(pad(x, (-1, 0)).data, x.data)
    assert pad(minigen.ones(2, dtype=minigen.float16), (1, 0), mode="replicate").dtype == minigen.float16


# --- dtypes and errors -----------------------------------------------------------------------------------


def test_shape_ops_keep_dtype():
    x = minigen.ones(2, 3, dtype=minigen.float16)
    results = [x.flatten(), x.unflatten(1, (3, 1)), x.squeeze(), x.unsqueeze(0), x.repeat(2, 1), minigen.tile(x, (2,)),
               minigen.cat([x, x]), minigen.stack([x, x]), x.split(1)[0], x.chunk(2)[0], x.narrow(1, 0, 2),
               x.flip(0), x.roll(1), pad(x, (1, 1)), pad(x, (1, 1), mode="reflect")]
    assert all(r.dtype == minigen.float16 for r in results)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: minigen.cat([minigen.ones(2, 3), minigen.ones(3, 3)], 1), RuntimeError,
         r"cat: tensors must have the same shape except in dim 1, got \(2, 3\) and \(3, 3\)"),
        (lambda: minigen.cat([minigen.ones(2, 3), minigen.ones(3)]), RuntimeError, r"cat: .*\(2, 3\) and \(3,\)"),
        (lambda: minigen.cat([minigen.tensor(1.0)]), RuntimeError, "cat: zero-dimensional"),
        (lambda: minigen.cat([]), TypeError, "cat: expected a non-empty sequence"),
        (lambda: minigen.cat([minigen.ones(2)], 1), IndexError, "cat: dim 1 is out of range"),
        (lambda: minigen.stack([minigen.ones(2, 3), minigen.ones(3, 3)]), RuntimeError,
         r"stack: expects each tensor to be equal size, got \(2, 3\) at entry 0 and \(3, 3\) at entry 1"),
        (lambda: minigen.ones(5).split(0), RuntimeError, "split: split_size must be positive"),
        (lambda: minigen.ones(5).split([2, 2]), RuntimeError, r"split: sections \[2, 2\] .* size 5"),
        (lambda: minigen.ones(5).chunk(0), RuntimeError, "chunk: chunks must be positive"),
        (lambda: minigen.ones(2, 4).narrow(1, 3, 2), IndexError, r"narrow: start 3 and length 2 .* size 4"),
        (lambda: minigen.ones(2, 3).flatten(1, 0), RuntimeError, "flatten: start_dim 1 comes after end_dim 0"),
        (lambda: minigen.ones(2, 6).unflatten(1, (4, -1)), RuntimeError, r"unflatten: sizes \(4, -1\) .* size 6"),
        (lambda: minigen.ones(2).unsqueeze(3), IndexError, r"unsqueeze: dim 3 is out of range \[-2, 1\]"),
        (lambda: minigen.ones(2).squeeze(1), IndexError, "squeeze: dim 1 is out of range"),
        (lambda: minigen.ones(2, 3).repeat(2), RuntimeError, "repeat: 1 repeat sizes"),
        (lambda: minigen.ones(2, 3).flip(0, -2), RuntimeError, "flip: dims .* more than once"),
        (lambda: minigen.ones(2, 3).roll((1, 2), 0), RuntimeError, "roll: shifts .* same length"),
        (lambda: pad(minigen.ones(2, 3), (1, 2, 3)), ValueError, "pad: padding .* even length"),
        (lambda: pad(minigen.ones(3), (-2, -2)), RuntimeError, "pad: padding .* crops more than the size 3 of dim 0"),
        (lambda: pad(minigen.ones(1, 3), (3, 0), mode="reflect"), RuntimeError,
         r"pad: reflect padding \(3, 0\) must be smaller than the size 3 of dim 1"),
        (lambda: pad(minigen.ones(1, 3), (4, 0), mode="circular"), RuntimeError, "pad: circular padding .* at most"),
        (lambda: pad(minigen.ones(1, 0), (1, 0), mode="replicate"), RuntimeError, "pad: replicate padding needs"),
        (lambda: pad(minigen.ones(1, 3), (1, 0), mode="mirror"), ValueError, "pad: mode must be"),
        (lambda: pad(minigen.ones(1, 3), (1, 0), mode="reflect", value=2.0), ValueError,
         "pad: mode 'reflect' takes no value"),
    ],
)
def test_errors_name_the_op_and_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()
