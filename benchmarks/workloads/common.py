"""Pieces shared by several workloads: sinusoidal embeddings and the fixed random inputs."""

import math

import numpy as np


def timestep_frequencies(dim, max_period=10000.0):
    """The ``dim // 2`` frequencies of a sinusoidal embedding: max_period^(-i / (dim / 2))."""
    half = dim // 2
    return np.exp(-math.log(max_period) * np.arange(half, dtype=np.float64) / half).astype(np.float32)


def sinusoidal_embedding(lib, t, frequencies):
    """[sin(t * f_i), cos(t * f_i)] for a batch of times ``t`` (shape (B,)): shape (B, 2 * len(f))."""
    angles = t.reshape(-1, 1) * frequencies.reshape(1, -1)
    return lib.cat([lib.sin(angles), lib.cos(angles)], dim=1)


def images(rng, batch_size, channels, size):
    """Stand-in image batch in [-1, 1] (the timings do not depend on the pixel values)."""
    return rng.uniform(-1.0, 1.0, (batch_size, channels, size, size)).astype(np.float32)


def normal(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)
