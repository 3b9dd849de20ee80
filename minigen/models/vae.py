"""The variational autoencoder (Kingma and Welling, 2014) and the beta-VAE (Higgins et al., 2017).

A latent-variable model p(x, z) = p(z) p(x | z) with prior p(z) = N(0, I) and a
decoder p(x | z), fitted by maximising the evidence lower bound (ELBO) with an
amortised Gaussian posterior q(z | x) = N(mu(x), diag sigma^2(x)):

    log p(x) >= ELBO(x) = E_q[ log p(x | z) ] - KL( q(z | x) || p(z) )

- Encoder (``encode``): a network maps x to (mu, log sigma^2); predicting the
  log-variance keeps sigma positive without a constraint.
- Reparameterisation (``reparameterize``): z = mu + sigma * eps, eps ~ N(0, I).
  The noise no longer depends on the parameters, so d z / d mu = 1 and
  d z / d log sigma^2 = sigma * eps / 2: the sampling step is differentiable and
  the Monte-Carlo ELBO has a low-variance gradient.
- Reconstruction term (``log_likelihood_of``): log p(x | z), summed over pixels.
  Bernoulli decoder: log p(x | z) = sum_i x_i l_i - softplus(l_i), l the
  logits, i.e. minus the binary cross-entropy with logits. Gaussian decoder:
  log N(x; m, s^2) = -1/2 sum_i [ (x_i - m_i)^2 / s^2 + log(2 pi s^2) ], with a
  fixed s, or a learned per-pixel log s.
- KL term (``kl_divergence``), closed form for two Gaussians:
  KL = 1/2 sum_j ( mu_j^2 + sigma_j^2 - log sigma_j^2 - 1 ).
- beta-VAE: the loss is -E_q[log p(x | z)] + beta_t KL, where
  beta_t = beta * min(1, epoch / warmup_epochs) (KL warm-up: the decoder learns
  to use z before the prior pulls the posterior in). beta > 1 trades
  reconstruction for a more factorised, disentangled code.

``log_likelihood(x, k)`` estimates log p(x) with the importance-weighted bound of
Burda et al. (2016), L_k = E[ log (1/k) sum_i p(x, z_i) / q(z_i | x) ], which
tightens toward log p(x) as k grows; ``minigen eval --iwae-k`` reports it for any
VAE checkpoint, and ``IWAE`` (iwae.py) trains on it.

Burda et al.'s recipe lives here once (``BURDA_ARCHITECTURE``, ``burda_optimizers``):
the registered ``vae`` and ``iwae`` train with it, and so do examples/vae.py,
examples/iwae.py and benchmarks/vae_burda.py (whose PyTorch run reads the same
constants).
"""

import math

from .. import nn, optim
from ..creation import full, rand_like, randn, zeros
from ..metrics.likelihood import log_mean_exp
from ..nn import functional as F
from ..ops.shape import cat
from ..optim.lr_scheduler import LambdaLR
from ..tensor import no_grad
from .base import GenerativeModel, ModelSpec, check_choice, images_of, register

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU}
LIKELIHOODS = ("bernoulli", "gaussian")
# Smallest learned decoder scale (log s >= -6): keeps the Gaussian likelihood bounded.
_MIN_LOG_SCALE = -6.0
# A latent unit is active when Var_x E_q[z_u | x] exceeds this (Burda et al. 2016).
ACTIVE_UNIT_THRESHOLD = 1e-2

# Burda, Grosse and Salakhutdinov (2016), section 5, one stochastic layer: a 784-200-200-50 tanh MLP
# encoder and its mirror as the Bernoulli decoder; Adam with betas (0.9, 0.999) and eps 1e-4 at a base
# rate of 1e-3, lowered in stages i = 0, ..., 7 where stage i lasts 3^i epochs at 1e-3 * 10^(-i/7)
# (3^0 + ... + 3^7 = 3280 epochs in all).
BURDA_ARCHITECTURE = {"architecture": "mlp", "latent_dim": 50, "hidden": [200, 200], "activation": "tanh"}
BURDA_ADAM = {"betas": (0.9, 0.999), "eps": 1e-4}
BURDA_LR = 1e-3
BURDA_STAGES = 8


