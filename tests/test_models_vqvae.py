"""VQ-VAE: lookup and loss terms against NumPy, the straight-through and codebook gradients, the EMA step,
dead-code restarts, PyTorch parity, training and the command line."""

import json
import math

import numpy as np
import pytest

import minigen
from minigen import cli
from minigen.models import VQVAE, VectorQuantizer, VectorQuantizerEMA
from minigen.models.vqvae import perplexity
from tests.helpers import DEVICES

SMALL = {"hidden_channels": 8, "residual_channels": 4, "num_residual_blocks": 1, "num_embeddings": 16,
         "embedding_dim": 4}
BETA = 0.25


def _images(count=3, size=8, seed=0):
    return np.random.default_rng(seed).random((count, 1, size, size), dtype=np.float32)


def _brute_force_nearest(flat, codebook):
    """argmin over codes of the full (N, K, D) squared differences."""
    return ((flat[:, None, :] - codebook[None, :, :]) ** 2).sum(-1).argmin(1)


def _channels_last(z):
    return z.transpose(0, 2, 3, 1).reshape(-1, z.shape[1])


def _numpy(tensor):
    return tensor.detach().numpy()


def _entropy_perplexity(indices, count):
    p = np.bincount(indices.reshape(-1), minlength=count) / indices.size
    p = p[p > 0]
    return math.exp(-(p * np.log(p)).sum())


# --- the lookup and the loss terms ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_nearest_codes_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    quantizer = VectorQuantizer(32, 5)
    codebook = rng.normal(size=(32, 5)).astype(np.float32)
    quantizer.embedding.data[...] = codebook
    flat = rng.normal(size=(200, 5)).astype(np.float32)
    got = quantizer.nearest_codes(minigen.tensor(flat))
    assert got.dtype == minigen.int64 and got.shape == (200,)
    np.testing.assert_array_equal(got.numpy(), _brute_force_nearest(flat, codebook))


@pytest.mark.parametrize("codebook", ["standard", "ema"])
def test_loss_terms_match_numpy(codebook):
    model = VQVAE(**SMALL, codebook=codebook, restart_after=None).eval()
    x = _images()
    terms = model.loss((minigen.tensor(x), minigen.tensor(np.zeros(3, dtype=np.int64))))
    z_e = _channels_last(_numpy(model.encode(minigen.tensor(x))))
    embedding = _numpy(model.quantizer.embedding)
    indices = _brute_force_nearest(z_e, embedding)
    z_q = embedding[indices]
    reconstruction = _numpy(model.decode_indices(minigen.tensor(indices.reshape(3, 2, 2))))
    expected = {"reconstruction": ((reconstruction - x) ** 2).mean(),
                "commitment": BETA * ((z_e - z_q) ** 2).mean(),
                "perplexity": _entropy_perplexity(indices, 16)}
    if codebook == "standard":
        expected["codebook"] = ((z_q - z_e) ** 2).mean()
    expected["loss"] = sum(value for name, value in expected.items() if name != "perplexity")
    assert set(terms) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(terms[name].item(), value, rtol=1e-5, err_msg=name)


def test_perplexity_is_exp_entropy_of_code_usage():
    assert perplexity(minigen.tensor([5.0, 5.0, 5.0, 5.0])).item() == pytest.approx(4.0, rel=1e-6)
    assert perplexity(minigen.tensor([0.0, 7.0, 0.0])).item() == pytest.approx(1.0, rel=1e-6)
    counts = np.array([3.0, 1.0, 0.0, 4.0])
    p = counts[counts > 0] / counts.sum()
    assert perplexity(minigen.tensor(counts)).item() == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-6)


# --- gradients ---------------------------------------------------------------------------------------


def _quantize(quantizer, seed=0, shape=(2, 4, 3, 3)):
    z_e = minigen.tensor(np.random.default_rng(seed).normal(size=shape).astype(np.float32), requires_grad=True)
    return z_e, quantizer(z_e)


