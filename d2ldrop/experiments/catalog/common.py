"""Configurations, columns and wording that several experiments share."""

from __future__ import annotations

import math
from typing import Any

from d2ldrop.experiments.inference import Summary, paired
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.spec import Column, Config
from d2ldrop.experiments.tables import fmt_summary

# The chapter's dropout and the model without it.
NONE = Config("none")
DROPOUT = Config("dropout 0.2/0.5", 0.2, 0.5)

TEST_ACC = Column("test_acc", "test acc")
TRAIN_EVAL = Column("train_eval_acc", "train acc (dropout off)")
#: The final epoch's test accuracy swings by a point or more from epoch to epoch
#: at lr 0.5; the mean of the last three epochs is steadier.
LAST3 = Column("test_acc_last3", "test acc, last 3 epochs")
GAP = Column("gap", "gap")
STANDARD = (TRAIN_EVAL, TEST_ACC, LAST3, GAP)
COMPARE = ("test_acc", "test_acc_last3", "gap")


def p_text(x: float) -> str:
    """A p-value for text: '3.1e-05', or '< 1e-300' where double precision ends."""
    if not math.isfinite(x):
        return "n/a"
    return "< 1e-300" if x < 1e-300 else f"{x:.2g}"


def verdict(s: Summary) -> str:
    """Whether a paired difference's 95% interval excludes 0, in words."""
    if s.n == 0:
        return "no finished run: no interval"
    if s.n < 2:
        return "one seed: no interval"
    return "the 95% CI excludes 0" if s.excludes_zero else "within the spread (CI includes 0)"


def analyse_vs_none(result: ExperimentResult) -> tuple[dict[str, Any], list[str]]:
    """Each row's paired differences with the model without dropout (``NONE``)."""
    analysis, notes = {}, []
    for row in result.rows:
        if row.config == NONE:
            continue
        diffs = {k: paired(result.metric(row.config, k), result.metric(NONE, k)) for k in COMPARE}
        analysis[row.config.label] = {f"{k}_vs_none": d.to_dict() for k, d in diffs.items()}
        notes.append(f"{row.config.label} vs none: " + "; ".join(
            f"{k} {fmt_summary(d, signed=True)} ({verdict(d)})" for k, d in diffs.items()))
    return analysis, notes
