"""The experiments' figures (matplotlib's object API on the Agg canvas, no display).

Curves show the mean over seeds with a band of one standard deviation, bars and
points the mean with ±1 sd: the spread of single runs. Whether two rows differ
is a paired question (same seed, same start), answered by the tables' Δ columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from d2ldrop.plotting import new_figure, save_png

if TYPE_CHECKING:
    from d2ldrop.experiments.runner import ExperimentResult


def _figure(ncols: int, nrows: int = 1, width: float = 4.3, height: float = 3.4) -> Any:
    return new_figure(width * ncols, height * nrows + 0.6)


def _save(fig: Any, result: ExperimentResult, path: Path, note: str = "") -> Path:
    s = result.settings
    data = "full data" if s.train_size is None else f"{s.train_size} train images"
    note = f"; {note}" if note else ""
    fig.suptitle(f"{result.experiment.title}\n{s.backend}, {s.epochs} epochs, "
                 f"{len(s.seeds)} seeds, {data}{note}", fontsize="medium")
    return save_png(fig, path, dpi=100)


def _band(ax: Any, curves: np.ndarray, label: str, *, start: int = 1, **style: Any) -> None:
    """Mean over seeds (rows) against epoch, with a ±1 sd band."""
    if curves.size == 0 or np.isnan(curves).all():
        return
    curves = curves[:, ~np.isnan(curves).all(axis=0)]  # epochs no run reached
    x = np.arange(start, start + curves.shape[1])
    mean = np.nanmean(curves, axis=0)
    (line,) = ax.plot(x, mean, label=label, **style)
    if curves.shape[0] > 1:
        sd = np.nanstd(curves, axis=0, ddof=1)
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, lw=0)


def _legend(ax: Any, **kwargs: Any) -> None:
    """A legend, when something was drawn (all runs of a row may have diverged)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _style(ax: Any, title: str, xlabel: str = "epoch") -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    if xlabel == "epoch" or xlabel.startswith("T "):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _points(ax: Any, labels: Sequence[str], summaries: Sequence[Any], title: str) -> None:
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
    fig = _figure(3)
    axes = fig.subplots(1, 3)
    for i, row in enumerate(result.rows):
        _band(axes[0], result.curves(row.config, "test_acc"), row.config.label, color=f"C{i}")
        _band(axes[1], result.curves(row.config, "gap"), row.config.label, color=f"C{i}")
    _style(axes[0], "test accuracy (dropout off)")
    _style(axes[1], "gap: train acc - test acc (both dropout off)")
    _legend(axes[0], fontsize="small")
    _points(axes[2], [r.config.label for r in result.rows],
          [r.metrics["test_acc"] for r in result.rows], "final test accuracy (mean ± sd)")
    return _save(fig, result, path)


