"""VAE and IWAE: each term against its formula, the estimators against each other, PyTorch parity, training."""

import json
import math

import numpy as np
import pytest

import minigen
from minigen import cli
from minigen.models import IWAE, VAE
from minigen.models.vae import kl_normal_standard
from minigen.ops.reduce import logsumexp
from tests.helpers import DEVICES, train_losses

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


def test_kl_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(4, 3))
    log_variance = rng.normal(size=(4, 3)) * 0.5
    closed = VAE.kl_divergence(minigen.tensor(mu), minigen.tensor(log_variance)).numpy()
    per_dimension = kl_normal_standard(minigen.tensor(mu), minigen.tensor(log_variance)).numpy()
    np.testing.assert_allclose(per_dimension.sum(-1), closed, rtol=1e-12)
    # KL(q || p) = E_q[log q(z) - log p(z)], estimated with 400,000 draws of z ~ q
    eps = rng.standard_normal((400_000, 4, 3))
    z = mu + np.exp(0.5 * log_variance) * eps
    log_ratio = (-0.5 * eps**2 - 0.5 * log_variance + 0.5 * z**2).sum(-1)
    estimate = log_ratio.mean(0)
    stderr = log_ratio.std(0) / math.sqrt(len(eps))
    assert np.all(np.abs(estimate - closed) < 5 * stderr + 1e-3)


def _sine_and_square(z):
    """f(z) = sin(z_1) + z_2^2 / 2: E_q f = sin(mu_1) exp(-s_1^2 / 2) + (mu_2^2 + s_2^2) / 2."""
    return z[:, 0].sin() + 0.5 * z[:, 1] ** 2


def _exact_sine_and_square_gradient(mu, variance):
    """d E_q f / d (mu_1, mu_2, log s_1^2, log s_2^2) of ``_sine_and_square`` (d s^2 / d log s^2 = s^2)."""
    damping = math.exp(-variance[0] / 2)
    return np.array([math.cos(mu[0]) * damping, mu[1], -0.5 * variance[0] * math.sin(mu[0]) * damping,
                     0.5 * variance[1]])


def _per_draw_gradients(objective, mu, log_variance):
    """The gradient of ``objective`` (a sum over draws) w.r.t. every draw's own copy of (mu, log s^2): (N, 4)."""
    objective.backward()
    return np.concatenate([mu.grad.numpy(), log_variance.grad.numpy()], axis=1)


@pytest.mark.parametrize("integrand", ["sine_and_square", "decoder_log_likelihood"])
def test_reparameterised_gradient_agrees_with_the_score_function(integrand):
    """d/d(mu, log s^2) of E_{z ~ q}[f(z)], q = N(mu, diag s^2) in 2-d, two ways, both through minigen's autograd:

    pathwise (reparameterised):  E[ d f(mu + s eps) / d theta ],   eps ~ N(0, I)
    score function (REINFORCE):  E[ f(z) d log q(z; theta) / d theta ],   z ~ q held fixed

    Each is a mean over N draws with its standard error; they must agree within a few standard errors (and
    with the closed form where there is one). f is a toy integrand, or a VAE's reconstruction term
    log p(x | z) under a small fixed Bernoulli decoder.
    """
    draws, mu0, log_variance0 = 100_000, np.array([0.7, -0.4]), np.log([0.8, 0.5])
    decoder = VAE(image_size=2, hidden=(3,), latent_dim=2).double()
    x = minigen.tensor(np.array([1.0, 0.0, 1.0, 1.0]).reshape(1, 1, 2, 2)).expand(draws, 1, 2, 2)

    def f(z):
        if integrand == "sine_and_square":
            return _sine_and_square(z)
        return decoder.log_likelihood_of(x, decoder.decode(z))

    def leaves():
        return (minigen.tensor(np.tile(mu0, (draws, 1)), requires_grad=True),
                minigen.tensor(np.tile(log_variance0, (draws, 1)), requires_grad=True))

    eps = minigen.tensor(np.random.default_rng(5).standard_normal((draws, 2)))
    mu, log_variance = leaves()
    pathwise = _per_draw_gradients(f(VAE.reparameterize(mu, log_variance, eps)).sum(), mu, log_variance)
    mu, log_variance = leaves()
    z = VAE.reparameterize(mu, log_variance, eps).detach()
    # log q(z) = -1/2 sum_j [ (z_j - mu_j)^2 / s_j^2 + log s_j^2 + log 2 pi ]
    log_q = -0.5 * ((z - mu) ** 2 * (-log_variance).exp() + log_variance + math.log(2 * math.pi)).sum(1)
    score = _per_draw_gradients((f(z).detach() * log_q).sum(), mu, log_variance)

    means = {name: value.mean(0) for name, value in (("pathwise", pathwise), ("score", score))}
    errors = {name: value.std(0) / math.sqrt(draws) for name, value in (("pathwise", pathwise), ("score", score))}
    assert np.all(errors["score"] > errors["pathwise"])  # why the reparameterisation is used
    assert np.all(np.abs(means["pathwise"] - means["score"]) < 4 * np.hypot(errors["pathwise"], errors["score"]))
    if integrand == "sine_and_square":
        exact = _exact_sine_and_square_gradient(mu0, np.exp(log_variance0))
        for name in means:
            assert np.all(np.abs(means[name] - exact) < 4 * errors[name]), name
    else:  # a non-trivial target: the decoder's gradient is not zero in mu
        assert np.all(np.abs(means["pathwise"][:2]) > 10 * errors["pathwise"][:2])


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


