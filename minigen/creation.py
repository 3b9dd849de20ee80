"""Tensor factories with PyTorch's names and defaults (float32 unless asked)."""

import numbers

import numpy as np

from . import backend
from .tensor import Tensor


def _finish(array, requires_grad):
    t = Tensor(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for s in size:
        if not isinstance(s, (numbers.Integral, np.integer)) or s < 0:
            raise ValueError(f"size must be non-negative integers, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _dtype(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _inferred_dtype(data):
    """PyTorch's inference: floats become the default float, ints int64, bools bool."""
    kind = np.asarray(data).dtype.kind
    if kind == "f":
        return backend.get_default_dtype()
    if kind in "iu":
        return backend.int64
    if kind == "b":
        return backend.bool_
    raise TypeError(f"tensor: cannot build a tensor from data of dtype {np.asarray(data).dtype}")


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor that copies ``data`` (a number, nested list, NumPy/CuPy array or Tensor)."""
    if isinstance(data, Tensor):
        data = data.data
    source_device = backend.CPU if isinstance(data, (list, tuple, numbers.Number, np.ndarray, np.generic)) else backend.device_of(data)
    device = source_device if device is None else backend.Device(device)
    if dtype is None:
        if isinstance(data, (np.ndarray, np.generic)) and data.dtype.kind == "f":
            dtype = data.dtype if data.dtype in (backend.float32, backend.float64, backend.float16) else backend.get_default_dtype()
        elif source_device.type == "cuda":
            dtype = data.dtype
        else:
            dtype = _inferred_dtype(data)
    dtype = np.dtype(dtype)
    if source_device.type == "cpu":
        array = np.array(data, dtype=dtype)
    else:
        array = data.astype(dtype, copy=True)
    return _finish(backend.to_device(array, device), requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype) and (device is None or data.device == device):
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a NumPy array (dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def _filled(fill, size, dtype, device, requires_grad):
    device = backend.Device(device or "cpu")
    xp = backend.module_for(device)
    with backend.on_device(device):
        return _finish(fill(xp, _size(size), _dtype(dtype)), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _filled(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _filled(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _filled(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = _inferred_dtype(fill_value)
    return _filled(lambda xp, s, d: xp.full(s, fill_value, d), (size,), dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _filled(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = backend.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else None
    return _filled(lambda xp, s, d: xp.arange(start, end, step, dtype=d), (), dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _filled(lambda xp, s, d: xp.linspace(start, end, steps, dtype=d), (), dtype, device, requires_grad)


def _like(factory):
    def like(input, dtype=None, device=None, requires_grad=False, **kwargs):
        return factory(
            *input.shape,
            dtype=input.dtype if dtype is None else dtype,
            device=input.device if device is None else device,
            requires_grad=requires_grad,
            **kwargs,
        )

    like.__name__ = factory.__name__ + "_like"
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device, requires_grad=requires_grad)


# --- random --------------------------------------------------------------------------


def _random(draw, size, dtype, device, requires_grad):
    device = backend.Device(device or "cpu")
    dtype = _dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"random floats need a floating dtype, got {dtype}")
    generator = backend.generator(device)
    with backend.on_device(device):
        # Draw in float64 when asked for it, float32 otherwise (both generators support these).
        draw_dtype = dtype if dtype in (backend.float32, backend.float64) else backend.float32
        array = draw(generator, _size(size), draw_dtype).astype(dtype, copy=False)
    return _finish(array, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    return _random(lambda g, s, d: g.random(s, dtype=d), size, dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    return _random(lambda g, s, d: g.standard_normal(s, dtype=d), size, dtype, device, requires_grad)


def normal(mean, std, size=None, dtype=None, device=None, requires_grad=False):
    """Normal draws; ``mean`` and ``std`` are numbers (with ``size``) or tensors (broadcast)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(np.shape(mean.data if isinstance(mean, Tensor) else mean),
                                    np.shape(std.data if isinstance(std, Tensor) else std))
        noise = randn(*shape, dtype=like.dtype, device=like.device)
        return (noise * std + mean).detach()
    if size is None:
        raise TypeError("normal: size is required when mean and std are numbers")
    t = randn(*_size((size,)), dtype=dtype, device=device)
    t.data = t.data * std + mean
    return _finish(t.data.astype(t.dtype, copy=False), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None):
    """Integers uniform on [low, high); ``randint(high, size)`` also works."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: size is required")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    device = backend.Device(device or "cpu")
    dtype = backend.int64 if dtype is None else np.dtype(dtype)
    with backend.on_device(device):
        array = backend.generator(device).integers(low, high, size=_size((size,)), dtype=backend.int64)
    return Tensor(array.astype(dtype, copy=False))


rand_like = _like(rand)
randn_like = _like(randn)


def randint_like(input, low, high=None, dtype=None, device=None):
    return randint(low, high, input.shape, dtype=input.dtype if dtype is None else dtype,
                   device=input.device if device is None else device)


def randperm(n, device=None):
    device = backend.Device(device or "cpu")
    with backend.on_device(device):
        return Tensor(backend.generator(device).permutation(n).astype(backend.int64))
