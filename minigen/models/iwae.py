"""The importance-weighted autoencoder (Burda, Grosse and Salakhutdinov, 2016).

The same model as the VAE (vae.py), trained on a tighter bound. With k draws
z_1..z_k ~ q(z | x) and importance weights w_i = p(x, z_i) / q(z_i | x),

    L_k(x) = E[ log (1/k) sum_i w_i ]  <=  log p(x),   L_1 = ELBO,  L_k <= L_{k+1}.

Its gradient is a softmax-weighted sum of the per-draw ELBO gradients,

    grad L_k = E[ sum_i w~_i grad log w_i ],   w~_i = w_i / sum_j w_j,

so draws that explain x well dominate, and the posterior is no longer forced
to cover only regions where every draw is good: q may be broader than the
true posterior, and the decoder learns more active latent units.
``loss`` implements -L_k with ``VAE.log_weights`` (the reparameterised
log w_i) and a log-mean-exp over the k draws (``logsumexp - log k``, whose
gradient is exactly the softmax weights w~_i). The registered ``iwae`` trains
with Burda et al.'s Adam and learning-rate stages (``vae.burda_optimizers``).
"""

from ..metrics.likelihood import log_mean_exp
from .base import ModelSpec, register
from .vae import BURDA_ARCHITECTURE, BURDA_LR, VAE, burda_optimizers


class IWAE(VAE):
    """A VAE trained on the k-sample importance-weighted bound (``k=1`` is the VAE's ELBO)."""

    def __init__(self, *, k=5, **vae_arguments):
        super().__init__(**vae_arguments)
        if k < 1:
            raise ValueError(f"IWAE: k must be >= 1, got {k}")
        self.k = k

    def loss(self, batch, eps=None):
        """-L_k averaged over the batch; ``eps`` (k, B, latent_dim) replaces the fresh noise of the k draws."""
        x = self.prepare(batch)
        log_weights = self.log_weights(x, self.k, eps)  # (k, B)
        bound = log_mean_exp(log_weights, 0).mean()  # d/d log w_i = softmax(log w)_i: the weights w~_i
        return {"loss": -bound, f"iwae_{self.k}": bound.detach()}


register(ModelSpec(
    name="iwae",
    build=IWAE,
    dataset="mnist",
    description="IWAE, k = 50, 784-200-200-50 tanh MLP, Bernoulli decoder, Adam eps 1e-4 and staged lr "
                "(Burda et al. 2016)",
    hyperparameters={"lr": BURDA_LR, "batch_size": 20, "epochs": 10, "k": 50, **BURDA_ARCHITECTURE},
    optimizers=burda_optimizers,
))
