"""Optimizers, learning-rate schedulers and weight averaging: ``minigen.optim`` mirrors ``torch.optim``.

The schedulers live in ``minigen.optim.lr_scheduler`` only, as in PyTorch.
``EMA`` (an exponential moving average of a model's weights, as diffusion and
GAN training keep one) is minigen's own; PyTorch's nearest relative is
``torch.optim.swa_utils.AveragedModel``.
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .ema import EMA
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "EMA", "lr_scheduler"]
