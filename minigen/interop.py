"""Values out of minigen: host NumPy arrays (``to_numpy``), and weights both ways between minigen and PyTorch.

Layers share PyTorch's parameter names and shapes, so a state dict converted
here loads into the same architecture written in the other library; ``torch``
is imported only when called.
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


def to_numpy(values, dtype=None):
    """A CPU NumPy array from a Tensor (any device, detached), a NumPy or CuPy array, or a list of them.

    Host-side code (plots, PCA, binned metrics) calls this instead of ``Tensor.numpy``, which refuses CUDA tensors.
    """
    if isinstance(values, Tensor):
        array = backend.to_device(values.data, "cpu")
    elif isinstance(values, (list, tuple)) and values and isinstance(values[0], Tensor):
        array = np.stack([to_numpy(value) for value in values])
    elif isinstance(values, np.ndarray):
        array = values
    elif hasattr(values, "get") and hasattr(values, "device"):  # a raw CuPy array
        array = backend.to_device(values, "cpu")
    else:
        array = np.asarray(values)
    return np.asarray(array, dtype=dtype)


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
