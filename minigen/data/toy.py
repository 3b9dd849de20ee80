"""2-D toy distributions with known modes and, where one exists, an exact log-density.

The Gaussian mixtures follow the VEEGAN protocol (Srivastava et al., 2017), the
standard test for GAN mode collapse:

    ring8:  8 modes at 2 * (cos(2 pi k / 8), sin(2 pi k / 8)), k = 0..7, std 0.02
    grid25: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.02

both with equal weights, so

    log p(x) = logsumexp_k(-|x - mu_k|^2 / (2 std^2)) - log K - log(2 pi std^2).

The manifold toys (moons, swissroll, circles) and the checkerboard follow the
geometry of FFJORD's toy data (Grathwohl et al., 2019, ``lib/toy_data.py``); their
``noise`` is the standard deviation of the isotropic Gaussian noise in the units
of the returned points. The checkerboard's density is exact (uniform on its dark
squares); the noisy manifolds have none in closed form and their ``log_prob``
raises ``NotImplementedError``.

Every ``sample(n, seed=None)`` returns a float32 array of shape (n, 2); ``seed``
is ``None`` (minigen's global generator), an integer or a NumPy ``Generator``.
``log_prob`` works in float64 and returns an array of shape ``points.shape[:-1]``.
"""

import math

import numpy as np

from .. import backend
from ..tensor import Tensor
from .seeding import as_generator


def _as_points(points, name):
    """``points`` (array-like or Tensor) as a float64 NumPy array of shape (..., 2)."""
    if isinstance(points, Tensor):
        points = backend.to_device(points.data, "cpu")
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 0 or points.shape[-1] != 2:
        raise ValueError(f"{name}.log_prob: expected points of shape (..., 2), got {points.shape}")
    return points


def _check_noise(noise, name):
    if not noise >= 0:
        raise ValueError(f"{name}: noise must be a non-negative standard deviation, got {noise}")
    return float(noise)


def _check_count(n, name):
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{name}.sample: n must be a non-negative integer, got {n!r}")
    return int(n)


class ToyDistribution:
    """A 2-D distribution: ``sample``, ``log_prob``, ``modes`` (or None) and ``std``."""

    modes = None
    std = None

    def sample(self, n, seed=None):
        n = _check_count(n, type(self).__name__)
        return self._sample(n, as_generator(seed)).astype(np.float32)

    def log_prob(self, points):
        raise NotImplementedError(
            f"{type(self).__name__}.log_prob: this distribution (a noisy manifold) has no closed-form "
            "density; use a distribution with an exact one (ring8, grid25, checkerboard) to score likelihoods"
        )

    def _sample(self, n, generator):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class GaussianMixture2D(ToyDistribution):
    """Equal-weight isotropic Gaussians with standard deviation ``std`` at ``modes`` (K, 2)."""

    def __init__(self, modes, std):
        modes = np.asarray(modes, dtype=np.float64)
        if modes.ndim != 2 or modes.shape[1] != 2 or len(modes) == 0:
            raise ValueError(f"{type(self).__name__}: modes must have shape (K, 2) with K >= 1, got {modes.shape}")
        if not std > 0:
            raise ValueError(f"{type(self).__name__}: std must be positive, got {std}")
        self.modes = modes
        self.std = float(std)

    def _sample(self, n, generator):
        component = generator.integers(0, len(self.modes), size=n)
        return self.modes[component] + self.std * generator.standard_normal((n, 2))

    def log_prob(self, points):
        points = _as_points(points, type(self).__name__)
        squared_distances = self._squared_distances(points)
        exponents = -squared_distances / (2.0 * self.std**2)
        # log-sum-exp with the largest term factored out: exact far from every mode,
        # where each exp() alone would underflow to 0 and give log(0) = -inf.
        largest = exponents.max(axis=-1)
        log_sum = largest + np.log(np.exp(exponents - largest[..., None]).sum(axis=-1))
        return log_sum - math.log(len(self.modes)) - math.log(2.0 * math.pi * self.std**2)

    def nearest_mode(self, points):
        """(index of the nearest mode, distance to it) for each point of shape (..., 2)."""
        points = _as_points(points, type(self).__name__)
        squared_distances = self._squared_distances(points)
        index = squared_distances.argmin(axis=-1)
        return index, np.sqrt(np.take_along_axis(squared_distances, index[..., None], axis=-1)[..., 0])

    def _squared_distances(self, points):
        return ((points[..., None, :] - self.modes) ** 2).sum(axis=-1)

    def __repr__(self):
        return f"{type(self).__name__}(modes={len(self.modes)}, std={self.std})"


class RingOfGaussians(GaussianMixture2D):
    """``num_modes`` Gaussians evenly spaced on a circle (VEEGAN's ring: 8 modes, radius 2, std 0.02)."""

    def __init__(self, num_modes=8, radius=2.0, std=0.02):
        # Angles 2 pi k / K for k < K: linspace(0, 2 pi, K) would repeat the first mode at 2 pi.
        angles = 2.0 * math.pi * np.arange(num_modes) / num_modes
        super().__init__(radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), std)
        self.radius = float(radius)


