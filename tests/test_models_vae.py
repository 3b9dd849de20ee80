"""VAE and IWAE: each term against its formula, the estimators against each other, PyTorch parity, training."""

import json
import math

import numpy as np
import pytest

import minigen
from minigen import cli
from minigen.models import IWAE, VAE
from minigen.ops.reduce import logsumexp
from tests.helpers import DEVICES

SMALL = {"image_size": 8, "hidden": (16, 12), "latent_dim": 3}


def _images(count=6, seed=0, size=8, binary=True):
    grey = np.random.default_rng(seed).random((count, 1, size, size), dtype=np.float32)
    return (grey < 0.4).astype(np.float32) if binary else grey


def _softplus(values):
    return np.logaddexp(0.0, values)


def test_bernoulli_log_likelihood_matches_formula():
    model = VAE(**SMALL)
    x = _images()
    logits = np.random.default_rng(1).normal(size=x.shape).astype(np.float32) * 3
    expected = (x * logits - _softplus(logits)).sum((1, 2, 3))
    got = model.log_likelihood_of(minigen.tensor(x), minigen.tensor(logits))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("scale", [None, 0.3])
def test_gaussian_log_likelihood_matches_formula(scale):
    model = VAE(**SMALL, likelihood="gaussian", decoder_scale=scale)
    if scale is None:  # a learned per-pixel scale, set away from its initial value
        model.log_scale.data[...] = np.random.default_rng(2).normal(size=model.log_scale.shape) * 0.5
    x = _images(binary=False)
    means = np.random.default_rng(1).random(x.shape).astype(np.float32)
    log_s = np.log(scale) if scale is not None else model.log_scale.detach().numpy()
    expected = (-(x - means) ** 2 / (2 * np.exp(2 * log_s)) - log_s - 0.5 * math.log(2 * math.pi)).sum((1, 2, 3))
    got = model.log_likelihood_of(minigen.tensor(x), minigen.tensor(means))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5)


def test_kl_matches_formula_and_monte_carlo():
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(4, 3))
    log_variance = rng.normal(size=(4, 3)) * 0.5
    closed = VAE.kl_divergence(minigen.tensor(mu), minigen.tensor(log_variance)).numpy()
    np.testing.assert_allclose(closed, 0.5 * (mu**2 + np.exp(log_variance) - log_variance - 1).sum(1), rtol=1e-12)
    # KL(q || p) = E_q[log q(z) - log p(z)], estimated with 400,000 draws of z ~ q
    eps = rng.standard_normal((400_000, 4, 3))
    z = mu + np.exp(0.5 * log_variance) * eps
    log_ratio = (-0.5 * eps**2 - 0.5 * log_variance + 0.5 * z**2).sum(-1)
    estimate = log_ratio.mean(0)
    stderr = log_ratio.std(0) / math.sqrt(len(eps))
    assert np.all(np.abs(estimate - closed) < 5 * stderr + 1e-3)


def test_reparameterised_gradient_matches_score_function_and_exact():
    """d/d(mu, log s^2) E_{z ~ N(mu, s^2)}[sin z] three ways: pathwise, score function, closed form."""
    mu0, log_variance0, draws = 0.7, math.log(0.8), 200_000
    # closed form: E[sin z] = sin(mu) exp(-s^2 / 2)
    variance = math.exp(log_variance0)
    exact = np.array([math.cos(mu0) * math.exp(-variance / 2), -0.5 * variance * math.sin(mu0) * math.exp(-variance / 2)])

    minigen.manual_seed(0)
    mu = minigen.tensor([mu0] * draws, dtype=minigen.float64, requires_grad=True)
    log_variance = minigen.tensor([log_variance0] * draws, dtype=minigen.float64, requires_grad=True)
    VAE.reparameterize(mu, log_variance).sin().mean().backward()
    pathwise = np.array([mu.grad.numpy().sum(), log_variance.grad.numpy().sum()])

    # score function: E[f(z) d log q(z) / d theta], with d/dmu = (z - mu)/s^2 and d/dlog s^2 = ((z-mu)^2/s^2 - 1)/2
    eps = np.random.default_rng(5).standard_normal(draws)
    z = mu0 + math.sqrt(variance) * eps
    f = np.sin(z)
    score = np.array([(f * eps / math.sqrt(variance)).mean(), (f * 0.5 * (eps**2 - 1)).mean()])
    np.testing.assert_allclose(pathwise, exact, atol=0.01)
    np.testing.assert_allclose(score, exact, atol=0.02)


