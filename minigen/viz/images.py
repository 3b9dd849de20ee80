"""Image grids, latent traversals, interpolations, denoising trajectories and GIFs.

Every image input is (N, C, H, W) with C = 1 or 3, as a Tensor (any device) or
a NumPy array. Pixel values are mapped to [0, 1] by ``value_range``: ``(-1, 1)``
for tanh decoders, ``(0, 1)`` for sigmoid ones, ``None`` for the batch's own
minimum and maximum (uint8 images default to ``(0, 255)``).
"""

import importlib.util
import math

import numpy as np
from matplotlib import image as mpimage

from ..interop import to_numpy
from ._common import DPI, atomic_write, figure_for_pixels, new_figure, save_figure

__all__ = [
    "make_grid",
    "save_image_grid",
    "plot_latent_traversal",
    "plot_interpolation",
    "plot_trajectory",
    "save_gif",
]


def _check_images(images, op, layout="N"):
    """Images as a NumPy array of shape (*layout, C, H, W) with C = 1 or 3."""
    array = to_numpy(images)
    if array.ndim != len(layout.split(", ")) + 3 or array.shape[-3] not in (1, 3):
        raise ValueError(
            f"{op}: expected images of shape ({layout}, C, H, W) with C = 1 or 3, got {tuple(array.shape)}"
        )
    return array


