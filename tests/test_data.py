"""minigen.data: toy distributions, procedural shapes and the DataLoader (MNIST in test_data_mnist.py)."""

import math

import numpy as np
import pytest

import minigen
from minigen.data import (
    TOY_DATASETS,
    Checkerboard,
    ConcentricCircles,
    DataLoader,
    GridOfGaussians,
    RingOfGaussians,
    ShapesDataset,
    SwissRoll,
    TensorDataset,
    TwoMoons,
    toy_dataset,
)
from tests.helpers import DEVICES

# --- toy distributions -----------------------------------------------------------


def _midpoint_grid(low, high, step):
    """Cell midpoints of a square grid over [low, high]^2 and the cell area."""
    centres = np.arange(low + step / 2, high, step)
    x, y = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([x, y], axis=-1), step * step


def test_ring_has_eight_distinct_modes_on_the_circle():
    ring = RingOfGaussians()
    assert ring.modes.shape == (8, 2) and ring.std == 0.02
    np.testing.assert_allclose(np.linalg.norm(ring.modes, axis=1), 2.0)
    angles = np.arctan2(ring.modes[:, 1], ring.modes[:, 0]) % (2 * math.pi)
    np.testing.assert_allclose(np.sort(angles), 2 * math.pi * np.arange(8) / 8, atol=1e-12)
    pairwise = np.linalg.norm(ring.modes[:, None] - ring.modes[None], axis=-1)
    # linspace(0, 2 pi, 8) would put two modes on top of each other (distance 0).
    assert pairwise[~np.eye(8, dtype=bool)].min() == pytest.approx(4 * math.sin(math.pi / 8))


def test_grid_has_twenty_five_distinct_modes():
    grid = GridOfGaussians()
    assert grid.modes.shape == (25, 2) and grid.std == 0.02
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(mode) for mode in grid.modes.round(12)} == expected


@pytest.mark.parametrize("distribution", [RingOfGaussians(), GridOfGaussians(), RingOfGaussians(num_modes=3, std=0.4)])
def test_mixture_log_prob_integrates_to_one(distribution):
    # The midpoint rule is spectrally accurate for Gaussians: a step of one std errs by ~exp(-2 pi^2).
    extent = np.abs(distribution.modes).max() + 8 * distribution.std
    points, area = _midpoint_grid(-extent, extent, distribution.std)
    total = sum(np.exp(distribution.log_prob(rows)).sum() for rows in np.array_split(points, 8))
    assert total * area == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("distribution", [RingOfGaussians(std=0.5), GridOfGaussians(std=0.7)])
def test_mixture_log_prob_matches_the_per_mode_formula(distribution):
    points = np.random.default_rng(0).uniform(-5, 5, size=(200, 2))
    variance = distribution.std**2
    densities = [np.exp(-((points - mode) ** 2).sum(-1) / (2 * variance)) / (2 * math.pi * variance)
                 for mode in distribution.modes]
    expected = np.log(np.mean(densities, axis=0))
    np.testing.assert_allclose(distribution.log_prob(points), expected, rtol=1e-10)


def test_mixture_log_prob_is_finite_far_from_the_modes():
    ring = RingOfGaussians()
    far = np.array([[100.0, 0.0], [0.0, -50.0], [3.0, 3.0]])
    log_prob = ring.log_prob(far)
    assert np.isfinite(log_prob).all()
    # Far away one mode dominates: log p = -d^2 / (2 std^2) - log 8 - log(2 pi std^2).
    nearest = np.linalg.norm(far[:2, None] - ring.modes, axis=-1).min(axis=1)
    expected = -nearest**2 / (2 * 0.02**2) - math.log(8) - math.log(2 * math.pi * 0.02**2)
    np.testing.assert_allclose(log_prob[:2], expected, rtol=1e-12)
    assert ring.log_prob(minigen.tensor([[2.0, 0.0]])).shape == (1,)


