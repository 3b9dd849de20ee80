"""The one place that knows NumPy from CuPy.

Everything above this module asks it for an array module (``xp``), a device,
a transfer or a random generator; nothing else imports ``cupy``. CuPy is
imported lazily, so a CPU-only install never pays for it and a missing CuPy is
reported only when a CUDA device is actually requested.

Host memory: on Linux with glibc, importing minigen asks malloc to keep the
memory NumPy frees for reuse instead of handing it back to the kernel (see
``keep_freed_host_memory``), the host-side counterpart of CuPy's memory pool.
``MINIGEN_HOST_ALLOCATOR=system`` leaves malloc as it is. It also makes
OpenBLAS's idle threads sleep soon after a product instead of spinning on the
cores minigen's own host threads need (see ``quiet_idle_blas_threads``).

Host threads: NumPy runs element-wise work and copies on one core (only its
BLAS is multithreaded). ``parallel`` spreads the big copies and fused
kernels of the CPU ops over a small pool (NumPy releases the GIL inside them),
``get_num_threads``/``set_num_threads`` size it, as in PyTorch; the default
is ``OMP_NUM_THREADS`` when set, else the cores this process may use.
"""

import ctypes
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_CUPY_INSTALL_HINT = (
    "install the CuPy extra that matches your CUDA toolkit: "
    "pip install 'minigen[cuda12]' or pip install 'minigen[cuda13]'"
)

_cupy = None


def cupy():
    """Import CuPy on first use; raise a clear error when it is unavailable."""
    global _cupy
    if _cupy is None:
        try:
            import cupy as cp
        except ImportError as error:
            raise RuntimeError(
                f"a CUDA device was requested but CuPy is not installed; {_CUPY_INSTALL_HINT}"
            ) from error
        try:
            count = cp.cuda.runtime.getDeviceCount()
        except Exception as error:  # CuPy raises its own CUDARuntimeError here
            raise RuntimeError(f"a CUDA device was requested but CUDA is unusable: {error}") from error
        if count == 0:
            raise RuntimeError("a CUDA device was requested but no GPU is visible")
        _cupy = cp
    return _cupy


def cuda_is_available():
    try:
        cupy()
    except RuntimeError:
        return False
    return True


class Device:
    """A device: ``cpu`` or ``cuda:N``. Compares equal to its string form."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, index = spec.partition(":")
        if kind == "cpu" and not index:
            self.type, self.index = "cpu", None
        elif kind == "cuda":
            if index and not index.isdigit():
                raise ValueError(f"device: bad CUDA index in {spec!r}")
            self.type, self.index = "cuda", int(index) if index else 0
        else:
            raise ValueError(f"device: unknown device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")

    def __str__(self):
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


CPU = Device("cpu")


def device_of(array):
    """The Device an array lives on."""
    if isinstance(array, (np.ndarray, np.generic)):
        return CPU
    return Device(f"cuda:{array.device.id}")


def array_module(array):
    """``numpy`` or ``cupy``, whichever owns ``array``."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    return cupy()


def module_for(device):
    """The array module that serves a device."""
    return np if Device(device).type == "cpu" else cupy()


def to_device(array, device):
    """Move an array to ``device``; returns the same object when it is already there."""
    device = Device(device)
    current = device_of(array)
    if current == device:
        return array
    if device.type == "cpu":
        return array.get()
    cp = cupy()
    with cp.cuda.Device(device.index):
        return cp.asarray(array)