def test_log_weights_are_the_elbo_integrand():
    """log w = log p(x|z) + log N(z; 0, I) - log N(z; mu, s^2), recomputed from the same draws."""
    model = VAE(**SMALL)
    x = minigen.tensor(_images())
    minigen.manual_seed(4)
    log_weights = model.log_weights(x, 5).detach().numpy()
    mu, log_variance = (value.detach().numpy() for value in model.encode(x))
    minigen.manual_seed(4)
    eps = minigen.randn(5, *mu.shape).numpy()
    z = mu + np.exp(0.5 * log_variance) * eps
    logits = model.decode(minigen.tensor(z.reshape(-1, 3).astype(np.float32))).detach().numpy().reshape(5, *x.shape)
    log_px = (x.numpy() * logits - _softplus(logits)).sum((2, 3, 4))
    log_prior = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_posterior = (-0.5 * eps**2 - 0.5 * log_variance - 0.5 * math.log(2 * math.pi)).sum(-1)
    np.testing.assert_allclose(log_weights, log_px + log_prior - log_posterior, rtol=1e-4, atol=1e-3)


def test_log_likelihood_combines_chunks_exactly():
    model = VAE(**SMALL).eval()
    model.binarize = False
    x = minigen.tensor(_images())
    minigen.manual_seed(7)
    chunked = model.log_likelihood(x, k=7, chunk=3).numpy()
    minigen.manual_seed(7)
    with minigen.no_grad():
        pieces = [model.log_weights(x, size).numpy() for size in (3, 3, 1)]
    expected = logsumexp(minigen.tensor(np.concatenate(pieces)), 0).numpy() - math.log(7)
    np.testing.assert_allclose(chunked, expected, rtol=1e-6)
    # Jensen: the k-sample bound is never below the mean of the log-weights (the ELBO estimate) of the same draws
    assert np.all(chunked >= np.concatenate(pieces).mean(0) - 1e-4)


def _torch_mirror(torch, model, state):
    """The same MLP VAE in PyTorch, with minigen's parameter names."""
    from torch import nn

    mirror = nn.Module()
    mirror.encoder = nn.Module()
    mirror.encoder.network = nn.Sequential(
        nn.Flatten(), nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 12), nn.Tanh()))
    mirror.posterior = nn.Linear(12, 6)
    mirror.decoder = nn.Module()
    mirror.decoder.network = nn.Sequential(
        nn.Sequential(nn.Linear(3, 12), nn.Tanh(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 64)),
        nn.Unflatten(1, (1, 8, 8)))
    mirror.load_state_dict({name: torch.from_numpy(value.detach().numpy().copy()) for name, value in state.items()})
    return mirror


