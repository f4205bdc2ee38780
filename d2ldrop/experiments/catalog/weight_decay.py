"""Exercise 5: dropout and weight decay, alone and together (are they additive?)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.experiments.catalog.common import COMPARE, DROPOUT, NONE, STANDARD, verdict
from d2ldrop.experiments.inference import Summary, paired, summarize
from d2ldrop.experiments.plots import figure, legend, save, style
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.spec import Config, Experiment
from d2ldrop.experiments.tables import fmt_summary

#: With lr 0.5 it shrinks every weight by 0.5 * 1e-4 per step, a factor e^-0.12
#: over ten epochs of 235 steps (before the gradient pulls back). A one-seed
#: pilot with 3e-4 and 1e-3 lost more test accuracy (about 2 points at 10
#: epochs, no dropout).
WEIGHT_DECAY = 1e-4
WD = Config(f"weight decay {WEIGHT_DECAY:g}", weight_decay=WEIGHT_DECAY)
BOTH = Config(f"dropout + weight decay {WEIGHT_DECAY:g}", 0.2, 0.5, weight_decay=WEIGHT_DECAY)


def _analyse(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    """Effects relative to neither, and the interaction both - dropout - wd + neither."""
    analysis, notes = {}, []
    for key in COMPARE:
        none, d, w, b = (np.array(result.metric(c, key)) for c in (NONE, DROPOUT, WD, BOTH))
        effects = {"dropout": paired(d, none), "weight decay": paired(w, none),
                   "both": paired(b, none), "sum of the two": summarize((d - none) + (w - none)),
                   "interaction": summarize(b - d - w + none)}
        analysis[key] = {k: s.to_dict() for k, s in effects.items()}
        inter = effects["interaction"]
        notes.append(f"{key}: effect vs neither: " + "; ".join(
            f"{k} {fmt_summary(s, signed=True)}" for k, s in effects.items() if k != "interaction"))
        notes.append(f"{key}: interaction (both - dropout - weight decay + neither) "
                     f"{fmt_summary(inter, signed=True)}: {additivity(inter)}")
    return analysis, notes


def additivity(interaction: Summary) -> str:
    """What the interaction's 95% interval says about additivity, in words.

    With fewer than 2 seeds there is no interval, and so no verdict.
    """
    if interaction.n < 2:
        return f"{verdict(interaction)}, additivity undecided (it needs 2 or more seeds)"
    if interaction.excludes_zero:
        return f"{verdict(interaction)}, not additive"
    return "additive within the spread"


def plot_interaction(result: ExperimentResult, path: Path) -> Path:
    """Interaction plot: weight decay off/on on the x axis, one line per dropout setting."""
    fig = figure(2)
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
        style(ax, f"{title} (mean ± sd)", xlabel="")
        legend(ax, fontsize="small")
    return save(fig, result, path, "parallel lines: the effects add up")


EXPERIMENT = Experiment(
    name="weight-decay",
    title="Exercise 5: dropout and weight decay, alone and together",
    question="Compare the effects of using dropout and weight decay. What happens when "
    "dropout and weight decay are used at the same time? Are the results additive?",
    configs=(NONE, DROPOUT, WD, BOTH),
    columns=STANDARD,
    baseline="none",
    compare=COMPARE,
    analyse=_analyse,
    plot=plot_interaction,
)
