"""Text reports of ``d2ldrop compare --target`` and ``d2ldrop stats --target``."""

from __future__ import annotations

import textwrap

from d2ldrop._text import table
from d2ldrop.conformance.edges import SCRATCH_EXPECTED, TARGET_EDGE_CASES, EdgeOutcome
from d2ldrop.conformance.report import Notes, cell, label_cell, render_stats
from d2ldrop.conformance.spec import specified
from d2ldrop.conformance.stats import DropoutStats
from d2ldrop.conformance.suite import STRUCTURE_CHECK, TARGET_CHECKS
from d2ldrop.conformance.target import Target
from d2ldrop.conformance.target_gate import TargetComparison, TargetStatsRun


def _wrap(text: str, indent: str = "") -> str:
    # Whole words only: "x/(1-p)" and "edge[p=1-1e-4,f16]" stay on one line.
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False)


def capabilities_line(target: Target) -> str:
    """What the target declares, in one sentence."""
    return _wrap(
        f"Target {target.title} on {target.backend}: dtypes {', '.join(target.dtypes)}; "
        f"gradient: {target.gradient_text()}; seeding: {target.seed_text()}; p in "
        f"{target.p_range}; layer: {'declared' if target.layer else 'none'}; "
        f"{len(target.differences)} documented difference(s); convention: "
        f"{target.convention}"
        + (f"; one mask value shared along axes {target.broadcast_axes} of "
           f"{target.ndim}-d inputs." if target.structured else ".")
    )


def _columns(result: TargetComparison) -> list[tuple[str, list[DropoutStats | None]]]:
    """(heading, statistics per p) of the target, then of each built-in beside it."""
    by_p = {s.p: s for s in result.stats}
    cols: list[tuple[str, list[DropoutStats | None]]] = [
        ("target", [by_p.get(p) for p in result.ps])
    ]
    beside = result.beside
    if beside is not None:
        for b in beside.backends:
            for impl in beside.impls:
                mine = {s.p: s for s in beside.stats if s.backend == b and s.impl == impl}
                cols.append((f"{b} {impl}", [mine.get(p) for p in result.ps]))
    return cols


def _statistics_table(result: TargetComparison) -> str:
    """One row per statistic; the target's column first (a cell per p)."""
    cols = _columns(result)
    rows = []
    for name in (*TARGET_CHECKS, STRUCTURE_CHECK):
        title = next((s.checks[name].title for _, col in cols for s in col
                      if s is not None and name in s.checks), name)
        row = [title]
        for _, col in cols:
            cells = ["ERR" if s is None else cell(s.checks[name]) if name in s.checks else "-"
                     for s in col]
            row.append(" ".join(c.ljust(4) for c in cells).rstrip())
        if all(c == "-" for c in " ".join(row[1:]).split()):
            continue  # applies to nothing shown
        rows.append(row)
    return table(["statistic", *(h for h, _ in cols)], rows)


def _mark(e: EdgeOutcome, notes: Notes, who: str) -> str:
    first, *rest = label_cell(e.label).split("\n")
    if e.message:
        first += " " + notes.mark(f"{who}: {e.message}")
    if e.impl == "builtin" and e.label != SCRATCH_EXPECTED[e.case]:
        first += " *" if e.as_expected else " ?"
    elif e.impl != "builtin" and not e.as_expected:
        first += " !"
    return "\n".join([first, *rest])


def _edge_table(result: TargetComparison, notes: Notes) -> str:
    """One row per edge case: the specification, the target, the built-ins, a verdict."""
    beside = result.beside
    pairs = [(b, i) for b in beside.backends for i in beside.impls] if beside else []
    known = [*(beside.edges if beside else []), *result.beside_edges]
    rows = []
    for case in TARGET_EDGE_CASES:
        spec = specified(result.target, case)
        mine = next(e for e in result.edges if e.case == case.id)
        if mine.kind == "n/a":
            row = [case.title, "n/a", "-"]
        else:
            documented = " *" if spec.documented and mine.as_expected else ""
            row = [case.title, "\nor\n".join(label_cell(x) for x in spec.labels),
                   _mark(mine, notes, "target") + documented]
        for b, impl in pairs:
            e = next((e for e in known if e.backend == b and e.impl == impl
                      and e.case == case.id), None)
            row.append("" if e is None else _mark(e, notes, b))
        row.append("n/a" if mine.kind == "n/a" else "ok" if mine.as_expected else "DIFFERS")
        rows.append(row)
    heads = ["case", "specified", "target", *(f"{b} {i}" for b, i in pairs), "target is"]
    return table(heads, rows)