def on_device(device):
    """A context that makes ``device`` current for CuPy allocations (a no-op on the CPU)."""
    device = Device(device)
    if device.type == "cpu":
        return _NullContext()
    return cupy().cuda.Device(device.index)


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- dtypes --------------------------------------------------------------------

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(dtype):
    global _default_float
    dtype = np.dtype(dtype)
    if dtype not in (float32, float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {dtype}")
    _default_float = dtype


def is_floating(dtype):
    return np.dtype(dtype).kind == "f"


# --- random numbers --------------------------------------------------------------

_seed = None
_generators = {}


def manual_seed(seed):
    """Seed every backend's generator; later draws on any device are reproducible."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def generator(device):
    """The random generator of ``device`` (NumPy or CuPy ``Generator``), created on first use."""
    device = Device(device)
    gen = _generators.get(device)
    if gen is None:
        # Each device gets its own stream derived from the one seed, so a CPU draw
        # does not shift the CUDA sequence and vice versa.
        seed = None if _seed is None else [_seed, 0 if device.type == "cpu" else 1 + device.index]
        if device.type == "cpu":
            gen = np.random.default_rng(seed)
        else:
            cp = cupy()
            with cp.cuda.Device(device.index):
                gen = cp.random.default_rng(None if seed is None else np.random.SeedSequence(seed).generate_state(1)[0])
        _generators[device] = gen
    return gen


# --- kernels that differ between NumPy and CuPy ----------------------------------------

# Same-width integer views of the float dtypes, for the branchless select below.
_BIT_VIEWS = {np.dtype("float16"): np.int16, np.dtype("float32"): np.int32, np.dtype("float64"): np.int64}


def where(condition, a, b):
    """``xp.where(condition, a, b)`` for arrays (or scalars, with an array ``a`` or ``b``).

    NumPy's ``where`` branches per element and mispredicts on the random masks
    of activations and dropout, running about five times slower than a pass of
    arithmetic. For float results on the CPU the choice is made on the bits
    instead: ``(a & m) | (b & ~m)`` with m all ones where ``condition`` holds,
    exact for every value (NaN and infinities included). CuPy's ``where`` is a
    plain fused kernel and is used as it is.
    """
    on_gpu = [v for v in (condition, a, b) if hasattr(v, "shape") and not isinstance(v, (np.ndarray, np.generic))]
    if on_gpu:
        return array_module(on_gpu[0]).where(condition, a, b)
    dtype = np.result_type(a, b)  # Python scalars stay weak, as in np.where
    a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    bits = _BIT_VIEWS.get(dtype)
    if bits is None:
        return np.where(condition, a, b)
    shape = np.broadcast_shapes(np.shape(condition), a.shape, b.shape)
    mask = np.empty(shape, bits)
    mask[...] = condition
    np.negative(mask, out=mask)  # True -> -1 (all bits set), False -> 0
    chosen = np.bitwise_and(a.view(bits), mask)
    np.invert(mask, out=mask)
    np.bitwise_and(b.view(bits), mask, out=mask)
    chosen |= mask
    return chosen.view(dtype)


def sum_over(a, axes, b=None):
    """sum(a [* b]) over ``axes``, kept as size-1 dims, by einsum: one pass, no product array,
    and several times faster than NumPy's sum over non-contiguous axes, as accurate."""
    # float16 would accumulate in float16; small sums keep NumPy's order (as PyTorch's, bit for bit, in tests)
    if a.dtype.itemsize < 4 or a.size < PARALLEL_GRAIN:
        return (a if b is None else a * b).sum(axis=tuple(axes), keepdims=True)
    letters = "abcdefghijklmnopqrstuvwxyz"[:a.ndim]
    kept = "".join(letter for axis, letter in enumerate(letters) if axis not in axes)
    operands = (a,) if b is None else (a, b)
    total = array_module(a).einsum(",".join([letters] * len(operands)) + "->" + kept, *operands)
    return total.reshape(tuple(1 if axis in axes else size for axis, size in enumerate(a.shape)))


# A broadcast operand whose trailing size-1 axes span fewer result elements than this is spread over them.
SHORT_LOOP = 4096


def spread(operand, shape):
    """A NumPy ``operand`` broadcast against ``shape``, copied out over its trailing size-1 axes where
    those make a short inner loop; anything else is returned as it is. The values are the same.

    NumPy runs a broadcast ufunc as one inner loop per run of the operand's
    trailing broadcast axes: a per-channel (1, C, 1, 1) statistic against
    (N, C, 7, 7) runs N * C loops of 49 elements, 2-4x slower than a copy of
    the same size. Spread to (1, C, 7, 7), the loops are C * 49 long. Only an
    operand that is still at most a quarter of the result once spread qualifies.
    """
    if type(operand) is not np.ndarray or operand.ndim != len(shape):
        return operand
    split = operand.ndim
    while split and operand.shape[split - 1] == 1:
        split -= 1
    trailing = math.prod(shape[split:])
    if not split or trailing == 1 or trailing >= SHORT_LOOP or 4 * operand.size * trailing > math.prod(shape):
        return operand
    return np.ascontiguousarray(np.broadcast_to(operand, operand.shape[:split] + tuple(shape[split:])))


# --- host memory ---------------------------------------------------------------------

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP_ALL = 2**31 - 1


def keep_freed_host_memory():
    """Make glibc's malloc reuse freed blocks instead of returning them to the kernel; True when done.

    glibc serves a large block (above 128 KiB to 32 MiB, adaptively) with a
    fresh mmap and unmaps it when freed, so every new activation, gradient or
    im2col buffer of a training step is paged in and zeroed by the kernel
    again: on a virtual machine the U-Net step spent 0.68 s per step in the
    kernel on 19,000 page faults, DiT's 2.1 s (see benchmarks/NOTES.md).
    With mmap off and trimming off, freed memory stays in malloc's free lists
    and the next step's arrays reuse it. The process keeps its high-water
    mark of memory, as a GPU memory pool does. Skipped (False) off glibc or
    with ``MINIGEN_HOST_ALLOCATOR=system``.
    """
    if os.environ.get("MINIGEN_HOST_ALLOCATOR", "cache") == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_ALL))


