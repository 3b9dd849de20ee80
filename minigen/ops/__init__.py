"""Differentiable primitives, grouped by kind.

Each module lists in ``TENSOR_METHODS`` the functions that are also Tensor
methods (``x.exp()``, ``x.sum(dim=1)``, ``x + y``); they are attached here, in
one place, so the Tensor class itself stays about the graph.
"""

from ..tensor import Tensor
from . import activation, conv, elementwise, indexing, linalg, pooling, reduce, shape

_MODULES = [elementwise, reduce, shape, indexing, linalg, conv, pooling, activation]

for _module in _MODULES:
    for _name in _module.TENSOR_METHODS:
        setattr(Tensor, _name, getattr(_module, _name))

from .elementwise import cast, to_device  # noqa: E402  (used by Tensor.to)
