"""Procedural binary shapes with known generating factors, in the spirit of dSprites.

Each image (default 64 x 64) holds one white shape on black, fixed by five factors,
each stored as an integer index (the ``factors`` arrays are int64, shape (n, 5)):

    factor    size  value of index i
    shape        3  0 square, 1 ellipse, 2 heart
    scale        6  0.5 + 0.5 * i / 5                 (linspace(0.5, 1, 6))
    rotation    40  2 pi i / (40 * symmetry[shape])   radians, counter-clockwise
    x           32  i / 31                            (linspace(0, 1, 32)), left to right
    y           32  i / 31                            top to bottom

``symmetry`` is the order of each shape's rotational symmetry (square 4, ellipse 2,
heart 1): the rotations of a shape cover one period, with the endpoint excluded, so
distinct rotation indices give distinct images (dSprites' 40 angles over the full
circle render each square 4 times). ``factor_values`` turns indices into these values.
The sizes of scale, rotation and position are constructor arguments.

Geometry, in image coordinates u (right) and v (down) running over [0, 1], with pixel
(row r, column c) sampled at its centre ((c + 0.5) / size, (r + 0.5) / size):

    centre   = 0.2 + 0.6 * (x, y)
    local p  = R(-rotation) (u - centre_u, centre_v - v) / (0.18 * scale)   (y up)
    square:  max(|p_x|, |p_y|) <= 1 / sqrt(2)
    ellipse: p_x^2 + (2 p_y)^2 <= 1                 (semi-axes 1 and 1/2)
    heart:   (X^2 + Y^2 - 1)^3 - X^2 Y^3 <= 0,  X = 1.3 p_x, Y = 1.3 p_y + 0.2935

Every shape fits the unit disc around its centre (the heart is shifted so its centroid
sits there), so every shape lies inside the image at every factor value. Rendering is a
pure, vectorised function of the factors: the same factors give the same pixels.
"""

import math

import numpy as np

from .seeding import as_generator

SHAPE_NAMES = ("square", "ellipse", "heart")
SYMMETRY = (4, 2, 1)
_RADIUS = 0.18
_MARGIN = 0.2
_HEART_SCALE = 1.3
_HEART_CENTROID_Y = 0.2935
# Images rendered at once: bounds the (chunk, size, size) float64 temporaries.
_CHUNK = 256


def _inside_square(x, y):
    return np.maximum(np.abs(x), np.abs(y)) <= math.sqrt(0.5)


def _inside_ellipse(x, y):
    return x * x + 4.0 * y * y <= 1.0


def _inside_heart(x, y):
    x = _HEART_SCALE * x
    y = _HEART_SCALE * y + _HEART_CENTROID_Y
    return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)


class ShapesDataset:
    """Binary shape images with ground-truth factors (shape, scale, rotation, x, y).

    Also a dataset for ``DataLoader``: its ``len`` is the number of factor combinations,
    and item ``i`` is the image of ``numpy.unravel_index(i, factor_sizes)`` (shape varies
    slowest, y fastest, as in dSprites) together with those factors.
    """

    factor_names = ("shape", "scale", "rotation", "x", "y")
    shape_names = SHAPE_NAMES

    def __init__(self, size=64, num_scales=6, num_rotations=40, num_positions=32):
        for name, value, least in (("size", size, 4), ("num_scales", num_scales, 1),
                                   ("num_rotations", num_rotations, 1), ("num_positions", num_positions, 1)):
            if not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"ShapesDataset: {name} must be an integer >= {least}, got {value!r}")
        self.size = int(size)
        self.factor_sizes = (len(SHAPE_NAMES), int(num_scales), int(num_rotations), int(num_positions),
                             int(num_positions))
        self.scales = np.linspace(0.5, 1.0, num_scales) if num_scales > 1 else np.ones(1)
        self.positions = np.linspace(0.0, 1.0, num_positions) if num_positions > 1 else np.full(1, 0.5)
        self._pixel_centres = (np.arange(self.size) + 0.5) / self.size

    def __len__(self):
        return int(np.prod(self.factor_sizes))

    def __getitem__(self, index):
        return self.get_batch(index)

    def get_batch(self, indices):
        """(images, factors) of the combinations at ``indices`` (an integer or an integer array)."""
        factors = np.stack(np.unravel_index(np.asarray(indices, dtype=np.int64), self.factor_sizes), axis=-1)
        if factors.ndim == 1:
            return self.render(factors[None])[0], factors
        return self.render(factors), factors

    def sample_factors(self, n, generator=None):
        """``n`` factor index rows (int64, (n, 5)), each factor uniform over its values."""
        generator = as_generator(generator)
        return np.stack([generator.integers(0, k, size=int(n)) for k in self.factor_sizes], axis=1).astype(np.int64)

    def sample(self, n, generator=None):
        """``n`` random images and their factors: (float32 (n, 1, size, size), int64 (n, 5))."""
        factors = self.sample_factors(n, generator)
        return self.render(factors), factors

    def factor_values(self, factors):
        """The values of factor indices (n, 5): shape id, scale, rotation (radians), x, y, as float64."""
        factors = self._checked(factors)
        shape, scale, rotation, x, y = factors.T
        symmetry = np.asarray(SYMMETRY)[shape]
        angle = 2.0 * math.pi * rotation / (self.factor_sizes[2] * symmetry)
        return np.stack([shape, self.scales[scale], angle, self.positions[x], self.positions[y]], axis=1)

    def render(self, factors):
        """Images of factor indices (n, 5): float32 (n, 1, size, size) with values 0 and 1."""
        values = self.factor_values(factors)
        images = np.empty((len(values), 1, self.size, self.size), np.float32)
        for start in range(0, len(values), _CHUNK):
            images[start:start + _CHUNK, 0] = self._render_values(values[start:start + _CHUNK])
        return images

    def _render_values(self, values):
        shape, scale, angle, x, y = (column[:, None, None] for column in values.T)
        extent = _RADIUS * scale
        # Column offsets vary along the last axis, row offsets along the middle one.
        across = (self._pixel_centres[None, None, :] - (_MARGIN + (1 - 2 * _MARGIN) * x)) / extent
        up = ((_MARGIN + (1 - 2 * _MARGIN) * y) - self._pixel_centres[None, :, None]) / extent
        cos, sin = np.cos(angle), np.sin(angle)
        local_x = cos * across + sin * up
        local_y = cos * up - sin * across
        inside = np.zeros(local_x.shape, bool)
        shape = shape[:, 0, 0]
        for shape_id, inside_test in enumerate(_INSIDE):
            rows = shape == shape_id
            if rows.any():
                inside[rows] = inside_test(local_x[rows], local_y[rows])
        return inside

    def _checked(self, factors):
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != len(self.factor_sizes) or factors.dtype.kind not in "iu":
            raise ValueError(
                f"ShapesDataset: factors must be integer indices of shape (n, {len(self.factor_sizes)}), "
                f"got {factors.dtype} array of shape {factors.shape}"
            )
        out_of_range = (factors < 0) | (factors >= np.asarray(self.factor_sizes))
        if out_of_range.any():
            column = int(np.nonzero(out_of_range.any(axis=0))[0][0])
            raise ValueError(
                f"ShapesDataset: factor {self.factor_names[column]!r} indices must lie in "
                f"[0, {self.factor_sizes[column]}), got {factors[:, column].min()}..{factors[:, column].max()}"
            )
        return factors.astype(np.int64)

    def __repr__(self):
        return f"ShapesDataset(size={self.size}, factor_sizes={self.factor_sizes})"
