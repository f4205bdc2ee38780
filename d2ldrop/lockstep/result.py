"""A lockstep run's result: what it measured (:mod:`~d2ldrop.lockstep.measures`),
shown as a table in a notebook and drawn as a figure."""

from __future__ import annotations

from dataclasses import dataclass

from d2ldrop.display.figure import InlineFigure
from d2ldrop.lockstep.measures import LockstepMeasures
from d2ldrop.lockstep.plot import default_title, lockstep_figure
from d2ldrop.lockstep.report import lockstep_html

__all__ = ["LockstepResult"]


@dataclass
class LockstepResult(LockstepMeasures):
    """Histories of every run (the backends and ``"numpy"``) and their differences
    (the fields of :class:`~d2ldrop.lockstep.measures.LockstepMeasures`), which show
    themselves: an HTML table in a notebook, :meth:`figure` for the curves."""

    def _repr_html_(self) -> str:
        return lockstep_html([self])

    def figure(self, title: str | None = None) -> InlineFigure:
        """Every run's curves and the batch-loss differences (inline in a notebook)."""
        return InlineFigure(lockstep_figure([self], title or default_title(self)))