@pytest.mark.parametrize("distribution", [RingOfGaussians(), GridOfGaussians()])
def test_mixture_samples_land_near_every_mode(distribution):
    samples = distribution.sample(5000, seed=0)
    assert samples.shape == (5000, 2) and samples.dtype == np.float32
    index, distance = distribution.nearest_mode(samples)
    # In 2-D the distance / std is Rayleigh: P(> 3 std) = exp(-4.5), about 1.1%.
    assert (distance < 3 * distribution.std).mean() > 0.97
    assert distance.max() < 6 * distribution.std
    counts = np.bincount(index, minlength=len(distribution.modes))
    expected = 5000 / len(distribution.modes)
    assert (np.abs(counts - expected) < 5 * math.sqrt(expected)).all()


def test_sampling_is_reproducible():
    ring = RingOfGaussians()
    np.testing.assert_array_equal(ring.sample(10, seed=3), ring.sample(10, seed=3))
    assert not np.array_equal(ring.sample(10, seed=3), ring.sample(10, seed=4))
    generator = np.random.default_rng(5)
    first, second = ring.sample(4, generator), ring.sample(4, generator)
    both = ring.sample(8, np.random.default_rng(5))
    assert not np.array_equal(first, second) and both.shape == (8, 2)
    minigen.manual_seed(11)
    global_first = ring.sample(6)
    minigen.manual_seed(11)
    np.testing.assert_array_equal(ring.sample(6), global_first)
    with pytest.raises(ValueError, match="non-negative integer"):
        ring.sample(-1)


def test_checkerboard_density_is_uniform_on_the_dark_squares():
    board = Checkerboard()
    points, area = _midpoint_grid(-5, 5, 0.01)
    assert np.exp(board.log_prob(points)).sum() * area == pytest.approx(1.0, abs=1e-9)
    # FFJORD's board: cell (floor(x / 2), floor(y / 2)) is dark when its indices sum to an even number.
    inside = board.log_prob(np.array([[-3.0, -3.0], [-1.0, -1.0], [1.0, 1.0], [3.0, -1.0], [-3.0, 1.0]]))
    np.testing.assert_allclose(inside, -math.log(32))
    outside = board.log_prob(np.array([[-3.0, -1.0], [-1.0, 1.0], [1.0, 3.0], [4.5, 0.5], [0.0, -9.0]]))
    assert np.isneginf(outside).all()


def test_checkerboard_samples_cover_the_dark_squares_evenly():
    board = Checkerboard()
    samples = board.sample(8000, seed=1)
    assert np.isfinite(board.log_prob(samples)).all()
    cells = np.floor((samples + 4) / 2).astype(int)
    counts = np.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16).reshape(4, 4)
    dark = (np.add.outer(np.arange(4), np.arange(4)) % 2) == 0
    assert (counts[~dark] == 0).all()
    assert (np.abs(counts[dark] - 1000) < 150).all()


def test_noiseless_manifolds_lie_on_their_curves():
    moons = TwoMoons(noise=0.0).sample(500, seed=0)
    upper = np.hypot((moons[:, 0] + 1) / 2, (moons[:, 1] + 0.2) / 2)
    lower = np.hypot((moons[:, 0] + 1) / 2 - 1, (moons[:, 1] + 0.2) / 2 - 0.5)
    assert np.minimum(np.abs(upper - 1), np.abs(lower - 1)).max() < 1e-5
    radii = np.linalg.norm(ConcentricCircles(noise=0.0).sample(500, seed=0), axis=1)
    assert np.minimum(np.abs(radii - 1.5), np.abs(radii - 3.0)).max() < 1e-5
    roll = SwissRoll(noise=0.0).sample(500, seed=0).astype(np.float64)
    t = 5 * np.linalg.norm(roll, axis=1)
    assert ((t > 1.5 * math.pi - 1e-4) & (t < 4.5 * math.pi + 1e-4)).all()
    np.testing.assert_allclose(roll, np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5, atol=1e-5)


@pytest.mark.parametrize("name", ["moons", "swissroll", "circles"])
def test_manifold_log_prob_raises_clearly(name):
    distribution = toy_dataset(name)
    assert distribution.modes is None and distribution.std > 0
    with pytest.raises(NotImplementedError, match="no closed-form density"):
        distribution.log_prob(np.zeros((3, 2)))


