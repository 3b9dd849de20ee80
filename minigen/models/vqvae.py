"""VQ-VAE: an autoencoder with a discrete latent grid (van den Oord, Vinyals and Kavukcuoglu 2017,
"Neural Discrete Representation Learning").

The encoder maps an image x to a grid of D-dimensional vectors z_e(x); each
vector is replaced by its nearest neighbour in a codebook {e_1, ..., e_K}:

    k(j)  = argmin_i ||z_e,j - e_i||^2                         (``VectorQuantizer.nearest_codes``)
    z_q,j = e_k(j)                                             (``VectorQuantizer.lookup``)

and the decoder reconstructs x from z_q. The objective (each term a mean over
elements, as in the reference implementation, where the paper writes sums) is

    L = ||x - D(z_q)||^2                                       reconstruction  (``VQVAE.loss``)
      + ||sg[z_e] - e||^2                                      codebook        (``VectorQuantizer.forward``)
      + beta ||z_e - sg[e]||^2,  beta = 0.25                   commitment      (``VectorQuantizer.forward``)

where sg is stop-gradient (``detach``). argmin has no gradient, so the
decoder's input is the straight-through estimate z_e + sg[z_q - z_e]: its value
is z_q, its gradient is copied unchanged to z_e. The codebook term moves the
codes towards the encoder outputs, the commitment term keeps the encoder
outputs close to their codes.

``VectorQuantizerEMA`` (the paper's appendix) learns the codebook without the
codebook term: with n_i the number of encoder outputs assigned to code i in a
batch and decay gamma = 0.99,

    N_i <- gamma N_i + (1 - gamma) n_i                         cluster_size
    m_i <- gamma m_i + (1 - gamma) sum_{j: k(j)=i} z_e,j       embedding_sum
    e_i <- m_i / N~_i,   N~_i = (N_i + eps) / (n + K eps) n,  n = sum_i N_i   (Laplace smoothing, eps = 1e-5)

so each code is an exponential moving average of the encoder outputs assigned
to it (online k-means). Both quantizers restart dead codes: a code that no
encoder output picked for ``restart_after`` training steps is moved onto a
random encoder output of the current batch (``restart_dead_codes``). Every
code starts out dead, so the first training batch initialises the codebook
from encoder outputs; ``restart_after=None`` gives the paper's plain model.

``perplexity`` = exp(-sum_i p_i log p_i) with p_i the fraction of the batch's
grid positions assigned to code i: K when all codes are used evenly, 1 when one
code takes everything. The model cannot sample on its own: images come from a
prior over the code grid (PixelCNN, a transformer, latent diffusion) fed to
``decode_indices``; ``encode_indices`` gives that prior its training data.
"""

from collections import namedtuple

from .. import creation, int64, nn
from ..nn import functional as F
from ..ops.elementwise import where
from ..tensor import no_grad
from .autoencoder import psnr
from .base import GenerativeModel, ModelSpec, images_of, register

Quantized = namedtuple("Quantized", ["quantized", "indices", "codebook_loss", "commitment_loss", "perplexity"])
Quantized.__doc__ = """What a quantizer returns: the straight-through z_q (B, D, H, W) for the decoder, the code
indices (B, H, W), the codebook term (None for EMA codebooks), the commitment term (beta included) and the
batch's code perplexity."""


def _channels_last(z):
    """(B, D, H, W) -> (B*H*W, D): one row per grid position."""
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


