"""Figures redrawn in place while something trains, as the book's ``Animator`` does.

A :class:`LiveFigure` is one notebook output: the first :meth:`LiveFigure.show`
displays a figure, later ones replace it (a display handle), so a run of ten
epochs leaves one figure, not ten. Outside a notebook nothing is shown unless
asked (``live=True``); :func:`live_figure` returns None then, and callers skip it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from d2ldrop.display import kernel
from d2ldrop.display.figure import InlineFigure, curves
from d2ldrop.plotting import new_figure

if TYPE_CHECKING:
    from d2ldrop.history import History


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


def live_curves(
    live: bool | None, progress: bool | None, title: str, num_epochs: int | None = None
) -> Callable[[Sequence[History]], None] | None:
    """A function that redraws the book's curves of some histories in one output
    (None when nothing is to be shown; see :func:`live_figure`)."""
    out = live_figure(live, progress)
    if out is None:
        return None

    def redraw(histories: Sequence[History]) -> None:
        out.show(curves(histories, title, num_epochs))

    return redraw


def experiment_curves(result: Any, key: str = "test_acc") -> InlineFigure:
    """The runs of an experiment so far: per configuration, the mean over the
    finished seeds of a per-epoch curve (``key``), for redrawing while it runs.

    ``result`` is an :class:`~d2ldrop.experiments.ExperimentResult` (its
    ``experiment.configs`` and ``curves(config, key)``).
    """
    fig = new_figure(6, 3.6)
    ax = fig.subplots()
    for config in result.experiment.configs:
        values = result.curves(config, key)
        if values.size and not np.isnan(values).all():
            done = values[:, ~np.isnan(values).all(axis=0)]
            ax.plot(np.arange(1, done.shape[1] + 1), np.nanmean(done, axis=0), marker="o",
                    ms=3, label=f"{config.label} (n={done.shape[0]})")
    ax.set_title(f"{result.experiment.name}: {key.replace('_', ' ')}, mean over seeds so far")
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return InlineFigure(fig)