HOST_MEMORY_KEPT = keep_freed_host_memory()


# --- BLAS threads -------------------------------------------------------------------

# How long OpenBLAS's idle threads busy-wait for the next product before they sleep: 2**16 cycles,
# tens of microseconds (OpenBLAS's own default is 2**28, about 0.1 s).
BLAS_THREAD_TIMEOUT = "16"


def _loaded_openblas():
    """The OpenBLAS libraries mapped into this process (NumPy's, and any other) that can restart their threads."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1].lower()}
    except OSError:
        return []
    libraries = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(library, "openblas_read_env") and hasattr(library, "blas_thread_shutdown_"):
            libraries.append(library)
    return libraries


def quiet_idle_blas_threads():
    """Make OpenBLAS's idle threads sleep after tens of microseconds instead of 0.1 s of spinning; True when done.

    After every product OpenBLAS keeps its worker threads spinning for the
    next one for 2**28 cycles. minigen works between products (im2col, col2im,
    element-wise kernels) on its own host threads, and a spinning worker takes
    the core one of them needs: on 2 cores a process burnt 48 ms of CPU during
    a 50 ms sleep after one product, and a col2im right after a GEMM took 4.9
    ms instead of 2.7 (benchmarks/NOTES.md). ``OPENBLAS_THREAD_TIMEOUT``
    shortens the spin, but OpenBLAS reads it only when it starts its threads,
    which NumPy's import has done; so the threads are stopped (OpenBLAS's
    ``blas_thread_shutdown_``, what it does itself at a fork) and the next
    product starts them again with the new timeout. Skipped (False) when
    ``OPENBLAS_THREAD_TIMEOUT`` is already set (the user's choice stands, and
    28 restores OpenBLAS's default), off Linux, or when no OpenBLAS is loaded.
    """
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ or not sys.platform.startswith("linux"):
        return False
    libraries = _loaded_openblas()
    if not libraries:
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = BLAS_THREAD_TIMEOUT  # child processes start with it too
    for library in libraries:
        library.openblas_read_env()
        library.blas_thread_shutdown_()
    return True


BLAS_THREADS_QUIETED = quiet_idle_blas_threads()


# --- host threads -------------------------------------------------------------------

# Below this many elements a kernel runs on the calling thread: a task costs tens of microseconds.
PARALLEL_GRAIN = 1 << 16
# Elements a thread works on at a time: a few arrays of it stay in the core's L2 and the shared L3
# cache between passes, and each NumPy call is long enough that threads seldom wait for the GIL
# (with 64K-element pieces two threads ran slower than one).
CACHE_CHUNK = 1 << 19


def _default_threads():
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_threads = _default_threads()
_pool = None


def get_num_threads():
    """Threads the CPU ops split their copies and element-wise kernels over (not NumPy's BLAS threads)."""
    return _threads


def set_num_threads(count):
    """Use ``count`` host threads for the CPU ops' own parallel work (``torch.set_num_threads``)."""
    global _threads, _pool
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {count!r}")
    if _pool is not None:
        _pool.shutdown()
        _pool = None
    _threads = count


def parallel(task, size, work, cached=False):
    """Run ``task(start, stop)`` over ``range(size)`` in one contiguous block per thread.

    The blocks must write disjoint memory; ``work`` counts the elements the
    job touches. With ``cached``, each thread walks its block in pieces of
    about ``CACHE_CHUNK`` elements, so that a kernel of many passes keeps its
    operands and temporaries in cache between passes (DiT's GELU gradient,
    14 passes over (64, 196, 512), took 29 ms in pieces instead of 57 ms
    whole on one thread, 21 ms on two; a one-pass copy gains nothing). A job of fewer than two grains of work, or a one-thread
    setting, runs on the calling thread.
    """
    global _pool
    step = max(1, size * CACHE_CHUNK // max(work, 1) if cached else size)

    def pieces(start, stop):
        for piece in range(start, stop, step):
            task(piece, min(piece + step, stop))

    blocks = min(_threads, size, work // PARALLEL_GRAIN)
    if blocks <= 1:
        pieces(0, size)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads, thread_name_prefix="minigen")
    bounds = [size * i // blocks for i in range(blocks + 1)]
    futures = [_pool.submit(pieces, start, stop) for start, stop in zip(bounds[1:-1], bounds[2:])]
    pieces(bounds[0], bounds[1])
    for future in futures:
        future.result()


def cache_pieces(*arrays):
    """Matching flat pieces of about ``CACHE_CHUNK`` elements of same-shape C-contiguous NumPy arrays,
    for a loop of in-place passes that stays in cache; anything else is one piece, the arrays whole."""
    first = arrays[0]
    if not all(type(a) is np.ndarray and a.shape == first.shape and a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for start in range(0, max(first.size, 1), CACHE_CHUNK):
        yield tuple(a[start:start + CACHE_CHUNK] for a in flat)


def elementwise(kernel, *arrays):
    """``kernel(out, *arrays)`` into a new array like ``arrays[0]``, split over the host threads.

    ``kernel`` must be element-wise (out[i] from arrays[j][i] alone) and write
    ``out`` in place. Same-shape C-contiguous NumPy arrays are cut into flat
    blocks; anything else (CuPy, broadcasting, views) is one call.
    """
    first = arrays[0]
    out = array_module(first).empty_like(first)
    if not (type(first) is np.ndarray and all(
            type(a) is np.ndarray and a.shape == first.shape and a.flags.c_contiguous for a in arrays)):
        kernel(out, *arrays)
        return out
    flat = [a.reshape(-1) for a in (out, *arrays)]
    parallel(lambda start, stop: kernel(*(a[start:stop] for a in flat)), first.size, first.size, cached=True)
    return out


def apply_ufunc(ufunc, *operands):
    """``ufunc(*operands)`` (arrays and Python scalars, NumPy broadcasting), split over the host threads.

    The result is cut along its first axis; an array operand without that axis
    at full length (a broadcast bias, a scalar) goes whole to every block. Only
    float arrays of one dtype are split, so NumPy's own type resolution decides
    everything else.
    """
    arrays = [operand for operand in operands if type(operand) is np.ndarray]
    # small jobs (the operands' sizes bound the result's in all but outer-product broadcasts) run inline
    if not arrays or max(a.size for a in arrays) < 2 * PARALLEL_GRAIN:
        return ufunc(*operands)
    if any(a.dtype != arrays[0].dtype for a in arrays) or arrays[0].dtype.kind != "f":
        return ufunc(*operands)
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    size = math.prod(shape)
    operands = [spread(operand, shape) for operand in operands]
    if _threads == 1 or shape[0] == 1:
        return ufunc(*operands)
    out = np.empty(shape, arrays[0].dtype)

    def cut(operand, start, stop):
        if isinstance(operand, np.ndarray) and operand.ndim == len(shape) and operand.shape[0] == shape[0]:
            return operand[start:stop]
        return operand

    def task(start, stop):
        ufunc(*(cut(operand, start, stop) for operand in operands), out=out[start:stop])

    parallel(task, shape[0], size)
    return out


def in_blocks(kernel, shape, axes, *arrays):
    """Run ``kernel(*blocks)`` over blocks of ``arrays`` (of ``shape``) cut along the first axis not in ``axes``.

    For kernels that reduce over ``axes`` (normalisation, softmax): every group
    they reduce lies within one block, so the blocks are independent and go to
    the host threads (CuPy arrays: one call). An array that is size 1 along that
    axis (a broadcast weight or statistic) is passed whole, and so is None.
    """
    axis = next((a for a in range(len(shape)) if a not in axes and shape[a] > 1), None)
    if axis is None or any(array is not None and type(array) is not np.ndarray for array in arrays):
        kernel(*arrays)
        return

    def cut(array, start, stop):
        if array is not None and array.ndim == len(shape) and array.shape[axis] == shape[axis]:
            return array[(slice(None),) * axis + (slice(start, stop),)]
        return array

    def task(start, stop):
        kernel(*(cut(array, start, stop) for array in arrays))

    parallel(task, shape[axis], math.prod(shape), cached=True)