@pytest.mark.torch
@pytest.mark.parametrize("k", [1, 4])
def test_vae_and_iwae_losses_and_gradients_match_torch(k):
    torch = pytest.importorskip("torch")
    from benchmarks.burda_runs import torch_loss, torch_mirror
    from minigen.interop import to_torch_state_dict

    minigen.manual_seed(11)
    model = IWAE(k=k, **SMALL, binarize=False) if k > 1 else VAE(**SMALL, binarize=False)
    mirror = torch_mirror(torch, image_size=8, hidden=SMALL["hidden"], latent_dim=SMALL["latent_dim"])
    mirror.load_state_dict(to_torch_state_dict(model.state_dict()))
    x = _images(count=5)
    eps = np.random.default_rng(12).standard_normal(((k,) if k > 1 else ()) + (5, 3)).astype(np.float32)
    terms = model.loss(minigen.tensor(x), eps=minigen.tensor(eps))
    terms["loss"].backward()
    reference = torch_loss(torch, mirror, torch.from_numpy(x), torch.from_numpy(eps))
    reference["loss"].backward()
    for name, value in reference.items():
        np.testing.assert_allclose(terms[name].item(), value.item(), rtol=1e-5, err_msg=name)
    gradients = dict(mirror.named_parameters())
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), gradients[name].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_given_noise_replaces_the_draws_and_is_checked():
    model = IWAE(k=3, **SMALL, binarize=False)
    x = minigen.tensor(_images())
    eps = minigen.randn(3, 6, 3)
    first, second = model.loss(x, eps=eps)["loss"].item(), model.loss(x, eps=eps)["loss"].item()
    assert first == second != model.loss(x)["loss"].item()
    with pytest.raises(ValueError, match=r"noise eps of shape \(3, 6, 3\), got \(6, 3\)"):
        model.loss(x, eps=minigen.randn(6, 3))
    with pytest.raises(ValueError, match=r"noise eps of shape \(6, 3\), got \(3, 6, 3\)"):
        VAE(**SMALL).loss(x, eps=eps)


def test_active_units_and_posterior_parameters_work_in_batches():
    model = VAE(**SMALL)
    x = minigen.tensor(_images(count=25))
    mu, log_variance = model.posterior_parameters(x, batch_size=7)
    with minigen.no_grad():
        whole = model.encode(x)
    # batches of 7 rows and one of 25 take different BLAS kernels: equal to float32 rounding, not bit for bit
    np.testing.assert_allclose(mu.numpy(), whole[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_variance.numpy(), whole[1].numpy(), rtol=1e-5, atol=1e-6)
    count, variances = model.active_units(x, threshold=0.0, batch_size=7)
    np.testing.assert_allclose(variances.numpy(), whole[0].numpy().var(0), rtol=1e-5)
    assert count == 3 and model.active_units(x, threshold=1e9)[0] == 0


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
    losses = train_losses(model, x, steps=30)
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