def _verdict(result: TargetComparison) -> list[str]:
    if not result.passed:
        return [f"FAIL: {len(result.failures)} problem(s):"] + [
            _wrap(f"- {f}", "  ") for f in result.failures
        ]
    checks = [c for s in result.stats for c in s.checks.values()]
    bounded = sum(c.kind == "bound" for c in checks)
    exact = sum(c.kind == "exact" for c in checks)
    ran = [e for e in result.edges if e.kind != "n/a"]
    documented = sum(bool(specified(result.target, c).documented)
                     for c in TARGET_EDGE_CASES if c.id in {e.case for e in ran})
    beside = ", ".join(result.beside.backends) if result.beside else "nothing"
    return [_wrap(
        f"PASS: target {result.target.title}: all {bounded} bounded and {exact} exact checks "
        f"hold; as specified in all {len(ran)} edge cases run "
        f"({len(result.edges) - len(ran)} not applicable, {documented} documented "
        f"differences); beside it: {beside}."
    )]


def render_target_comparison(result: TargetComparison) -> str:
    """The ``d2ldrop compare --target`` report."""
    ps = " ".join(f"{p:g}" for p in result.ps)
    beside = result.beside
    what = (f"{', '.join(beside.impls)} on {', '.join(beside.backends) or 'no backend'}"
            if beside else "nothing")
    checks = result.bounded_checks
    parts = [
        _wrap(f"d2ldrop compare --target {result.target.title}; beside it: {what}; "
              f"p = {ps}; n = {result.size} per draw, seed {result.seed}."),
        capabilities_line(result.target),
        _wrap(f"Bounds are two-sided at z = {result.z:g}: false-alarm rate {result.alpha:.2g} "
              f"per check; {checks} bounded checks, family-wise <= "
              f"{min(1.0, checks * result.alpha):.2g}."),
        "",
        f"Statistics: |observed - expected| / bound for p = {ps} (holds when <= 1, '!' "
        "fails); exact checks ok / FAIL; '-' n/a; ERR: the target raised.",
        _statistics_table(result),
        "",
        _wrap("Edge cases: the target against the specification (docs/conformance.md), "
              "beside the built-ins. '!' marks a target outcome that is not the specified "
              "one; '*' a documented difference, '?' an undocumented one."),
    ]
    notes = Notes()
    parts.append(_edge_table(result, notes))
    if notes.numbers:
        parts += ["", "Error messages:"] + [f"[{i}] {t}" for t, i in notes.numbers.items()]
    if result.target.differences:
        parts += ["", "Differences the target documents:"]
        parts += [_wrap(f"- {case}: {why}", "  ")
                  for case, (_, why) in result.target.differences.items()]
    return "\n".join([*parts, "", *_verdict(result)])


def render_target_stats(run: TargetStatsRun) -> str:
    """The ``d2ldrop stats --target`` report: the target's rows (impl "target") first."""
    beside = run.beside.results if run.beside else []
    notes = []
    for r in run.results:
        documented = run.target.stat_differences.get(r.dtype, {})
        notes += [f"- target {r.dtype}, {name}: {documented[name]}"
                  for name in r.failures if name in documented]
    parts = [capabilities_line(run.target)]
    rows = [*run.results, *beside]
    if rows:
        parts.append(render_stats(rows, notes=list(dict.fromkeys(notes))))
    if run.failures:
        parts += ["", f"FAIL: {len(run.failures)} problem(s):"]
        parts += [_wrap(f"- {f}", "  ") for f in run.failures]
    return "\n".join(parts)
