"""Shared strategies and checks for the op tests."""

import numpy as np
import pytest
from hypothesis import strategies as st

import minigen

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]

seeds = st.integers(0, 2**32 - 1)


@st.composite
def shapes(draw, min_dims=0, max_dims=4, min_side=1, max_side=4):
    ndim = draw(st.integers(min_dims, max_dims))
    return tuple(draw(st.integers(min_side, max_side)) for _ in range(ndim))


@st.composite
def broadcastable_shapes(draw, min_dims=0, max_dims=4, max_side=4):
    """Two shapes that broadcast together: size-1 axes, missing leading axes and 0-d included."""
    full = draw(shapes(min_dims, max_dims, 1, max_side))

    def derive():
        drop = draw(st.integers(0, len(full)))
        derived = list(full[drop:])
        return tuple(1 if draw(st.booleans()) else s for s in derived)

    return derive(), derive()


def array(shape, seed, low=-2.0, high=2.0, avoid=(), margin=0.1):
    """Uniform values in [low, high) kept ``margin`` away from each point in ``avoid``."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(low, high, size=shape)
    for point in avoid:
        close = np.abs(values - point) < margin
        values = np.where(close, point + np.copysign(margin, values - point + 1e-12) * 2, values)
    return values


def tensor(shape, seed, device="cpu", requires_grad=True, dtype=minigen.float64, **kwargs):
    return minigen.tensor(array(shape, seed, **kwargs), dtype=dtype, device=device, requires_grad=requires_grad)


def check_gradients(fn, inputs, second_order=True, **tolerances):
    """First (and by default second) order gradcheck; fails loudly with the worst element."""
    assert minigen.gradcheck(fn, inputs, **tolerances)
    if second_order:
        assert minigen.gradgradcheck(fn, inputs, **tolerances)


def torch_or_skip():
    return pytest.importorskip("torch")


def train_losses(model, x, steps, lr=3e-3):
    """The losses of ``steps`` Adam steps of ``model.loss((x, None))``, for falling-loss smoke tests."""
    optimizer = minigen.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        terms = model.loss((x, None))
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(terms["loss"].item())
    return losses
