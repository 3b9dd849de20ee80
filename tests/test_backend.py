"""The backend's CPU kernels and host-memory policy."""

import platform
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigen import backend

_SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -3.5])


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