class VectorQuantizer(nn.Module):
    """A codebook of ``num_embeddings`` vectors of size ``embedding_dim``, learned by the codebook loss."""

    def __init__(self, num_embeddings, embedding_dim, *, commitment_cost=0.25, restart_after=None):
        super().__init__()
        if restart_after is not None and restart_after < 1:
            raise ValueError(f"{type(self).__name__}: restart_after must be a positive step count or None, "
                             f"got {restart_after}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.commitment_cost, self.restart_after = commitment_cost, restart_after
        codebook = creation.empty(num_embeddings, embedding_dim)
        nn.init.uniform_(codebook, -1.0 / num_embeddings, 1.0 / num_embeddings)
        self._register_codebook(codebook)
        # Every code starts as unused for restart_after steps, so the first training batch moves the whole
        # codebook onto encoder outputs (a data-dependent init); the uniform draw serves restart_after=None.
        self.register_buffer("unused_steps", creation.full((num_embeddings,), restart_after or 0, dtype=int64))

    def _register_codebook(self, codebook):
        self.embedding = nn.Parameter(codebook)

    def extra_repr(self):
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}, "
                f"commitment_cost={self.commitment_cost}, restart_after={self.restart_after}")

    def nearest_codes(self, flat):
        """Index of the nearest code for each row of ``flat`` (N, D): argmin_i ||z - e_i||^2, vectorised."""
        if flat.ndim != 2 or flat.shape[1] != self.embedding_dim:
            raise ValueError(f"{type(self).__name__}: expected vectors of shape (N, {self.embedding_dim}), "
                             f"got {tuple(flat.shape)}")
        with no_grad():
            codebook = self.embedding
            # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2: one GEMM instead of an (N, K, D) difference
            distances = ((flat * flat).sum(dim=1, keepdim=True) - 2.0 * (flat @ codebook.T)
                         + (codebook * codebook).sum(dim=1))
            return distances.argmin(dim=1)

    def lookup(self, indices):
        """The codes of an integer grid (B, H, W), as channels-first vectors (B, D, H, W)."""
        return F.embedding(indices, self.embedding).permute(0, 3, 1, 2)

    def code_counts(self, indices):
        """How many entries of ``indices`` pick each code: a float (K,) tensor."""
        flat = indices.reshape(-1)
        ones = creation.ones(flat.shape[0], device=flat.device)
        return creation.zeros(self.num_embeddings, device=flat.device).scatter_add(0, flat, ones)

    def forward(self, z_e):
        if z_e.ndim != 4 or z_e.shape[1] != self.embedding_dim:
            raise ValueError(f"{type(self).__name__}: expected encoder outputs of shape (B, {self.embedding_dim}, "
                             f"H, W), got {tuple(z_e.shape)}")
        flat = _channels_last(z_e)
        if self.training:
            self.restart_dead_codes(flat.detach())
        batch, _, height, width = z_e.shape
        indices = self.nearest_codes(flat.detach()).reshape(batch, height, width)
        z_q = self.lookup(indices)
        with no_grad():
            counts = self.code_counts(indices)
            if self.training:
                self._track_usage(counts)
                self._update_codebook(flat.detach(), indices.reshape(-1), counts)
        # d/dz_e of beta ||z_e - sg[z_q]||^2 = 2 beta (z_e - z_q) / size: pulls the encoder towards its codes
        commitment = self.commitment_cost * F.mse_loss(z_e, z_q.detach())
        # straight-through: the value of z_q, the gradient of z_e (the decoder's gradient reaches the encoder as is)
        quantized = z_e + (z_q - z_e).detach()
        return Quantized(quantized, indices, self._codebook_loss(z_e, z_q), commitment, perplexity(counts))

    def _codebook_loss(self, z_e, z_q):
        # d/de_i of ||sg[z_e] - z_q||^2 = 2 sum_{j: k(j)=i} (e_i - z_e,j) / size: moves each code to its outputs' mean
        return F.mse_loss(z_q, z_e.detach())

    def _update_codebook(self, flat, indices, counts):
        """The gradient of the codebook loss updates this codebook; nothing to do here."""

    def _track_usage(self, counts):
        self.unused_steps.copy_((self.unused_steps + 1).masked_fill(counts > 0, 0))

    def dead_codes(self):
        """A boolean (K,) mask of the codes to restart: unused for ``restart_after`` training steps."""
        if self.restart_after is None:
            return creation.zeros(self.num_embeddings, dtype=bool, device=self.unused_steps.device)
        return self.unused_steps >= self.restart_after

    def restart_dead_codes(self, flat):
        """Move each dead code onto a random row of ``flat`` (N, D), this batch's encoder outputs."""
        with no_grad():
            dead = self.dead_codes()
            if not bool(dead.any()):
                return
            count = flat.shape[0]
            if count >= self.num_embeddings:  # distinct rows, so two restarted codes never coincide
                rows = creation.randperm(count, device=flat.device)[: self.num_embeddings]
            else:
                rows = creation.randint(0, count, (self.num_embeddings,), device=flat.device)
            self._restart(dead, flat[rows])
            self.unused_steps.copy_(self.unused_steps.masked_fill(dead, 0))

    def _restart(self, dead, candidates):
        self.embedding.copy_(where(dead[:, None], candidates, self.embedding))


