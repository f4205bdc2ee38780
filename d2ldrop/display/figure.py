"""A figure that shows itself in a notebook: PNG bytes through ``_repr_png_``.

d2ldrop draws on matplotlib's Agg canvas without pyplot, so its figures do not
depend on the notebook's matplotlib backend (``%matplotlib inline`` or not):
IPython asks the object for its PNG, and gets it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d2ldrop.plotting import curves_figure, png_bytes, save_png

if TYPE_CHECKING:
    from d2ldrop.history import History


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


def curves(histories: Sequence[History], title: str | None = None,
           num_epochs: int | None = None) -> InlineFigure:
    """The book's three curves of ``histories`` (train loss, train acc, test acc)."""
    return InlineFigure(curves_figure(histories, title, num_epochs))


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