@pytest.mark.torch
@pytest.mark.parametrize("k", [1, 4])
def test_vae_and_iwae_losses_and_gradients_match_torch(k):
    torch = pytest.importorskip("torch")
    minigen.manual_seed(11)
    model = IWAE(k=k, **SMALL, binarize=False) if k > 1 else VAE(**SMALL, binarize=False)
    mirror = _torch_mirror(torch, model, model.state_dict())
    x = _images(count=5)
    minigen.manual_seed(12)
    eps = minigen.randn(*((k,) if k > 1 else ()), 5, 3).numpy()
    minigen.manual_seed(12)
    terms = model.loss(minigen.tensor(x))
    terms["loss"].backward()

    tx, teps = torch.from_numpy(x), torch.from_numpy(eps)
    mu, log_variance = mirror.posterior(mirror.encoder.network(tx)).chunk(2, dim=1)
    z = mu + (0.5 * log_variance).exp() * teps
    logits = mirror.decoder.network(z.reshape(-1, 3)).reshape(*teps.shape[:-2], *tx.shape)
    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, tx.expand(logits.shape), reduction="none").sum((-3, -2, -1))
    if k == 1:
        kl = 0.5 * (mu**2 + log_variance.exp() - log_variance - 1).sum(-1)
        loss = (-log_px + kl).mean()
        np.testing.assert_allclose(terms["kl"].item(), kl.mean().item(), rtol=1e-5)
        np.testing.assert_allclose(terms["reconstruction"].item(), -log_px.mean().item(), rtol=1e-5)
    else:
        log_weights = log_px + (0.5 * (teps**2 - z**2) + 0.5 * log_variance).sum(-1)
        loss = -(torch.logsumexp(log_weights, 0) - math.log(k)).mean()
    loss.backward()
    np.testing.assert_allclose(terms["loss"].item(), loss.item(), rtol=1e-5)
    gradients = dict(mirror.named_parameters())
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), gradients[name].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def _train(model, x, steps=30, lr=3e-3):
    optimizer = minigen.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        terms = model.loss((x, None))
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(terms["loss"].item())
    return losses


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", ["mlp", "conv", "gaussian", "iwae"])
def test_models_train_with_falling_loss(variant, device):
    minigen.manual_seed(0)
    arguments = {"mlp": SMALL,
                 "conv": dict(SMALL, architecture="conv", channels=(4, 8), activation="relu"),
                 "gaussian": dict(SMALL, likelihood="gaussian"),
                 "iwae": dict(SMALL, k=5)}[variant]
    model = (IWAE if variant == "iwae" else VAE)(**arguments).to(device)
    x = minigen.tensor(_images(count=32, binary=variant != "gaussian"), device=device)
    losses = _train(model, x)
    assert all(math.isfinite(value) for value in losses)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    samples = model.sample(4)
    assert samples.shape == (4, 1, 8, 8) and samples.device == x.device


def test_binarization_is_dynamic_in_training():
    model = VAE(**SMALL)
    grey = minigen.tensor(_images(binary=False))
    first, second = model.prepare((grey, None)).numpy(), model.prepare((grey, None)).numpy()
    assert set(np.unique(first)) <= {0.0, 1.0} and not np.array_equal(first, second)


def test_warm_up_schedule():
    model = VAE(**SMALL, beta=4.0, warmup_epochs=4)
    weights = []
    for epoch in range(6):
        model.on_epoch_start(epoch)
        weights.append(model.kl_weight)
    assert weights == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]


@pytest.mark.parametrize("arguments, message", [
    ({"likelihood": "poisson"}, "likelihood"),
    ({"architecture": "conv", "image_size": 28, "channels": (8, 8, 8)}, "divisible by 8"),
    ({"beta": -1.0}, "beta"),
])
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        VAE(**arguments)


def test_wrong_image_shape_is_named():
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 8, 8\), got \(2, 1, 28, 28\)"):
        VAE(**SMALL).loss(minigen.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="k must be >= 1"):
        IWAE(k=0)


def test_cli_trains_a_vae_and_reports_the_iwae_nll(tmp_path, capsys):
    out = tmp_path / "vae"
    assert cli.main(["train", "vae", "--limit", "64", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    assert (out / "samples.png").exists()
    capsys.readouterr()
    assert cli.main(["eval", str(out / "checkpoint.safetensors"), "--limit", "16", "--iwae-k", "20"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["test_nll_iwae_20"] > 0
    assert metrics["test_nll_iwae_20"] <= -metrics["test_elbo"] + 5.0  # the bound is tighter than the ELBO, up to noise
    assert cli.main(["eval", str(out / "checkpoint.safetensors"), "--iwae-k", "0"]) == 2
