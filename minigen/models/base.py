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
smoke-test settings when scaled down. Where the paper's optimiser is not the
model's default (Burda et al.'s Adam eps and learning-rate stages), the spec's
``optimizers`` recipe builds it, with the per-epoch schedulers ``training.fit``
steps; ``ModelSpec.config`` is the run config a checkpoint carries, from which
``minigen sample`` and ``minigen eval`` rebuild the model.
"""

import inspect
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import optim
from ..nn import Module
from ..tensor import no_grad

# The hyperparameters that configure the run rather than the model's constructor.
TRAINING_SETTINGS = ("lr", "batch_size", "epochs")


def images_of(batch):
    """The images of a batch: the first array of an (images, labels, ...) tuple, or the batch itself."""
    return batch[0] if isinstance(batch, tuple) else batch


def check_choice(owner, argument, value, choices):
    """A ValueError naming ``owner``'s ``argument`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{owner}: {argument} must be one of {', '.join(map(repr, choices))}, got {value!r}")


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
                size = images_of(batch).shape[0]
                for name, value in self.loss(batch).items():
                    totals[name] = totals.get(name, 0.0) + float(value.item()) * size
                count += size
        return {f"test_{name}": total / max(count, 1) for name, total in totals.items()}

    def _check_images(self, x):
        """Images of the fixed shape (B, *self.image_shape) the model was built for, or a ValueError."""
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"{type(self).__name__}: expected images of shape "
                             f"(B, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}")


@dataclass
class ModelSpec:
    name: str
    build: Callable[..., GenerativeModel]
    dataset: str
    description: str
    hyperparameters: dict = field(default_factory=dict)
    # (model, lr) -> (optimizers, schedulers stepped after each epoch): the paper's optimiser where it differs
    # from the model's own configure_optimizers at a constant rate.
    optimizers: Optional[Callable] = None

    def configure_optimizers(self, model, lr):
        """The optimizers of a run and the learning-rate schedulers ``training.fit`` steps after each epoch."""
        if self.optimizers is None:
            return model.configure_optimizers(lr), []
        return self.optimizers(model, lr)

    def config(self, *, dataset=None, seed=0, **overrides):
        """The run config a checkpoint carries: the registered hyperparameters with ``overrides``, as
        ``settings`` and as the constructor's ``model_arguments`` (the settings less lr, batch size, epochs)."""
        settings = {**self.hyperparameters, **overrides}
        return {"model": self.name, "dataset": dataset or self.dataset, "seed": seed, "settings": settings,
                "model_arguments": {key: value for key, value in settings.items() if key not in TRAINING_SETTINGS}}

    def argument_names(self):
        """The keyword arguments ``build`` takes: its own and, where it passes ``**arguments`` on, its bases'."""
        names = set(self.hyperparameters) - set(TRAINING_SETTINGS)
        for owner in inspect.getmro(self.build) if inspect.isclass(self.build) else (self.build,):
            function = vars(owner).get("__init__") if inspect.isclass(owner) else owner
            if function is None:
                continue
            parameters = list(inspect.signature(function).parameters.values())
            names |= {parameter.name for parameter in parameters if parameter.name != "self"
                      and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)}
            if not any(parameter.kind == parameter.VAR_KEYWORD for parameter in parameters):
                break
        return names


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
