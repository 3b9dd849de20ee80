"""minigen.viz: grid layout and normalisation math, every plot writes a valid PNG, GIFs, DOT export."""

import os
import re
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimage

import minigen
from minigen import nn, viz
from minigen.function import Function
from minigen.viz._common import atomic_write
from minigen.viz.plots import _pca_2d
from helpers import DEVICES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_height=20, min_width=20):
    """A non-empty PNG that matplotlib reads back as an RGB(A) image of at least the given size."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    image = mpimage.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] >= min_height and image.shape[1] >= min_width
    assert not [name for name in os.listdir(path.parent) if ".partial" in name]
    return image


def numbered_images(count, channels=1, height=2, width=3):
    """Image k is filled with the value k, so its tile can be found in a grid."""
    values = np.arange(count, dtype=np.float32).reshape(count, 1, 1, 1)
    return np.broadcast_to(values, (count, channels, height, width)).copy()


def digits(count=6, size=12):
    """Smooth stripe patterns in [-1, 1], one per image."""
    rows, columns = np.mgrid[0:size, 0:size]
    return np.stack([np.sin(columns / (1.5 + k)) * np.cos(rows / (2.0 + k)) for k in range(count)])[:, None]


# --- make_grid: layout and normalisation ----------------------------------------------------


def test_make_grid_places_tiles_at_torchvision_positions():
    images = numbered_images(5, height=2, width=3)
    grid = viz.make_grid(images, nrow=2, padding=1, value_range=(0, 10), pad_value=0.5)
    # 3 rows of 2 cells, each cell a 2 x 3 tile plus 1 pixel of padding, plus the outer padding.
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1, 1)
    assert grid.dtype == np.float32
    for k in range(5):
        top, left = 1 + (k // 2) * 3, 1 + (k % 2) * 4
        np.testing.assert_allclose(grid[top:top + 2, left:left + 3, 0], k / 10)
    assert np.all(grid[0, :, 0] == 0.5) and np.all(grid[:, 0, 0] == 0.5)  # outer padding
    assert np.all(grid[3, :, 0] == 0.5) and np.all(grid[:, 4, 0] == 0.5)  # between tiles
    np.testing.assert_array_equal(grid[7:9, 5:8, 0], 0.5)  # the empty sixth slot


def test_make_grid_matches_a_direct_loop_on_rgb_images():
    rng = np.random.default_rng(0)
    images = rng.random((7, 3, 4, 5)).astype(np.float32)
    grid = viz.make_grid(minigen.Tensor(images), nrow=3, padding=2, value_range=(0, 1))
    expected = np.zeros((3 * 6 + 2, 3 * 7 + 2, 3), np.float32)
    for k, image in enumerate(images):
        top, left = 2 + (k // 3) * 6, 2 + (k % 3) * 7
        expected[top:top + 4, left:left + 5] = image.transpose(1, 2, 0)
    np.testing.assert_array_equal(grid, expected)


def test_make_grid_with_fewer_images_than_nrow_is_one_row():
    grid = viz.make_grid(numbered_images(3, height=4, width=4), nrow=8, padding=0, value_range=(0, 2))
    assert grid.shape == (4, 12, 1)
    np.testing.assert_allclose(grid[0, ::4, 0], [0.0, 0.5, 1.0])


def test_value_range_maps_to_unit_interval_and_clips():
    images = np.array([-2.0, -1.0, 0.0, 1.0, 3.0], np.float32).reshape(5, 1, 1, 1)
    tiles = viz.make_grid(images, nrow=5, padding=0, value_range=(-1, 1))[0, :, 0]
    np.testing.assert_allclose(tiles, [0.0, 0.0, 0.5, 1.0, 1.0])
    tiles = viz.make_grid(images, nrow=5, padding=0, value_range=(0, 1))[0, :, 0]
    np.testing.assert_allclose(tiles, [0.0, 0.0, 0.0, 1.0, 1.0])


def test_value_range_none_uses_the_batch_minimum_and_maximum():
    images = np.array([2.0, 4.0, 6.0], np.float32).reshape(3, 1, 1, 1)
    tiles = viz.make_grid(images, nrow=3, padding=0)[0, :, 0]
    np.testing.assert_allclose(tiles, [0.0, 0.5, 1.0])


def test_uint8_images_default_to_0_255_and_constant_images_do_not_divide_by_zero():
    images = np.array([0, 51, 255], np.uint8).reshape(3, 1, 1, 1)
    np.testing.assert_allclose(viz.make_grid(images, nrow=3, padding=0)[0, :, 0], [0.0, 0.2, 1.0])
    constant = viz.make_grid(np.full((2, 1, 3, 3), 7.0), padding=0)
    assert np.all(np.isfinite(constant)) and np.all(constant == 0.0)


@pytest.mark.parametrize(
    "shape, value_range, message",
    [((2, 2, 4, 4), None, "C = 1 or 3"), ((4, 4, 3), None, r"\(N, C, H, W\)"), ((2, 1, 4, 4), (1, 1), "low < high")],
)
def test_make_grid_rejects_bad_inputs(shape, value_range, message):
    with pytest.raises(ValueError, match=message):
        viz.make_grid(np.zeros(shape, np.float32), value_range=value_range)


# --- image files --------------------------------------------------------------------------------


def test_save_image_grid_writes_exactly_the_grid_pixels(tmp_path):
    images = digits(6)
    path = viz.save_image_grid(images, str(tmp_path / "new" / "folder" / "grid.png"), nrow=3, value_range=(-1, 1))
    assert path == tmp_path / "new" / "folder" / "grid.png"
    pixels = assert_png(path, min_height=10, min_width=10)
    grid = viz.make_grid(images, nrow=3, value_range=(-1, 1))
    assert pixels.shape[:2] == grid.shape[:2]
    np.testing.assert_allclose(pixels[..., :3], np.repeat(grid, 3, axis=2), atol=0.5 / 255 + 1e-6)


def test_save_image_grid_with_title_and_rgb_tensor(tmp_path):
    images = minigen.Tensor(np.random.default_rng(1).random((5, 3, 8, 8)).astype(np.float32), requires_grad=True)
    assert_png(viz.save_image_grid(images * 2.0, tmp_path / "rgb.png", nrow=4, title="samples"))


@pytest.mark.parametrize("device", DEVICES)
def test_images_on_any_device(tmp_path, device):
    images = minigen.Tensor(digits(4).astype(np.float32)).to(device)
    assert_png(viz.save_image_grid(images, tmp_path / "grid.png", value_range=(-1, 1)), 10, 10)


def test_plot_latent_traversal(tmp_path):
    base = digits(1)[0]
    images = np.stack([np.stack([base * value for value in np.linspace(-1, 1, 5)]) for _ in range(3)])
    path = viz.plot_latent_traversal(images, tmp_path / "traversal.png", row_labels=["size", "angle", "x"],
                                     values=np.linspace(-2, 2, 5), title="traversal")
    assert_png(path, min_height=100, min_width=300)
    with pytest.raises(ValueError, match="2 row_labels for 3 latent dimensions"):
        viz.plot_latent_traversal(images, tmp_path / "bad.png", row_labels=["a", "b"])


def test_plot_interpolation_from_a_list_of_tensors(tmp_path):
    start, end = digits(2)
    strip = [minigen.Tensor((start * (1 - t) + end * t).astype(np.float32)) for t in np.linspace(0, 1, 6)]
    assert_png(viz.plot_interpolation(strip, tmp_path / "interpolation.png"), min_width=300)
    pairs = np.stack([np.stack(strip_part) for strip_part in [[start, end], [end, start]]])
    assert_png(viz.plot_interpolation(pairs, tmp_path / "pairs.png"))


def test_plot_trajectory_keeps_first_and_last_of_a_long_trajectory(tmp_path):
    rng = np.random.default_rng(2)
    clean = digits(2)
    trajectory = np.stack([clean * (1 - t) + rng.standard_normal(clean.shape) * t for t in np.linspace(1, 0, 50)])
    path = viz.plot_trajectory(trajectory, tmp_path / "trajectory.png", steps=range(49, -1, -1), max_frames=6)
    pixels = assert_png(path, min_width=300)
    assert pixels.shape[1] > pixels.shape[0]  # a strip: 6 frames wide, 2 samples high
    assert_png(viz.plot_trajectory(trajectory[:, 0], tmp_path / "single.png"))


def test_save_gif_writes_a_looping_multi_frame_gif(tmp_path):
    from PIL import Image

    frames = np.stack([digits(4) * scale for scale in np.linspace(0.1, 1.0, 5)])  # (T, N, C, H, W)
    path = viz.save_gif(frames, tmp_path / "gif" / "denoising.gif", duration=80, nrow=2)
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 5
        assert gif.info["duration"] == 80 and gif.info["loop"] == 0
    with Image.open(viz.save_gif(frames[:, 0], tmp_path / "single.gif")) as gif:
        assert gif.n_frames == 5


# --- curves, 2-D samples, latent scatter ------------------------------------------------------


def test_exponential_moving_average_is_bias_corrected_and_skips_nan():
    np.testing.assert_allclose(viz.exponential_moving_average([1.0, 3.0], 0.5), [1.0, 7 / 3])
    np.testing.assert_allclose(viz.exponential_moving_average(np.full(10, 4.0), 0.9), 4.0)
    smoothed = viz.exponential_moving_average([1.0, np.nan, 1.0], 0.9)
    assert np.isnan(smoothed[1]) and smoothed[0] == smoothed[2] == 1.0
    np.testing.assert_allclose(viz.exponential_moving_average([1.0, 5.0], 0.0), [1.0, 5.0])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        viz.exponential_moving_average([1.0], 1.0)


def test_plot_curves(tmp_path):
    steps = np.arange(200)
    losses = [minigen.Tensor(np.float32(value)) for value in 2.0 * np.exp(-steps / 50.0) + 0.1]
    series = {"train": losses, "test": (steps[::20], np.exp(-steps[::20] / 50.0) + 0.2)}
    assert_png(viz.plot_curves(series, tmp_path / "loss.png", ylabel="loss", smooth=0.9, title="loss"), 200, 300)
    assert_png(viz.plot_curves({"kl": np.exp(-steps / 30.0)}, tmp_path / "kl.png", log_y=True), 200, 300)
    with pytest.raises(ValueError, match="'bad'"):
        viz.plot_curves({"bad": np.zeros((3, 2))}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="no series"):
        viz.plot_curves({}, tmp_path / "empty.png")


def test_plot_curves_draws_reference_lines(tmp_path):
    series = {"nll": (np.arange(5, 100, 5), 90 + 100 / np.arange(5, 100, 5))}
    plain = viz.plot_curves(series, tmp_path / "plain.png")
    marked = viz.plot_curves(series, tmp_path / "marked.png", reference_lines={"paper": 86.76, "other": 84.78})
    assert_png(marked, 200, 300)
    # the y axis stretches down to the lines: the two figures differ
    assert not np.array_equal(mpimage.imread(plain), mpimage.imread(marked))


def ring_modes(count=8, radius=2.0):
    angles = 2 * np.pi * np.arange(count) / count  # not linspace(0, 2 pi, count): that repeats a mode
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def ring_log_prob(points, modes=ring_modes(), variance=0.02):
    squared = ((points[:, None, :] - modes[None]) ** 2).sum(-1)
    return np.log(np.exp(-squared / (2 * variance)).mean(axis=1) / (2 * np.pi * variance) + 1e-300)


def test_plot_samples_2d_over_a_density(tmp_path):
    rng = np.random.default_rng(3)
    modes = ring_modes()
    samples = modes[rng.integers(0, 8, 500)] + 0.1 * rng.standard_normal((500, 2))
    path = viz.plot_samples_2d(minigen.Tensor(samples.astype(np.float32)), tmp_path / "ring.png",
                               density=ring_log_prob, modes=modes, title="8 Gaussians")
    assert_png(path, 300, 300)
    assert_png(viz.plot_samples_2d(samples, tmp_path / "plain.png"), 300, 300)


def test_plot_samples_2d_with_a_tensor_density_and_a_precomputed_grid(tmp_path):
    samples = np.random.default_rng(4).standard_normal((200, 2))

    def standard_normal_log_prob(points):  # written with minigen ops: fails on arrays, works on Tensors
        return -(points * points).sum(dim=1) / 2.0

    assert_png(viz.plot_samples_2d(samples, tmp_path / "tensor.png", density=standard_normal_log_prob, bounds=(-3, 3)))
    xs = np.linspace(-3, 3, 50)
    grid = -(xs[None, :] ** 2 + xs[:, None] ** 2) / 2
    assert_png(viz.plot_samples_2d(samples, tmp_path / "grid.png", density=grid, bounds=((-3, 3), (-3, 3))))
    with pytest.raises(ValueError, match="needs the bounds"):
        viz.plot_samples_2d(samples, tmp_path / "bad.png", density=grid)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        viz.plot_samples_2d(np.zeros((5, 3)), tmp_path / "bad.png")


def test_pca_projection_keeps_the_top_principal_components():
    rng = np.random.default_rng(5)
    codes = rng.standard_normal((400, 5)) * np.array([5.0, 3.0, 0.1, 0.1, 0.1])
    projected, explained = _pca_2d(codes)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(codes, rowvar=False)))[::-1]
    np.testing.assert_allclose(np.var(projected, axis=0, ddof=1), eigenvalues[:2], rtol=1e-8)
    np.testing.assert_allclose(explained, eigenvalues[:2].sum() / eigenvalues.sum())
    assert abs(np.corrcoef(projected.T)[0, 1]) < 1e-8


def test_plot_latent_scatter(tmp_path):
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 10, 300)
    codes = rng.standard_normal((300, 16)) + labels[:, None]
    codes_tensor = minigen.Tensor(codes.astype(np.float32))
    assert_png(viz.plot_latent_scatter(codes_tensor, labels, tmp_path / "pca.png"), 200, 200)
    assert_png(viz.plot_latent_scatter(codes[:, :2], codes[:, 5], tmp_path / "continuous.png"), 200, 200)
    assert_png(viz.plot_latent_scatter(codes[:, :2], None, tmp_path / "plain.png", title="z"), 200, 200)
    with pytest.raises(ValueError, match="3 labels for 300 codes"):
        viz.plot_latent_scatter(codes, labels[:3], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="d >= 2"):
        viz.plot_latent_scatter(codes[:, :1], labels, tmp_path / "bad.png")


# --- atomic writes and matplotlib state ---------------------------------------------------------


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")

    def failing_write(temporary):
        with open(temporary, "wb") as file:
            file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, failing_write)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["plot.png"]


def test_plotting_never_imports_pyplot(tmp_path):
    # pyplot owns the global figure manager and backend switching; without it neither can change.
    script = (
        "import sys; from minigen import viz; "
        f"viz.plot_curves({{'a': [3, 2, 1]}}, {str(tmp_path / 'c.png')!r}); "
        f"viz.save_image_grid([[[[0.0]]]], {str(tmp_path / 'g.png')!r}, title='t'); "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=repository)
    assert result.stdout.strip() == "False"


# --- computation graphs -------------------------------------------------------------------------


def node_labels(dot):
    return re.findall(r'^\s*n\d+ \[label="([^"]*)"', dot, flags=re.MULTILINE)


def edges(dot):
    return re.findall(r"^\s*(n\d+) -> (n\d+)", dot, flags=re.MULTILINE)


def small_graph():
    x = minigen.Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    w = nn.Parameter(minigen.Tensor(np.ones((3, 4), np.float32)))
    y = minigen.Tensor(np.float32(2.0), requires_grad=True)
    loss = ((x * w).sum() - y.detach()) ** 2
    return loss, x, w


def test_graph_to_dot_of_a_small_graph(tmp_path):
    loss, x, w = small_graph()
    dot = viz.graph_to_dot(loss, path=tmp_path / "graph" / "loss.dot", names={id(w): "w"})
    assert (tmp_path / "graph" / "loss.dot").read_text() == dot
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    labels = node_labels(dot)
    # Functions: pow, sub, sum, mul; leaves: x, w and the detached y.
    assert len(labels) == 7
    assert len(edges(dot)) == 6
    assert "Mul\\n(3, 4)" in labels and "Sum\\n()" in labels
    assert "w\\n(3, 4)\\nrequires_grad" in labels and "(3, 4)\\nrequires_grad" in labels
    detached = [line for line in dot.splitlines() if "no grad" in line]
    assert len(detached) == 1 and 'style="dashed"' in detached[0] and "()" in detached[0]
    output = [line for line in dot.splitlines() if "peripheries=2" in line]
    assert len(output) == 1 and "\\n()" in output[0]


def test_graph_to_dot_names_a_models_parameters_and_hides_shapes():
    model = nn.Linear(3, 2)
    output = model(minigen.Tensor(np.ones((4, 3), np.float32))).sum()
    dot = viz.graph_to_dot(output, model=model, show_shapes=False)
    labels = node_labels(dot)
    assert "weight\\nrequires_grad" in labels and "bias\\nrequires_grad" in labels
    assert not any(re.search(r"\(\d", label) for label in labels)
    assert sum("no grad" in label for label in labels) == 1  # the input batch


def test_graph_to_dot_dedupes_shared_nodes():
    x = minigen.Tensor(np.ones(3, np.float32), requires_grad=True)
    a = x * 2.0
    b = a + a
    c = (b * a).sum()
    dot = viz.graph_to_dot([c, b])
    labels = node_labels(dot)
    assert len(labels) == 5  # x, a's Mul, b's Add, the second Mul, Sum
    assert len(edges(dot)) == 6  # x->Mul, Mul->Add twice, Add->Mul, Mul->Mul, Mul->Sum
    assert dot.count("peripheries=2") == 2  # both requested outputs


class _SplitHalves(Function):
    """Two outputs, to check that edges say which output they carry."""

    def forward(self, x):
        half = x.shape[0] // 2
        return x[:half], x[half:]


def test_graph_to_dot_labels_edges_from_multi_output_functions():
    x = minigen.Tensor(np.ones(4, np.float32), requires_grad=True)
    first, second = _SplitHalves.apply(x)
    dot = viz.graph_to_dot(second * first)
    assert "_SplitHalves\\n(2,), (2,)" in node_labels(dot)
    assert 'label="out 0"' in dot and 'label="out 1"' in dot


def test_graph_to_dot_walks_a_10000_op_chain_without_recursion():
    x = minigen.Tensor(np.ones(2, np.float32), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0
    dot = viz.graph_to_dot(y)
    assert len(node_labels(dot)) == 10_001
    assert len(edges(dot)) == 10_000


def test_graph_to_dot_after_backward_shows_the_freed_graph():
    loss, _, _ = small_graph()
    loss.backward()
    labels = node_labels(viz.graph_to_dot(loss))
    assert len(labels) == 1 and "freed by backward" in labels[0]


def test_graph_to_dot_of_a_leaf_and_quoting():
    leaf = minigen.Tensor(np.zeros((2, 2), np.float32), requires_grad=True)
    dot = viz.graph_to_dot(leaf, names={id(leaf): 'a "quoted" name'})
    assert 'n0 [label="a \\"quoted\\" name\\n(2, 2)\\nrequires_grad", ' in dot
    assert edges(dot) == []


# --- rendering ----------------------------------------------------------------------------------


def test_render_dot_without_graphviz_writes_the_dot_text_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    dot = viz.graph_to_dot(small_graph()[0])
    with pytest.raises(RuntimeError, match="Graphviz is not installed") as error:
        viz.render_dot(dot, tmp_path / "out" / "graph.svg")
    assert str(tmp_path / "out" / "graph.dot") in str(error.value)
    assert (tmp_path / "out" / "graph.dot").read_text() == dot
    assert not (tmp_path / "out" / "graph.svg").exists()


def fake_dot(folder, body):
    """An executable named dot that runs ``body`` (Python) with its arguments in ``sys.argv``."""
    script = folder / "dot"
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_render_dot_runs_dot_and_writes_atomically(tmp_path, monkeypatch):
    executable = fake_dot(tmp_path, "open(sys.argv[3], 'w').write(sys.argv[1] + ':' + sys.stdin.read())")
    monkeypatch.setattr(shutil, "which", lambda name: executable if name == "dot" else None)
    path = viz.render_dot("digraph { a -> b }", tmp_path / "drawn" / "graph.png")
    assert path.read_text() == "-Tpng:digraph { a -> b }"
    assert os.listdir(path.parent) == ["graph.png"]


def test_render_dot_reports_dot_failures_and_bad_suffixes(tmp_path, monkeypatch):
    executable = fake_dot(tmp_path, "sys.stderr.write('syntax error in line 1'); sys.exit(1)")
    monkeypatch.setattr(shutil, "which", lambda name: executable)
    with pytest.raises(RuntimeError, match="syntax error in line 1"):
        viz.render_dot("digraph {", tmp_path / "out" / "graph.svg")
    assert os.listdir(tmp_path / "out") == []
    with pytest.raises(ValueError, match="suffix"):
        viz.render_dot("digraph {}", tmp_path / "graph.jpg")