def test_straight_through_copies_the_decoder_gradient_to_the_encoder():
    model = VQVAE(**SMALL, restart_after=None)
    x = minigen.tensor(_images())
    z_e = model.encode(x)
    quantized = model.quantizer(z_e)
    reconstruction = minigen.nn.functional.mse_loss(model.decoder(quantized.quantized), x)
    grad_encoder_output, grad_decoder_input = minigen.grad(reconstruction, [z_e, quantized.quantized])
    assert np.abs(grad_decoder_input.numpy()).max() > 0
    np.testing.assert_array_equal(grad_encoder_output.numpy(), grad_decoder_input.numpy())
    # the value the decoder sees is the code, not the encoder output
    np.testing.assert_allclose(_numpy(quantized.quantized), _numpy(model.quantizer.lookup(quantized.indices)),
                               atol=1e-6)


def test_codebook_learns_only_from_the_codebook_loss_and_encoder_gets_the_commitment():
    quantizer = VectorQuantizer(6, 4, restart_after=None)
    quantizer.embedding.data[...] = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    z_e, quantized = _quantize(quantizer)
    embedding = quantizer.embedding
    z = _channels_last(_numpy(z_e))
    indices = quantized.indices.numpy().reshape(-1)
    e = _numpy(embedding)
    size = z.size

    grad_z, grad_e = minigen.grad(quantized.codebook_loss, [z_e, embedding], allow_unused=True)
    assert grad_z is None  # sg[z_e]: the codebook term never reaches the encoder
    # d/de_i ||sg[z_e] - e||^2 / size = 2 sum_{j: k(j)=i} (e_i - z_j) / size
    expected = np.zeros_like(e)
    np.add.at(expected, indices, 2 * (e[indices] - z) / size)
    np.testing.assert_allclose(grad_e.numpy(), expected, rtol=1e-5, atol=1e-8)

    grad_z, grad_e = minigen.grad(quantized.commitment_loss, [z_e, embedding], allow_unused=True)
    assert grad_e is None  # sg[e]: the commitment term never moves the codebook
    expected = (2 * BETA * (z - e[indices]) / size).reshape(2, 3, 3, 4).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(grad_z.numpy(), expected, rtol=1e-5, atol=1e-8)

    (grad_e,) = minigen.grad(quantized.quantized.sum(), [embedding], allow_unused=True)
    assert grad_e is None  # the straight-through path bypasses the codebook too


# --- EMA codebook and dead-code restarts --------------------------------------------------------


def test_ema_step_matches_numpy():
    gamma, epsilon, count = 0.99, 1e-5, 6
    quantizer = VectorQuantizerEMA(count, 4, restart_after=None, decay=gamma, epsilon=epsilon)
    rng = np.random.default_rng(4)
    quantizer.embedding.data[...] = rng.normal(size=(count, 4)).astype(np.float32)
    quantizer.embedding_sum.data[...] = rng.normal(size=(count, 4)).astype(np.float32)
    quantizer.cluster_size.data[...] = rng.random(count).astype(np.float32) * 3
    before = {name: buffer.numpy().copy() for name, buffer in quantizer.named_buffers()}
    assert list(quantizer.parameters()) == []

    z_e, quantized = _quantize(quantizer, seed=5)
    z = _channels_last(_numpy(z_e))
    indices = _brute_force_nearest(z, before["embedding"])
    np.testing.assert_array_equal(quantized.indices.numpy().reshape(-1), indices)
    assert quantized.codebook_loss is None
    counts = np.bincount(indices, minlength=count)
    sums = np.zeros((count, 4))
    np.add.at(sums, indices, z)
    cluster_size = gamma * before["cluster_size"] + (1 - gamma) * counts
    embedding_sum = gamma * before["embedding_sum"] + (1 - gamma) * sums
    total = cluster_size.sum()
    smoothed = (cluster_size + epsilon) / (total + count * epsilon) * total
    np.testing.assert_allclose(quantizer.cluster_size.numpy(), cluster_size, rtol=1e-5)
    np.testing.assert_allclose(quantizer.embedding_sum.numpy(), embedding_sum, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(quantizer.embedding), embedding_sum / smoothed[:, None], rtol=1e-5, atol=1e-6)
    for buffer in quantizer.buffers():  # updated outside the graph, though the forward pass recorded one
        assert buffer.is_leaf and not buffer.requires_grad
    # the commitment term used the codebook from before the update
    np.testing.assert_allclose(quantized.commitment_loss.item(),
                               BETA * ((z - before["embedding"][indices]) ** 2).mean(), rtol=1e-5)

    quantizer.eval()
    after_one_step = {name: buffer.numpy().copy() for name, buffer in quantizer.named_buffers()}
    _quantize(quantizer, seed=6)
    for name, buffer in quantizer.named_buffers():  # evaluation never moves the codebook
        np.testing.assert_array_equal(buffer.numpy(), after_one_step[name])