def burda_lr_factor(epoch):
    """10^(-i/7) for the stage i of ``epoch`` (0-based): stage i lasts 3^i epochs; after 3280 epochs it stays 7."""
    stage, end = 0, 1  # epochs [end - 3^stage, end) are in ``stage``
    while epoch >= end and stage < BURDA_STAGES - 1:
        stage += 1
        end += 3**stage
    return 10.0 ** (-stage / 7)


def burda_optimizers(model, lr=BURDA_LR):
    """Burda et al.'s Adam and its staged rate, as a LambdaLR stepped once per epoch: ([adam], [schedule])."""
    adam = optim.Adam(model.parameters(), lr=lr, **BURDA_ADAM)
    return [adam], [LambdaLR(adam, burda_lr_factor)]


def kl_normal_standard(mu, log_variance):
    """KL( N(mu, sigma^2) || N(0, 1) ) per dimension (not summed), from the mean and log sigma^2."""
    # (mu^2 + sigma^2 - log sigma^2 - 1) / 2; d/dmu = mu, d/dlog sigma^2 = (sigma^2 - 1) / 2.
    return 0.5 * (mu**2 + log_variance.exp() - log_variance - 1.0)


def _mlp(sizes, activation, final_activation=False):
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or index < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """x (B, C, H, W) -> a flat feature vector (B, features): an MLP or a stride-2 conv stack."""

    def __init__(self, architecture, in_channels, image_size, hidden, channels, activation):
        super().__init__()
        if architecture == "mlp":
            pixels = in_channels * image_size * image_size
            self.network = nn.Sequential(nn.Flatten(), _mlp((pixels, *hidden), activation, final_activation=True))
            self.features = hidden[-1]
            return
        layers, previous = [], in_channels
        for width in channels:  # each 4x4 stride-2 conv halves the side
            layers += [nn.Conv2d(previous, width, 4, stride=2, padding=1), ACTIVATIONS[activation]()]
            previous = width
        side = image_size // 2 ** len(channels)
        layers += [nn.Flatten(), nn.Linear(previous * side * side, hidden[-1]), ACTIVATIONS[activation]()]
        self.network = nn.Sequential(*layers)
        self.features = hidden[-1]

    def forward(self, x):
        return self.network(x)


class Decoder(nn.Module):
    """z (B, latent) -> per-pixel outputs (B, C, H, W): logits or Gaussian means."""

    def __init__(self, architecture, in_channels, image_size, latent_dim, hidden, channels, activation):
        super().__init__()
        self.image_shape = (in_channels, image_size, image_size)
        if architecture == "mlp":
            pixels = in_channels * image_size * image_size
            self.network = nn.Sequential(_mlp((latent_dim, *reversed(hidden), pixels), activation),
                                         nn.Unflatten(1, self.image_shape))
            return
        side = image_size // 2 ** len(channels)
        widths = list(reversed(channels))
        layers = [nn.Linear(latent_dim, hidden[-1]), ACTIVATIONS[activation](),
                  nn.Linear(hidden[-1], widths[0] * side * side), ACTIVATIONS[activation](),
                  nn.Unflatten(1, (widths[0], side, side))]
        for width, following in zip(widths, widths[1:] + [in_channels]):  # each 4x4 stride-2 transposed conv doubles
            layers += [nn.ConvTranspose2d(width, following, 4, stride=2, padding=1), ACTIVATIONS[activation]()]
        self.network = nn.Sequential(*layers[:-1])  # no activation on the output

    def forward(self, z):
        return self.network(z)


