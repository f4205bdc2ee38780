"""The figure of lockstep runs: each run's curves, and the batch-loss differences."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from d2ldrop.display.figure import new_figure, save_png
from d2ldrop.history import METRICS
from d2ldrop.lockstep.constants import REFERENCE

if TYPE_CHECKING:
    from d2ldrop.lockstep.measures import LockstepMeasures

#: Where equal batch losses (a difference of 0) are drawn on the log scale: below
#: float64's resolution of a loss near 1 (2e-16).
_FLOOR = 1e-17
#: (line style, marker, marker size) of the backends, in the order they are given,
#: and of the reference: curves drawn on top of each other all stay visible.
_STYLES = (("-", "o", 8), ("--", "s", 6), (":", "^", 5), ("-.", "D", 4))
_REFERENCE_STYLE = ("none", "x", 7)


def _style(result: LockstepMeasures, run: str) -> tuple[str, str, int]:
    if run == REFERENCE:
        return _REFERENCE_STYLE
    return _STYLES[result.backends.index(run) % len(_STYLES)]


def default_title(result: LockstepMeasures) -> str:
    """``lockstep <model> (<dtype>): <runs>``, the title of a figure of one result."""
    return f"lockstep {result.kind} ({result.config.get('dtype')}): {', '.join(result.histories)}"


def plot_lockstep(
    results: Sequence[LockstepMeasures], path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """:func:`lockstep_figure` of ``results``, written to ``path`` as PNG."""
    return save_png(lockstep_figure(results, title), path)


def lockstep_figure(
    results: Sequence[LockstepMeasures], title: str | None = None, num_epochs: int | None = None
) -> Any:
    """One row per model: train loss, train acc, test acc (one curve per run,
    drawn with different dashes so that curves on top of each other stay
    visible), and the largest difference of each step's batch loss (log scale).
    ``num_epochs``: the curves' x axis spans them (for redrawing while training).
    """
    from matplotlib.ticker import MaxNLocator

    rows = max(len(results), 1)
    fig = new_figure(15, 3.4 * rows)
    axes = fig.subplots(rows, 4, squeeze=False)
    for row, res in zip(axes, results):
        for ax, (key, label) in zip(row, METRICS):
            for run, h in res.histories.items():
                if not h.epochs:
                    continue
                line, marker, size = _style(res, run)
                ax.plot([r.epoch for r in h.epochs], [getattr(r, key) for r in h.epochs],
                        linestyle=line, marker=marker, ms=size, mfc="none", lw=2, label=run)
            ax.set_title(f"{res.kind}: {label}")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if num_epochs:
                ax.set_xlim(0.75, max(num_epochs, 1) + 0.25)
            ax.grid(True, alpha=0.3)
        if row[2].get_legend_handles_labels()[0]:
            row[2].legend(fontsize="small")
        ax = row[3]
        backends = [np.asarray(res.step_losses[b]) for b in res.backends]
        steps = min((len(a) for a in backends), default=0)
        if len(backends) > 1 and steps:
            pair = np.max([np.abs(a - b) for a, b in itertools.combinations(backends, 2)], axis=0)
            ax.semilogy(np.arange(1, len(pair) + 1), np.maximum(pair, _FLOOR), lw=0.8,
                        label="between backends")
        if REFERENCE in res.step_losses and steps:
            ref = np.asarray(res.step_losses[REFERENCE])
            vs = np.max([np.abs(a - ref) for a in backends], axis=0)
            ax.semilogy(np.arange(1, len(vs) + 1), np.maximum(vs, _FLOOR), lw=0.8,
                        label="backend vs numpy", alpha=0.7)
        if steps:
            ax.set_xscale("log")  # the first steps, where rounding starts to grow, stay visible
        ax.set_title(f"{res.kind}: largest |Δ batch loss|")
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
