"""The two runs of benchmarks/vae_burda.py: Burda et al.'s VAE/IWAE training step in minigen and in PyTorch.

Both runs build the same network (``minigen.models.vae.BURDA_ARCHITECTURE``), start from the
same weights (minigen's initialisation, copied into torch), use the same optimiser and schedule
(``BURDA_ADAM`` and ``burda_lr_factor``: Adam with eps 1e-4, the learning-rate stages as a
per-epoch LambdaLR) and take the same inputs at every step: binarised images and the
reparameterisation noise eps, both drawn by the harness. ``step(images, eps)`` returns the loss,
leaves the gradients of that loss on the parameters and updates them; ``end_epoch`` steps the
schedule. ``state``/``load_state`` carry the weights, the optimizer and the schedule through a
checkpoint (torch tensors stored as minigen tensors), so a resumed run continues bit for bit.
"""

import math

import minigen
from benchmarks.frameworks import Framework
from minigen import interop
from minigen.models import IWAE, VAE
from minigen.models.vae import BURDA_ADAM, BURDA_ARCHITECTURE, BURDA_LR, burda_lr_factor, burda_optimizers

BACKENDS = {("minigen", "cpu"): "minigen-numpy", ("minigen", "cuda"): "minigen-cupy",
            ("torch", "cpu"): "torch-cpu", ("torch", "cuda"): "torch-cuda"}
LATENT_DIM = BURDA_ARCHITECTURE["latent_dim"]


def build_minigen(k, seed):
    """The minigen VAE (k = 1) or IWAE-k; the harness binarises the images, the same way for both runs."""
    minigen.manual_seed(seed)
    arguments = {**BURDA_ARCHITECTURE, "binarize": False}
    return IWAE(k=k, **arguments) if k > 1 else VAE(**arguments)


def noise_shape(k, batch_size):
    """The shape of eps one step takes: (B, latent) for the VAE, (k, B, latent) for the IWAE."""
    return (k, batch_size, LATENT_DIM) if k > 1 else (batch_size, LATENT_DIM)


def torch_mirror(torch, *, image_size=28, hidden=BURDA_ARCHITECTURE["hidden"], latent_dim=LATENT_DIM):
    """The tanh MLP VAE in PyTorch, its parameters named as in minigen's state dict."""
    from torch import nn

    def mlp(sizes, final_activation):
        layers = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if final_activation or index < len(sizes) - 2:
                layers.append(nn.Tanh())
        return nn.Sequential(*layers)

    pixels = image_size * image_size
    model = nn.Module()
    model.encoder = nn.Module()
    model.encoder.network = nn.Sequential(nn.Flatten(), mlp((pixels, *hidden), final_activation=True))
    model.posterior = nn.Linear(hidden[-1], 2 * latent_dim)
    model.decoder = nn.Module()
    model.decoder.network = nn.Sequential(mlp((latent_dim, *reversed(hidden), pixels), final_activation=False),
                                          nn.Unflatten(1, (1, image_size, image_size)))
    return model


def torch_loss(torch, model, x, eps):
    """minigen's VAE.loss (eps (B, latent): -ELBO with the closed-form KL) or IWAE.loss (eps (k, B, latent):
    -L_k), in PyTorch; a dict with the loss and, for the VAE, its reconstruction and KL terms."""
    mu, log_variance = model.posterior(model.encoder.network(x)).chunk(2, dim=1)
    draws = eps if eps.dim() == 3 else eps.unsqueeze(0)
    z = mu + (0.5 * log_variance).exp() * draws
    logits = model.decoder.network(z.reshape(-1, mu.shape[1])).reshape(draws.shape[0], *x.shape)
    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand(logits.shape), reduction="none").sum((-3, -2, -1))
    if eps.dim() == 2:
        reconstruction = -log_px[0].mean()
        kl = (0.5 * (mu**2 + log_variance.exp() - log_variance - 1)).sum(-1).mean()
        return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}
    log_weights = log_px + (0.5 * (draws**2 - z**2) + 0.5 * log_variance).sum(-1)
    return {"loss": -(torch.logsumexp(log_weights, 0) - math.log(draws.shape[0])).mean()}


class MinigenRun:
    def __init__(self, model, device="cpu"):
        self.framework = Framework(BACKENDS["minigen", device])
        self.model = model.to(device)
        (self.optimizer,), (self.schedule,) = burda_optimizers(self.model)

    @property
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def step(self, images, eps):
        terms = self.model.loss(self.framework.tensor(images), eps=self.framework.tensor(eps))
        self.optimizer.zero_grad()
        terms["loss"].backward()
        self.optimizer.step()
        return float(terms["loss"].item())

    def end_epoch(self):
        self.schedule.step()

    def weights(self):
        """The model's state dict, as minigen tensors."""
        return self.model.state_dict()

    def gradients(self):
        return {name: interop.to_numpy(parameter.grad) for name, parameter in self.model.named_parameters()}

    def state(self):
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict()}

    def load_state(self, state):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])


class TorchRun:
    """The same model, step, optimiser and schedule in PyTorch, from minigen's initial weights."""

    def __init__(self, initial_weights, device="cpu", threads=None):
        self.framework = Framework(BACKENDS["torch", device])
        torch = self.torch = self.framework.lib
        if threads is not None:
            torch.set_num_threads(threads)
        self.model = torch_mirror(torch).to(device)
        self.model.load_state_dict(interop.to_torch_state_dict(initial_weights, device))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=BURDA_LR, **BURDA_ADAM)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, burda_lr_factor)

    @property
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def step(self, images, eps):
        loss = torch_loss(self.torch, self.model, self.framework.tensor(images), self.framework.tensor(eps))["loss"]
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def end_epoch(self):
        self.schedule.step()

    def weights(self):
        """The model's state dict, as minigen tensors (what minigen's estimator scores)."""
        return interop.from_torch_state_dict(self.model.state_dict())

    def gradients(self):
        return {name: parameter.grad.detach().cpu().numpy() for name, parameter in self.model.named_parameters()}

    def state(self):
        return {"model": self.weights(), "optimizer": self._converted(self.optimizer.state_dict(), interop.from_torch),
                "schedule": self.schedule.state_dict()}

    def load_state(self, state):
        self.model.load_state_dict(interop.to_torch_state_dict(state["model"], self.framework.device))
        self.optimizer.load_state_dict(self._converted(state["optimizer"], interop.to_torch))
        self.schedule.load_state_dict(state["schedule"])

    def _converted(self, value, convert):
        """``value`` (nested dicts and lists) with every tensor passed through ``convert``."""
        if isinstance(value, dict):
            return {key: self._converted(item, convert) for key, item in value.items()}
        if isinstance(value, list):
            return [self._converted(item, convert) for item in value]
        return convert(value) if isinstance(value, (minigen.Tensor, self.torch.Tensor)) else value
