"""Neural-network building blocks with PyTorch's names: ``minigen.nn`` mirrors ``torch.nn``."""

from . import functional, init, utils
from .layers.activation import (
    ELU, GELU, Dropout, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh,
)
from .layers.attention import MultiheadAttention
from .layers.conv import AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, Upsample
from .layers.linear import Embedding, Linear
from .layers.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from .module import Flatten, Identity, Module, ModuleDict, ModuleList, Parameter, Sequential, Unflatten