class VectorQuantizerEMA(VectorQuantizer):
    """A codebook learned by exponential moving averages of the encoder outputs (no codebook loss)."""

    def __init__(self, num_embeddings, embedding_dim, *, commitment_cost=0.25, restart_after=None, decay=0.99,
                 epsilon=1e-5):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"VectorQuantizerEMA: decay must be in [0, 1), got {decay}")
        self.decay, self.epsilon = decay, epsilon
        super().__init__(num_embeddings, embedding_dim, commitment_cost=commitment_cost, restart_after=restart_after)

    def _register_codebook(self, codebook):
        # Buffers, not parameters: the optimizer never sees them and state_dict saves them.
        # N = 1 and m = e make e = m / N hold from the start; with N = 0 (a common choice) an unused code's
        # first update divides gamma e by eps and throws the code far away.
        self.register_buffer("embedding", codebook)
        self.register_buffer("cluster_size", creation.ones(self.num_embeddings))
        self.register_buffer("embedding_sum", codebook.clone())

    def extra_repr(self):
        return super().extra_repr() + f", decay={self.decay}, epsilon={self.epsilon}"

    def _codebook_loss(self, z_e, z_q):
        return None

    def _update_codebook(self, flat, indices, counts):
        """One EMA step of the cluster sizes, the code sums and the codes (training mode, under no_grad)."""
        gamma = self.decay
        sums = creation.zeros_like(self.embedding_sum).scatter_add(
            0, indices[:, None].expand(-1, self.embedding_dim), flat)
        self.cluster_size.copy_(self.cluster_size * gamma + counts * (1.0 - gamma))
        self.embedding_sum.copy_(self.embedding_sum * gamma + sums * (1.0 - gamma))
        total = self.cluster_size.sum()
        # Laplace smoothing keeps every N~_i > 0, so an unused code never divides by zero
        smoothed = (self.cluster_size + self.epsilon) / (total + self.num_embeddings * self.epsilon) * total
        self.embedding.copy_(self.embedding_sum / smoothed[:, None])

    def _restart(self, dead, candidates):
        mask = dead[:, None]
        self.embedding.copy_(where(mask, candidates, self.embedding))
        self.embedding_sum.copy_(where(mask, candidates, self.embedding_sum))
        self.cluster_size.copy_(self.cluster_size.masked_fill(dead, 1.0))


def perplexity(counts):
    """exp(entropy) of the code-usage distribution given by ``counts`` (K,)."""
    probabilities = counts / counts.sum()
    return (-(probabilities * (probabilities + 1e-10).log()).sum()).exp()