def plot_grid(result: ExperimentResult, path: Path) -> Path:
    """Heat maps over (p1, p2) of the final test accuracy and generalization gap."""
    from d2ldrop.experiments.registry import GRID

    fig = _figure(3, width=4.6, height=4.0)
    axes = fig.subplots(1, 3)
    by_p = {(r.config.dropout1, r.config.dropout2): r for r in result.rows}
    for ax, key, title, cmap in ((axes[0], "test_acc", "test accuracy", "viridis"),
                                 (axes[1], "test_acc_last3", "test acc, last 3 epochs",
                                  "viridis"),
                                 (axes[2], "gap", "gap: train acc - test acc", "magma_r")):
        if any((a, b) not in by_p for a in GRID for b in GRID):
            continue  # a reduced grid (a custom experiment): no heat map
        grid = np.array([[by_p[(a, b)].metrics[key].mean for b in GRID] for a in GRID])
        image = ax.imshow(grid, cmap=cmap, origin="lower")
        fig.colorbar(image, ax=ax, shrink=0.8)
        for i, a in enumerate(GRID):
            for j, b in enumerate(GRID):
                s = by_p[(a, b)].metrics[key]
                sd = f"\n±{s.sd:.4f}" if s.n >= 2 else ""
                if s.n < len(result.settings.seeds):  # a run diverged
                    sd += f"\n(n={s.n})"
                r, g, b_, _ = image.cmap(image.norm(grid[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b_ < 0.5  # luminance of the cell
                ax.text(j, i, f"{s.mean:.4f}{sd}", ha="center", va="center", fontsize="small",
                        color="white" if dark else "black")
        ax.set_xticks(range(len(GRID)), [str(p) for p in GRID])
        ax.set_yticks(range(len(GRID)), [str(p) for p in GRID])
        ax.set_xlabel("p2 (after hidden layer 2)")
        ax.set_ylabel("p1 (after hidden layer 1)")
        ax.set_title(f"{title} (mean ± sd)", fontsize="medium")
    return _save(fig, result, path)


def plot_epochs(result: ExperimentResult, path: Path) -> Path:
    """Accuracies, test loss and the generalization gap over many epochs."""
    fig = _figure(3)
    axes = fig.subplots(1, 3)
    for i, row in enumerate(result.rows):
        c = row.config
        _band(axes[0], result.curves(c, "train_eval_acc"), f"{c.label}: train", color=f"C{i}",
              ls="--")
        _band(axes[0], result.curves(c, "test_acc"), f"{c.label}: test", color=f"C{i}")
        _band(axes[1], result.curves(c, "test_loss"), c.label, color=f"C{i}")
        _band(axes[2], result.curves(c, "gap"), c.label, color=f"C{i}")
    _style(axes[0], "accuracy, dropout off (train dashed)")
    _style(axes[1], "test loss")
    _style(axes[2], "gap: train acc - test acc")
    _legend(axes[0], fontsize="small")
    _legend(axes[2], fontsize="small")
    return _save(fig, result, path)


def plot_activations(result: ExperimentResult, path: Path) -> Path:
    """Mean, variance and share of zeros of each hidden layer over training."""
    from d2ldrop.experiments.registry import STATS

    fig = _figure(3, 2, height=3.0)
    axes = fig.subplots(2, 3)
    names = {"mean": "mean", "var": "variance (per unit, over images)", "zeros": "share of zeros"}
    for layer in (1, 2):
        for j, stat in enumerate(STATS):
            ax = axes[layer - 1, j]
            for i, row in enumerate(result.rows):
                c = row.config
                # Without noise, training mode computes the same activations.
                noisy = c.dropout1 > 0 or c.dropout2 > 0
                for mode, ls in (("eval", "-"), ("train", ":"))[: 2 if noisy else 1]:
                    curves = result.curves(c, f"h{layer}_{stat}_{mode}")
                    _band(ax, curves, f"{row.config.label}, {mode} mode", start=0,
                          color=f"C{i}", ls=ls)
            _style(ax, f"hidden layer {layer}: {names[stat]}")
    _legend(axes[0, 0], fontsize="x-small")
    return _save(fig, result, path, "solid: dropout off (what the layer computes), dotted: "
                 "training mode (after dropout,\nwhat the next layer sees); "
                 f"{result.options['probe']} training images; epoch 0: initialization")


def plot_test_time(result: ExperimentResult, path: Path) -> Path:
    """Accuracy with dropout off and on at evaluation, on test and training images."""
    fig = _figure(2)
    axes = fig.subplots(1, 2)
    keys = (("test_acc", "test, off"), ("test_acc_on", "test, on"),
            ("train_eval_acc", "train, off"), ("train_eval_acc_on", "train, on"))
    x = np.arange(len(result.rows))
    width = 0.8 / len(keys)
    for k, (key, label) in enumerate(keys):
        means = [r.metrics[key].mean for r in result.rows]
        sds = [r.metrics[key].sd if r.metrics[key].n >= 2 else 0.0 for r in result.rows]
        axes[0].bar(x + (k - 1.5) * width, means, width, yerr=sds, capsize=3, label=label,
                    color=f"C{k}")
    axes[0].set_xticks(x, [r.config.label for r in result.rows])
    lo = min(r.metrics[k].mean for r in result.rows for k, _ in keys)
    if np.isfinite(lo):
        axes[0].set_ylim(max(0.0, lo - 0.05), 1.0)
    _legend(axes[0], fontsize="small", ncols=2)
    axes[0].set_title("accuracy, dropout off / on at evaluation (mean ± sd)", fontsize="medium")
    axes[0].grid(True, axis="y", alpha=0.3)
    for i, row in enumerate(result.rows):
        _band(axes[1], result.curves(row.config, "test_acc"), f"{row.config.label}: test (off)",
              color=f"C{i}")
        _band(axes[1], result.curves(row.config, "train_acc"),
              f"{row.config.label}: train, as the book measures it (on)", color=f"C{i}", ls=":")
    _style(axes[1], "over training")
    _legend(axes[1], fontsize="x-small")
    return _save(fig, result, path)


def plot_interaction(result: ExperimentResult, path: Path) -> Path:
    """Interaction plot: weight decay off/on on the x axis, one line per dropout setting."""
    from d2ldrop.experiments.registry import BOTH, DROPOUT, NONE, WD

    fig = _figure(2)
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "test_acc", "test accuracy"),
                           (axes[1], "gap", "gap: train acc - test acc")):
        for i, (label, pair) in enumerate((("no dropout", (NONE, WD)),
                                           ("dropout 0.2/0.5", (DROPOUT, BOTH)))):
            s = [result.row(c.label).metrics[key] for c in pair]
            ax.errorbar([0, 1], [v.mean for v in s], yerr=[v.sd if v.n >= 2 else 0 for v in s],
                        marker="o", capsize=4, label=label, color=f"C{i}")
        ax.set_xticks([0, 1], ["no weight decay", f"weight decay {WD.weight_decay:g}"])
        ax.set_xlim(-0.3, 1.3)
        _style(ax, f"{title} (mean ± sd)", xlabel="")
        _legend(ax, fontsize="small")
    return _save(fig, result, path, "parallel lines: the effects add up")


def plot_mc(result: ExperimentResult, path: Path) -> Path:
    """Spread of the MC prediction on correct and misclassified images; accuracy against T."""
    fig = _figure(2)
    axes = fig.subplots(1, 2)
    runs = [r for r in result.runs_of(result.experiment.configs[0]) if r.get("extra")]
    if runs:
        bins = np.array(runs[0]["extra"]["bins"])
        centers = (bins[:-1] + bins[1:]) / 2
        for key, label, color in (("hist_correct", "correct", "C0"),
                                  ("hist_wrong", "misclassified", "C3")):
            counts = np.sum([r["extra"][key] for r in runs], axis=0).astype(float)
            density = counts / max(counts.sum(), 1.0) / np.diff(bins)
            axes[0].step(centers, density, where="mid", label=f"{label} ({int(counts.sum())})",
                         color=color)
        _legend(axes[0], fontsize="small")
        acc = np.array([r["extra"]["acc_vs_samples"] for r in runs])
        _band(axes[1], acc, "mean of T masks")
        off = result.rows[0].metrics["test_acc"]
        axes[1].axhline(off.mean, color="k", ls="--", label="dropout off (one pass)")
        single = result.rows[0].metrics["single_acc"]
        axes[1].axhline(single.mean, color="C3", ls=":", label="one mask")
        _legend(axes[1], fontsize="small")
    _style(axes[0], "sd over masks of the predicted class's probability "
           "(all seeds)", xlabel="spread")
    axes[0].set_ylabel("density")
    _style(axes[1], "test accuracy of the averaged prediction", xlabel="T (masks averaged)")
    return _save(fig, result, path)
