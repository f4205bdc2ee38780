"""Figures redrawn in place while something trains, as the book's ``Animator`` does.

A :class:`LiveFigure` is one notebook output: the first :meth:`LiveFigure.show`
displays a figure, later ones replace it (a display handle), so a run of ten
epochs leaves one figure, not ten. Outside a notebook nothing is shown unless
asked (``live=True``); :func:`live_figure` returns None then, and callers skip it.
What is drawn is the caller's: a history's curves, an experiment's runs so far.
"""

from __future__ import annotations

from d2ldrop.display import kernel
from d2ldrop.display.figure import InlineFigure

__all__ = ["LiveFigure", "live_figure"]


class LiveFigure:
    """One output, replaced by each figure shown (``shown`` counts them)."""

    def __init__(self) -> None:
        self._handle: kernel.Handle | None = None
        self.shown = 0

    def show(self, figure: InlineFigure) -> None:
        if self._handle is None:
            self._handle = kernel.show(figure)
        else:
            self._handle.update(figure)
        self.shown += 1


def live_figure(live: bool | None, progress: bool | None = None) -> LiveFigure | None:
    """A :class:`LiveFigure` if ``live`` asks for one, else None.

    ``live`` None: in a notebook only, and not when ``progress`` is False (a run
    asked to be quiet, such as each run of an experiment, shows nothing).
    """
    if live is None and progress is False:
        return None
    return LiveFigure() if kernel.wanted(live) else None