def test_ema_buffers_are_saved_and_loaded():
    model = VQVAE(**SMALL, codebook="ema")
    model.loss(minigen.tensor(_images()))
    state = model.state_dict()
    assert {"quantizer.embedding", "quantizer.cluster_size", "quantizer.embedding_sum",
            "quantizer.unused_steps"} <= set(state)
    assert not any(name.startswith("quantizer.") for name, _ in model.named_parameters())
    copy = VQVAE(**SMALL, codebook="ema")
    copy.load_state_dict(state)
    x = minigen.tensor(_images(seed=1))
    np.testing.assert_array_equal(copy.encode_indices(x).numpy(), model.encode_indices(x).numpy())


@pytest.mark.parametrize("quantizer_class", [VectorQuantizer, VectorQuantizerEMA])
def test_dead_code_restart_replaces_an_unused_code(quantizer_class):
    quantizer = quantizer_class(4, 2, restart_after=3)
    codes = np.array([[0, 0], [1, 0], [0, 1], [50, 50]], dtype=np.float32)  # code 3 is far from every input
    quantizer.embedding.data[...] = codes
    if quantizer_class is VectorQuantizerEMA:
        quantizer.embedding_sum.data[...] = codes
    quantizer.unused_steps.data[...] = 0
    z_e = minigen.tensor(np.random.default_rng(0).random((2, 2, 3, 3), dtype=np.float32))
    for _ in range(3):
        assert 3 not in quantizer(z_e).indices.numpy()
    assert quantizer.unused_steps.numpy()[3] == 3
    np.testing.assert_allclose(_numpy(quantizer.embedding)[3], codes[3], rtol=1e-5)  # EMA: decays with N_3

    np.testing.assert_array_equal(quantizer.dead_codes().numpy(), [False, False, False, True])

    rows = _channels_last(z_e.numpy())
    before = _numpy(quantizer.embedding).copy()
    quantizer.restart_dead_codes(minigen.tensor(rows))  # what the next training step does first
    restarted = _numpy(quantizer.embedding)
    assert np.abs(rows - restarted[3]).sum(1).min() == 0  # code 3 now sits on an encoder output
    np.testing.assert_array_equal(restarted[:3], before[:3])
    assert quantizer.unused_steps.numpy()[3] == 0
    if quantizer_class is VectorQuantizerEMA:  # the averages restart too, so that e_3 = m_3 / N_3 still holds
        np.testing.assert_array_equal(quantizer.embedding_sum.numpy()[3], restarted[3])
        assert quantizer.cluster_size.numpy()[3] == 1
    assert 3 in quantizer(z_e).indices.numpy()


def test_first_training_batch_initialises_the_codebook_from_encoder_outputs():
    quantizer = VectorQuantizer(8, 3, restart_after=10)
    z_e = minigen.tensor(np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32))
    quantizer.eval()
    quantizer(z_e)  # no restarts outside training
    assert np.abs(_numpy(quantizer.embedding)).max() <= 1 / 8
    quantizer.train()
    quantizer(z_e)
    rows = _channels_last(z_e.numpy())
    distances = np.abs(_numpy(quantizer.embedding)[:, None] - rows[None]).sum(-1).min(1)
    np.testing.assert_allclose(distances, 0, atol=1e-6)
    assert len({tuple(code) for code in _numpy(quantizer.embedding)}) == 8  # distinct rows


# --- parity with the same model in PyTorch -------------------------------------------------------


