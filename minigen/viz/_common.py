"""Shared plumbing for the plots: figures and atomic writes (inputs reach NumPy through ``interop.to_numpy``).

Figures are built as ``matplotlib.figure.Figure`` objects on an Agg canvas, so
plotting never touches pyplot's global state or the user's chosen backend.
"""

import os
import secrets
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100


def new_figure(width_inches, height_inches):
    """A Figure with its own Agg canvas (no pyplot)."""
    figure = Figure(figsize=(width_inches, height_inches), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def figure_for_pixels(width, height):
    """A Figure whose canvas is exactly ``width`` x ``height`` pixels.

    Half a pixel is added because Agg truncates inches * dpi to whole pixels,
    and 2.42 * 100 may land on 241.99999.
    """
    return new_figure((width + 0.5) / DPI, (height + 0.5) / DPI)


def atomic_write(path, write):
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``.

    The temporary file sits in the target folder (so the rename is atomic) and
    keeps the target's suffix (so writers that infer the format from it work).
    A reader never sees a half-written file; a failed write leaves no debris.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")
    try:
        write(str(temporary))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def save_figure(figure, path, tight=True):
    """Write ``figure`` to ``path`` (format from the suffix, PNG when there is none) atomically."""
    suffix = Path(path).suffix.lower().lstrip(".") or "png"
    options = {"bbox_inches": "tight", "pad_inches": 0.05} if tight else {}
    return atomic_write(path, lambda temporary: figure.savefig(temporary, format=suffix, **options))
