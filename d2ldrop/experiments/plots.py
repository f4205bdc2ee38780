"""Helpers for the experiments' figures (matplotlib's object API on the Agg canvas).

Curves show the mean over seeds with a band of one standard deviation, bars and
points the mean with ±1 sd: the spread of single runs. Whether two rows differ
is a paired question (same seed, same start), answered by the tables' Δ columns.

Each experiment draws its own figure with these helpers (in its module of
:mod:`d2ldrop.experiments.catalog`); :func:`plot_curves_and_bars` is the figure
that several experiments share. Nothing here knows a particular experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.display.figure import InlineFigure, new_figure, save_png
from d2ldrop.experiments.inference import Summary
from d2ldrop.experiments.results import ExperimentResult


def figure(ncols: int, nrows: int = 1, width: float = 4.3, height: float = 3.4) -> Any:
    """A figure for ``nrows`` x ``ncols`` panels of ``width`` x ``height`` inches, plus a title."""
    return new_figure(width * ncols, height * nrows + 0.6)


def save(fig: Any, result: ExperimentResult, path: Path, note: str = "") -> Path:
    """Title ``fig`` with the experiment and its settings (and ``note``), write it as PNG."""
    s = result.settings
    data = "full data" if s.train_size is None else f"{s.train_size} train images"
    note = f"; {note}" if note else ""
    fig.suptitle(f"{result.experiment.title}\n{s.backend}, {s.epochs} epochs, "
                 f"{len(s.seeds)} seeds, {data}{note}", fontsize="medium")
    return save_png(fig, path, dpi=100)


def band(ax: Any, curves: np.ndarray, label: str, *, start: int = 1, **kwargs: Any) -> None:
    """Mean over seeds (rows) against epoch, with a ±1 sd band (``kwargs``: line style)."""
    if curves.size == 0 or np.isnan(curves).all():
        return
    curves = curves[:, ~np.isnan(curves).all(axis=0)]  # epochs no run reached
    x = np.arange(start, start + curves.shape[1])
    mean = np.nanmean(curves, axis=0)
    (line,) = ax.plot(x, mean, label=label, **kwargs)
    if curves.shape[0] > 1:
        sd = np.nanstd(curves, axis=0, ddof=1)
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, lw=0)


def legend(ax: Any, **kwargs: Any) -> None:
    """A legend, when something was drawn (all runs of a row may have diverged)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def style(ax: Any, title: str, xlabel: str = "epoch") -> None:
    """Title, x label and grid of a panel; integer ticks for epochs and counts."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    if xlabel == "epoch" or xlabel.startswith("T "):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def points(ax: Any, labels: Sequence[str], summaries: Sequence[Summary], title: str) -> None:
    """One point per row with ±1 sd error bars (a dot plot: no truncated bars)."""
    for i, s in enumerate(summaries):
        ax.errorbar([i], [s.mean], yerr=[s.sd if s.n >= 2 else 0.0], fmt="o", capsize=5,
                    color=f"C{i}")
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_title(title, fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)


def plot_curves_and_bars(result: ExperimentResult, path: Path) -> Path:
    """Test accuracy and generalization gap over epochs, and the final test accuracy."""
    fig = figure(3)
    axes = fig.subplots(1, 3)
    for i, row in enumerate(result.rows):
        band(axes[0], result.curves(row.config, "test_acc"), row.config.label, color=f"C{i}")
        band(axes[1], result.curves(row.config, "gap"), row.config.label, color=f"C{i}")
    style(axes[0], "test accuracy (dropout off)")
    style(axes[1], "gap: train acc - test acc (both dropout off)")
    legend(axes[0], fontsize="small")
    points(axes[2], [r.config.label for r in result.rows],
           [r.metrics["test_acc"] for r in result.rows], "final test accuracy (mean ± sd)")
    return save(fig, result, path)


def experiment_curves(result: ExperimentResult, key: str = "test_acc") -> InlineFigure:
    """The runs of an experiment so far: per configuration, the mean over the
    finished seeds of a per-epoch curve (``key``), for redrawing while it runs."""
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
