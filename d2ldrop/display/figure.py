"""Figures: drawn with matplotlib's object API on the Agg canvas, written to PNG
files or bytes, and shown in a notebook through ``_repr_png_``.

The one figure module of d2ldrop: no GUI backend and no pyplot global state are
involved, so a figure works on a machine without a display and never changes a
notebook's matplotlib setup (``%matplotlib inline`` or not): IPython asks the
object for its PNG, and gets it. What a figure shows is its domain's business
(a history's curves, an experiment's panels, a lockstep run's gaps).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from d2ldrop._io import atomic_path

__all__ = ["InlineFigure", "PNGFile", "new_figure", "png_bytes", "save_png"]


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on the Agg canvas, with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` through a temporary file: never half a PNG."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """``fig`` as the bytes of a PNG file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class InlineFigure:
    """A matplotlib figure (``.figure``) displayed inline as PNG; ``save(path)`` writes it."""

    def __init__(self, figure: Any, dpi: int = 100) -> None:
        self.figure, self.dpi = figure, dpi

    def _repr_png_(self) -> bytes:
        return png_bytes(self.figure, self.dpi)

    def png(self) -> bytes:
        """The PNG file's bytes."""
        return self._repr_png_()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the figure to ``path`` as PNG (atomically)."""
        return save_png(self.figure, path, self.dpi)

    def __repr__(self) -> str:
        # What a front end without images shows (and nbclient's text/plain output).
        title = getattr(self.figure, "_suptitle", None)
        text = title.get_text().replace("\n", " ") if title is not None else ""
        return f"<d2ldrop figure{': ' + text if text else ''}>"


class PNGFile:
    """A PNG file already written (an experiment's figure), displayed inline as it is."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()

    def png(self) -> bytes:
        """The PNG file's bytes."""
        return self._repr_png_()

    def __repr__(self) -> str:
        return f"<d2ldrop figure: {self.path}>"
