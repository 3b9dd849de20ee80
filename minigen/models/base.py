"""The interface every model family shares, and the registry the ``minigen`` command reads.

A model is a ``Module`` that also knows its objective:

- ``loss(batch) -> dict`` of named terms, the total under ``"loss"`` (a VAE
  returns ``{"loss", "reconstruction", "kl"}``), so the training loop can log
  every term without knowing the model;
- ``configure_optimizers(lr)`` returns the optimizers (GANs return two);
- ``training_step(batch, optimizers)`` does one update and returns the terms;
  the default is the usual zero_grad / backward / step on ``loss(batch)``,
  and adversarial models override it with their alternating updates;
- ``sample(n)`` draws images from the model, where the model can;
- ``on_epoch_start(epoch)`` is called by the training loop before each epoch
  (schedules that count epochs, such as the beta-VAE's KL warm-up).

Each family registers a ``ModelSpec``: how to build it, the dataset it trains
on by default and its paper hyperparameters in one place, which are also its
smoke-test settings when scaled down.
"""

from dataclasses import dataclass, field
from typing import Callable

from .. import optim
from ..nn import Module
from ..tensor import no_grad


class GenerativeModel(Module):
    def loss(self, batch):
        raise NotImplementedError(f"{type(self).__name__}.loss")

    def configure_optimizers(self, lr):
        return [optim.Adam(self.parameters(), lr=lr)]

    def training_step(self, batch, optimizers):
        (optimizer,) = optimizers
        terms = self.loss(batch)
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        return {name: float(value.item()) for name, value in terms.items()}

    def on_epoch_start(self, epoch):
        """Hook called by ``training.fit`` before epoch ``epoch`` (0-based); nothing by default."""

    def sample(self, n):
        raise NotImplementedError(f"{type(self).__name__} cannot sample")

    def evaluate(self, loader):
        """Metrics on held-out data (mean of the loss terms by default)."""
        totals, count = {}, 0
        with no_grad():
            for batch in loader:
                size = batch[0].shape[0] if isinstance(batch, tuple) else batch.shape[0]
                for name, value in self.loss(batch).items():
                    totals[name] = totals.get(name, 0.0) + float(value.item()) * size
                count += size
        return {f"test_{name}": total / max(count, 1) for name, total in totals.items()}


@dataclass
class ModelSpec:
    name: str
    build: Callable[..., GenerativeModel]
    dataset: str
    description: str
    hyperparameters: dict = field(default_factory=dict)


REGISTRY = {}


def register(spec):
    if spec.name in REGISTRY:
        raise ValueError(f"register: a model named '{spec.name}' is already registered")
    REGISTRY[spec.name] = spec
    return spec


def get_spec(name):
    if name not in REGISTRY:
        raise KeyError(f"unknown model '{name}'; registered models: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]