def test_registry_builds_every_dataset_and_rejects_unknown_names():
    assert set(TOY_DATASETS) == {"ring8", "grid25", "moons", "swissroll", "checkerboard", "circles"}
    for name in TOY_DATASETS:
        samples = toy_dataset(name).sample(16, seed=0)
        assert samples.shape == (16, 2) and samples.dtype == np.float32 and np.isfinite(samples).all()
    assert toy_dataset("moons", noise=0.05).std == 0.05
    assert len(toy_dataset("ring8").modes) == 8 and len(toy_dataset("grid25").modes) == 25
    with pytest.raises(ValueError, match="unknown dataset 'ring7'; known: checkerboard, circles, grid25"):
        toy_dataset("ring7")
    with pytest.raises(ValueError, match="noise must be a non-negative"):
        TwoMoons(noise=-1.0)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        RingOfGaussians().log_prob(np.zeros((4, 3)))


# --- procedural shapes -------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes():
    return ShapesDataset()


def _factors(shape=0, scale=5, rotation=0, x=16, y=16, count=1):
    return np.tile(np.array([[shape, scale, rotation, x, y]], dtype=np.int64), (count, 1))


def _centre_of_mass(images):
    rows, columns = np.arange(images.shape[-2]), np.arange(images.shape[-1])
    mass = images.sum(axis=(-2, -1))
    return (images.sum(-1) @ rows) / mass, (images.sum(-2) @ columns) / mass


def test_shapes_render_deterministic_binary_images(shapes):
    factors = shapes.sample_factors(300, np.random.default_rng(0))
    images = shapes.render(factors)
    assert images.shape == (300, 1, 64, 64) and images.dtype == np.float32
    assert set(np.unique(images)) <= {0.0, 1.0} and (images.sum(axis=(1, 2, 3)) > 0).all()
    np.testing.assert_array_equal(images, ShapesDataset().render(factors))
    np.testing.assert_array_equal(images[7:8], shapes.render(factors[7:8]))
    again, again_factors = shapes.sample(300, 0)
    np.testing.assert_array_equal(again_factors, factors)
    np.testing.assert_array_equal(again, images)


def test_shapes_factor_metadata_and_values(shapes):
    assert shapes.factor_names == ("shape", "scale", "rotation", "x", "y")
    assert shapes.factor_sizes == (3, 6, 40, 32, 32) and len(shapes) == 3 * 6 * 40 * 32 * 32
    factors = np.array([[0, 0, 39, 0, 31], [1, 5, 10, 31, 0], [2, 2, 20, 15, 1]])
    values = shapes.factor_values(factors)
    np.testing.assert_allclose(values[:, 0], [0, 1, 2])
    np.testing.assert_allclose(values[:, 1], [0.5, 1.0, 0.7])
    np.testing.assert_allclose(values[:, 2], [2 * math.pi * 39 / 160, 2 * math.pi * 10 / 80, 2 * math.pi * 20 / 40])
    np.testing.assert_allclose(values[:, 3], [0, 1, 15 / 31])
    np.testing.assert_allclose(values[:, 4], [1, 0, 1 / 31])
    drawn = shapes.sample_factors(1000, np.random.default_rng(1))
    assert drawn.dtype == np.int64 and (drawn.min(axis=0) == 0).all()
    np.testing.assert_array_equal(drawn.max(axis=0), np.array(shapes.factor_sizes) - 1)


def test_shapes_centre_of_mass_follows_x_and_y(shapes):
    positions = np.arange(32)
    for shape_id in range(3):
        along_x = _factors(shape=shape_id, count=32)
        along_x[:, 3] = positions
        along_y = _factors(shape=shape_id, count=32)
        along_y[:, 4] = positions
        expected = (0.2 + 0.6 * positions / 31) * 64 - 0.5
        rows, columns = _centre_of_mass(shapes.render(along_x)[:, 0])
        np.testing.assert_allclose(columns, expected, atol=0.75)
        assert np.ptp(rows) < 0.3
        rows, columns = _centre_of_mass(shapes.render(along_y)[:, 0])
        np.testing.assert_allclose(rows, expected, atol=0.75)
        assert np.ptp(columns) < 0.3


