"""Neural-network building blocks with PyTorch's names: ``minigen.nn`` mirrors ``torch.nn``."""

from .module import Flatten, Identity, Module, ModuleDict, ModuleList, Parameter, Sequential, Unflatten
