"""An experiment's table as text, Markdown, CSV and JSON, its files, and its report.

Every form shows the same rows: mean ± sd over the seeds of each column, and
(when the experiment has a baseline) the paired difference with the baseline
and its 95% t-interval.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from d2ldrop._io import json_safe, write_atomic, write_json
from d2ldrop._text import align
from d2ldrop.experiments.inference import Summary
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.spec import Experiment


def fmt_summary(s: Summary, digits: int = 4, signed: bool = False) -> str:
    """'mean ± sd' ('-' when unknown); ``signed`` for differences: 'mean [low, high]'
    (the mean alone where one seed gives no interval)."""
    if s.n == 0:
        return "-"
    if signed:
        if s.n < 2:
            return f"{s.mean:+.{digits}f}"
        return f"{s.mean:+.{digits}f} [{s.low:+.{digits}f}, {s.high:+.{digits}f}]"
    if s.n < 2:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {s.sd:.{digits}f}"


def _column_label(exp: Experiment, key: str) -> str:
    for c in exp.columns:
        if c.key == key:
            return c.label
    return key


def table_cells(result: ExperimentResult) -> list[list[str]]:
    """Header and rows: mean ± sd over seeds, paired differences with their 95% CI."""
    exp = result.experiment
    head = ["config", "n", *(c.label for c in exp.columns)]
    if exp.baseline:
        head += [f"Δ {_column_label(exp, k)} vs {exp.baseline} [95% CI]" for k in exp.compare]
    lines = [head]
    digits = {c.key: c.digits for c in exp.columns}
    for row in result.rows:
        failed = f" (+{len(row.errors)} diverged)" if row.errors else ""
        cells = [row.config.label, f"{row.n}{failed}"]
        cells += [fmt_summary(row.metrics[c.key], c.digits) for c in exp.columns]
        if exp.baseline:
            cells += [_difference_cell(row.vs_baseline[k], digits.get(k, 4))
                      if k in row.vs_baseline else "(baseline)" for k in exp.compare]
        lines.append(cells)
    return lines


def _difference_cell(s: Summary, digits: int) -> str:
    """A paired difference; with one seed the cell says that no interval exists."""
    text = fmt_summary(s, digits, signed=True)
    return f"{text} (n=1: no interval)" if s.n == 1 else text


def text_table(result: ExperimentResult) -> str:
    """The table as aligned text, then any run's error."""
    text = [align(table_cells(result))]
    for row in result.rows:
        for err in dict.fromkeys(row.errors):
            text.append(f"{row.config.label}: {err}")
    return "\n".join(text)


def markdown_table(result: ExperimentResult) -> str:
    """The table in Markdown (for results pages)."""
    lines = table_cells(result)
    rows = ["| " + " | ".join(line) + " |" for line in lines]
    rows.insert(1, "|" + "|".join("---" for _ in lines[0]) + "|")
    return "\n".join(rows)


def _number(x: float) -> str:
    """A CSV cell: the float's full repr, empty when unknown."""
    return repr(float(x)) if math.isfinite(x) else ""


def csv_table(result: ExperimentResult) -> str:
    """One row per configuration: its parameters, then mean, sd, 95% CI half-width, n."""
    exp = result.experiment
    compared = exp.compare if exp.baseline else ()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = ["experiment", "config", "dropout1", "dropout2", "noise", "weight_decay"]
    for c in exp.columns:
        head += [f"{c.key}_mean", f"{c.key}_sd", f"{c.key}_ci95", f"{c.key}_n"]
    for k in compared:
        head += [f"d_{k}_vs_baseline_mean", f"d_{k}_vs_baseline_ci95"]
    writer.writerow(head)
    for row in result.rows:
        cfg = row.config
        cells = [exp.name, cfg.label, cfg.dropout1, cfg.dropout2, cfg.noise, cfg.weight_decay]
        for col in exp.columns:
            s = row.metrics[col.key]
            cells += [_number(s.mean), _number(s.sd), _number(s.ci95), s.n]
        for k in compared:
            d = row.vs_baseline.get(k)
            cells += [_number(d.mean), _number(d.ci95)] if d else ["", ""]
        writer.writerow(cells)
    return out.getvalue()


def json_table(result: ExperimentResult) -> dict[str, Any]:
    """The table, settings, analysis and notes as a JSON-able dict (NaN as None)."""
    exp = result.experiment
    return json_safe({
        "experiment": exp.name,
        "title": exp.title,
        "question": exp.question,
        "settings": asdict(result.settings),
        "options": result.options,
        "baseline": exp.baseline,
        "columns": [asdict(c) for c in exp.columns],
        "rows": [{
            "config": row.config.to_dict(),
            "n": row.n,
            "metrics": {k: s.to_dict() for k, s in row.metrics.items()},
            "vs_baseline": {k: s.to_dict() for k, s in row.vs_baseline.items()},
            "errors": row.errors,
        } for row in result.rows],
        "analysis": result.analysis,
        "notes": result.notes,
    })


def write_outputs(result: ExperimentResult, out: Path) -> list[Path]:
    """``<name>.csv``, ``<name>.json`` and ``<name>.png`` in ``out`` (each atomically)."""
    name = result.experiment.name
    paths = [write_atomic(out / f"{name}.csv", csv_table(result)),
             write_json(out / f"{name}.json", json_table(result)),
             result.experiment.plot(result, out / f"{name}.png")]
    result.paths = paths
    return paths


def report(result: ExperimentResult) -> str:
    """The printed form: title, sizes, the table and the experiment's notes."""
    s = result.settings
    seeds = f"{len(s.seeds)} seed{'s' * (len(s.seeds) > 1)} ({s.seeds[0]}..{s.seeds[-1]})"
    data = "full Fashion-MNIST" if s.train_size is None else (
        f"{s.train_size} training / {s.test_size} test images")
    lines = [f"{result.experiment.title}",
             f"{s.backend}, {s.model} MLP, {s.epochs} epochs, {seeds}, {data}, lr {s.lr}, "
             f"batch {s.batch_size}. Mean ± sd over seeds; Δ: paired difference per seed, "
             "mean [95% t-interval].",
             "", text_table(result)]
    if result.notes:
        lines += ["", *result.notes]
    return "\n".join(lines)