def test_shapes_area_scales_with_scale_squared(shapes):
    # Areas in units of (0.18 * scale * size)^2: square 2, ellipse pi / 2, heart 3.662 / 1.3^2.
    unit_areas = np.array([2.0, math.pi / 2, 3.66197 / 1.69])
    factors = np.array([[shape, scale, 3, 16, 16] for shape in range(3) for scale in range(6)])
    areas = shapes.render(factors).sum(axis=(1, 2, 3)).reshape(3, 6)
    scales = np.linspace(0.5, 1.0, 6)
    expected = unit_areas[:, None] * (0.18 * 64 * scales[None]) ** 2
    np.testing.assert_allclose(areas, expected, rtol=0.08)


def test_shapes_are_distinguishable_and_rotate(shapes):
    images = shapes.render(np.array([[shape, 5, 0, 16, 16] for shape in range(3)]))[:, 0]
    for first in range(3):
        for second in range(first + 1, 3):
            assert np.abs(images[first] - images[second]).sum() > 20
    # The ellipse's long axis is horizontal at rotation 0 and vertical a quarter turn later
    # (index 20 of 40 over its half-turn period).
    ellipses = shapes.render(np.array([[1, 5, 0, 16, 16], [1, 5, 20, 16, 16]]))[:, 0]
    rows, columns = np.nonzero(ellipses[0])
    assert np.var(columns) > 3 * np.var(rows)
    rows, columns = np.nonzero(ellipses[1])
    assert np.var(rows) > 3 * np.var(columns)
    # The heart points down at rotation 0 (lobes on top): more mass above its centre of mass.
    heart = images[2]
    row_centre, _ = _centre_of_mass(heart[None])
    rows, _ = np.nonzero(heart)
    assert (rows < row_centre[0]).sum() > (rows > row_centre[0]).sum()


def test_shapes_stay_inside_the_image(shapes):
    corners = [(0, 0), (0, 31), (31, 0), (31, 31)]
    factors = np.array([[shape, 5, rotation, x, y] for shape in range(3) for rotation in range(0, 40, 3)
                        for x, y in corners])
    images = shapes.render(factors)[:, 0]
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert border.sum() == 0


def test_shapes_dataset_indexing_and_errors(shapes):
    index = np.array([0, 12345, len(shapes) - 1])
    images, factors = shapes.get_batch(index)
    np.testing.assert_array_equal(factors, np.stack(np.unravel_index(index, shapes.factor_sizes), axis=1))
    np.testing.assert_array_equal(images, shapes.render(factors))
    image, factor = shapes[12345]
    np.testing.assert_array_equal(image, images[1])
    np.testing.assert_array_equal(factor, factors[1])
    small = ShapesDataset(size=16, num_rotations=8)
    assert small.render(small.sample_factors(5, 0)).shape == (5, 1, 16, 16)
    with pytest.raises(ValueError, match="factor 'rotation' indices must lie in \\[0, 40\\)"):
        shapes.render(np.array([[0, 0, 40, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        shapes.render(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="size must be an integer"):
        ShapesDataset(size=0)


# --- DataLoader -------------------------------------------------------------------------


def test_loader_batch_counts_with_and_without_drop_last():
    data = np.arange(10, dtype=np.float32)
    loader = DataLoader(data, batch_size=3)
    batches = list(loader)
    assert len(loader) == 4 and [len(b) for b in batches] == [3, 3, 3, 1]
    assert isinstance(batches[0], minigen.Tensor)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in batches]), data)
    dropping = DataLoader(data, batch_size=3, drop_last=True)
    assert len(dropping) == 3 and [len(b) for b in dropping] == [3, 3, 3]
    assert len(DataLoader(data, batch_size=5, drop_last=True)) == 2
    assert len(DataLoader(data, batch_size=20, drop_last=True)) == 0 and len(DataLoader(data, batch_size=20)) == 1


def test_loader_several_arrays_and_dtypes():
    images = np.random.default_rng(0).random((7, 1, 2, 2))
    labels = np.arange(7, dtype=np.int32)
    masks = np.arange(7) % 2 == 0
    loader = DataLoader((images, labels, masks, labels.astype(np.uint8)), batch_size=4)
    batch = next(iter(loader))
    assert isinstance(batch, tuple) and len(batch) == 4
    assert [t.dtype for t in batch] == [minigen.float32, minigen.int64, minigen.bool, minigen.int64]
    assert all(t.device == "cpu" and not t.requires_grad for t in batch)
    np.testing.assert_allclose(batch[0].numpy(), images[:4].astype(np.float32))
    np.testing.assert_array_equal(batch[1].numpy(), labels[:4])
    batch[0].numpy()[...] = -1
    assert images.min() >= 0, "a batch must not alias the loader's data"
    assert DataLoader([images, labels], batch_size=2).dataset.arrays[1] is labels


def test_loader_shuffle_is_reproducible_and_changes_every_epoch():
    data = np.arange(50)
    loader = DataLoader(data, batch_size=8, shuffle=True, seed=7)
    epochs = [np.concatenate([b.numpy() for b in loader]) for _ in range(3)]
    assert loader.epoch == 3
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), data)
    assert not np.array_equal(epochs[0], data)
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    replay = DataLoader(data, batch_size=8, shuffle=True, seed=7)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in replay]), epochs[0])
    replay.epoch = 2
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in replay]), epochs[2])
    other = DataLoader(data, batch_size=8, shuffle=True, seed=8)
    assert not np.array_equal(np.concatenate([b.numpy() for b in other]), epochs[0])
    minigen.manual_seed(3)
    unseeded = np.concatenate([b.numpy() for b in DataLoader(data, batch_size=8, shuffle=True)])
    minigen.manual_seed(3)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in DataLoader(data, batch_size=8, shuffle=True)]),
                                  unseeded)