def _torch_vqvae(torch, codebook):
    """SMALL written in PyTorch, with the quantizer as the paper and its reference code describe it."""
    nn = torch.nn

    class Residual(nn.Module):
        def __init__(self, channels, residual_channels):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Sequential(nn.ReLU(), nn.Conv2d(channels, residual_channels, 3, padding=1),
                                                       nn.ReLU(), nn.Conv2d(residual_channels, channels, 1))])

        def forward(self, x):
            for block in self.blocks:
                x = x + block(x)
            return torch.relu(x)

    class Quantizer(nn.Module):
        def __init__(self, count, dim):
            super().__init__()
            if codebook == "ema":
                self.register_buffer("embedding", torch.zeros(count, dim))
                self.register_buffer("cluster_size", torch.zeros(count))
                self.register_buffer("embedding_sum", torch.zeros(count, dim))
            else:
                self.embedding = nn.Parameter(torch.zeros(count, dim))
            self.register_buffer("unused_steps", torch.zeros(count, dtype=torch.int64))

        def forward(self, z_e):
            batch, dim, height, width = z_e.shape
            flat = z_e.permute(0, 2, 3, 1).reshape(-1, dim)
            indices = ((flat.detach()[:, None] - self.embedding.detach()[None]) ** 2).sum(-1).argmin(1)
            z_q = self.embedding[indices].reshape(batch, height, width, dim).permute(0, 3, 1, 2)
            one_hot = nn.functional.one_hot(indices, len(self.embedding)).float()
            if codebook == "ema" and self.training:
                with torch.no_grad():
                    self.cluster_size.mul_(0.99).add_(0.01 * one_hot.sum(0))
                    self.embedding_sum.mul_(0.99).add_(0.01 * one_hot.T @ flat)
                    n = self.cluster_size.sum()
                    smoothed = (self.cluster_size + 1e-5) / (n + len(self.embedding) * 1e-5) * n
                    self.embedding.copy_(self.embedding_sum / smoothed[:, None])
            p = one_hot.mean(0)
            terms = {"commitment": BETA * nn.functional.mse_loss(z_e, z_q.detach()),
                     "perplexity": torch.exp(-(p * torch.log(p + 1e-10)).sum())}
            if codebook != "ema":
                terms["codebook"] = nn.functional.mse_loss(z_q, z_e.detach())
            return z_e + (z_q - z_e).detach(), indices, terms

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.ReLU(), nn.Conv2d(4, 8, 4, 2, 1), nn.ReLU(),
                                         nn.Conv2d(8, 8, 3, padding=1), Residual(8, 4), nn.Conv2d(8, 4, 1))
            self.quantizer = Quantizer(16, 4)
            self.decoder = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), Residual(8, 4),
                                         nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(4, 1, 4, 2, 1))

        def forward(self, x):
            quantized, indices, terms = self.quantizer(self.encoder(x))
            terms["reconstruction"] = nn.functional.mse_loss(self.decoder(quantized), x)
            terms["loss"] = sum(value for name, value in terms.items() if name != "perplexity")
            return indices, terms

    return Model()


@pytest.mark.torch
@pytest.mark.parametrize("codebook", ["standard", "ema"])
def test_parity_with_pytorch(codebook):
    torch = pytest.importorskip("torch")
    from minigen.interop import from_torch, to_torch_state_dict

    model = VQVAE(**SMALL, codebook=codebook, restart_after=None)
    quantizer = model.quantizer
    rng = np.random.default_rng(0)
    with minigen.no_grad():  # codes spread like the encoder outputs, so the batch uses several of them
        z_e = _channels_last(_numpy(model.encode(minigen.tensor(_images(4, 16)))))
        quantizer.embedding.copy_(minigen.tensor(z_e[rng.choice(len(z_e), 16, replace=False)]))
        if codebook == "ema":
            quantizer.embedding_sum.copy_(quantizer.embedding)
    reference = _torch_vqvae(torch, codebook)
    reference.load_state_dict(to_torch_state_dict(model.state_dict()))

    x = _images(4, 16, seed=1)
    terms = model.loss(minigen.tensor(x))
    terms["loss"].backward()
    torch_indices, torch_terms = reference(torch.from_numpy(x))
    torch_terms["loss"].backward()
    indices = model.encode_indices(minigen.tensor(x)) if codebook == "standard" else None
    if indices is not None:
        np.testing.assert_array_equal(indices.numpy().reshape(-1), torch_indices.numpy())
    assert set(terms) == set(torch_terms)
    for name, value in torch_terms.items():
        np.testing.assert_allclose(terms[name].item(), value.item(), rtol=1e-4, atol=1e-7, err_msg=name)
    torch_parameters = dict(reference.named_parameters())
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), torch_parameters[name].grad.numpy(), rtol=1e-3,
                                   atol=1e-6, err_msg=name)
    torch_buffers = dict(reference.named_buffers())
    for name, buffer in model.named_buffers():
        if name != "quantizer.unused_steps":  # the reference has no dead-code bookkeeping
            np.testing.assert_allclose(buffer.numpy(), from_torch(torch_buffers[name]).numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=name)


