"""Deterministic autoencoders: the plain, sparse, denoising and contractive autoencoder.

An encoder f maps an image x to a code z = f(x) of size k, a decoder g maps the
code back to pixel logits l = g(z), and the reconstruction is x^ = sigmoid(l).
Every variant minimises, over a batch of N images,

    L = (1/N) sum_n d(x_n, g(f(c(x_n))))  +  sum of penalties on the code        (``Autoencoder.loss``)

where c is a corruption (the identity except for the denoising autoencoder) and
d is summed over pixels (``Autoencoder.reconstruction_loss``):

    mse: d = ||x^ - x||^2,        d/dl = 2 (x^ - x) x^ (1 - x^)
    bce: d = sum_i BCE(l_i, x_i), d/dl = x^ - x  (on the logits, the stable form)

- ``Autoencoder`` (Hinton and Salakhutdinov 2006, "Reducing the dimensionality of
  data with neural networks"): no penalty. Their point, that a deep nonlinear
  autoencoder beats PCA at the same code size, is what ``PCA`` (pca.py) and
  benchmarks/autoencoders.py measure.
- ``SparseAutoencoder`` (``SparseAutoencoder.penalties``): an L1 penalty
  lambda ||z||_1 (d/dz = lambda sign z), and/or Ng's KL sparsity penalty (CS294A
  lecture notes, "Sparse autoencoder", 2011) on a sigmoid code, with
  rho^_j = (1/N) sum_n z_nj the batch-mean activation of unit j (``kl_sparsity``):

      beta sum_j KL(rho || rho^_j) = beta sum_j [rho log(rho / rho^_j) + (1 - rho) log((1 - rho) / (1 - rho^_j))]
      d/d rho^_j = beta [-rho / rho^_j + (1 - rho) / (1 - rho^_j)]

- ``DenoisingAutoencoder`` (Vincent, Larochelle, Bengio and Manzagol 2008,
  "Extracting and composing robust features with denoising autoencoders"):
  c drops each pixel with probability p (masking noise) and adds N(0, sigma^2)
  noise (``DenoisingAutoencoder.corrupt``); the target stays the clean x, and
  evaluation feeds clean images.
- ``ContractiveAutoencoder`` (Rifai, Vincent, Muller, Glorot and Bengio 2011,
  "Contractive auto-encoders: explicit invariance during feature extraction"):
  the penalty lambda ||J_f(x)||_F^2, J_f(x) = dz/dx (k x D), averaged over the batch.
  ``jacobian_frobenius_squared`` computes it exactly for any encoder: row j of J is
  the vector-Jacobian product e_j^T J, so ||J||_F^2 = sum_j ||e_j^T J||^2, and the
  k products are one backward pass over the batch repeated k times (copy j seeded
  with e_j). With create_graph=True that backward is itself a graph, so the
  penalty's gradient reaches the weights (a double backward). For a one-layer
  sigmoid encoder h = sigmoid(W x + b), J = diag(h (1 - h)) W and
  (``sigmoid_jacobian_frobenius_squared``)

      ||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2.

A deterministic autoencoder has no prior over codes, so ``sample`` raises.
"""

import math

from .. import nn
from ..creation import eye, rand_like, randn_like
from ..nn import functional as F
from ..ops.shape import cat
from ..tensor import enable_grad, grad, is_grad_enabled, no_grad
from .base import GenerativeModel, ModelSpec, check_choice, images_of, register
from .vae import ACTIVATIONS, Decoder, Encoder

RECONSTRUCTIONS = ("mse", "bce")
CODE_ACTIVATIONS = {"linear": nn.Identity, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}
# rho^ is kept inside [eps, 1 - eps] so that log(rho / rho^) stays finite when a unit saturates.
_ACTIVATION_EPS = 1e-6


def psnr(mse, peak=1.0):
    """Peak signal-to-noise ratio in dB of a mean squared error: 10 log10(peak^2 / mse)."""
    return 10.0 * math.log10(peak**2 / mse) if mse > 0 else math.inf


