"""Random generators for the data package: one rule for every ``seed``/``generator`` argument."""

import numbers

import numpy as np

from .. import backend


def as_generator(seed=None):
    """A NumPy ``Generator`` from ``seed``.

    ``None`` uses minigen's global CPU generator, so ``minigen.manual_seed`` makes the
    draw reproducible; an integer (or a sequence of integers) seeds a fresh generator;
    a ``Generator`` is used as it is, so successive calls continue its stream.
    """
    if seed is None:
        return backend.generator("cpu")
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (numbers.Integral, np.integer)) or (
        isinstance(seed, (tuple, list)) and all(isinstance(s, (numbers.Integral, np.integer)) for s in seed)
    ):
        return np.random.default_rng(seed)
    raise TypeError(f"seed: expected None, an integer or a numpy.random.Generator, got {type(seed).__name__}")
