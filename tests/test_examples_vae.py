"""The VAE, IWAE and VQ-VAE example scripts run end to end on a few hundred MNIST images: their figures are
sane, their plots are written, and ``minigen eval`` and ``minigen sample`` read their checkpoints."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigen import cli

ROOT = Path(__file__).resolve().parents[1]
UNIFORM_NLL = 784 * math.log(2)  # nats per image of coin flips for every pixel: any trained model beats it


def _run(script, *arguments, tmp_path):
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1")
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


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cli_reads(checkpoint, tmp_path, capsys, *eval_arguments):
    """``minigen eval`` on the checkpoint (its metrics) after ``minigen sample`` wrote a grid from it."""
    assert cli.main(["sample", str(checkpoint), "-n", "4", "--out", str(tmp_path / "cli_samples.png")]) == 0
    assert _is_png(tmp_path / "cli_samples.png")
    capsys.readouterr()
    assert cli.main(["eval", str(checkpoint), "--limit", "32", *eval_arguments]) == 0
    return json.loads(capsys.readouterr().out)


def test_vae_example_with_a_two_dimensional_latent(tmp_path, capsys):
    output = _run("vae.py", "--latent-dim", "2", "--epochs", "1", "--limit", "300", "--iwae-k", "5", tmp_path=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert f"IWAE-5 estimate of -log p(x): {metrics['test_nll_iwae_5']:.2f} nats" in output
    # the bound is at least the ELBO (up to noise), and three steps already beat coin flips
    assert 0 < metrics["test_nll_iwae_5"] <= -metrics["test_elbo"] + 2.0 and metrics["test_nll_iwae_5"] < UNIFORM_NLL
    for name in ("curves", "samples", "reconstructions", "interpolation", "manifold", "latent_scatter"):
        assert _is_png(tmp_path / f"{name}.png"), name
    figures = _cli_reads(tmp_path / "checkpoint.safetensors", tmp_path, capsys, "--iwae-k", "5")
    assert 0 < figures["test_nll_iwae_5"] < UNIFORM_NLL


def test_iwae_example_compares_both_models(tmp_path, capsys):
    output = _run("iwae.py", "--epochs", "1", "--limit", "300", "--eval-k", "5", "--eval-images", "50",
                  tmp_path=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for name, label in (("vae", "VAE "), ("iwae", "IWAE k=5")):
        figures = metrics[name]
        assert f"{label}" in output and f"-log p(x) ~= {figures['test_nll_iwae_5']:.2f} nats" in output
        assert 0 < figures["test_nll_iwae_5"] < UNIFORM_NLL and 0 <= figures["active_units"] <= 50
        assert _cli_reads(tmp_path / name / "checkpoint.safetensors", tmp_path, capsys)["test_loss"] > 0
    assert _is_png(tmp_path / "curves.png") and _is_png(tmp_path / "samples.png")


def test_vqvae_example_reports_its_codes_and_its_checkpoint_evaluates(tmp_path, capsys):
    _run("vqvae.py", "--epochs", "1", "--limit", "256", "--num-embeddings", "16", "--embedding-dim", "8",
         "--hidden-channels", "8", tmp_path=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 < metrics["test_reconstruction"] < 0.2  # per pixel, pixels in [0, 1]
    assert metrics["test_psnr"] == pytest.approx(10 * math.log10(1 / metrics["test_reconstruction"]))
    assert 1.0 <= metrics["test_code_perplexity"] <= 16 and 0 < metrics["test_code_usage"] <= 1
    assert metrics["test_code_perplexity"] <= 16 * metrics["test_code_usage"] + 1e-6  # at most the codes in use
    for name in ("reconstructions", "code_usage", "uniform_codes", "losses", "perplexity"):
        assert _is_png(tmp_path / f"{name}.png"), name
    assert cli.main(["eval", str(tmp_path / "checkpoint.safetensors"), "--limit", "32"]) == 0
    assert 0 < json.loads(capsys.readouterr().out)["test_psnr"] < 60
    assert cli.main(["sample", str(tmp_path / "checkpoint.safetensors")]) == 2
    assert "cannot sample" in capsys.readouterr().err
