"""Smoke tests of the benchmark harness (``benchmarks/``): it runs, and both frameworks start from the same point.

No timings are asserted: timings belong in ``benchmarks/RESULTS.md``.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import run, workloads  # noqa: E402
from benchmarks.frameworks import Framework  # noqa: E402
from benchmarks.measure import build_models, first_losses  # noqa: E402

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")


def test_harness_times_one_tiny_step_and_writes_the_report(tmp_path):
    backends = "minigen-numpy,torch-cpu" if HAS_TORCH else "minigen-numpy"
    output = tmp_path / "RESULTS.md"
    measurements = run.main(["--workloads", "mlp_vae", "--backends", backends, "--steps", "1", "--warmup", "0",
                             "--output", str(output)])
    assert [backend for (_, _, backend) in measurements] == backends.split(",")
    for measurement in measurements.values():
        assert "error" not in measurement, measurement
        assert measurement["step_s"] > 0
        assert measurement["peak_host_bytes"] >= 0
        assert set(measurement["losses"]) == {"loss"}
    text = output.read_text()
    assert "| mlp_vae | minigen-numpy |" in text
    assert "CPU:" in text and "Threads" in text


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("workload", ["mlp_vae", "dcgan", "wgan_gp"])
def test_copied_weights_give_the_same_first_losses(workload):
    minigen_losses = first_losses(workload, "minigen-numpy")
    torch_losses = first_losses(workload, "torch-cpu")
    assert minigen_losses.keys() == torch_losses.keys()
    for name, value in minigen_losses.items():
        assert torch_losses[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("workload", workloads.NAMES)
def test_torch_models_receive_every_minigen_weight(workload):
    reference = build_models(workloads.load(workload), Framework("minigen-numpy"), seed=0)
    copied = build_models(workloads.load(workload), Framework("torch-cpu"), seed=0)
    assert reference.keys() == copied.keys()
    for name, model in reference.items():
        expected, actual = model.state_dict(), copied[name].state_dict()
        assert list(expected) == list(actual)
        for key, tensor in expected.items():
            np.testing.assert_array_equal(actual[key].numpy(), tensor.numpy(), err_msg=f"{name}.{key}")


@needs_torch
@pytest.mark.torch
def test_gemm_floor_traces_the_three_im2col_products_of_a_convolution():
    from benchmarks.gemm_floor import trace_gemms

    gemms, unhandled = trace_gemms("conv2d")
    rows, patch = 64 * 32 * 32, 32 * 3 * 3
    assert gemms == [(1, rows, patch, 64), (1, rows, 64, patch), (1, 64, rows, patch)]
    assert unhandled == []


def test_unknown_names_are_rejected():
    with pytest.raises(SystemExit, match="unknown workloads: gan"):
        run.parse_arguments(["--workloads", "gan"])
    with pytest.raises(SystemExit, match="unknown backends: jax"):
        run.parse_arguments(["--backends", "jax"])
