"""Text reports of ``d2ldrop stats`` and ``d2ldrop compare`` (what the commands print)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from d2ldrop._text import table
from d2ldrop.backends.quirks import quirks_of
from d2ldrop.conformance.bounds import two_sided_alpha
from d2ldrop.conformance.checks import Check
from d2ldrop.conformance.edges import EDGE_CASES, SCRATCH_EXPECTED
from d2ldrop.conformance.gate import Comparison
from d2ldrop.conformance.stats import DropoutStats, H

ABOUT_CELLS = (
    "Cells of bounded statistics: |observed - expected| / bound on that side (holds when "
    "<= 1; '!' marks a failure). Exact checks: ok / FAIL; '-' not applicable."
)
COLUMN_HELP = (
    "drop: fraction dropped; mean: mean of the output vs the input's; var: variance vs "
    "h^2 p/(1-p); agree: two calls agree at p^2+(1-p)^2; rows/cols: per-row/column drop "
    "counts; lag1: lag-1 correlation of the mask; values: each element 0 or x/(1-p); grad: "
    "gradient mask/(1-p); seed=/seed!=: same seed same mask, new seed new mask; eval/train/"
    "lseed: the framework's Dropout layer (builtin only): identity in evaluation, drops at "
    "rate p in training, same seed same mask."
)
#: Order and short column names of the checks in tables.
CHECK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("fraction", "drop"),
    ("mean", "mean"),
    ("variance", "var"),
    ("agreement", "agree"),
    ("rows", "rows"),
    ("columns", "cols"),
    ("lag1", "lag1"),
    ("values", "values"),
    ("gradient", "grad"),
    ("seed_same", "seed="),
    ("seed_different", "seed!="),
    ("layer_eval", "eval"),
    ("layer_train", "train"),
    ("layer_seed", "lseed"),
)


def cell(check: Check) -> str:
    """One check as a table cell: the bound ratio, or ok / FAIL / -."""
    if check.passed is None:
        return "-"
    if check.kind == "bound" and check.ratio is not None:
        if not check.passed and not check.ratio > 1:
            return "FAIL"  # in bound but failed for another reason (dtype, values)
        mark = "" if check.passed else "!"
        return f"{check.ratio:.2f}{mark}" if check.ratio < 100 else f"{check.ratio:.0f}{mark}"
    return "ok" if check.passed else "FAIL"


def header_line(n: int, shape: Sequence[int], dtype: str, seed: int, z: float,
                checks: int) -> str:
    """The paragraph above the ``stats`` table: the draw and the false-alarm rates."""
    alpha = two_sided_alpha(z)
    dims = " x ".join(map(str, shape))
    # A structured dropout's n counts its units (one mask value each), not elements.
    what = "elements per draw" if math.prod(shape) == n else "units (mask values) per draw"
    return textwrap.fill(
        f"n = {n} {what} ({dims}), {dtype}, constant input "
        f"h = {H:g}, seed {seed}. Every bound is two-sided at z = {z:g}: false-alarm rate "
        f"{alpha:.2g} per check; {checks} bounded checks here, family-wise <= "
        f"{min(1.0, checks * alpha):.2g} (Bonferroni).",
        width=100,
    )


def bounds_table(results: Sequence[DropoutStats]) -> str:
    """The accepted interval of each bounded statistic for each p (backend-independent)."""
    rows, seen = [], set()
    for r in results:
        if r.p in seen:
            continue
        seen.add(r.p)
        for c in r.checks.values():
            if c.kind != "bound" or c.name == "layer_train":
                continue
            rows.append([f"{r.p:g}", c.title, f"{c.expected:.6g}",
                         f"[{c.low:.6g}, {c.high:.6g}]", c.bound])
    return table(["p", "statistic", "expected", "accepted", "bound"], rows)


def render_stats(results: Sequence[DropoutStats], notes: Sequence[str] = ()) -> str:
    """The ``d2ldrop stats`` report: one row per backend x impl x p, then the bounds.

    ``notes`` (``- ...`` lines) explain failures beyond the builtins' documented ones.
    """
    first = results[0]
    checks = sum(c.kind == "bound" for r in results for c in r.checks.values())
    head = ["backend", "impl", "p"] + [short for _, short in CHECK_COLUMNS]
    head += ["result"]
    rows = []
    for r in results:
        row = [r.backend, r.impl, f"{r.p:g}"]
        row += [cell(r.checks[name]) for name, _ in CHECK_COLUMNS]
        row += ["PASS" if r.passed else "FAIL: " + ", ".join(r.failures)]
        rows.append(row)
    notes = list(notes)
    for r in results:
        if r.impl != "builtin":
            continue
        documented = quirks_of(r.backend).stat_differences.get(r.dtype, {})
        for name in r.failures:
            if name in documented:
                why = f"- {r.backend} builtin {r.dtype}, {name}: {documented[name]}"
                if why not in notes:
                    notes.append(why)
    parts = [
        header_line(first.n, first.shape, first.dtype, first.seed, first.z, checks),
        "",
        table(head, rows),
        "",
        textwrap.fill(ABOUT_CELLS, width=100),
        textwrap.fill(COLUMN_HELP, width=100),
        "",
        f"Bounds (the same for every backend and implementation; n = {first.n}):",
        bounds_table(results),
    ]
    if notes:
        parts += ["", "Documented framework differences behind failures above "
                  "(docs/conformance.md):"]
        parts += [textwrap.fill(n, width=100, subsequent_indent="  ") for n in notes]
    return "\n".join(parts)


def _wrap(text: str, width: int = 100) -> str:
    return textwrap.fill(text, width=width)


def label_cell(label: str) -> str:
    """An edge-case label as a table cell."""
    # Per-class labels ("x: ...; nan: ...") get one line per class.
    return label.replace("; ", "\n")


def _statistics_table(result: Comparison) -> str:
    """One row per impl x dtype x statistic, one column per backend (a cell per p);
    a further dtype's rows are labelled "<impl> <dtype>", n/a where a backend lacks it."""
    rows = []
    dtypes = [result.dtype, *result.also]
    for impl in result.impls:
        for dtype, name in ((d, n) for d in dtypes for n, _ in CHECK_COLUMNS):
            row: list[str] = [impl if dtype == result.dtype else f"{impl} {dtype}", name]
            for b in result.backends:
                mine = [s for s in result.stats
                        if s.backend == b and s.impl == impl and s.dtype == dtype]
                if not mine and b in result.not_applicable.get(dtype, {}):
                    row.append("n/a")
                    continue
                cells = [cell(s.checks[name]) for s in mine]
                row[1] = mine[0].checks[name].title if mine else row[1]
                row.append(" ".join(c.ljust(4) for c in cells).rstrip())
            if all(c in ("-", "n/a") for c in " ".join(row[2:]).split()):
                continue  # not applicable to this implementation anywhere
            rows.append(row)
    return table(["impl", "statistic", *result.backends], rows)


