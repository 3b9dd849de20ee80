"""The VAE and IWAE example scripts run end to end on a few hundred MNIST images and write their plots."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script, *arguments, tmp_path):
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    completed = subprocess.run([sys.executable, str(ROOT / "examples" / script), *arguments, "--out", str(tmp_path)],
                               capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.fixture(autouse=True)
def _needs_mnist():
    from minigen.data import load_mnist

    try:
        load_mnist("test", labels=False, download=False)
    except (OSError, RuntimeError) as error:
        pytest.skip(f"MNIST is not available: {error}")


def test_vae_example_with_a_two_dimensional_latent(tmp_path):
    output = _run("vae.py", "--latent-dim", "2", "--epochs", "1", "--limit", "300", "--iwae-k", "5", tmp_path=tmp_path)
    assert "IWAE-5 estimate" in output
    for name in ("curves", "samples", "reconstructions", "interpolation", "manifold", "latent_scatter"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0, name


def test_iwae_example_compares_both_models(tmp_path):
    output = _run("iwae.py", "--epochs", "1", "--limit", "200", "--eval-k", "5", "--eval-images", "50",
                  tmp_path=tmp_path)
    assert "VAE " in output and "IWAE k=5" in output and "active units" in output
    assert (tmp_path / "curves.png").exists() and (tmp_path / "samples.png").exists()
