"""Deterministic autoencoders and their baselines: each term against its formula, the exact Jacobian penalty
against central differences, the closed form and PyTorch, PCA and the linear probe, training and the CLI."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigen
from minigen import cli
from minigen.models import (PCA, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder,
                            linear_probe)
from minigen.models.autoencoder import (code_statistics, jacobian_frobenius_squared, kl_sparsity, psnr,
                                        sigmoid_jacobian_frobenius_squared)
from tests.helpers import DEVICES, train_losses

SMALL = {"image_size": 8, "hidden": (16,), "code_dim": 4}
ONE_LAYER_SIGMOID = {"image_size": 8, "hidden": (), "code_dim": 5, "code_activation": "sigmoid"}


def _images(count=6, seed=0, size=8):
    return np.random.default_rng(seed).random((count, 1, size, size), dtype=np.float32)


def _sigmoid(values):
    return 1.0 / (1.0 + np.exp(-values))


# ---- loss terms against NumPy ------------------------------------------------------------------


@pytest.mark.parametrize("reconstruction", ["mse", "bce"])
def test_reconstruction_loss_matches_formula(reconstruction):
    model = Autoencoder(**SMALL, reconstruction=reconstruction)
    x = _images()
    logits = np.random.default_rng(1).normal(size=x.shape).astype(np.float32) * 3
    got = model.reconstruction_loss(minigen.tensor(logits), minigen.tensor(x)).item()
    p = _sigmoid(logits.astype(np.float64))
    if reconstruction == "mse":
        expected = ((p - x) ** 2).sum((1, 2, 3)).mean()
    else:
        expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum((1, 2, 3)).mean()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_loss_is_reconstruction_plus_weighted_penalties():
    model = SparseAutoencoder(**SMALL, l1_weight=0.3, kl_weight=2.0, target_activation=0.1)
    x = minigen.tensor(_images())
    terms = model.loss(x)
    z = model.encode(x).detach().numpy()
    logits = model.decoder(model.encode(x)).detach().numpy()
    np.testing.assert_allclose(terms["l1"].item(), np.abs(z).sum(1).mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["mse"].item(), ((_sigmoid(logits) - x.numpy()) ** 2).mean(), rtol=1e-5)
    expected = terms["reconstruction"].item() + 0.3 * terms["l1"].item() + 2.0 * terms["kl_sparsity"].item()
    np.testing.assert_allclose(terms["loss"].item(), expected, rtol=1e-5)


def test_kl_sparsity_matches_formula_and_its_gradient():
    rho = 0.05
    rho_hat = np.array([0.01, 0.05, 0.3, 0.9])
    mean_activation = minigen.tensor(rho_hat, requires_grad=True)
    value = kl_sparsity(mean_activation, rho)
    expected = (rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))).sum()
    np.testing.assert_allclose(value.item(), expected, rtol=1e-12)
    value.backward()
    np.testing.assert_allclose(mean_activation.grad.numpy(), -rho / rho_hat + (1 - rho) / (1 - rho_hat), rtol=1e-12)
    assert mean_activation.grad.numpy()[1] == pytest.approx(0.0, abs=1e-12)  # minimal at rho^ = rho
    # a saturated unit keeps the penalty finite
    assert math.isfinite(kl_sparsity(minigen.tensor([0.0, 1.0]), rho).item())


def test_sparse_penalty_uses_the_batch_mean_activation():
    model = SparseAutoencoder(**SMALL, kl_weight=3.0, target_activation=0.1)
    x = minigen.tensor(_images(count=10))
    terms = model.loss(x)
    rho_hat = model.encode(x).detach().numpy().astype(np.float64).mean(0)
    expected = (0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat))).sum()
    np.testing.assert_allclose(terms["kl_sparsity"].item(), expected, rtol=1e-5)
    assert "l1" not in terms


def test_code_statistics_count_near_zero_values_and_dead_units():
    codes = np.array([[0.0, 0.5, 0.02, 0.0], [0.0, 0.01, 0.3, 0.0], [0.04, 0.2, 0.0, 0.0]], np.float32)
    statistics = code_statistics(minigen.tensor(-codes), threshold=0.05)  # the sign does not matter
    assert statistics["mean_activation"] == pytest.approx(codes.mean(), rel=1e-6)
    assert statistics["near_zero_share"] == pytest.approx(9 / 12)
    assert statistics["dead_unit_share"] == pytest.approx(2 / 4)  # units 0 and 3 never reach 0.05


def test_sparse_evaluate_reports_the_statistics_of_all_test_codes():
    model = SparseAutoencoder(**SMALL, l1_weight=0.1, kl_weight=0.0, code_activation="relu").eval()
    images = _images(count=30)
    metrics = model.evaluate(minigen.data.DataLoader((images,), batch_size=7))
    expected = code_statistics(model.encode(minigen.tensor(images)), threshold=0.05)
    for name, value in expected.items():
        assert metrics[f"test_{name}"] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_masking_and_gaussian_corruption_statistics():
    x = minigen.ones(200, 1, 8, 8)
    masked = DenoisingAutoencoder(**SMALL, noise_std=0.0, drop_probability=0.3).corrupt(x).numpy()
    assert set(np.unique(masked)) <= {0.0, 1.0}
    assert (masked == 0).mean() == pytest.approx(0.3, abs=0.02)
    noisy = DenoisingAutoencoder(**SMALL, noise_std=0.4).corrupt(x).numpy() - 1.0
    assert noisy.mean() == pytest.approx(0.0, abs=0.01) and noisy.std() == pytest.approx(0.4, rel=0.02)


def test_denoising_corrupts_only_in_training_and_targets_the_clean_image():
    model = DenoisingAutoencoder(**SMALL, noise_std=0.5)
    x = minigen.tensor(_images())
    minigen.manual_seed(3)
    training = model.loss(x)["reconstruction"].item()
    minigen.manual_seed(3)
    noisy = model.corrupt(x)
    expected = ((model(noisy).detach().numpy() - x.numpy()) ** 2).sum((1, 2, 3)).mean()
    np.testing.assert_allclose(training, expected, rtol=1e-5)
    model.eval()
    clean = ((model(x).detach().numpy() - x.numpy()) ** 2).sum((1, 2, 3)).mean()
    np.testing.assert_allclose(model.loss(x)["reconstruction"].item(), clean, rtol=1e-5)


def test_psnr_of_gaussian_corruption_is_its_variance():
    assert psnr(0.01) == pytest.approx(20.0)
    assert psnr(0.0) == math.inf
    model = DenoisingAutoencoder(**SMALL, noise_std=0.25).eval()
    images = _images(count=400)
    loader = minigen.data.DataLoader((images,), batch_size=100, seed=0)  # a seed: the loader draws none
    minigen.manual_seed(9)
    metrics = model.evaluate(loader)
    assert metrics["test_psnr_noisy"] == pytest.approx(10 * math.log10(1 / 0.25**2), abs=0.05)
    assert metrics["test_psnr"] == pytest.approx(10 * math.log10(1 / metrics["test_mse"]))
    # the denoised figure from the same corruption, redrawn and pushed through the model batch by batch
    minigen.manual_seed(9)
    errors = []
    with minigen.no_grad():
        for start in range(0, 400, 100):
            clean = images[start:start + 100]
            errors.append((model(model.corrupt(minigen.tensor(clean))).numpy() - clean) ** 2)
    assert metrics["test_psnr_denoised"] == pytest.approx(-10 * math.log10(np.mean(errors)), abs=1e-4)


# ---- the contractive penalty -------------------------------------------------------------------


def _numeric_jacobian_norms(function, x, step=1e-6):
    """||J||_F^2 per example by central differences over every input value (float64)."""
    flat = x.reshape(len(x), -1)
    columns = []
    for index in range(flat.shape[1]):
        shift = np.zeros_like(flat)
        shift[:, index] = step
        plus = function((flat + shift).reshape(x.shape))
        minus = function((flat - shift).reshape(x.shape))
        columns.append((plus - minus) / (2 * step))
    return (np.stack(columns, -1) ** 2).sum((1, 2))


@pytest.mark.parametrize("arguments", [
    {"hidden": (7,), "activation": "tanh", "code_activation": "linear"},
    {"hidden": (6, 5), "activation": "silu", "code_activation": "sigmoid"},
    {"architecture": "conv", "hidden": (6,), "channels": (2, 3), "activation": "tanh"},
], ids=["mlp", "deep-mlp-sigmoid", "conv"])
def test_exact_jacobian_norm_matches_central_differences(arguments):
    model = Autoencoder(**{**SMALL, "code_dim": 3, **arguments}).double()
    x = np.random.default_rng(2).random((3, 1, 8, 8))
    exact = model.jacobian_frobenius_squared(minigen.tensor(x)).detach().numpy()

    def encode(values):
        with minigen.no_grad():
            return model.encode(minigen.tensor(values)).numpy()

    np.testing.assert_allclose(exact, _numeric_jacobian_norms(encode, x), rtol=1e-6)


def test_exact_jacobian_norm_equals_one_vjp_per_code_unit():
    """The stacked-copies trick against its definition: k separate vector-Jacobian products."""
    model = Autoencoder(**SMALL, activation="tanh").double()
    x = minigen.tensor(np.random.default_rng(4).random((5, 1, 8, 8)), requires_grad=True)
    z = model.encode(x)
    rows = [minigen.grad(z, x, grad_outputs=minigen.eye(4, dtype=minigen.float64)[j].expand(5, 4),
                         retain_graph=True)[0] for j in range(4)]
    loop = sum(row.square().sum((1, 2, 3)) for row in rows).numpy()
    np.testing.assert_allclose(model.jacobian_frobenius_squared(x.detach()).detach().numpy(), loop, rtol=1e-12)


def test_exact_and_closed_form_penalties_agree_in_value_and_weight_gradient():
    x = minigen.tensor(np.random.default_rng(5).random((6, 1, 8, 8)))
    gradients, values = {}, {}
    for jacobian in ("exact", "closed_form"):
        minigen.manual_seed(6)
        model = ContractiveAutoencoder(**ONE_LAYER_SIGMOID, contractive_weight=1.0, jacobian=jacobian).double()
        terms = model.loss(x)
        values[jacobian] = terms["contractive"].item()
        encoder = model.code[0]
        gradients[jacobian] = minigen.grad(terms["contractive"], [encoder.weight, encoder.bias])
    np.testing.assert_allclose(values["exact"], values["closed_form"], rtol=1e-12)
    for exact, closed in zip(gradients["exact"], gradients["closed_form"]):
        assert np.abs(exact.numpy()).max() > 0
        np.testing.assert_allclose(exact.numpy(), closed.numpy(), rtol=1e-10, atol=1e-14)


def test_closed_form_matches_central_differences():
    rng = np.random.default_rng(7)
    weight, bias, x = rng.normal(size=(5, 64)) * 0.3, rng.normal(size=5), rng.random((3, 1, 8, 8))

    def encode(values):
        return _sigmoid(values.reshape(len(values), -1) @ weight.T + bias)

    got = sigmoid_jacobian_frobenius_squared(minigen.tensor(encode(x)), minigen.tensor(weight)).numpy()
    np.testing.assert_allclose(got, _numeric_jacobian_norms(encode, x), rtol=1e-6)


def test_closed_form_model_reports_its_jacobian_norm_by_the_closed_form():
    model = ContractiveAutoencoder(**ONE_LAYER_SIGMOID, jacobian="closed_form").double()
    x = minigen.tensor(np.random.default_rng(14).random((4, 1, 8, 8)))
    exact = Autoencoder.jacobian_frobenius_squared(model, x, create_graph=False).numpy()
    np.testing.assert_allclose(model.jacobian_frobenius_squared(x).detach().numpy(), exact, rtol=1e-10)


def test_exact_penalty_weight_gradient_matches_central_differences():
    """The double backward, for a two-layer encoder: d penalty / d W1 against finite differences."""
    model = ContractiveAutoencoder(**SMALL, activation="tanh", contractive_weight=1.0).double()
    x = minigen.tensor(np.random.default_rng(8).random((4, 1, 8, 8)))
    weight = model.encoder.network[1][0].weight
    (analytic,) = minigen.grad(model.loss(x)["contractive"], [weight])
    direction = np.random.default_rng(9).normal(size=weight.shape)
    original, step = weight.data.copy(), 1e-6
    values = []
    for sign in (1.0, -1.0):
        weight.data[...] = original + sign * step * direction
        with minigen.no_grad():
            values.append(model.loss(x)["contractive"].item())
    weight.data[...] = original
    assert (analytic.numpy() * direction).sum() == pytest.approx((values[0] - values[1]) / (2 * step), rel=1e-6)


def test_jacobian_examples_limits_the_penalty_to_the_first_examples_in_training():
    model = ContractiveAutoencoder(**SMALL, jacobian_examples=2).double()
    x = minigen.tensor(np.random.default_rng(10).random((6, 1, 8, 8)))
    norms = model.jacobian_frobenius_squared(x, create_graph=False).numpy()
    assert model.loss(x)["contractive"].item() == pytest.approx(norms[:2].mean(), rel=1e-12)
    model.eval()
    assert model.loss(x)["contractive"].item() == pytest.approx(norms.mean(), rel=1e-12)


def test_jacobian_norm_is_computed_without_a_graph_under_no_grad():
    model = Autoencoder(**SMALL)
    with minigen.no_grad():
        norms = model.jacobian_frobenius_squared(minigen.tensor(_images()))
    assert not norms.requires_grad and norms.shape == (6,)
    with pytest.raises(ValueError, match=r"map \(B, ...\) to \(B, k\)"):
        jacobian_frobenius_squared(lambda values: values, minigen.tensor(_images()))


@pytest.mark.torch
def test_contractive_loss_and_gradients_match_torch():
    torch = pytest.importorskip("torch")
    model = ContractiveAutoencoder(**SMALL, activation="tanh", contractive_weight=0.5)
    x = _images(count=5)
    terms = model.loss(minigen.tensor(x))
    terms["loss"].backward()

    state = {name: torch.from_numpy(value.detach().numpy().copy()) for name, value in model.state_dict().items()}
    parameters = {name: value.requires_grad_() for name, value in state.items()}

    def linear(values, prefix):
        return values @ parameters[prefix + ".weight"].T + parameters[prefix + ".bias"]

    def encode(values):
        return linear(torch.tanh(linear(values.flatten(1), "encoder.network.1.0")), "code.0")

    tx = torch.from_numpy(x).requires_grad_()
    z = encode(tx)
    logits = linear(torch.tanh(linear(z, "decoder.network.0.0")), "decoder.network.0.2")
    reconstruction = ((torch.sigmoid(logits) - tx.flatten(1).detach()) ** 2).sum(1).mean()
    rows = [torch.autograd.grad(z[:, j].sum(), tx, create_graph=True)[0] for j in range(4)]
    contractive = sum((row**2).sum((1, 2, 3)) for row in rows).mean()
    loss = reconstruction + 0.5 * contractive
    loss.backward()
    np.testing.assert_allclose(terms["contractive"].item(), contractive.item(), rtol=1e-5)
    np.testing.assert_allclose(terms["loss"].item(), loss.item(), rtol=1e-5)
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), parameters[name].grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)


# ---- PCA and the linear probe ------------------------------------------------------------------


def test_pca_recovers_a_low_rank_subspace_and_matches_numpy():
    rng = np.random.default_rng(11)
    data = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 10)) + rng.normal(size=10)
    pca = PCA(3).fit(data)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(3), atol=1e-10)
    assert pca.reconstruction_mse(data) < 1e-10
    noisy = data + 0.1 * rng.normal(size=data.shape)
    pca = PCA(2).fit(noisy)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(noisy, rowvar=False)))[::-1]
    np.testing.assert_allclose(pca.explained_variance_, eigenvalues[:2], rtol=1e-8)
    # the error left is the variance of the dropped directions (per value, with the 1/N convention)
    expected = eigenvalues[2:].sum() * (len(noisy) - 1) / len(noisy) / noisy.shape[1]
    assert pca.reconstruction_mse(noisy) == pytest.approx(expected, rel=1e-4)
    codes = pca.transform(noisy)
    assert codes.shape == (200, 2) and codes.dtype == np.float32


def test_pca_flattens_images_and_names_bad_input():
    images = _images(count=30)
    pca = PCA(4).fit(minigen.tensor(images))
    assert pca.inverse_transform(pca.transform(images)).shape == (30, 64)
    with pytest.raises(RuntimeError, match="call fit first"):
        PCA(2).transform(images)
    with pytest.raises(ValueError, match="expected 64 values per example, got 16"):
        pca.transform(np.zeros((2, 16)))
    with pytest.raises(ValueError, match="exceeds"):
        PCA(100).fit(images)


@pytest.mark.parametrize("device", DEVICES)
def test_pca_and_linear_probe_take_codes_on_any_device(device):
    rng = np.random.default_rng(15)
    labels = rng.integers(0, 2, 200)
    codes = rng.normal(size=(200, 3)) + 3 * labels[:, None]
    on_device = minigen.tensor(codes.astype(np.float32), device=device)
    result = linear_probe(on_device[:150], labels[:150], on_device[150:], labels[150:], epochs=5, device=device)
    assert result["test_accuracy"] > 0.9
    pca = PCA(2).fit(on_device)
    assert pca.transform(on_device).shape == (200, 2) and pca.reconstruction_mse(on_device) < 1.0


def test_linear_probe_reads_separable_codes_and_not_noise():
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 3, 600)
    centres = rng.normal(size=(3, 5)) * 4
    codes = centres[labels] + rng.normal(size=(600, 5))
    result = linear_probe(codes[:500], labels[:500], codes[500:], labels[500:], epochs=20)
    assert result["test_accuracy"] > 0.95
    noise = linear_probe(rng.normal(size=(500, 5)), labels[:500], rng.normal(size=(100, 5)), labels[500:], epochs=5)
    assert noise["test_accuracy"] < 0.55
    with pytest.raises(ValueError, match="500 train codes for 100 labels"):
        linear_probe(codes[:500], labels[:100], codes[500:], labels[500:])


# ---- training ----------------------------------------------------------------------------------


VARIANTS = {
    "mlp": (Autoencoder, SMALL),
    "mlp-bce": (Autoencoder, dict(SMALL, reconstruction="bce")),
    "conv": (Autoencoder, dict(SMALL, architecture="conv", channels=(4, 8))),
    "sparse-kl": (SparseAutoencoder, dict(SMALL, kl_weight=1.0, target_activation=0.1)),
    "sparse-l1": (SparseAutoencoder, dict(SMALL, kl_weight=0.0, l1_weight=0.1, code_activation="relu")),
    "denoising": (DenoisingAutoencoder, dict(SMALL, noise_std=0.2, drop_probability=0.2)),
    "contractive": (ContractiveAutoencoder, dict(SMALL, contractive_weight=0.1)),
    "contractive-closed": (ContractiveAutoencoder, dict(ONE_LAYER_SIGMOID, jacobian="closed_form")),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_models_train_with_falling_loss(variant, device):
    model_class, arguments = VARIANTS[variant]
    model = model_class(**arguments).to(device)
    x = minigen.tensor(_images(count=64), device=device)
    losses = train_losses(model, x, steps=40)
    assert all(math.isfinite(value) for value in losses)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert model(x[:3]).shape == (3, 1, 8, 8) and model.encode(x[:3]).device == x.device
    with pytest.raises(NotImplementedError, match="cannot sample"):
        model.sample(2)


def test_contractive_training_lowers_the_jacobian_norm():
    x = minigen.tensor(_images(count=64))
    norms = {}
    for weight in (0.0, 1.0):
        minigen.manual_seed(13)
        model = ContractiveAutoencoder(**SMALL, contractive_weight=weight)
        train_losses(model, x, steps=60)
        norms[weight] = model.jacobian_frobenius_squared(x).mean().item()
    assert norms[1.0] < 0.5 * norms[0.0]


@pytest.mark.parametrize("model_class, arguments, message", [
    (Autoencoder, {"reconstruction": "l2"}, "reconstruction"),
    (Autoencoder, {"architecture": "conv", "image_size": 28, "channels": (8, 8, 8)}, "divisible by 8"),
    (Autoencoder, {"code_activation": "softmax"}, "code_activation"),
    (SparseAutoencoder, {"kl_weight": 0.0, "l1_weight": 0.0}, "not both 0"),
    (SparseAutoencoder, {"code_activation": "relu"}, "needs code_activation='sigmoid'"),
    (SparseAutoencoder, {"target_activation": 1.5}, "target_activation"),
    (DenoisingAutoencoder, {"noise_std": 0.0}, "not both"),
    (DenoisingAutoencoder, {"drop_probability": 1.0}, "drop_probability"),
    (ContractiveAutoencoder, {"jacobian": "closed_form"}, "one-layer sigmoid"),
    (ContractiveAutoencoder, {"jacobian_examples": 0}, "jacobian_examples"),
])
def test_bad_arguments_are_named(model_class, arguments, message):
    with pytest.raises(ValueError, match=message):
        model_class(**arguments)


def test_wrong_image_shape_is_named():
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 8, 8\), got \(2, 1, 28, 28\)"):
        Autoencoder(**SMALL).loss(minigen.zeros(2, 1, 28, 28))


@pytest.mark.parametrize("name", ["autoencoder", "conv_autoencoder", "sparse_autoencoder", "denoising_autoencoder",
                                  "contractive_autoencoder"])
def test_cli_trains_each_registered_autoencoder(name, tmp_path, capsys):
    out = tmp_path / name
    assert cli.main(["train", name, "--limit", "64", "--epochs", "1", "--batch-size", "32", "--out", str(out),
                     "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and math.isfinite(metrics["test_loss"]) and 0 < metrics["test_mse"] < 1
    assert not (out / "samples.png").exists()  # deterministic autoencoders cannot sample
    capsys.readouterr()
    assert cli.main(["eval", str(out / "checkpoint.safetensors"), "--limit", "32"]) == 0
    assert "test_psnr" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("variant, plot", [(["denoising", "--corruption", "mask"], "denoising"), (["sparse"], "codes")])
def test_example_script_reports_sane_figures_and_a_checkpoint_the_cli_reads(variant, plot, tmp_path, capsys):
    root = Path(__file__).resolve().parents[1]
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    completed = subprocess.run([sys.executable, str(root / "examples" / "autoencoder.py"), "--variant", *variant,
                                "--epochs", "1", "--limit", "300", "--out", str(tmp_path)],
                               capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 < metrics["pca_test_mse"] < metrics["test_mse"] < 0.25  # 3 steps: PCA at k = 32 still wins
    assert 0.0 <= metrics["autoencoder_probe_accuracy"] <= 1.0 and 0.5 < metrics["pca_probe_accuracy"] <= 1.0
    assert metrics["test_psnr"] == pytest.approx(10 * math.log10(1 / metrics["test_mse"]))
    if variant[0] == "sparse":
        assert 0.0 <= metrics["test_dead_unit_share"] <= metrics["test_near_zero_share"] <= 1.0
    else:  # masking half the pixels: the corrupted input is far from the clean image
        assert metrics["test_psnr_noisy"] < 15 and math.isfinite(metrics["test_psnr_denoised"])
    for name in ("curves", "reconstructions", "latent_scatter", plot):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    capsys.readouterr()
    assert cli.main(["eval", str(tmp_path / "checkpoint.safetensors"), "--limit", "100"]) == 0
    assert 0 < json.loads(capsys.readouterr().out)["test_mse"] < 0.25
