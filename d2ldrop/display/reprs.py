"""Results as HTML tables: what their ``_repr_html_`` shows in a notebook.

Each function reads a result's public fields only, and imports none of the
result types at run time (they are named for type checkers only): the results'
modules call these functions, so this module must not depend on them.
Lockstep results are rendered by :mod:`d2ldrop.lockstep.report`, beside their
text table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from d2ldrop.display.html import Cell, block, bullets, paragraph, table

if TYPE_CHECKING:
    from d2ldrop.conformance import Check, Comparison, DropoutStats
    from d2ldrop.experiments import ExperimentResult, Summary
    from d2ldrop.history import History


def _num(x: float | None, spec: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


# -- training -----------------------------------------------------------------------------


def history_html(history: History) -> str:
    """One row per epoch: the book's three metrics and the seconds of each epoch."""
    config = ", ".join(f"{k} {v}" for k, v in history.config.items() if v is not None)
    rows = [(r.epoch, f"{r.train_loss:.4f}", f"{r.train_acc:.4f}", f"{r.test_acc:.4f}",
             f"{r.train_seconds:.2f}", f"{r.eval_seconds:.2f}") for r in history.epochs]
    status = []
    if history.error:
        status.append(paragraph(history.error, failed=True))
    elif history.interrupted:
        status.append(paragraph(f"interrupted after {len(history.epochs)} epoch(s)"))
    return block(
        table(("epoch", "train loss", "train acc", "test acc", "train s", "eval s"), rows,
              caption=f"History: {history.backend}/{history.model}"),
        paragraph(config) if config else "",
        *status,
    )


# -- conformance --------------------------------------------------------------------------


def check_cell(check: Check) -> Cell:
    """A check as a cell: the bound ratio (<= 1 holds) or ok / FAIL / -, with a tooltip."""
    tip = f"{check.title}: {check.bound}" if check.bound else check.title
    if check.kind == "bound" and check.value is not None:
        tip += (f"\nobserved {check.value:.6g}, expected {check.expected:.6g}, "
                f"accepted [{check.low:.6g}, {check.high:.6g}]")
    if check.detail:
        tip += f"\n{check.detail}"
    if check.passed is None:
        return Cell("-", tip)
    if check.kind == "bound" and check.ratio is not None and (check.passed or check.ratio > 1):
        return Cell(f"{check.ratio:.2f}" if check.ratio < 100 else f"{check.ratio:.0f}", tip,
                    failed=not check.passed)
    return Cell("ok" if check.passed else "FAIL", tip, failed=not check.passed)


def stats_html(stats: DropoutStats) -> str:
    """One row per statistic of one backend x implementation x p."""
    rows = []
    for c in stats.checks.values():
        accepted = (f"[{c.low:.6g}, {c.high:.6g}]" if c.kind == "bound" and c.low is not None
                    else "")
        rows.append((c.title, c.kind, _num(c.value, ".6g"), _num(c.expected, ".6g"), accepted,
                     check_cell(c), c.bound or c.detail))
    verdict = ("PASS" if stats.passed else "FAIL: " + ", ".join(stats.failures))
    return block(
        table(("statistic", "kind", "observed", "expected", "accepted", "ratio / result",
               "bound"), rows,
              caption=f"Dropout statistics: {stats.backend} {stats.impl}, p = {stats.p:g}, "
                      f"{stats.dtype}, n = {stats.n}, seed {stats.seed}, z = {stats.z:g}"),
        paragraph("Ratio: |observed - expected| / the bound on that side; a statistic "
                  "holds when it is at most 1."),
        paragraph(verdict, failed=not stats.passed),
    )


def comparison_html(result: Comparison) -> str:
    """The verdict, the statistics (one row per impl x statistic, a cell per p), the
    edge cases (a column per backend x impl) and the failures."""
    ps = " ".join(f"{p:g}" for p in result.ps)
    stat_rows = []
    names = list(dict.fromkeys(n for s in result.stats for n in s.checks))
    for impl in result.impls:
        for name in names:
            cells = []
            title = name
            for b in result.backends:
                mine = [s.checks[name] for s in result.stats
                        if s.backend == b and s.impl == impl and name in s.checks]
                title = mine[0].title if mine else title
                parts = [check_cell(c) for c in mine]
                cells.append(Cell(" ".join(str(p.text) for p in parts),
                                  "\n\n".join(f"p = {p:g}: {c.title}" for p, c in zip(
                                      result.ps, parts)),
                                  failed=any(p.failed for p in parts)))
            if all(set(str(c.text).split()) <= {"-"} for c in cells):
                continue  # not applicable to this implementation anywhere
            stat_rows.append((impl, title, *cells))
    edge_head = ["case", *(f"{b} {i}" for i in result.impls for b in result.backends)]
    edge_rows = []
    for case in dict.fromkeys(e.case for e in result.edges):
        outcomes = {(e.backend, e.impl): e for e in result.edges if e.case == case}
        first = next(iter(outcomes.values()))
        row: list[Any] = [first.title]
        for impl in result.impls:
            for b in result.backends:
                e = outcomes.get((b, impl))
                if e is None:
                    row.append("")
                    continue
                text = e.label.replace("; ", "\n") + (f"\n{e.message}" if e.message else "")
                row.append(Cell(text, f"expected: {e.expected}" if e.expected else "",
                                failed=impl == "scratch" and not e.as_expected))
        edge_rows.append(row)
    passed = result.passed
    verdict = (f"PASS: all {result.bounded_checks} bounded checks hold on "
               f"{', '.join(result.backends)}" if passed else
               f"FAIL: {len(result.failures)} failure(s)")
    return block(
        paragraph(f"Dropout conformance of {', '.join(result.backends) or 'no backend'}: "
                  f"{', '.join(result.impls)} at p = {ps}, {result.size} elements per draw, "
                  f"seed {result.seed}, z = {result.z:g} (false-alarm rate "
                  f"{result.alpha:.2g} per check)."),
        paragraph(verdict, failed=not passed),
        bullets(result.failures),
        table(("impl", "statistic", *result.backends), stat_rows,
              caption=f"Statistics (a cell per p: {ps}; the bound ratio, <= 1 holds)"),
        table(edge_head, edge_rows, caption="Edge cases (scratch must match the "
              "specification on every backend; builtin differences are reported, not gated)")
        if edge_rows else "",
        paragraph("documented builtin differences: "
                  + ", ".join(result.documented_differences))
        if result.documented_differences else "",
        bullets(f"skipped {name}: {why}" for name, why in result.skipped.items()),
    )


# -- experiments --------------------------------------------------------------------------


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


def experiment_figure(result: ExperimentResult) -> Any:
    """The experiment's own figure (the PNG it wrote), for inline display; None if
    it has not been written."""
    from d2ldrop.display.figure import PNGFile

    for path in result.paths:
        if str(path).endswith(".png"):
            return PNGFile(path)
    return None
