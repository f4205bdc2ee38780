"""Exercise 1: the two dropout probabilities over a grid, including swapped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.experiments.catalog.common import COMPARE, STANDARD, verdict
from d2ldrop.experiments.plots import figure, save
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.spec import Config, Experiment
from d2ldrop.experiments.tables import fmt_summary

#: Each of p1 and p2 takes these values: 9 configurations.
GRID = (0.0, 0.2, 0.5)


def grid_label(p1: float, p2: float) -> str:
    return f"p1={p1} p2={p2}"


def _analyse(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    best = max(result.rows, key=lambda r: r.metrics["test_acc"].mean)
    swapped = result.row(grid_label(0.5, 0.2)).vs_baseline["test_acc"]
    notes = [
        f"best mean test accuracy: {best.config.label} "
        f"({fmt_summary(best.metrics['test_acc'])})",
        f"swapped (p1=0.5, p2=0.2) minus the chapter's (p1=0.2, p2=0.5): test acc "
        f"{fmt_summary(swapped, signed=True)}: {verdict(swapped)}",
    ]
    return {"best": best.config.label, "swapped_minus_chapter": swapped.to_dict()}, notes


def plot_grid(result: ExperimentResult, path: Path) -> Path:
    """Heat maps over (p1, p2) of the final test accuracy and generalization gap."""
    fig = figure(3, width=4.6, height=4.0)
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
    return save(fig, result, path)


EXPERIMENT = Experiment(
    name="dropout-grid",
    title="Exercise 1: the two dropout probabilities, including swapped",
    question="What happens if you change the dropout probabilities of the first and "
    "second layers, in particular if you swap them (0.5 first, then 0.2)?",
    configs=tuple(Config(grid_label(a, b), a, b) for a in GRID for b in GRID),
    columns=STANDARD,
    baseline=grid_label(0.2, 0.5),
    compare=COMPARE,
    analyse=_analyse,
    plot=plot_grid,
)