class VAE(GenerativeModel):
    """A VAE with an MLP or conv encoder/decoder and a Bernoulli or Gaussian decoder.

    ``architecture="mlp"`` with ``hidden=(200, 200)``, ``activation="tanh"`` and
    ``latent_dim=50`` is the one-stochastic-layer model of Burda et al. (2016);
    ``architecture="conv"`` stacks 4x4 stride-2 convolutions with ``channels``
    (the image side must be divisible by 2 ** len(channels)).
    ``binarize=True`` draws a fresh Bernoulli binarisation of the grey-level
    input at every training step (dynamic binarisation); at evaluation the input
    is binarised with the global generator, so seed it for reproducible scores.
    """

    def __init__(self, *, architecture="mlp", in_channels=1, image_size=28, latent_dim=50, hidden=(200, 200),
                 channels=(32, 64), activation="tanh", likelihood="bernoulli", decoder_scale=None, beta=1.0,
                 warmup_epochs=0, binarize=None):
        super().__init__()
        check_choice("VAE", "architecture", architecture, ("mlp", "conv"))
        check_choice("VAE", "likelihood", likelihood, LIKELIHOODS)
        check_choice("VAE", "activation", activation, tuple(ACTIVATIONS))
        hidden, channels = tuple(hidden), tuple(channels)
        if architecture == "conv" and image_size % 2 ** len(channels):
            raise ValueError(f"VAE: a conv VAE with {len(channels)} stride-2 layers needs an image side divisible by "
                             f"{2 ** len(channels)}, got {image_size}")
        if beta < 0 or warmup_epochs < 0:
            raise ValueError(f"VAE: beta and warmup_epochs must be >= 0, got {beta} and {warmup_epochs}")
        self.latent_dim, self.likelihood, self.beta = latent_dim, likelihood, float(beta)
        self.warmup_epochs = warmup_epochs
        self.binarize = likelihood == "bernoulli" if binarize is None else bool(binarize)
        self.image_shape = (in_channels, image_size, image_size)
        self.encoder = Encoder(architecture, in_channels, image_size, hidden, channels, activation)
        self.posterior = nn.Linear(self.encoder.features, 2 * latent_dim)  # -> (mu, log sigma^2)
        self.decoder = Decoder(architecture, in_channels, image_size, latent_dim, hidden, channels, activation)
        if likelihood == "gaussian" and decoder_scale is None:  # learned per-pixel log s, starting at s = 1
            self.log_scale = nn.Parameter(zeros(*self.image_shape))
        self.decoder_scale = decoder_scale
        self.kl_weight = self.beta if warmup_epochs == 0 else 0.0

    # ---- the pieces of the ELBO ----------------------------------------------------------
    def encode(self, x):
        """The posterior q(z | x): its mean and log-variance, each (B, latent_dim)."""
        self._check_images(x)
        mu, log_variance = self.posterior(self.encoder(x)).chunk(2, dim=1)
        return mu, log_variance

    @staticmethod
    def reparameterize(mu, log_variance, eps=None):
        """z = mu + sigma * eps with fresh eps ~ N(0, I), or the given ``eps`` (the shape of mu)."""
        eps = _noise(eps, tuple(mu.shape), mu)
        # dz/dmu = 1, dz/dlog sigma^2 = sigma * eps / 2, and eps carries no parameter.
        return mu + (0.5 * log_variance).exp() * eps

    def decode(self, z):
        """Decoder outputs for codes z (B, latent_dim): Bernoulli logits or Gaussian means, (B, C, H, W)."""
        return self.decoder(z)

    def log_likelihood_of(self, x, output):
        """log p(x | z) summed over pixels, one value per example; ``output`` may carry extra leading dims."""
        if self.likelihood == "bernoulli":
            # log Bernoulli(x; sigmoid(l)) = x l - softplus(l) = -BCE_with_logits(l, x); d/dl = x - sigmoid(l)
            return -F.binary_cross_entropy_with_logits(output, x.expand(output.shape), reduction="none").sum((-3, -2, -1))
        log_scale = self._log_scale()
        # log N(x; m, s^2) = -(x - m)^2 / (2 s^2) - log s - log(2 pi) / 2; d/dm = (x - m) / s^2
        squared = (x - output) ** 2 * (-2.0 * log_scale).exp()
        return -(0.5 * squared + log_scale + 0.5 * math.log(2 * math.pi)).sum((-3, -2, -1))

    @staticmethod
    def kl_divergence(mu, log_variance):
        """KL( q(z | x) || N(0, I) ) per example: ``kl_normal_standard`` summed over the latent dimensions."""
        return kl_normal_standard(mu, log_variance).sum(-1)

    def _log_scale(self):
        if self.decoder_scale is not None:
            return self._constant(math.log(self.decoder_scale))
        return self.log_scale.clamp(min=_MIN_LOG_SCALE)

    def _constant(self, value):
        return full((), value, dtype=self.posterior.bias.dtype, device=self.posterior.bias.device)

    # ---- training ------------------------------------------------------------------------
    def on_epoch_start(self, epoch):
        # KL warm-up: beta_t = beta * min(1, epoch / warmup_epochs).
        self.kl_weight = self.beta * (1.0 if self.warmup_epochs == 0 else min(1.0, epoch / self.warmup_epochs))

    def prepare(self, batch):
        """The images of a batch, binarised when the model asks for it."""
        x = images_of(batch)
        self._check_images(x)
        if self.binarize:
            x = (rand_like(x) < x).to(x.dtype)
        return x

    def loss(self, batch, eps=None):
        """The negative ELBO and its terms; ``eps`` (B, latent_dim) replaces the fresh reparameterisation noise."""
        x = self.prepare(batch)
        mu, log_variance = self.encode(x)
        z = self.reparameterize(mu, log_variance, eps)
        reconstruction = -self.log_likelihood_of(x, self.decode(z)).mean()  # one-sample estimate of -E_q[log p(x|z)]
        kl = self.kl_divergence(mu, log_variance).mean()
        return {"loss": reconstruction + self.kl_weight * kl, "reconstruction": reconstruction, "kl": kl,
                "elbo": -(reconstruction + kl).detach()}

    # ---- evaluation and sampling ---------------------------------------------------------
    def log_weights(self, x, k, eps=None):
        """log p(x, z_i) - log q(z_i | x) for k posterior draws z_i per example: a (k, B) tensor.

        ``eps`` (k, B, latent_dim) replaces the fresh noise of z_i = mu + sigma * eps_i.
        """
        mu, log_variance = self.encode(x)
        eps = _noise(eps, (k, *mu.shape), mu)
        z = mu + (0.5 * log_variance).exp() * eps  # (k, B, latent)
        output = self.decode(z.reshape(-1, self.latent_dim))
        log_px = self.log_likelihood_of(x, output.reshape(k, *x.shape))
        # log p(z) - log q(z | x) = -z^2/2 + eps^2/2 + log sigma^2 / 2 summed (the log 2 pi terms cancel)
        log_prior_ratio = (0.5 * (eps**2 - z**2) + 0.5 * log_variance).sum(-1)
        return log_px + log_prior_ratio

    def log_likelihood(self, x, k=5000, chunk=None):
        """The IWAE estimate of log p(x) per example (B,), with k importance samples drawn in chunks.

        L_k = log (1/k) sum_i w_i,  w_i = p(x, z_i) / q(z_i | x): a lower bound on log p(x)
        that is tight as k -> infinity (L_1 is the ELBO). Runs without building a graph;
        ``chunk`` caps the decoder rows per pass (default: about 20,000 images' worth).
        """
        if k < 1:
            raise ValueError(f"log_likelihood: k must be >= 1, got {k}")
        x = self.prepare(x)
        chunk = chunk or max(1, 20_000 // max(x.shape[0], 1))
        with no_grad():
            # the (k, B) log-weights are small; only the decoder's rows need chunking
            log_weights = cat([self.log_weights(x, min(chunk, k - start)) for start in range(0, k, chunk)])
            return log_mean_exp(log_weights, 0)  # log (1/k) sum_i w_i

    def evaluate(self, loader, k=None):
        """Test loss terms; with ``k``, also the IWAE-k estimate of the negative log-likelihood (nats)."""
        metrics = super().evaluate(loader)
        if k is not None:
            total, count = 0.0, 0
            for batch in loader:
                images = images_of(batch)
                total += float(self.log_likelihood(images, k).sum().item())
                count += images.shape[0]
            metrics[f"test_nll_iwae_{k}"] = -total / max(count, 1)
        return metrics

    def posterior_parameters(self, images, batch_size=1000):
        """The posterior means and log-variances of many images, encoded in batches without a graph:
        two (N, latent_dim) tensors."""
        with no_grad():
            pairs = [self.encode(images[start:start + batch_size]) for start in range(0, images.shape[0], batch_size)]
        return cat([mu for mu, _ in pairs]), cat([log_variance for _, log_variance in pairs])

    def active_units(self, x, threshold=ACTIVE_UNIT_THRESHOLD, batch_size=1000):
        """Latent units in use (Burda et al. 2016): A_u = Var_x( E_q(z|x)[z_u] ) > ``threshold``.

        Returns (count, per-unit variances as a Tensor). A unit whose posterior mean
        does not move with x carries no information: its KL term has collapsed to 0.
        """
        mu, _ = self.posterior_parameters(x, batch_size)
        with no_grad():
            variances = mu.var(dim=0, correction=0)
        return int((variances > threshold).sum().item()), variances

    def sample(self, n):
        """Images from the model: z ~ N(0, I), then the decoder's mean (sigmoid of the logits for Bernoulli)."""
        z = randn(n, self.latent_dim, dtype=self.posterior.bias.dtype, device=self.posterior.bias.device)
        return self.mean_image(self.decode(z))

    def mean_image(self, output):
        """The decoder's mean image in [0, 1] for Bernoulli, the raw mean for Gaussian."""
        return output.sigmoid() if self.likelihood == "bernoulli" else output

    def reconstruct(self, x):
        """The decoder's mean image at the posterior mean (no sampling)."""
        mu, _ = self.encode(x)
        return self.mean_image(self.decode(mu))


def _noise(eps, shape, like):
    """Fresh N(0, I) noise of ``shape`` on ``like``'s device and dtype, or ``eps`` checked against that shape."""
    if eps is None:
        return randn(*shape, dtype=like.dtype, device=like.device)
    if tuple(eps.shape) != shape:
        raise ValueError(f"VAE: expected reparameterisation noise eps of shape {shape}, got {tuple(eps.shape)}")
    return eps


register(ModelSpec(
    name="vae",
    build=VAE,
    dataset="mnist",
    description="VAE, 784-200-200-50 tanh MLP, Bernoulli decoder, dynamic binarisation, Adam eps 1e-4 and "
                "staged lr (Burda et al. 2016)",
    hyperparameters={"lr": BURDA_LR, "batch_size": 100, "epochs": 10, **BURDA_ARCHITECTURE},
    optimizers=burda_optimizers,
))

register(ModelSpec(
    name="conv_vae",
    build=VAE,
    dataset="mnist",
    description="convolutional VAE (4x4 stride-2 convs 32-64, 256 hidden, 16-d latent), Bernoulli decoder",
    hyperparameters={"lr": 1e-3, "batch_size": 128, "epochs": 10, "architecture": "conv", "latent_dim": 16,
                     "hidden": [256], "channels": [32, 64], "activation": "relu"},
))

register(ModelSpec(
    name="beta_vae",
    build=VAE,
    dataset="shapes",
    description="beta-VAE (beta 4, KL warm-up over 10 epochs), conv 32-32-64-64 on 64x64 shapes, 10-d latent",
    hyperparameters={"lr": 5e-4, "batch_size": 64, "epochs": 30, "architecture": "conv", "image_size": 64,
                     "latent_dim": 10, "hidden": [256], "channels": [32, 32, 64, 64], "activation": "relu",
                     "beta": 4.0, "warmup_epochs": 10, "binarize": False},
))