class ResidualStack(nn.Module):
    """``count`` blocks x + conv1x1(relu(conv3x3(relu(x)))), then a ReLU (the paper's residual blocks)."""

    def __init__(self, channels, residual_channels, count):
        super().__init__()
        self.blocks = nn.ModuleList([
            nn.Sequential(nn.ReLU(), nn.Conv2d(channels, residual_channels, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(residual_channels, channels, 1))
            for _ in range(count)
        ])

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return F.relu(x)


def encoder(in_channels, hidden_channels, residual_channels, num_residual_blocks, embedding_dim):
    """Two stride-2 4x4 convs (H -> H/4), a 3x3 conv, residual blocks and a 1x1 conv to D channels."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden_channels // 2, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(hidden_channels // 2, hidden_channels, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1),
        ResidualStack(hidden_channels, residual_channels, num_residual_blocks),
        nn.Conv2d(hidden_channels, embedding_dim, 1),
    )


def decoder(in_channels, hidden_channels, residual_channels, num_residual_blocks, embedding_dim):
    """The mirror image: 3x3 conv, residual blocks, two stride-2 transposed convs (H/4 -> H).

    The output is linear, the mean of a fixed-variance Gaussian (the MSE term): a sigmoid saturates at the
    black background of digits and starves the strokes of gradient.
    """
    return nn.Sequential(
        nn.Conv2d(embedding_dim, hidden_channels, 3, padding=1),
        ResidualStack(hidden_channels, residual_channels, num_residual_blocks),
        nn.ConvTranspose2d(hidden_channels, hidden_channels // 2, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(hidden_channels // 2, in_channels, 4, stride=2, padding=1),
    )


CODEBOOKS = ("standard", "ema")


class VQVAE(GenerativeModel):
    """Conv encoder -> nearest-code quantizer -> conv decoder; ``codebook="ema"`` for the EMA codebook."""

    def __init__(self, *, in_channels=1, hidden_channels=64, residual_channels=32, num_residual_blocks=2,
                 num_embeddings=512, embedding_dim=64, commitment_cost=0.25, codebook="standard", decay=0.99,
                 epsilon=1e-5, restart_after=20):
        super().__init__()
        if codebook not in CODEBOOKS:
            raise ValueError(f"VQVAE: codebook must be one of {', '.join(map(repr, CODEBOOKS))}, got {codebook!r}")
        self.in_channels = in_channels
        self.encoder = encoder(in_channels, hidden_channels, residual_channels, num_residual_blocks, embedding_dim)
        if codebook == "ema":
            self.quantizer = VectorQuantizerEMA(num_embeddings, embedding_dim, commitment_cost=commitment_cost,
                                                restart_after=restart_after, decay=decay, epsilon=epsilon)
        else:
            self.quantizer = VectorQuantizer(num_embeddings, embedding_dim, commitment_cost=commitment_cost,
                                             restart_after=restart_after)
        self.decoder = decoder(in_channels, hidden_channels, residual_channels, num_residual_blocks, embedding_dim)

    def _check_images(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"VQVAE: expected images of shape (B, {self.in_channels}, H, W) with H and W "
                             f"divisible by 4, got {tuple(x.shape)}")

    def encode(self, x):
        """The continuous encoder outputs z_e(x), (B, D, H/4, W/4)."""
        self._check_images(x)
        return self.encoder(x)

    def forward(self, x):
        """(reconstruction, Quantized) of a batch of images."""
        quantized = self.quantizer(self.encode(x))
        return self.decoder(quantized.quantized), quantized

    def loss(self, batch):
        images = images_of(batch)
        reconstruction, quantized = self(images)
        terms = {"reconstruction": F.mse_loss(reconstruction, images)}
        if quantized.codebook_loss is not None:
            terms["codebook"] = quantized.codebook_loss
        terms["commitment"] = quantized.commitment_loss
        total = sum(terms.values())
        return {"loss": total, **terms, "perplexity": quantized.perplexity}

    def encode_indices(self, x):
        """The discrete code grid of images x: int64 (B, H/4, W/4), the tokens a prior models."""
        z_e = self.encode(x)
        batch, _, height, width = z_e.shape
        return self.quantizer.nearest_codes(_channels_last(z_e)).reshape(batch, height, width)

    def decode_indices(self, indices):
        """Images decoded from a code grid (B, H, W) of int64 indices in [0, num_embeddings).

        The decoder is linear: values may leave [0, 1] slightly; clamp them for display.
        """
        if indices.ndim != 3 or indices.dtype.kind not in "iu":
            raise ValueError(f"VQVAE.decode_indices: expected an integer code grid of shape (B, H, W), got "
                             f"{indices.dtype} of shape {tuple(indices.shape)}")
        return self.decoder(self.quantizer.lookup(indices))

    def code_usage(self, loader):
        """How many grid positions pick each code over all images of ``loader``: a float (K,) tensor."""
        counts = creation.zeros(self.quantizer.num_embeddings, device=self.quantizer.embedding.device)
        with no_grad():
            for batch in loader:
                counts = counts + self.quantizer.code_counts(self.encode_indices(images_of(batch)))
        return counts

    def evaluate(self, loader):
        """The mean loss terms (``test_perplexity`` is the mean per batch), plus over the whole loader:

        test_psnr            = 10 log10(1 / test_reconstruction), pixels in [0, 1]
        test_code_perplexity = exp(entropy) of the codes picked by all grid positions of all images
        test_code_usage      = the fraction of the K codes picked at least once
        """
        metrics = super().evaluate(loader)
        counts = self.code_usage(loader)
        metrics["test_psnr"] = psnr(metrics["test_reconstruction"])
        metrics["test_code_perplexity"] = float(perplexity(counts).item())
        metrics["test_code_usage"] = float((counts > 0).float().mean().item())
        return metrics

    def sample(self, n):
        raise NotImplementedError(
            "VQVAE cannot sample on its own: its prior over the code grid is not learned (the paper fits a "
            "PixelCNN to encode_indices(x) after training, then decodes the prior's samples with decode_indices)")


# Paper: Adam 2e-4, batch 128, beta 0.25, decay 0.99; K = 512 codes of size 64 on a 7x7 grid for MNIST.
register(ModelSpec(
    name="vqvae",
    build=VQVAE,
    dataset="mnist",
    description="VQ-VAE (van den Oord et al. 2017): discrete 7x7 code grid, codebook by gradient",
    hyperparameters={"lr": 2e-4, "batch_size": 128, "epochs": 5, "num_embeddings": 512, "embedding_dim": 64,
                     "hidden_channels": 64, "commitment_cost": 0.25, "codebook": "standard"},
))

register(ModelSpec(
    name="vqvae_ema",
    build=VQVAE,
    dataset="mnist",
    description="VQ-VAE with an exponential-moving-average codebook (decay 0.99) and dead-code restarts",
    hyperparameters={"lr": 2e-4, "batch_size": 128, "epochs": 5, "num_embeddings": 512, "embedding_dim": 64,
                     "hidden_channels": 64, "commitment_cost": 0.25, "codebook": "ema", "decay": 0.99},
))
