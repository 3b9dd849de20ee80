"""The backend's CPU kernels and host-memory policy."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigen import backend

_SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -3.5])


def _one_thread_then_four(compute):
    """``compute()`` with one host thread and with four, the thread count restored afterwards."""
    previous = backend.get_num_threads()
    try:
        backend.set_num_threads(1)
        single = compute()
        backend.set_num_threads(4)
        return single, compute()
    finally:
        backend.set_num_threads(previous)


def _assert_all_equal(first, second):
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(["float16", "float32", "float64"]),
       scalar_other=st.booleans())
def test_branchless_where_matches_numpy_bit_for_bit(seed, dtype, scalar_other):
    rng = np.random.default_rng(seed)
    a = np.concatenate([rng.standard_normal(30), _SPECIAL]).astype(dtype).reshape(1, -1)
    b = 2.5 if scalar_other else np.concatenate([_SPECIAL, rng.standard_normal(30)]).astype(dtype)
    condition = rng.random((3, a.shape[1])) < 0.5
    got, expected = backend.where(condition, a, b), np.where(condition, a, b)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))  # NaN, -0.0 and signs included


def test_where_keeps_numpy_semantics_for_other_dtypes_and_scalars():
    condition = np.array([True, False])
    assert np.array_equal(backend.where(condition, np.array([1, 2]), 7), [1, 7])
    assert backend.where(condition, np.float32(1.0), 0.0).dtype == np.float32
    assert backend.where(True, np.float64(1.0), np.float64(2.0)) == 1.0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_freed_host_memory_is_kept_unless_the_system_allocator_is_asked_for():
    probe = "import minigen, sys; sys.stdout.write(str(minigen.backend.HOST_MEMORY_KEPT))"
    kept = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    system = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={"MINIGEN_HOST_ALLOCATOR": "system", "PATH": ""}).stdout
    assert system == "False"
    assert kept == "True"


_IDLE_BLAS_PROBE = """
import json, os, sys, time
import numpy as np
a = np.ones((512, 512), np.float32)
def cpu_while_idle():  # CPU time this process burns in a 0.1 s sleep right after a product
    assert (a @ a == 512).all()
    start = time.process_time()
    time.sleep(0.1)
    return time.process_time() - start
before = cpu_while_idle()
import minigen
after = cpu_while_idle()
json.dump([minigen.backend.BLAS_THREADS_QUIETED, os.environ.get("OPENBLAS_THREAD_TIMEOUT"), before, after],
          sys.stdout)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_idle_blas_threads_stop_spinning_after_import_unless_the_user_set_their_timeout():
    def probe(**environment):
        # this process's own minigen import has set OPENBLAS_THREAD_TIMEOUT: the probe starts without it
        inherited = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
        completed = subprocess.run([sys.executable, "-c", _IDLE_BLAS_PROBE], capture_output=True, text=True,
                                   check=True, env=dict(inherited, **environment))
        return json.loads(completed.stdout)

    if not backend._loaded_openblas():
        pytest.skip("NumPy's BLAS is not OpenBLAS")
    quieted, timeout, before, after = probe()
    assert quieted is True and timeout == backend.BLAS_THREAD_TIMEOUT
    # OpenBLAS's default spin keeps a worker busy through most of the sleep on a multi-core machine (before);
    # after minigen's import the workers sleep as soon as the product is done
    assert after < 0.05, (before, after)
    quieted, timeout, _, _ = probe(OPENBLAS_THREAD_TIMEOUT="28")
    assert quieted is False and timeout == "28"


def test_parallel_covers_the_range_once_in_disjoint_blocks():
    seen = np.zeros(1000, dtype=int)

    def task(start, stop):
        seen[start:stop] += 1

    previous = backend.get_num_threads()
    try:
        backend.set_num_threads(3)
        backend.parallel(task, 1000, work=10**7)
    finally:
        backend.set_num_threads(previous)
    assert (seen == 1).all()


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "silu", "gelu", "softplus", "leaky_relu", "softmax"])
def test_threaded_kernels_match_one_thread_bit_for_bit(name):
    import minigen

    x = minigen.tensor(np.random.default_rng(0).standard_normal((7, 50_001)).astype(np.float32),
                       requires_grad=True)
    fn = getattr(minigen.nn.functional, name)
    if name == "softmax":
        fn = lambda t: minigen.softmax(t, dim=-1)  # noqa: E731

    def forward_and_backward():
        y = fn(x)
        (gradient,) = minigen.grad(y, x, y)
        return y.detach().numpy(), gradient.numpy()

    _assert_all_equal(*_one_thread_then_four(forward_and_backward))


