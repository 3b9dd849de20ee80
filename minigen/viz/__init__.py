"""Plots for generative models: image grids, curves, 2-D densities, latent spaces, graphs.

Every function takes a Tensor (on any device; it is detached and copied to
the CPU) or a NumPy array, writes a file to ``path`` (parent folders created,
written atomically through a temporary file and a rename) and returns the
path as a ``pathlib.Path``. Figures are drawn with matplotlib's Agg canvas
directly, never through pyplot, so importing this module leaves the user's
matplotlib backend and open figures alone.
"""

from .graph import graph_to_dot, render_dot
from .images import (
    make_grid,
    plot_interpolation,
    plot_latent_traversal,
    plot_trajectory,
    save_gif,
    save_image_grid,
)
from .plots import exponential_moving_average, plot_curves, plot_latent_scatter, plot_samples_2d

__all__ = [
    "make_grid",
    "save_image_grid",
    "plot_curves",
    "exponential_moving_average",
    "plot_samples_2d",
    "plot_latent_scatter",
    "plot_latent_traversal",
    "plot_interpolation",
    "plot_trajectory",
    "save_gif",
    "graph_to_dot",
    "render_dot",
]
