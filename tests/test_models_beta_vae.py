"""The beta-VAE: its KL warm-up through the training loop, a conv VAE on 64x64 shapes, the CLI and the example."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

import minigen
from minigen import cli, training
from minigen.data import DataLoader, ShapesDataset
from minigen.models import VAE, get_spec
from tests.helpers import DEVICES

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"image_size": 8, "hidden": (16,), "latent_dim": 3}
TINY_CONV = {"architecture": "conv", "image_size": 64, "channels": (4, 4, 8, 8), "hidden": (32,), "latent_dim": 4,
             "activation": "relu", "binarize": False}


class RecordingVAE(VAE):
    """A VAE whose training steps also log the KL weight they used."""

    def training_step(self, batch, optimizers):
        terms = super().training_step(batch, optimizers)
        terms["kl_weight"] = self.kl_weight
        return terms


def _binary_images(count, size=8, seed=0):
    return (np.random.default_rng(seed).random((count, 1, size, size)) < 0.4).astype(np.float32)


def _fit(model, epochs, tmp_path, start_epoch=0):
    loader = DataLoader((_binary_images(16),), batch_size=8, shuffle=True, seed=0)
    return training.fit(model, loader, model.configure_optimizers(1e-3), epochs=epochs, out_dir=tmp_path,
                        config={"model": "test"}, start_epoch=start_epoch, progress=False)


def test_fit_ramps_the_kl_weight_and_the_loss_uses_it(tmp_path):
    model = RecordingVAE(**SMALL, beta=4.0, warmup_epochs=4)
    history = _fit(model, 6, tmp_path)
    # beta_t = beta * min(1, epoch / warmup): two steps per epoch, epochs 0..5
    assert history["kl_weight"] == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 4.0]
    for loss, reconstruction, kl, weight in zip(history["loss"], history["reconstruction"], history["kl"],
                                                history["kl_weight"]):
        assert kl > 0 and loss == pytest.approx(reconstruction + weight * kl, rel=1e-6, abs=1e-4)


def test_resumed_training_continues_the_warm_up(tmp_path):
    model = RecordingVAE(**SMALL, beta=2.0, warmup_epochs=4)
    assert _fit(model, 5, tmp_path, start_epoch=3)["kl_weight"] == [1.5, 1.5, 2.0, 2.0]


def test_without_warm_up_the_weight_is_beta_from_the_start():
    model = VAE(**SMALL, beta=4.0)
    assert model.kl_weight == 4.0
    model.on_epoch_start(0)
    assert model.kl_weight == 4.0


def test_beta_scales_only_the_kl_term():
    x = minigen.tensor(_binary_images(6))
    terms = {}
    for beta in (1.0, 4.0):
        minigen.manual_seed(0)  # the same weights and the same reparameterisation noise
        terms[beta] = {name: value.item() for name, value in VAE(**SMALL, beta=beta).loss((x, None)).items()}
    assert terms[4.0]["reconstruction"] == pytest.approx(terms[1.0]["reconstruction"], rel=1e-6)
    assert terms[4.0]["kl"] == pytest.approx(terms[1.0]["kl"], rel=1e-6)
    assert terms[4.0]["loss"] - terms[1.0]["loss"] == pytest.approx(3.0 * terms[1.0]["kl"], rel=1e-4)
    assert terms[4.0]["elbo"] == pytest.approx(terms[1.0]["elbo"], rel=1e-6)  # the ELBO is beta's own bound at 1


@pytest.mark.parametrize("device", DEVICES)
def test_conv_vae_trains_on_64x64_shapes(device):
    images, _ = ShapesDataset().sample(32, 0)
    model = VAE(**TINY_CONV, beta=4.0).to(device)
    x = minigen.tensor(images, device=device)
    (optimizer,) = model.configure_optimizers(3e-3)
    losses = [model.training_step((x, None), [optimizer])["loss"] for _ in range(15)]
    assert all(math.isfinite(value) for value in losses)
    assert np.mean(losses[-3:]) < 0.98 * np.mean(losses[:3])
    with minigen.no_grad():
        mu, log_variance = model.encode(x[:5])
        assert mu.shape == log_variance.shape == (5, 4)
        assert model.reconstruct(x[:2]).shape == (2, 1, 64, 64)
    samples = model.sample(3)
    assert samples.shape == (3, 1, 64, 64) and samples.device == x.device
    assert 0.0 <= samples.min().item() and samples.max().item() <= 1.0


def test_registered_spec_is_the_paper_setting():
    spec = get_spec("beta_vae")
    assert spec.dataset == "shapes"
    assert spec.hyperparameters["beta"] == 4.0 and spec.hyperparameters["warmup_epochs"] == 10
    model = spec.build(**{key: value for key, value in spec.hyperparameters.items()
                          if key not in ("lr", "batch_size", "epochs")})
    assert model.image_shape == (1, 64, 64) and model.latent_dim == 10 and model.kl_weight == 0.0


def test_cli_trains_the_beta_vae_on_shapes(tmp_path, capsys):
    out = tmp_path / "beta_vae"
    assert cli.main(["train", "beta_vae", "--limit", "64", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "shapes" and metrics["steps"] == 1
    assert all(math.isfinite(metrics[name]) for name in ("test_loss", "test_reconstruction", "test_kl"))
    checkpoint = training.load_checkpoint(out / training.CHECKPOINT_NAME)
    assert checkpoint["config"]["model_arguments"]["beta"] == 4.0
    history = checkpoint["history"]
    assert history["loss"] == history["reconstruction"]  # epoch 0 of the warm-up: beta_t = 0
    assert (out / "samples.png").exists()
    assert cli.main(["sample", str(out / training.CHECKPOINT_NAME), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0


def test_example_trains_scores_and_plots(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("beta_vae_example", ROOT / "examples" / "beta_vae.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    metrics = example.main(["--limit", "64", "--epochs", "1", "--test-images", "100", "--traversals", "1",
                            "--quiet", "--out", str(tmp_path)])
    output = capsys.readouterr().out
    assert f"{metrics['mig']:.4g} (100 samples)" in output and "best latent" in output and "active" in output
    assert 0.0 <= metrics["mig"] <= 1.0 and len(metrics["kl_per_latent"]) == 10
    # the per-latent KL of the posterior means sums to the test KL term of the loss, image by image
    assert sum(metrics["kl_per_latent"]) == pytest.approx(metrics["test_kl"], rel=1e-4)
    assert 0 <= metrics["active_units"] <= 10 and math.isfinite(metrics["test_reconstruction"])
    for name in ("curves", "reconstructions", "samples", "traversal_0"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    assert cli.main(["eval", str(tmp_path / training.CHECKPOINT_NAME), "--limit", "16"]) == 0
    assert "test_kl" in json.loads(capsys.readouterr().out)
