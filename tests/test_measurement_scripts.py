"""The issue-5 measurement scripts at tiny size: each writes its figures as JSON and as a markdown page with its
command, machine, seed and sample counts, and the page shows the figures the JSON holds."""

import json
import math

import pytest

from benchmarks import autoencoders, beta_vae_mig, vqvae
from minigen.data import load_mnist


@pytest.fixture
def _needs_mnist():
    try:
        load_mnist("test", labels=False, download=False)
    except (OSError, RuntimeError) as error:
        pytest.skip(f"MNIST is not available: {error}")


def _row(page, first_cell):
    """The cells of the markdown table row that starts with ``first_cell``."""
    (line,) = [line for line in page.splitlines() if line.startswith(f"| {first_cell}")]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def _provenance(page, command, seed, samples):
    (line,) = [line for line in page.splitlines() if line.startswith("| command | `")]
    assert command in line and f"| seed | {seed} |" in page and f"| samples | {samples}" in page
    assert "| machine | " in page and "| date | " in page and "| threads | " in page


def test_autoencoders_report_every_model_against_pca(tmp_path, _needs_mnist):
    argv = ["--epochs", "1", "--limit", "256", "--test-images", "200", "--probe-epochs", "1", "--jacobian-images",
            "10", "--models", "autoencoder,conv,sparse_l1,denoising_mask,contractive_closed_form",
            "--out", str(tmp_path / "autoencoders.json"), "--markdown", str(tmp_path / "autoencoders.md")]
    autoencoders.main(argv)
    report = json.loads((tmp_path / "autoencoders.json").read_text())
    page = (tmp_path / "autoencoders.md").read_text()
    _provenance(page, "python -m benchmarks.autoencoders --epochs 1 --limit 256", 0, "256 MNIST training images")
    results, references = report["results"], report["references"]
    assert set(results) == {"autoencoder", "conv", "sparse_l1", "denoising_mask", "contractive_closed_form"}
    assert set(references) == {"pca_k32", "pca_k256", "pixels"}
    for name, figures in results.items():
        cells = _row(page, f"{name} (k={figures['code_dim']}")
        assert cells[1] == f"{figures['test_mse']:.4f}" and 0 < figures["test_mse"] < 0.3
        pca = references["pca_k" + str(figures["code_dim"])]
        assert cells[2] == f"{pca['test_mse']:.4f}"
        assert cells[3] == f"{figures['test_psnr']:.2f}" == f"{10 * math.log10(1 / figures['test_mse']):.2f}"
        assert cells[7] == f"{figures['dead_unit_share']:.1%}"
        assert 0 <= figures["dead_unit_share"] <= figures["near_zero_share"] <= 1
        assert 0 <= figures["probe_accuracy"] <= 1
    assert results["contractive_closed_form"]["code_dim"] == 256 and results["sparse_l1"]["near_zero_share"] > 0
    assert _row(page, "denoising_mask |")[1] == f"{results['denoising_mask']['psnr_noisy']:.2f}"


def test_vqvae_reports_the_restart_ablation(tmp_path, _needs_mnist):
    argv = ["--epochs", "1", "--limit", "128", "--test-images", "100", "--num-embeddings", "16", "--embedding-dim", "8",
            "--hidden-channels", "8", "--batch-size", "64", "--out", str(tmp_path / "vqvae.json"),
            "--markdown", str(tmp_path / "vqvae.md")]
    vqvae.main(argv)
    report = json.loads((tmp_path / "vqvae.json").read_text())
    page = (tmp_path / "vqvae.md").read_text()
    _provenance(page, "python -m benchmarks.vqvae --epochs 1 --limit 128", 0, "128 MNIST training images x 1 epochs")
    assert list(report["results"]) == ["standard", "ema", "ema_no_restarts"]
    for variant, figures in report["results"].items():
        cells = _row(page, f"{variant} (")
        assert cells[1:5] == [f"{figures['test_reconstruction']:.5f}", f"{figures['test_psnr']:.2f}",
                              f"{figures['test_code_perplexity']:.1f}", f"{figures['test_code_usage']:.3f}"]
        assert 1 <= figures["test_code_perplexity"] <= 16 and 0 < figures["test_code_usage"] <= 1
        assert len(figures["epochs"]) == 1 and math.isfinite(figures["epochs"][0]["train_loss"])
    assert "restarts off" in _row(page, "ema_no_restarts (")[0] and report["results"]["ema"]["restart_after"] == 20


def test_beta_vae_mig_reports_mig_per_beta(tmp_path):
    argv = ["--betas", "1", "--train-images", "64", "--epochs", "1", "--test-images", "100", "--out", str(tmp_path),
            "--markdown", str(tmp_path / "beta_vae_mig.md")]
    beta_vae_mig.main(argv)
    report = json.loads((tmp_path / "results.json").read_text())
    page = (tmp_path / "beta_vae_mig.md").read_text()
    _provenance(page, "python -m benchmarks.beta_vae_mig --betas 1", 0, "64 procedural shapes")
    (result,) = report["results"]
    cells = _row(page, "1 |")
    assert cells[1] == f"{result['mig']:.3f}" and 0 <= result["mig"] <= 1 and result["beta"] == 1.0
    assert cells[-3] == f"{result['active_units']}/{result['latent_dim']}"
    assert (tmp_path / "beta_1" / "traversal_0.png").exists()
