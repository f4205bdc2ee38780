"""An experiment's runs and their aggregate: per-seed values, rows, analysis.

:class:`ExperimentResult` holds every finished run of an experiment, keyed by
(configuration, seed). :func:`aggregate` turns them into the table's rows (mean
and spread over the seeds, paired differences with the baseline) and asks the
experiment for its own analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop.display.figure import PNGFile
from d2ldrop.display.html import Cell, block, bullets, paragraph, table
from d2ldrop.errors import NotFoundError
from d2ldrop.experiments.inference import Summary, paired, summarize
from d2ldrop.experiments.spec import Config, Experiment, Row, RunResult, Settings

#: Epochs averaged by the "last epochs" metrics: at lr 0.5 the test accuracy of
#: single epochs swings by a point or more, which the average smooths.
LAST = 3


def as_float(x: Any) -> float:
    """``x`` as a float, NaN for a missing (None) value."""
    return math.nan if x is None else float(x)


@dataclass
class ExperimentResult:
    """Rows of the table, the runs behind them and the experiment's own analysis."""

    experiment: Experiment
    settings: Settings
    options: dict[str, Any]
    runs: dict[tuple[str, int], RunResult]  # (config key, seed) -> result
    rows: list[Row] = field(default_factory=list)
    analysis: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    ran: int = 0  # runs computed for this experiment by the call that made the result
    skipped: int = 0  # runs taken from the store, or computed for another experiment
    shared: int = 0  # of those skipped, computed by the same sweep for another experiment

    def runs_of(self, config: Config) -> list[RunResult]:
        """The finished runs of ``config``, in seed order."""
        return [self.runs[(config.key, s)] for s in self.settings.seeds
                if (config.key, s) in self.runs]

    def metric(self, config: Config, key: str) -> list[float]:
        """Per-seed values of a metric (NaN for a run without it)."""
        return [as_float(r.get("metrics", {}).get(key)) for r in self.runs_of(config)]

    def curves(self, config: Config, key: str) -> np.ndarray:
        """(seeds, points) array of a per-epoch curve (NaN-padded)."""
        rows = [r.get("curves", {}).get(key) or [] for r in self.runs_of(config)]
        width = max((len(r) for r in rows), default=0)
        out = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r)] = [as_float(v) for v in r]
        return out

    def row(self, label: str) -> Row:
        for r in self.rows:
            if r.config.label == label:
                return r
        raise NotFoundError(label)

    def _repr_html_(self) -> str:  # the notebook's table
        return experiment_html(self)

    def figure(self) -> PNGFile | None:
        """The figure written to ``<out>/<name>.png``, shown inline (None before it is)."""
        for path in self.paths:
            if str(path).endswith(".png"):
                return PNGFile(path)
        return None


def with_derived(run: RunResult) -> RunResult:
    """Add metrics computed from the saved curves (so older run files get them too)."""
    curves, metrics = run.get("curves") or {}, run.setdefault("metrics", {})
    for key in ("test_acc", "gap"):
        values = [as_float(v) for v in (curves.get(key) or [])[-LAST:]]
        ok = values and not run.get("error")  # a diverged run has no final epochs
        metrics[f"{key}_last{LAST}"] = float(np.mean(values)) if ok else math.nan
    return run


def aggregate(result: ExperimentResult) -> None:
    """Fill the rows (means and paired differences) and the experiment's analysis."""
    exp = result.experiment
    keys = list(dict.fromkeys([c.key for c in exp.columns] + list(exp.compare)))
    base = exp.config(exp.baseline) if exp.baseline else None
    result.rows = []
    for config in exp.configs:
        metrics = {k: summarize(result.metric(config, k)) for k in keys}
        diffs = {}
        if base is not None and config != base:
            diffs = {k: paired(result.metric(config, k), result.metric(base, k))
                     for k in exp.compare}
        errors = [r["error"] for r in result.runs_of(config) if r.get("error")]
        result.rows.append(Row(config, metrics, diffs, errors))
    if exp.analyse is not None:
        result.analysis, result.notes = exp.analyse(result)


# -- the notebook's table --------------------------------------------------------------


def _summary(s: Summary, digits: int, signed: bool = False) -> Cell:
    """'mean ± sd' (differences: 'mean [low, high]', the 95% t-interval), a tooltip with n."""
    if s.n == 0:
        return Cell("-")
    sign = "+" if signed else ""
    text = f"{s.mean:{sign}.{digits}f}"
    if s.n >= 2:
        text += (f" [{s.low:+.{digits}f}, {s.high:+.{digits}f}]" if signed
                 else f" ± {s.sd:.{digits}f}")
    return Cell(text, f"n = {s.n}" + (" (no interval with one seed)" if s.n == 1 else ""))


def experiment_html(result: ExperimentResult) -> str:
    """Mean ± sd over the seeds of each column, and paired differences with the
    baseline (mean and 95% t-interval), then the experiment's notes."""
    exp, s = result.experiment, result.settings
    head = ["config", "n", *(c.label for c in exp.columns)]
    labels = {c.key: c.label for c in exp.columns}
    if exp.baseline:
        head += [f"Δ {labels.get(k, k)} vs {exp.baseline} [95% CI]" for k in exp.compare]
    digits = {c.key: c.digits for c in exp.columns}
    rows = []
    for row in result.rows:
        cells: list[Any] = [row.config.label,
                            Cell(f"{row.n}" + (f" (+{len(row.errors)} diverged)"
                                               if row.errors else ""), failed=bool(row.errors))]
        cells += [_summary(row.metrics[c.key], c.digits) for c in exp.columns]
        if exp.baseline:
            cells += [_summary(row.vs_baseline[k], digits.get(k, 4), signed=True)
                      if k in row.vs_baseline else "(baseline)" for k in exp.compare]
        rows.append(cells)
    data = "full Fashion-MNIST" if s.train_size is None else (
        f"{s.train_size} training / {s.test_size} test images")
    errors = [f"{r.config.label}: {e}" for r in result.rows for e in dict.fromkeys(r.errors)]
    return block(
        table(head, rows, caption=exp.title),
        paragraph(f"{s.backend}, {s.model} MLP, {s.epochs} epochs, {len(s.seeds)} seed(s), "
                  f"{data}, lr {s.lr}, batch {s.batch_size}. Mean ± sd over seeds; Δ: paired "
                  "difference per seed, mean [95% t-interval]."),
        bullets(errors),
        bullets(result.notes),
    )
