"""Weights both ways between minigen and PyTorch; ``torch`` is imported only when called.

Layers share PyTorch's parameter names and shapes, so a state dict converted
here loads into the same architecture written in the other library.
"""

from collections import OrderedDict

import numpy as np

from . import backend
from .tensor import Tensor


def _torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("interop: PyTorch is not installed (pip install torch)") from error
    return torch


def to_torch(tensor, device="cpu"):
    """A torch tensor with a copy of ``tensor``'s values."""
    torch = _torch()
    return torch.from_numpy(np.array(backend.to_device(tensor.data, "cpu"))).to(device)


def from_torch(tensor, device="cpu"):
    """A minigen tensor with a copy of a torch tensor's values."""
    array = tensor.detach().cpu().numpy().copy()
    return Tensor(backend.to_device(array, device))


def to_torch_state_dict(state_dict, device="cpu"):
    """Convert a minigen state dict into one that ``torch.nn.Module.load_state_dict`` accepts."""
    return OrderedDict((key, to_torch(value, device)) for key, value in state_dict.items())


def from_torch_state_dict(state_dict, device="cpu"):
    """Convert a torch state dict into one that ``minigen.nn.Module.load_state_dict`` accepts."""
    return OrderedDict((key, from_torch(value, device)) for key, value in state_dict.items())