# --- the code grid interface, errors, training, command line ------------------------------------


def test_code_grid_round_trip_and_padded_inputs():
    model = VQVAE(**SMALL).eval()
    for size, grid in ((28, 7), (32, 8)):
        x = minigen.tensor(_images(2, size))
        indices = model.encode_indices(x)
        assert indices.dtype == minigen.int64 and indices.shape == (2, grid, grid)
        assert 0 <= int(indices.min()) and int(indices.max()) < 16
        images = model.decode_indices(indices)
        assert images.shape == (2, 1, size, size)
        reconstruction, _ = model(x)  # in evaluation the forward pass is decode(encode)
        np.testing.assert_allclose(_numpy(reconstruction), _numpy(images), atol=1e-6)


def test_sample_asks_for_a_prior_and_bad_inputs_are_named():
    model = VQVAE(**SMALL)
    with pytest.raises(NotImplementedError, match="prior.*decode_indices"):
        model.sample(4)
    with pytest.raises(ValueError, match=r"divisible by 4, got \(2, 1, 10, 10\)"):
        model.encode_indices(minigen.tensor(_images(2, 10)))
    with pytest.raises(ValueError, match=r"shape \(B, 1, H, W\).*got \(2, 3, 8, 8\)"):
        model.loss(minigen.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"integer code grid.*float32 of shape \(2, 2, 2\)"):
        model.decode_indices(minigen.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="codebook must be one of 'standard', 'ema', got 'kmeans'"):
        VQVAE(codebook="kmeans")
    with pytest.raises(ValueError, match="expected encoder outputs of shape \\(B, 4, H, W\\), got \\(2, 3, 2, 2\\)"):
        model.quantizer(minigen.zeros(2, 3, 2, 2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("codebook", ["standard", "ema"])
def test_training_reduces_the_loss(device, codebook):
    minigen.manual_seed(0)
    images = minigen.tensor(minigen.data.load_mnist("train", labels=False)[:64], device=device)
    model = VQVAE(**SMALL, codebook=codebook, restart_after=5).to(device)
    optimizers = model.configure_optimizers(1e-2)
    history = [model.training_step((images,), optimizers) for _ in range(60)]
    losses = [terms["loss"] for terms in history]
    assert all(math.isfinite(value) for terms in history for value in terms.values())
    assert losses[-1] < 0.7 * losses[0]
    assert model.encode_indices(images).device == images.device


def test_command_line_lists_trains_and_cannot_sample(tmp_path, capsys):
    assert cli.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "  vqvae " in listing and "  vqvae_ema " in listing
    name = "vqvae_ema"  # the EMA buffers go through the checkpoint too
    out = tmp_path / name
    assert cli.main(["train", name, "--limit", "64", "--epochs", "1", "--batch-size", "32", "--out", str(out),
                     "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and math.isfinite(metrics["test_reconstruction"])
    assert 1.0 <= metrics["test_perplexity"] <= 512 and 0.0 < metrics["test_code_usage"] <= 1.0
    assert not (out / "samples.png").exists()
    assert cli.main(["sample", str(out / "checkpoint.safetensors")]) == 2
    assert "cannot sample" in capsys.readouterr().err