def _normalize(array, value_range, op):
    """Map pixel values to [0, 1]: ``value_range`` (low, high) to (0, 1), clipped.

    ``None`` uses the images' own minimum and maximum (one range for the whole
    batch, so tiles stay comparable). NaN pixels come out black.
    """
    if value_range is None and array.dtype == np.uint8:
        value_range = (0, 255)
    array = array.astype(np.float32)
    if value_range is None:
        finite = array[np.isfinite(array)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    else:
        low, high = (float(value) for value in value_range)
        if not high > low:
            raise ValueError(f"{op}: value_range must be (low, high) with low < high, got {value_range}")
    scale = high - low if high > low else 1.0  # a constant image maps to 0 instead of dividing by 0
    array = np.clip((array - low) / scale, 0.0, 1.0)
    return np.nan_to_num(array, nan=0.0)


def make_grid(images, nrow=8, padding=2, value_range=None, pad_value=0.0):
    """Tile (N, C, H, W) images into one (H', W', C) float32 array in [0, 1], torchvision's layout.

    ``nrow`` images per row; ``padding`` pixels of ``pad_value`` around and
    between tiles. Tile ``k`` sits at row ``k // nrow``, column ``k % nrow``,
    its top-left pixel at ``(padding + row * (H + padding), padding + column * (W + padding))``.
    """
    array = _normalize(_check_images(images, "make_grid"), value_range, "make_grid")
    count, channels, height, width = array.shape
    if count == 0 or nrow < 1 or padding < 0:
        raise ValueError(f"make_grid: need images, nrow >= 1 and padding >= 0; got {count} images, "
                         f"nrow={nrow}, padding={padding}")
    columns = min(nrow, count)
    rows = math.ceil(count / columns)
    cell_height, cell_width = height + padding, width + padding
    # Each cell is a tile with its right and bottom padding; the empty cells of a
    # short last row stay pad_value. The grid adds the top and left padding.
    cells = np.full((rows * columns, cell_height, cell_width, channels), pad_value, np.float32)
    cells[:count, :height, :width] = array.transpose(0, 2, 3, 1)
    grid = np.full((rows * cell_height + padding, columns * cell_width + padding, channels), pad_value, np.float32)
    grid[padding:, padding:] = (
        cells.reshape(rows, columns, cell_height, cell_width, channels)
        .transpose(0, 2, 1, 3, 4)
        .reshape(rows * cell_height, columns * cell_width, channels)
    )
    return grid


def _image_arguments(grid):
    """The pixels and ``imshow`` arguments for an (H, W, C) grid in [0, 1]."""
    if grid.shape[-1] == 1:
        return grid[..., 0], {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}
    return grid, {}


def save_image_grid(images, path, nrow=8, padding=2, value_range=None, title=None):
    """Write (N, C, H, W) images as one PNG grid (exactly the grid's pixels when there is no title)."""
    array = _check_images(images, "save_image_grid")
    grid = make_grid(array, nrow=nrow, padding=padding, value_range=value_range)
    if title is None:
        # Rounded 8-bit RGB: a colormap would floor grey levels onto its 256-entry table.
        pixels = np.round(np.broadcast_to(grid, (*grid.shape[:2], 3)) * 255).astype(np.uint8)
        return atomic_write(path, lambda temporary: mpimage.imsave(temporary, pixels, format="png"))
    count, _, height, width = array.shape
    columns = min(nrow, count)
    counts = (math.ceil(count / columns), columns)
    return _save_tiled(grid, path, (height, width), counts, padding, title=title)


def _tile_centres(count, tile, padding):
    return [padding + index * (tile + padding) + (tile - 1) / 2 for index in range(count)]


def _save_tiled(grid, path, tile_shape, counts, padding, row_labels=None, column_labels=None, title=None):
    """Show a grid in a figure, with labels at the centres of its tile rows and columns."""
    tile_height, tile_width = tile_shape
    rows, columns = counts
    # Small tiles (MNIST's 28 px) are blown up so each is about 0.8 inch wide.
    scale = max(1.0, 0.8 * DPI / tile_width)
    height, width = grid.shape[:2]
    figure = new_figure(width * scale / DPI, height * scale / DPI)
    axes = figure.add_axes([0, 0, 1, 1])
    pixels, options = _image_arguments(grid)
    axes.imshow(pixels, interpolation="nearest", **options)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.tick_params(length=0)
    if row_labels is None:
        axes.set_yticks([])
    else:
        axes.set_yticks(_tile_centres(rows, tile_height, padding), [str(label) for label in row_labels])
    if column_labels is None:
        axes.set_xticks([])
    else:
        axes.set_xticks(_tile_centres(columns, tile_width, padding), [str(label) for label in column_labels],
                        fontsize=8)
    if title is not None:
        axes.set_title(title)
    return save_figure(figure, path)


def _check_labels(labels, count, op, name, counted):
    """Raise unless there is one label per row, column or frame, e.g. '3 row_labels for 4 latent dimensions'."""
    if labels is not None and len(labels) != count:
        raise ValueError(f"{op}: {len(labels)} {name} for {count} {counted}")


def _save_rows(array, path, padding, value_range, row_labels, column_labels, title):
    """Write (rows, columns, C, H, W) images as a labelled grid."""
    rows, columns, channels, height, width = array.shape
    grid = make_grid(array.reshape(rows * columns, channels, height, width), nrow=columns,
                     padding=padding, value_range=value_range)
    return _save_tiled(grid, path, (height, width), (rows, columns), padding, row_labels, column_labels, title)


def plot_latent_traversal(images, path, row_labels=None, values=None, value_range=None, title=None, padding=2):
    """Write a traversal grid from images of shape (dims, steps, C, H, W).

    Row ``i`` varies latent dimension ``i`` (labelled ``z[i]`` unless
    ``row_labels`` names them) over the ``values`` shown under the columns.
    """
    array = _check_images(images, "plot_latent_traversal", "dims, steps")
    dims, steps = array.shape[:2]
    if row_labels is None:
        row_labels = [f"z[{index}]" for index in range(dims)]
    _check_labels(row_labels, dims, "plot_latent_traversal", "row_labels", "latent dimensions")
    _check_labels(values, steps, "plot_latent_traversal", "values", "steps")
    column_labels = None if values is None else [f"{float(value):.3g}" for value in values]
    return _save_rows(array, path, padding, value_range, row_labels, column_labels, title)


def plot_interpolation(images, path, value_range=None, title=None, padding=2):
    """Write an interpolation strip: (steps, C, H, W), or (pairs, steps, C, H, W) for one strip per row.

    Columns are labelled with the mixing weight t from 0 (first image) to 1 (last).
    """
    array = to_numpy(images)
    if array.ndim == 4:
        array = array[None]
    array = _check_images(array, "plot_interpolation", "pairs, steps")
    steps = array.shape[1]
    weights = np.linspace(0.0, 1.0, steps) if steps > 1 else [0.0]
    column_labels = [f"t={weight:.2f}" for weight in weights]
    return _save_rows(array, path, padding, value_range, None, column_labels, title)


def plot_trajectory(images, path, steps=None, max_frames=10, value_range=None, title=None, padding=2):
    """Write a sampling trajectory: (T, C, H, W), or (T, N, C, H, W) with one row per sample.

    Frame ``k`` is labelled ``steps[k]`` (a diffusion timestep, say), or its
    index. Longer trajectories show ``max_frames`` evenly spaced frames,
    always the first and the last.
    """
    array = to_numpy(images)
    if array.ndim == 4:
        array = array[:, None]
    array = _check_images(array, "plot_trajectory", "T, N")
    total = array.shape[0]
    labels = list(range(total)) if steps is None else to_numpy(steps).tolist()
    _check_labels(labels, total, "plot_trajectory", "steps", "frames")
    chosen = np.unique(np.linspace(0, total - 1, min(total, max_frames)).round().astype(int))
    array = array[chosen].transpose(1, 0, 2, 3, 4)  # rows are samples, columns are frames
    column_labels = [f"t={labels[index]}" if steps is not None else f"step {labels[index]}" for index in chosen]
    return _save_rows(array, path, padding, value_range, None, column_labels, title)


def save_gif(frames, path, duration=100, value_range=None, nrow=8, padding=2):
    """Write an animated GIF (matplotlib's PillowWriter), ``duration`` milliseconds per frame, looping.

    ``frames`` is (T, C, H, W) for a single image per frame or (T, N, C, H, W)
    for a grid per frame. Without ``value_range`` one range spans all frames,
    so brightness does not flicker from frame to frame.
    """
    if importlib.util.find_spec("PIL") is None:
        raise RuntimeError("save_gif: needs Pillow (pip install pillow), which matplotlib normally installs")
    from matplotlib.animation import PillowWriter

    if not duration > 0:
        raise ValueError(f"save_gif: duration must be a positive number of milliseconds, got {duration}")
    array = to_numpy(frames)
    if array.ndim == 4:
        array = array[:, None]
    array = _normalize(_check_images(array, "save_gif", "T, N"), value_range, "save_gif")
    grids = [make_grid(frame, nrow=nrow, padding=padding, value_range=(0, 1)) for frame in array]
    height, width = grids[0].shape[:2]
    scale = max(1, round(256 / max(height, width)))  # whole-number zoom keeps pixels crisp
    figure = figure_for_pixels(width * scale, height * scale)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_axis_off()
    pixels, options = _image_arguments(grids[0])
    shown = axes.imshow(pixels, interpolation="nearest", **options)
    writer = PillowWriter(fps=1000.0 / duration)

    def write(temporary):
        with writer.saving(figure, temporary, dpi=DPI):
            for grid in grids:
                shown.set_data(_image_arguments(grid)[0])
                writer.grab_frame()

    return atomic_write(path, write)