class GridOfGaussians(GaussianMixture2D):
    """Gaussians on a square grid (VEEGAN's grid: 5 x 5 modes at {-4, -2, 0, 2, 4}^2, std 0.02)."""

    def __init__(self, num_per_side=5, spacing=2.0, std=0.02):
        coordinates = spacing * (np.arange(num_per_side) - (num_per_side - 1) / 2.0)
        x, y = np.meshgrid(coordinates, coordinates, indexing="ij")
        super().__init__(np.stack([x.ravel(), y.ravel()], axis=1), std)
        self.spacing = float(spacing)


class TwoMoons(ToyDistribution):
    """Two interleaved half circles (scikit-learn's make_moons, scaled by 2 and shifted by (-1, -0.2))."""

    def __init__(self, noise=0.2):
        self.std = _check_noise(noise, type(self).__name__)

    def _sample(self, n, generator):
        angle = math.pi * generator.random(n)
        upper = generator.random(n) < 0.5
        x = np.where(upper, np.cos(angle), 1.0 - np.cos(angle))
        y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
        points = 2.0 * np.stack([x, y], axis=1) + np.array([-1.0, -0.2])
        return points + self.std * generator.standard_normal((n, 2))

    def __repr__(self):
        return f"TwoMoons(noise={self.std})"


class SwissRoll(ToyDistribution):
    """The 2-D swiss roll t (cos t, sin t) / 5 with t uniform on [1.5 pi, 4.5 pi]."""

    def __init__(self, noise=0.2):
        self.std = _check_noise(noise, type(self).__name__)

    def _sample(self, n, generator):
        t = 1.5 * math.pi * (1.0 + 2.0 * generator.random(n))
        points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5.0
        return points + self.std * generator.standard_normal((n, 2))

    def __repr__(self):
        return f"SwissRoll(noise={self.std})"


class ConcentricCircles(ToyDistribution):
    """Two circles of radii ``radii`` with equal weight (scikit-learn's make_circles, factor 0.5, scaled by 3)."""

    def __init__(self, noise=0.24, radii=(1.5, 3.0)):
        self.std = _check_noise(noise, type(self).__name__)
        self.radii = tuple(float(r) for r in radii)

    def _sample(self, n, generator):
        radius = np.asarray(self.radii)[generator.integers(0, len(self.radii), size=n)]
        angle = 2.0 * math.pi * generator.random(n)
        points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return points + self.std * generator.standard_normal((n, 2))

    def __repr__(self):
        return f"ConcentricCircles(noise={self.std}, radii={self.radii})"


class Checkerboard(ToyDistribution):
    """Uniform on the dark squares of a checkerboard.

    The square [-half, half]^2 (half = num_cells * cell_size / 2) is cut into num_cells^2
    half-open cells [a, a + cell_size); cell (i, j) is dark when i + j is even. With the
    defaults (4 cells of side 2 on [-4, 4]^2, FFJORD's checkerboard) 8 cells are dark and
    the density is 1 / 32 on them, 0 elsewhere.
    """

    def __init__(self, num_cells=4, cell_size=2.0):
        if num_cells < 1 or num_cells % 2:
            raise ValueError(f"Checkerboard: num_cells must be a positive even number, got {num_cells}")
        self.num_cells = int(num_cells)
        self.cell_size = float(cell_size)
        self.half_width = self.num_cells * self.cell_size / 2.0
        dark_area = self.num_cells**2 / 2 * self.cell_size**2
        self._log_density = -math.log(dark_area)

    def _sample(self, n, generator):
        column = generator.integers(0, self.num_cells, size=n)
        # Half the rows of each column are dark: the rows with the parity of the column.
        row = 2 * generator.integers(0, self.num_cells // 2, size=n) + column % 2
        cells = np.stack([column, row], axis=1)
        return (cells + generator.random((n, 2))) * self.cell_size - self.half_width

    def log_prob(self, points):
        points = _as_points(points, "Checkerboard")
        cells = np.floor((points + self.half_width) / self.cell_size)
        inside = ((cells >= 0) & (cells < self.num_cells)).all(axis=-1)
        dark = inside & (cells.sum(axis=-1) % 2 == 0)
        return np.where(dark, self._log_density, -np.inf)

    def __repr__(self):
        return f"Checkerboard(num_cells={self.num_cells}, cell_size={self.cell_size})"


TOY_DATASETS = {
    "ring8": RingOfGaussians,
    "grid25": GridOfGaussians,
    "moons": TwoMoons,
    "swissroll": SwissRoll,
    "checkerboard": Checkerboard,
    "circles": ConcentricCircles,
}


def toy_dataset(name, **kwargs):
    """The toy distribution registered as ``name`` (see ``TOY_DATASETS``), built with ``kwargs``."""
    try:
        factory = TOY_DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"toy_dataset: unknown dataset {name!r}; known: {', '.join(sorted(TOY_DATASETS))}") from None
    return factory(**kwargs)