class Notes:
    """Error messages, numbered in order of first use: ``[1]``, ``[2]``, ..."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def mark(self, text: str) -> str:
        if text not in self.numbers:
            self.numbers[text] = len(self.numbers) + 1
        return f"[{self.numbers[text]}]"


def _edge_table(result: Comparison, impl: str, notes: Notes) -> str:
    """One row per edge case, one column per backend; scratch adds the spec and a verdict."""
    mine = [e for e in result.edges if e.impl == impl]
    rows = []
    for case in EDGE_CASES:
        row = [case.title]
        if impl == "scratch":
            row.append(label_cell(SCRATCH_EXPECTED[case.id]))
        for b in result.backends:
            e = next((e for e in mine if e.backend == b and e.case == case.id), None)
            if e is None:
                row.append("")
                continue
            first, *rest = label_cell(e.label).split("\n")
            if e.kind == "n/a":  # the framework has no tensors of the case's dtype
                row.append(f"{first} {notes.mark(f'{b}: {e.detail}')}")
                continue
            if e.message:
                first += " " + notes.mark(f"{b}: {e.message}" if impl == "builtin"
                                          else e.message)
            if impl == "builtin" and e.label != SCRATCH_EXPECTED[case.id]:
                first += " *" if e.as_expected else " ?"
            elif impl == "scratch" and not e.as_expected:
                first += " !"
            row.append("\n".join([first, *rest]))
        if impl == "scratch":
            row.append("DIFFER" if case.id in result.scratch_disagreements else "same")
        rows.append(row)
    head = ["case", *(["specified"] if impl == "scratch" else []), *result.backends]
    if impl == "scratch":
        head.append("backends")
    return table(head, rows)


def _edge_sections(result: Comparison) -> list[str]:
    """The edge-case tables of each implementation, then the numbered error messages."""
    parts: list[str] = []
    notes = Notes()
    for impl in result.impls:
        if not any(e.impl == impl for e in result.edges):
            continue
        if impl == "scratch":
            parts += ["", "Edge cases, scratch: the chapter's dropout_layer (must be the same "
                      "on every backend, as specified)."]
        else:
            parts += ["", _wrap(
                "Edge cases, builtin: each framework's own dropout, called directly (no "
                "d2ldrop validation). '*' marks a difference from dropout_layer, documented "
                "in docs/conformance.md; '?' an undocumented one.")]
        parts.append(_edge_table(result, impl, notes))
    if notes.numbers:
        parts += ["", "Error messages:"]
        parts += [f"[{i}] {text}" for text, i in notes.numbers.items()]
    return parts


def _differences(result: Comparison) -> list[str]:
    """The documented builtin differences in words, and any undocumented ones."""
    parts: list[str] = []
    documented = [
        (b, case, quirks_of(b).builtin_differences[case][1])
        for b, case in (d.split(":", 1) for d in result.documented_differences)
    ]
    if documented:
        parts += ["", "Why the builtins differ (see docs/conformance.md):"]
        for b, case, why in documented:
            parts.append(textwrap.fill(f"- {b}, {case}: {why}", width=100,
                                       subsequent_indent="  "))
    if result.undocumented_differences:
        parts += ["", _wrap(
            "Undocumented builtin behaviour (a framework changed? update its quirks in "
            "d2ldrop/backends/<name>/quirks.py and docs/conformance.md): "
            + ", ".join(result.undocumented_differences))]
    return parts


def _na_note(result: Comparison) -> str:
    """" (bfloat16 n/a on mxnet)": the dtypes some backends of the run do not have."""
    lacking: dict[str, set[str]] = {}
    for d, why in result.not_applicable.items():
        lacking.setdefault(d, set()).update(why)
    for e in result.edges:
        if e.kind == "n/a":
            lacking.setdefault(e.dtype_in, set()).add(e.backend)
    if not lacking:
        return ""
    return " (" + "; ".join(f"{d} n/a on {', '.join(b for b in result.backends if b in names)}"
                            for d, names in lacking.items()) + ")"


def _verdict(result: Comparison) -> list[str]:
    checks = result.bounded_checks
    exact = sum(c.kind == "exact" for s in result.stats for c in s.checks.values())
    if result.passed:
        # A pass may include builtin statistics documented to fail in this dtype.
        shown = [(s, name) for s in result.stats for name in s.failures]
        held = f"all {checks} bounded and {exact} exact checks hold" + (
            f", except {len(shown)} documented builtin statistic(s) (above)," if shown else "")
        lines = []
        if shown:
            lines += ["Builtin statistics documented to fail (docs/conformance.md), one line "
                      "per backend x dtype x statistic, at the p values given:"]
        # One line per backend x dtype x statistic, with the p values it failed at.
        at: dict[tuple[str, str, str], list[str]] = {}
        for s, name in shown:
            at.setdefault((s.backend, s.dtype, name), []).append(f"{s.p:g}")
        for (backend, dtype, name), ps in at.items():
            why = quirks_of(backend).stat_differences.get(dtype, {}).get(name, "")
            lines.append(textwrap.fill(f"- {backend} builtin {dtype} p={','.join(ps)}, {name}: "
                                       f"{why}", width=100, subsequent_indent="  "))
        # The verdict last: CI shows the report's tail.
        lines += ([""] if shown else []) + [_wrap(
            f"PASS: {held} on "
            f"{', '.join(result.backends)}; dropout_layer behaves the same on every backend "
            f"in all {len(EDGE_CASES)} edge cases{_na_note(result)}; "
            f"{len(result.documented_differences)} documented builtin differences."
        )]
        return lines
    return [f"FAIL: {len(result.failures)} problem(s):"] + [
        textwrap.fill(f"- {f}", width=100, subsequent_indent="  ") for f in result.failures
    ]


def render_comparison(result: Comparison) -> str:
    """The ``d2ldrop compare`` report: statistics and edge cases side by side, the verdict."""
    ps = " ".join(f"{p:g}" for p in result.ps)
    checks = result.bounded_checks
    parts = [
        f"d2ldrop compare: {', '.join(result.backends) or 'no backend'}; "
        f"{', '.join(result.impls)}; p = {ps}; n = {result.size} per draw, seed {result.seed}.",
        f"Bounds are two-sided at z = {result.z:g}: false-alarm rate {result.alpha:.2g} per "
        f"check; {checks} bounded checks, family-wise <= {min(1.0, checks * result.alpha):.2g}.",
    ]
    for d, d_ps in result.also.items():
        parts.append(f"Also in {d} (rows '<impl> {d}'): p = {' '.join(f'{p:g}' for p in d_ps)}"
                     + "".join(f"; n/a on {b}: {why}"
                               for b, why in result.not_applicable.get(d, {}).items()))
    if result.stats:
        parts += ["", f"Statistics: |observed - expected| / bound for p = {ps} "
                  "(holds when <= 1, '!' fails); exact checks ok / FAIL; '-' n/a.",
                  _statistics_table(result)]
    parts += _edge_sections(result)
    parts += _differences(result)
    parts += ["", *_verdict(result)]
    return "\n".join(parts)
