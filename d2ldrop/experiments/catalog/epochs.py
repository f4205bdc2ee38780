"""Exercise 2: many more epochs, with and without dropout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.experiments.catalog.common import COMPARE, DROPOUT, NONE, STANDARD
from d2ldrop.experiments.inference import summarize
from d2ldrop.experiments.plots import band, figure, legend, save, style
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.spec import Column, Experiment
from d2ldrop.experiments.tables import fmt_summary


def _analyse(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    analysis, notes = {}, []
    for row in result.rows:
        loss = result.curves(row.config, "test_loss")
        if loss.size == 0:
            continue
        best = np.nanargmin(loss, axis=1)
        rise = loss[:, -1] - np.nanmin(loss, axis=1)
        analysis[row.config.label] = {
            "min_test_loss_epoch": summarize(best + 1.0).to_dict(),
            "test_loss_rise_after_min": summarize(rise).to_dict(),
        }
        notes.append(
            f"{row.config.label}: test loss lowest at epoch "
            f"{fmt_summary(summarize(best + 1.0), 1)}, then rises by "
            f"{fmt_summary(summarize(rise))}; final gap {fmt_summary(row.metrics['gap'])}"
        )
    return analysis, notes


def plot_epochs(result: ExperimentResult, path: Path) -> Path:
    """Accuracies, test loss and the generalization gap over many epochs."""
    fig = figure(3)
    axes = fig.subplots(1, 3)
    for i, row in enumerate(result.rows):
        c = row.config
        band(axes[0], result.curves(c, "train_eval_acc"), f"{c.label}: train", color=f"C{i}",
             ls="--")
        band(axes[0], result.curves(c, "test_acc"), f"{c.label}: test", color=f"C{i}")
        band(axes[1], result.curves(c, "test_loss"), c.label, color=f"C{i}")
        band(axes[2], result.curves(c, "gap"), c.label, color=f"C{i}")
    style(axes[0], "accuracy, dropout off (train dashed)")
    style(axes[1], "test loss")
    style(axes[2], "gap: train acc - test acc")
    legend(axes[0], fontsize="small")
    legend(axes[2], fontsize="small")
    return save(fig, result, path)


EXPERIMENT = Experiment(
    name="epochs",
    title="Exercise 2: many more epochs, with and without dropout",
    question="Increase the number of epochs and compare the results obtained when "
    "using dropout with those when not using it.",
    configs=(NONE, DROPOUT),
    columns=(*STANDARD, Column("test_loss", "test loss"),
             Column("best_test_acc", "best test acc"), Column("best_epoch", "best epoch", 1)),
    baseline="none",
    compare=(*COMPARE, "test_loss"),
    analyse=_analyse,
    epochs=30,
    plot=plot_epochs,
)