def test_loader_applies_the_transform_to_numpy_batches():
    seen = []

    def transform(batch):
        seen.append(tuple(type(array) for array in batch))
        images, labels = batch
        return images * 2.0, labels + 1

    images, labels = np.ones((5, 3)), np.arange(5)
    batches = list(DataLoader((images, labels), batch_size=2, transform=transform))
    assert seen == [(np.ndarray, np.ndarray)] * 3
    np.testing.assert_array_equal(batches[0][0].numpy(), np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(batches[2][1].numpy(), [5])
    single = list(DataLoader(images, batch_size=5, transform=lambda batch: batch - 1.0))
    np.testing.assert_array_equal(single[0].numpy(), np.zeros((5, 3), np.float32))


def test_loader_serves_dataset_objects():
    class Squares:
        def __len__(self):
            return 6

        def __getitem__(self, index):
            return np.full((2,), index * index, np.float64), index

    first, second = next(iter(DataLoader(Squares(), batch_size=4)))
    np.testing.assert_array_equal(first.numpy()[:, 0], [0, 1, 4, 9])
    assert first.dtype == minigen.float32 and second.dtype == minigen.int64
    images, factors = next(iter(DataLoader(ShapesDataset(size=16), batch_size=5, shuffle=True, seed=0)))
    assert images.shape == (5, 1, 16, 16) and images.dtype == minigen.float32
    assert factors.shape == (5, 5) and factors.dtype == minigen.int64
    indices, doubled = TensorDataset(np.arange(4), np.arange(4) * 2)[np.array([1, 3])]
    np.testing.assert_array_equal(indices, [1, 3])
    np.testing.assert_array_equal(doubled, [2, 6])


def test_loader_errors():
    with pytest.raises(ValueError, match=r"share their first dimension, got shapes \(5,\), \(4,\)"):
        DataLoader((np.zeros(5), np.zeros(4)))
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            DataLoader(np.zeros(5), batch_size=bad)
    with pytest.raises(TypeError, match="expected an array, a tuple of arrays or a dataset"):
        DataLoader(42)
    with pytest.raises(TypeError, match="seed must be an integer"):
        DataLoader(np.zeros(5), seed=1.5)
    with pytest.raises(TypeError, match="cannot batch arrays of dtype"):
        next(iter(DataLoader(np.array(["a", "b"]))))


@pytest.mark.parametrize("device", DEVICES)
def test_loader_puts_batches_on_the_device(device):
    images, labels = next(iter(DataLoader((np.ones((4, 2)), np.arange(4)), batch_size=4, device=device)))
    assert images.device == device and labels.device == device
    assert images.dtype == minigen.float32 and labels.dtype == minigen.int64