def test_set_num_threads_rejects_nonsense():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
            backend.set_num_threads(bad)


@pytest.mark.parametrize("norm", ["batch_norm", "group_norm", "layer_norm", "instance_norm"])
def test_threaded_normalisation_matches_one_thread(norm):
    import minigen
    import minigen.nn.functional as F

    rng = np.random.default_rng(1)
    x = minigen.tensor(rng.standard_normal((16, 8, 24, 24)).astype(np.float32), requires_grad=True)
    weight = minigen.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)
    bias = minigen.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)
    calls = {
        "batch_norm": lambda: F.batch_norm(x, None, None, weight, bias, training=True),
        "group_norm": lambda: F.group_norm(x, 4, weight, bias),
        "layer_norm": lambda: F.layer_norm(x, (24, 24)),
        "instance_norm": lambda: F.instance_norm(x, weight=weight, bias=bias),
    }

    def forward_and_backward():
        y = calls[norm]()
        inputs = [x] if norm == "layer_norm" else [x, weight, bias]
        return [y.detach().numpy()] + [g.numpy() for g in minigen.grad((y * y).sum(), inputs)]

    _assert_all_equal(*_one_thread_then_four(forward_and_backward))


@pytest.mark.parametrize("shapes", [((64, 3, 40, 40), (64, 3, 40, 40)), ((64, 3, 40, 40), (3, 1, 1)),
                                    ((1, 3, 40, 40), (64, 1, 40, 40)), ((300_000,), ()), ((64, 1, 1, 1), (64, 3, 40, 40))])
@pytest.mark.parametrize("ufunc", [np.add, np.subtract, np.multiply, np.divide])
def test_threaded_ufunc_broadcasts_like_numpy(shapes, ufunc):
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(shape).astype(np.float32) + 3 for shape in shapes)
    previous = backend.get_num_threads()
    try:
        backend.set_num_threads(3)
        threaded, scalar = backend.apply_ufunc(ufunc, a, b), backend.apply_ufunc(ufunc, a, 2.5)
    finally:
        backend.set_num_threads(previous)
    np.testing.assert_array_equal(threaded, ufunc(a, b))
    np.testing.assert_array_equal(scalar, ufunc(a, 2.5))
    assert threaded.dtype == np.float32 and scalar.dtype == np.float32



def test_spread_copies_a_broadcast_operand_over_short_trailing_axes_only():
    statistic = np.arange(8, dtype=np.float32).reshape(1, 8, 1, 1)
    spread = backend.spread(statistic, (64, 8, 7, 7))
    assert spread.shape == (1, 8, 7, 7) and spread.flags.c_contiguous
    np.testing.assert_array_equal(spread, np.broadcast_to(statistic, (1, 8, 7, 7)))
    assert backend.spread(statistic, (64, 8, 64, 64)) is statistic  # trailing loop already long
    per_sample = np.ones((64, 8, 1, 1), np.float32)
    assert backend.spread(per_sample, (64, 8, 7, 7)) is per_sample  # spread would be the result's size
    full = np.ones((64, 8, 7, 7), np.float32)
    assert backend.spread(full, full.shape) is full
    assert backend.spread(2.5, full.shape) == 2.5


def test_batch_norm_on_small_maps_is_bit_for_bit_the_same_without_spread(monkeypatch):
    import minigen
    import minigen.nn.functional as F

    rng = np.random.default_rng(3)
    x = minigen.tensor(rng.standard_normal((16, 8, 7, 7)).astype(np.float32) * 3 + 1, requires_grad=True)
    weight = minigen.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)
    bias = minigen.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)

    def forward_and_backward():
        y = F.batch_norm(x, None, None, weight, bias, training=True)
        return [y.detach().numpy()] + [g.numpy() for g in minigen.grad((y * y).sum(), [x, weight, bias])]

    spread = forward_and_backward()
    monkeypatch.setattr(backend, "spread", lambda operand, shape: operand)
    _assert_all_equal(spread, forward_and_backward())

def test_threaded_optimizer_step_matches_one_thread():
    import minigen

    def run():
        minigen.manual_seed(0)
        model = minigen.nn.Sequential(minigen.nn.Linear(300, 400), minigen.nn.Tanh(), minigen.nn.Linear(400, 300))
        optimizer = minigen.optim.Adam(model.parameters(), lr=1e-2)
        x = minigen.randn(64, 300)
        for _ in range(3):
            optimizer.zero_grad()
            (model(x) ** 2).mean().backward()
            optimizer.step()
        return [p.detach().numpy().copy() for p in model.parameters()]

    _assert_all_equal(*_one_thread_then_four(run))
