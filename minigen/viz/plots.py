"""Line and scatter plots: training curves, 2-D samples over a density, latent scatters."""

import numpy as np
from matplotlib import colormaps

from ..tensor import Tensor, no_grad
from ..interop import to_numpy
from ._common import new_figure, save_figure

__all__ = ["plot_curves", "exponential_moving_average", "plot_samples_2d", "plot_latent_scatter"]


# --- curves ------------------------------------------------------------------------


def exponential_moving_average(values, weight):
    """TensorBoard's smoothing: s_t = weight * s_{t-1} + (1 - weight) * x_t, bias-corrected.

    The correction (dividing by 1 - weight^t) keeps the first points from
    being pulled towards 0. Non-finite values (a NaN loss) stay NaN and are
    skipped, so they show as a gap instead of poisoning the rest of the curve.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"exponential_moving_average: weight must be in [0, 1), got {weight}")
    values = to_numpy(values, np.float64).reshape(-1)
    smoothed = np.full_like(values, np.nan)
    average = total_weight = 0.0
    for index, value in enumerate(values.tolist()):  # a recurrence: one pass, no vector form
        if np.isfinite(value):
            average = weight * average + (1.0 - weight) * value
            total_weight = weight * total_weight + (1.0 - weight)
            smoothed[index] = average / total_weight
    return smoothed


def _curve_points(name, values):
    """(steps, values) from a sequence of values or a ``(steps, values)`` pair."""
    if isinstance(values, tuple) and len(values) == 2 and all(np.ndim(part) == 1 for part in values):
        steps, values = (to_numpy(part, np.float64) for part in values)
    else:
        values = to_numpy(values, np.float64)
        steps = np.arange(values.shape[0] if values.ndim else 0)
    if values.ndim != 1 or steps.shape != values.shape:
        raise ValueError(
            f"plot_curves: series {name!r} must be a 1-D sequence or a (steps, values) pair of equal length, "
            f"got values of shape {values.shape} and steps of shape {steps.shape}"
        )
    return steps, values


def plot_curves(series, path, xlabel="step", ylabel="value", log_y=False, smooth=None, title=None,
                reference_lines=None, log_x=False, y_limits=None):
    """Plot named curves (``{"train": losses, "test": (steps, losses)}``) on one axes, with a legend.

    ``smooth`` in [0, 1) draws an exponential moving average over a faint raw
    curve; ``log_y``/``log_x`` put an axis on a log scale; ``y_limits``
    ((low, high)) crops the y axis; ``reference_lines`` (``{"paper": 86.76}``)
    draws each value as a dashed horizontal line.
    """
    if not series:
        raise ValueError("plot_curves: got no series to plot")
    figure = new_figure(7.0, 4.2)
    axes = figure.add_subplot()
    for index, (name, values) in enumerate(series.items()):
        steps, values = _curve_points(name, values)
        colour = f"C{index % 10}"
        if smooth:
            axes.plot(steps, values, color=colour, alpha=0.25, linewidth=1.0)
            values = exponential_moving_average(values, smooth)
        axes.plot(steps, values, color=colour, linewidth=1.6, label=str(name))
    for index, (name, value) in enumerate((reference_lines or {}).items()):
        axes.axhline(float(value), color="0.35", linestyle=("--", ":", "-.")[index % 3], linewidth=1.0,
                     label=str(name))
    if log_y:
        axes.set_yscale("log")
    if log_x:
        axes.set_xscale("log")
    if y_limits is not None:
        axes.set_ylim(*y_limits)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    entries = len(series) + len(reference_lines or {})
    # many entries go beside the axes rather than over the curves
    placement = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0)) if entries > 5 else {}
    axes.legend(frameon=False, title=f"EMA {smooth:g} (raw faint)" if smooth else None, **placement)
    if title is not None:
        axes.set_title(title)
    return save_figure(figure, path)


# --- 2-D samples over a density ---------------------------------------------------------


def _view_bounds(bounds, points, modes):
    """((x_low, x_high), (y_low, y_high)) from ``bounds``, or around the samples and modes."""
    if bounds is not None:
        bounds = np.asarray(bounds, np.float64)
        if bounds.shape == (2,):
            bounds = np.stack([bounds, bounds])
        if bounds.shape != (2, 2) or not np.all(bounds[:, 1] > bounds[:, 0]):
            raise ValueError(
                "plot_samples_2d: bounds must be (low, high) or ((x_low, x_high), (y_low, y_high)), "
                f"got {bounds.tolist()}"
            )
        return bounds
    # Percentiles, not min/max, so a few diverged samples do not shrink the picture to a dot.
    corners = [np.percentile(points, [0.5, 99.5], axis=0)] if len(points) else []
    if modes is not None:
        corners.append(np.stack([modes.min(axis=0), modes.max(axis=0)]))
    if not corners:
        return np.array([[-1.0, 1.0], [-1.0, 1.0]])
    low = np.min([corner[0] for corner in corners], axis=0)
    high = np.max([corner[1] for corner in corners], axis=0)
    margin = np.maximum(0.1 * (high - low), 0.5)
    return np.stack([low - margin, high + margin], axis=1)


def _log_prob_grid(density, bounds, resolution):
    """log p on a (resolution, resolution) grid: entry [i, j] is at (x_j, y_i)."""
    xs = np.linspace(*bounds[0], resolution)
    ys = np.linspace(*bounds[1], resolution)
    points = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)
    with no_grad():
        try:
            values = density(points)
        except (TypeError, AttributeError):
            # A model's log_prob takes minigen Tensors rather than arrays.
            values = density(Tensor(points))
    return to_numpy(values, np.float64).reshape(resolution, resolution)


def plot_samples_2d(samples, path, density=None, bounds=None, modes=None, title=None, resolution=200):
    """Scatter (n, 2) samples over a heat map and contours of the true density, modes marked with x.

    ``density`` is a callable returning log p for an (n, 2) float32 array (or
    Tensor) of points, or a precomputed log p grid whose entry [i, j] is at
    (x_j, y_i) on ``linspace`` over ``bounds``. ``bounds`` is (low, high) for
    both axes or ((x_low, x_high), (y_low, y_high)); by default it frames the
    samples and modes.
    """
    points = to_numpy(samples, np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"plot_samples_2d: expected samples of shape (n, 2), got {points.shape}")
    modes = None if modes is None else to_numpy(modes, np.float64).reshape(-1, 2)
    precomputed = density is not None and not callable(density)
    if precomputed and bounds is None:
        raise ValueError("plot_samples_2d: a precomputed density grid needs the bounds it was evaluated on")
    bounds = _view_bounds(bounds, points, modes)
    figure = new_figure(5.5, 5.0)
    axes = figure.add_subplot()
    if density is not None:
        log_prob = to_numpy(density, np.float64) if precomputed else _log_prob_grid(density, bounds, resolution)
        if log_prob.ndim != 2:
            raise ValueError(f"plot_samples_2d: the density grid must be 2-D, got shape {log_prob.shape}")
        _draw_density(axes, log_prob, bounds)
    inside = np.all((points >= bounds[:, 0]) & (points <= bounds[:, 1]), axis=1)
    note = "" if inside.all() else f", {np.count_nonzero(~inside)} outside the view"
    axes.scatter(points[:, 0], points[:, 1], s=5, color="orangered", alpha=0.5, linewidths=0,
                 label=f"samples (n={len(points)}{note})")
    if modes is not None:
        axes.scatter(modes[:, 0], modes[:, 1], marker="x", s=30, color="black", linewidths=1.2,
                     label=f"modes ({len(modes)})")
    axes.set_xlim(*bounds[0])
    axes.set_ylim(*bounds[1])
    axes.set_aspect("equal")
    axes.legend(loc="upper right", fontsize=8, framealpha=0.8, markerscale=2)
    if title is not None:
        axes.set_title(title)
    return save_figure(figure, path)


def _draw_density(axes, log_prob, bounds):
    """Heat map of p / max p (exp after subtracting the max, so nothing overflows) with contours."""
    finite = np.isfinite(log_prob)
    peak = log_prob[finite].max() if finite.any() else 0.0
    relative = np.where(finite, np.exp(np.where(finite, log_prob, peak) - peak), 0.0)
    extent = (*bounds[0], *bounds[1])
    # vmax above the peak keeps the densest region mid-blue, so the samples stay visible on it.
    axes.imshow(relative, origin="lower", extent=extent, cmap="Blues", vmin=0.0, vmax=1.6,
                interpolation="bilinear", aspect="auto")
    levels = [level for level in (0.1, 0.3, 0.5, 0.7, 0.9) if relative.min() < level < relative.max()]
    if levels:
        xs = np.linspace(*bounds[0], relative.shape[1])
        ys = np.linspace(*bounds[1], relative.shape[0])
        axes.contour(xs, ys, relative, levels=levels, colors="navy", linewidths=0.6, alpha=0.6)


# --- latent codes ----------------------------------------------------------------------


def _pca_2d(codes):
    """Project (n, d) codes on their two principal axes; also return the variance share they keep."""
    centred = codes - codes.mean(axis=0)
    _, singular_values, components = np.linalg.svd(centred, full_matrices=False)
    # SVD's signs are arbitrary; make each axis's largest loading positive so reruns agree.
    largest = components[np.arange(len(components)), np.abs(components).argmax(axis=1)]
    components = components * np.where(largest < 0, -1.0, 1.0)[:, None]
    variance = singular_values**2
    explained = variance[:2].sum() / variance.sum() if variance.sum() > 0 else 1.0
    return centred @ components[:2].T, explained


def _is_categorical(labels):
    if labels.dtype.kind in "biuUSO":
        return len(np.unique(labels)) <= 20 or labels.dtype.kind in "bUSO"
    return len(np.unique(labels)) <= 20 and np.all(labels == np.round(labels))


def plot_latent_scatter(codes, labels, path, title=None):
    """Scatter (n, d) latent codes coloured by label; codes with d > 2 are projected by PCA.

    Up to 20 distinct integer (or string) labels get a legend; other labels
    (a continuous generating factor) get a colour bar. ``labels=None`` draws
    one colour.
    """
    codes = to_numpy(codes, np.float64)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"plot_latent_scatter: expected codes of shape (n, d) with d >= 2, got {codes.shape}")
    dims = codes.shape[1]
    if dims > 2:
        codes, explained = _pca_2d(codes)
        note = f"PCA of {dims}-D codes ({explained:.0%} of variance)"
        title = note if title is None else f"{title}\n{note}"
        axis_names = ("PC 1", "PC 2")
    else:
        axis_names = ("z[0]", "z[1]")
    figure = new_figure(6.0, 5.0)
    axes = figure.add_subplot()
    style = {"s": 6, "alpha": 0.7, "linewidths": 0}
    if labels is None:
        axes.scatter(codes[:, 0], codes[:, 1], **style)
    else:
        labels = to_numpy(labels).reshape(-1)
        if labels.shape[0] != codes.shape[0]:
            raise ValueError(f"plot_latent_scatter: {labels.shape[0]} labels for {codes.shape[0]} codes")
        if _is_categorical(labels):
            classes = np.unique(labels)
            palette = "tab10" if len(classes) <= 10 else "tab20"
            for index, value in enumerate(classes):
                chosen = labels == value
                axes.scatter(codes[chosen, 0], codes[chosen, 1], color=colormaps[palette](index),
                             label=str(value), **style)
            axes.legend(title="label", fontsize=8, markerscale=2.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                        frameon=False)
        else:
            shown = axes.scatter(codes[:, 0], codes[:, 1], c=labels.astype(np.float64), cmap="viridis", **style)
            figure.colorbar(shown, ax=axes, label="label")
    axes.set_xlabel(axis_names[0])
    axes.set_ylabel(axis_names[1])
    if title is not None:
        axes.set_title(title)
    return save_figure(figure, path)
