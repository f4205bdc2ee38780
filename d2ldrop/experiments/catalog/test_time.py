"""Exercise 4: dropout off at test time, against kept on."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.experiments.catalog.common import DROPOUT, TEST_ACC, TRAIN_EVAL, verdict
from d2ldrop.experiments.inference import paired
from d2ldrop.experiments.plots import band, figure, legend, save, style
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.runner import build_net, evaluate, train_and_evaluate
from d2ldrop.experiments.spec import Column, Config, Experiment, RunContext, RunResult
from d2ldrop.experiments.tables import fmt_summary


def _run(ctx: RunContext) -> RunResult:
    net = build_net(ctx)
    result = train_and_evaluate(ctx, net)
    if result.get("error"):
        return result
    # Dropout kept on at test time: every pass draws new masks; the mean over a
    # few passes of the accuracy (not of the predictions, that is mc-dropout).
    repeats = ctx.options["repeats"]
    m = result["metrics"]
    for split, (images, labels) in (("test", ctx.data.test), ("train_eval", ctx.data.eval_train)):
        accs, losses = zip(*(evaluate(net, images, labels, training=True)
                             for _ in range(repeats)))
        m[f"{split}_acc_on"] = float(np.mean(accs))
        m[f"{split}_loss_on"] = float(np.mean(losses))
        m[f"{split}_acc_on_mask_sd"] = float(np.std(accs, ddof=1)) if repeats > 1 else math.nan
    return result


def _analyse(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    analysis, notes = {}, []
    for row in result.rows:
        c = row.config
        off_on = paired(result.metric(c, "test_acc"), result.metric(c, "test_acc_on"))
        train = paired(result.metric(c, "train_eval_acc"), result.metric(c, "train_eval_acc_on"))
        loss = paired(result.metric(c, "test_loss_on"), result.metric(c, "test_loss"))
        analysis[c.label] = {"test_acc_off_minus_on": off_on.to_dict(),
                             "train_acc_off_minus_on": train.to_dict(),
                             "test_loss_on_minus_off": loss.to_dict()}
        notes.append(f"{c.label}: test acc off - on {fmt_summary(off_on, signed=True)} "
                     f"({verdict(off_on)}); test loss on - off "
                     f"{fmt_summary(loss, signed=True)}")
    return analysis, notes


def plot_test_time(result: ExperimentResult, path: Path) -> Path:
    """Accuracy with dropout off and on at evaluation, on test and training images."""
    fig = figure(2)
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
    legend(axes[0], fontsize="small", ncols=2)
    axes[0].set_title("accuracy, dropout off / on at evaluation (mean ± sd)", fontsize="medium")
    axes[0].grid(True, axis="y", alpha=0.3)
    for i, row in enumerate(result.rows):
        band(axes[1], result.curves(row.config, "test_acc"), f"{row.config.label}: test (off)",
             color=f"C{i}")
        band(axes[1], result.curves(row.config, "train_acc"),
             f"{row.config.label}: train, as the book measures it (on)", color=f"C{i}", ls=":")
    style(axes[1], "over training")
    legend(axes[1], fontsize="x-small")
    return save(fig, result, path)


EXPERIMENT = Experiment(
    name="test-time",
    title="Exercise 4: dropout off at test time, against kept on",
    question="Why is dropout not typically used at test time?",
    configs=(DROPOUT, Config("dropout 0.5/0.5", 0.5, 0.5)),
    columns=(TEST_ACC, Column("test_acc_on", "test acc (dropout on)"), TRAIN_EVAL,
             Column("train_eval_acc_on", "train acc (dropout on)"),
             Column("test_loss", "test loss"), Column("test_loss_on", "test loss (on)")),
    run=_run,
    analyse=_analyse,
    options={"repeats": 5},
    quick_options={"repeats": 2},
    plot=plot_test_time,
)