def kl_sparsity(mean_activation, target):
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho^_j)) for batch-mean activations rho^ (k,) and target rho."""
    rho_hat = mean_activation.clamp(_ACTIVATION_EPS, 1.0 - _ACTIVATION_EPS)
    # d/d rho^_j = -rho / rho^_j + (1 - rho) / (1 - rho^_j): zero exactly at rho^_j = rho
    return (target * (target / rho_hat).log() + (1.0 - target) * ((1.0 - target) / (1.0 - rho_hat)).log()).sum()


def jacobian_frobenius_squared(function, x, create_graph=None):
    """||J_f(x)||_F^2 = sum_{j,i} (d f_j / d x_i)^2 for each example of x, exactly: a (B,) tensor.

    ``function`` maps x (B, ...) to (B, k) and must treat examples independently
    (no batch statistics). The k vector-Jacobian products e_j^T J run as one
    backward pass over k stacked copies of the batch, copy j seeded with e_j.
    ``create_graph`` (default: whether grad mode is on) records that backward so
    that the result can itself be differentiated, e.g. with respect to the
    weights of ``function``; x is treated as data (no gradient flows back to it).
    """
    create_graph = is_grad_enabled() if create_graph is None else create_graph
    batch = x.shape[0]
    with enable_grad():
        with no_grad():
            width = function(x[:1]).shape
        if len(width) != 2:
            raise ValueError(f"jacobian_frobenius_squared: the function must map (B, ...) to (B, k), "
                             f"got output shape {tuple(width)} for one example")
        k = width[1]
        copies = x.detach().unsqueeze(0).expand(k, *x.shape).reshape(k * batch, *x.shape[1:]).requires_grad_()
        outputs = function(copies)
        # copy j of example n is seeded with e_j: its input gradient is row j of J(x_n)
        seeds = eye(k, dtype=outputs.dtype, device=outputs.device).unsqueeze(1).expand(k, batch, k)
        (rows,) = grad(outputs, copies, grad_outputs=seeds.reshape(k * batch, k), create_graph=create_graph)
        return rows.reshape(k, batch, -1).square().sum((0, 2))


def sigmoid_jacobian_frobenius_squared(code, weight):
    """||J||_F^2 per example for h = sigmoid(W x + b): sum_j (h_j (1 - h_j))^2 sum_i W_ji^2, a (B,) tensor."""
    # J_ji = h_j (1 - h_j) W_ji: each row of W scaled by the sigmoid's slope at that unit
    return ((code * (1.0 - code)).square() * weight.square().sum(1)).sum(1)


class Autoencoder(GenerativeModel):
    """An MLP or conv autoencoder with a k-dimensional code and an MSE or BCE reconstruction.

    ``architecture="mlp"``: x -> ``hidden`` layers -> code (``hidden=()`` gives the
    one-layer encoder z = act(W x + b)); the decoder mirrors the hidden sizes.
    ``architecture="conv"``: 4x4 stride-2 convolutions with ``channels``, a
    ``hidden[-1]`` layer, then the code; the decoder mirrors it with transposed
    convolutions (the image side must be divisible by 2 ** len(channels)).
    ``code_activation`` is applied to the code ("linear", "sigmoid" or "relu").
    """

    def __init__(self, *, architecture="mlp", in_channels=1, image_size=28, code_dim=32, hidden=(256,),
                 channels=(32, 64), activation="relu", code_activation="linear", reconstruction="mse"):
        super().__init__()
        name = type(self).__name__
        check_choice(name, "architecture", architecture, ("mlp", "conv"))
        check_choice(name, "activation", activation, tuple(ACTIVATIONS))
        check_choice(name, "code_activation", code_activation, tuple(CODE_ACTIVATIONS))
        check_choice(name, "reconstruction", reconstruction, RECONSTRUCTIONS)
        hidden, channels = tuple(hidden), tuple(channels)
        if architecture == "conv" and (not hidden or image_size % 2 ** len(channels)):
            raise ValueError(f"{name}: a conv autoencoder needs a hidden layer and an image side divisible by "
                             f"{2 ** len(channels)} ({len(channels)} stride-2 layers), got hidden={hidden} and "
                             f"image_size={image_size}")
        if code_dim < 1:
            raise ValueError(f"{name}: code_dim must be >= 1, got {code_dim}")
        self.image_shape = (in_channels, image_size, image_size)
        self.code_dim, self.architecture, self.hidden = code_dim, architecture, hidden
        self.code_activation, self.reconstruction = code_activation, reconstruction
        if hidden:
            self.encoder = Encoder(architecture, in_channels, image_size, hidden, channels, activation)
            features = self.encoder.features
        else:
            self.encoder = nn.Flatten()
            features = in_channels * image_size * image_size
        self.code = nn.Sequential(nn.Linear(features, code_dim), CODE_ACTIVATIONS[code_activation]())
        self.decoder = Decoder(architecture, in_channels, image_size, code_dim, hidden, channels, activation)

    # ---- the maps ------------------------------------------------------------------------
    def encode(self, x):
        """The code z = f(x), (B, code_dim)."""
        self._check_images(x)
        return self.code(self.encoder(x))

    def decode(self, z):
        """The reconstruction x^ = sigmoid(g(z)) in [0, 1], (B, C, H, W)."""
        return self.decoder(z).sigmoid()

    def forward(self, x):
        return self.decode(self.encode(x))

    def codes(self, images, batch_size=1000):
        """The codes of many images, encoded in batches without a graph: (N, code_dim)."""
        with no_grad():
            return cat([self.encode(images[start:start + batch_size])
                        for start in range(0, images.shape[0], batch_size)])

    # ---- the objective -------------------------------------------------------------------
    def reconstruction_loss(self, logits, x):
        """d(x, x^) summed over pixels, averaged over the batch."""
        if self.reconstruction == "bce":
            return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        return F.mse_loss(logits.sigmoid(), x, reduction="sum") / x.shape[0]

    def corrupt(self, x):
        """The training input c(x): the clean images (the denoising autoencoder overrides this)."""
        return x

    def penalties(self, inputs, code):
        """The regularisers on the code, {name: (weight, value)}; none for the plain autoencoder."""
        return {}

    def loss(self, batch):
        x = images_of(batch)
        self._check_images(x)
        inputs = self.corrupt(x) if self.training else x
        code = self.encode(inputs)
        logits = self.decoder(code)
        reconstruction = self.reconstruction_loss(logits, x)
        penalties = self.penalties(inputs, code)
        total = reconstruction
        for weight, value in penalties.values():
            total = total + weight * value
        with no_grad():
            mse = (logits.sigmoid() - x).square().mean()  # per pixel, the figure PCA is compared on
        return {"loss": total, "reconstruction": reconstruction,
                **{name: value for name, (_, value) in penalties.items()}, "mse": mse}

    # ---- evaluation ----------------------------------------------------------------------
    def evaluate(self, loader):
        """The mean loss terms, plus ``test_psnr`` = 10 log10(1 / test_mse) (pixels in [0, 1])."""
        metrics = super().evaluate(loader)
        metrics["test_psnr"] = psnr(metrics["test_mse"])
        return metrics

    def jacobian_frobenius_squared(self, x, create_graph=None):
        """||dz/dx||_F^2 per example (B,), exact for any encoder (see the module docstring)."""
        self._check_images(x)
        return jacobian_frobenius_squared(self.encode, x, create_graph)

    def code_statistics(self, x, threshold=0.05):
        """``code_statistics`` of the codes of images ``x`` (see that function)."""
        return code_statistics(self.codes(x), threshold)

    def sample(self, n):
        raise NotImplementedError(f"{type(self).__name__} cannot sample: a deterministic autoencoder has no "
                                  "prior over its codes (the VAE adds one)")


def code_statistics(codes, threshold=0.05):
    """How sparse codes (N, k) are, with |z| < ``threshold`` counted as near zero:

    mean_activation  mean |z| over all units and images
    near_zero_share  the share of code values (image, unit) that are near zero
    dead_unit_share  the share of units near zero on every image: units that never fire
    """
    with no_grad():
        near_zero = codes.abs() < threshold
        return {"mean_activation": float(codes.abs().mean().item()),
                "near_zero_share": float(near_zero.float().mean().item()),
                "dead_unit_share": float(near_zero.all(dim=0).float().mean().item())}


class SparseAutoencoder(Autoencoder):
    """An autoencoder whose code is pushed towards few active units.

    ``l1_weight`` (lambda) scales ||z||_1 averaged over the batch; ``kl_weight``
    (beta) scales sum_j KL(rho || rho^_j) with rho = ``target_activation``, which
    needs a sigmoid code (rho^_j is a probability). Either or both may be used.
    """

    def __init__(self, *, l1_weight=0.0, kl_weight=3.0, target_activation=0.1, code_activation="sigmoid",
                 **autoencoder_arguments):
        super().__init__(code_activation=code_activation, **autoencoder_arguments)
        if l1_weight < 0 or kl_weight < 0 or l1_weight + kl_weight == 0:
            raise ValueError(f"SparseAutoencoder: l1_weight and kl_weight must be >= 0 and not both 0, got "
                             f"{l1_weight} and {kl_weight}")
        if kl_weight > 0 and code_activation != "sigmoid":
            raise ValueError(f"SparseAutoencoder: the KL sparsity penalty needs code_activation='sigmoid' "
                             f"(mean activations in (0, 1)), got {code_activation!r}")
        if not 0 < target_activation < 1:
            raise ValueError(f"SparseAutoencoder: target_activation must lie in (0, 1), got {target_activation}")
        self.l1_weight, self.kl_weight, self.target_activation = l1_weight, kl_weight, target_activation

    def penalties(self, inputs, code):
        terms = {}
        if self.l1_weight > 0:
            terms["l1"] = (self.l1_weight, code.abs().sum(1).mean())  # d/dz = lambda sign(z) / N
        if self.kl_weight > 0:
            terms["kl_sparsity"] = (self.kl_weight, kl_sparsity(code.mean(0), self.target_activation))
        return terms

    def evaluate(self, loader, threshold=0.05):
        """Also the ``code_statistics`` of all images' codes: ``test_mean_activation``, ``test_near_zero_share``
        and ``test_dead_unit_share`` (|z| < ``threshold`` counts as near zero)."""
        metrics = super().evaluate(loader)
        codes = cat([self.codes(images_of(batch)) for batch in loader])
        metrics.update({f"test_{name}": value for name, value in code_statistics(codes, threshold).items()})
        return metrics


class DenoisingAutoencoder(Autoencoder):
    """An autoencoder trained to reconstruct clean images from corrupted ones.

    The corruption (training only) drops each pixel with probability
    ``drop_probability`` (masking noise), then adds N(0, ``noise_std``^2) noise to
    every pixel; the noisy values are not clipped, so the corrupted input has an
    MSE of exactly noise_std^2 to the clean one in expectation (Gaussian only).
    Masking is not rescaled (Vincent et al.'s definition): a masking denoiser
    learns inputs with a fraction 1 - p of the ink, and fed clean images it
    draws thicker strokes, so its clean-input MSE exceeds its denoising MSE.
    """

    def __init__(self, *, noise_std=0.5, drop_probability=0.0, **autoencoder_arguments):
        super().__init__(**autoencoder_arguments)
        if noise_std < 0 or not 0 <= drop_probability < 1 or (noise_std == 0 and drop_probability == 0):
            raise ValueError(f"DenoisingAutoencoder: need noise_std >= 0 and 0 <= drop_probability < 1, not both "
                             f"0; got noise_std={noise_std} and drop_probability={drop_probability}")
        self.noise_std, self.drop_probability = noise_std, drop_probability

    def corrupt(self, x):
        """c(x) = m * x + sigma * eps, m_i ~ Bernoulli(1 - p), eps ~ N(0, I); a constant (no gradient)."""
        x = x.detach()
        if self.drop_probability > 0:
            x = x * (rand_like(x) >= self.drop_probability).to(x.dtype)
        if self.noise_std > 0:
            x = x + self.noise_std * randn_like(x)
        return x

    def evaluate(self, loader):
        """Also the PSNR to the clean images of the corrupted input (``test_psnr_noisy``) and of its
        reconstruction (``test_psnr_denoised``), from the MSE over all pixels; seed the global generator
        for reproducible figures."""
        metrics = super().evaluate(loader)
        noisy_error, denoised_error, count = 0.0, 0.0, 0
        with no_grad():
            for batch in loader:
                clean = images_of(batch)
                noisy = self.corrupt(clean)
                noisy_error += float((noisy - clean).square().sum().item())
                denoised_error += float((self(noisy) - clean).square().sum().item())
                count += clean.numel()
        metrics["test_psnr_noisy"] = psnr(noisy_error / max(count, 1))
        metrics["test_psnr_denoised"] = psnr(denoised_error / max(count, 1))
        return metrics


class ContractiveAutoencoder(Autoencoder):
    """An autoencoder whose encoder is penalised for its sensitivity to the input: lambda ||J_f(x)||_F^2.

    ``jacobian="exact"`` differentiates any encoder twice (``jacobian_frobenius_squared``);
    ``"closed_form"`` uses the one-layer sigmoid formula and needs ``hidden=()``,
    ``code_activation="sigmoid"`` and an MLP. The exact penalty costs about k
    backward passes per example; ``jacobian_examples`` limits it, in training,
    to the first that many examples of each batch (an unbiased estimate of the
    batch mean, each example's Jacobian still exact); None uses the whole batch.
    """

    def __init__(self, *, contractive_weight=0.1, jacobian="exact", jacobian_examples=None, **autoencoder_arguments):
        super().__init__(**autoencoder_arguments)
        check_choice("ContractiveAutoencoder", "jacobian", jacobian, ("exact", "closed_form"))
        one_layer_sigmoid = not self.hidden and self.architecture == "mlp" and self.code_activation == "sigmoid"
        if jacobian == "closed_form" and not one_layer_sigmoid:
            raise ValueError("ContractiveAutoencoder: jacobian='closed_form' holds for a one-layer sigmoid encoder "
                             "only (architecture='mlp', hidden=(), code_activation='sigmoid'); use 'exact'")
        if contractive_weight < 0 or (jacobian_examples is not None and jacobian_examples < 1):
            raise ValueError(f"ContractiveAutoencoder: need contractive_weight >= 0 and jacobian_examples >= 1 or "
                             f"None, got {contractive_weight} and {jacobian_examples}")
        self.contractive_weight, self.jacobian, self.jacobian_examples = contractive_weight, jacobian, jacobian_examples

    def penalties(self, inputs, code):
        if self.jacobian == "closed_form":
            norms = sigmoid_jacobian_frobenius_squared(code, self.code[0].weight)
        else:
            subset = inputs if self.jacobian_examples is None or not self.training else inputs[:self.jacobian_examples]
            norms = self.jacobian_frobenius_squared(subset)
        return {"contractive": (self.contractive_weight, norms.mean())}

    def jacobian_frobenius_squared(self, x, create_graph=None):
        """||dz/dx||_F^2 per example (B,): by the closed form where the model trains with it (the exact
        route costs k backward passes), else exactly."""
        if self.jacobian == "exact":
            return super().jacobian_frobenius_squared(x, create_graph)
        return sigmoid_jacobian_frobenius_squared(self.encode(x), self.code[0].weight)


# Shared sizes: a 784-256-32 MLP (conv: 32-64 channels, 256 hidden), Adam 1e-3, batch 128.
_MLP = {"lr": 1e-3, "batch_size": 128, "epochs": 10, "architecture": "mlp", "code_dim": 32, "hidden": [256],
        "activation": "relu"}

register(ModelSpec(
    name="autoencoder",
    build=Autoencoder,
    dataset="mnist",
    description="autoencoder, 784-256-32 ReLU MLP, linear code, MSE (compare with PCA at k = 32)",
    hyperparameters={**_MLP, "code_activation": "linear", "reconstruction": "mse"},
))

register(ModelSpec(
    name="conv_autoencoder",
    build=Autoencoder,
    dataset="mnist",
    description="convolutional autoencoder (4x4 stride-2 convs 32-64, 256 hidden, 32-d code), MSE",
    hyperparameters={**_MLP, "architecture": "conv", "channels": [32, 64], "code_activation": "linear",
                     "reconstruction": "mse"},
))

# Ng's notes (the MNIST exercise): sigmoid units, rho = 0.1, beta = 3.
register(ModelSpec(
    name="sparse_autoencoder",
    build=SparseAutoencoder,
    dataset="mnist",
    description="sparse autoencoder, 784-256-32 MLP, sigmoid code, KL sparsity (rho = 0.1, beta = 3)",
    hyperparameters={**_MLP, "kl_weight": 3.0, "target_activation": 0.1, "l1_weight": 0.0},
))

# Vincent et al. corrupt with masking or Gaussian noise; sigma = 0.5 on [0, 1] pixels is heavy, visible noise.
register(ModelSpec(
    name="denoising_autoencoder",
    build=DenoisingAutoencoder,
    dataset="mnist",
    description="denoising autoencoder, 784-256-32 MLP, Gaussian corruption sigma = 0.5, MSE to the clean image",
    hyperparameters={**_MLP, "noise_std": 0.5, "drop_probability": 0.0},
))

# Rifai et al.: a one-layer sigmoid encoder, whose penalty has a closed form.
register(ModelSpec(
    name="contractive_autoencoder",
    build=ContractiveAutoencoder,
    dataset="mnist",
    description="contractive autoencoder, one-layer sigmoid encoder (784-256), closed-form ||J||_F^2, lambda = 0.1",
    hyperparameters={**_MLP, "hidden": [], "code_dim": 256, "code_activation": "sigmoid", "reconstruction": "bce",
                     "contractive_weight": 0.1, "jacobian": "closed_form"},
))
