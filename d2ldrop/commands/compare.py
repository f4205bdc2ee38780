"""``d2ldrop compare``: the backends side by side; a conformance gate for CI."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from d2ldrop.commands.stats import add_common_arguments, cell, check_arguments, format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    from d2ldrop.commands._args import add_backend_argument

    p = sub.add_parser(
        "compare",
        help="all backends side by side on the dropout statistics and edge cases "
        "(exits 1 unless they conform)",
        description="Run the statistics of `d2ldrop stats` and the edge cases on every "
        "backend and show them side by side. Exits 1 when a statistic falls outside its "
        "bound, the chapter's dropout_layer behaves differently on two backends (or not "
        "as specified) in an edge case, or a backend is not installed. Differences of the "
        "frameworks' own dropout are shown, never hidden, and do not fail the run.",
    )
    add_backend_argument(p)
    for action in p._actions:  # compare is about all backends: make that the default
        if action.dest == "backend":
            action.default = "all"
            action.help = action.help.split(" Default:")[0] + " Default: all."
    add_common_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from d2ldrop.commands._args import resolve_backends
    from d2ldrop.stats import compare

    problem = check_arguments(args)
    if problem:
        print(f"d2ldrop compare: error: {problem}", file=sys.stderr)
        return 2
    result = compare(
        resolve_backends(args.backend), args.impl, args.p,
        size=args.size, seed=args.seed, z=args.z,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result))
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    return 0 if result.passed else 1


# -- rendering ------------------------------------------------------------------------


def _wrap(text: str, width: int = 100) -> str:
    return textwrap.fill(text, width=width)


def _label_cell(label: str) -> str:
    # Per-class labels ("x: ...; nan: ...") get one line per class.
    return label.replace("; ", "\n")


def render(result) -> str:  # noqa: ANN001 - a d2ldrop.stats.Comparison
    from d2ldrop.stats import (
        BUILTIN_DIFFERENCES,
        CHECK_COLUMNS,
        EDGE_CASES,
        SCRATCH_EXPECTED,
    )

    parts: list[str] = []
    backends = result.backends
    ps = " ".join(f"{p:g}" for p in result.ps)
    checks = result.bounded_checks
    parts.append(
        f"d2ldrop compare: {', '.join(backends) or 'no backend'}; "
        f"{', '.join(result.impls)}; p = {ps}; n = {result.size} per draw, seed {result.seed}."
    )
    parts.append(
        f"Bounds are two-sided at z = {result.z:g}: false-alarm rate {result.alpha:.2g} per "
        f"check; {checks} bounded checks, family-wise <= {min(1.0, checks * result.alpha):.2g}."
    )

    # -- statistics, one row per impl x statistic, one column per backend ------------------
    if result.stats:
        parts += ["", f"Statistics: |observed - expected| / bound for p = {ps} "
                  "(holds when <= 1, '!' fails); exact checks ok / FAIL; '-' n/a."]
        rows = []
        for impl in result.impls:
            for name, _ in CHECK_COLUMNS:
                row = [impl, None]
                for b in backends:
                    mine = [s for s in result.stats if s.backend == b and s.impl == impl]
                    cells = [cell(s.checks[name]) for s in mine]
                    row[1] = mine[0].checks[name].title if mine else name
                    row.append(" ".join(c.ljust(4) for c in cells).rstrip())
                if all(c == "-" for c in " ".join(row[2:]).split()):
                    continue  # not applicable to this implementation anywhere
                rows.append(row)
        parts.append(format_table(["impl", "statistic", *backends], rows))

    # -- edge cases ---------------------------------------------------------------------
    notes: dict[str, int] = {}

    def note(text: str) -> str:
        if text not in notes:
            notes[text] = len(notes) + 1
        return f"[{notes[text]}]"

    for impl in result.impls:
        mine = [e for e in result.edges if e.impl == impl]
        if not mine:
            continue
        if impl == "scratch":
            parts += ["", "Edge cases, scratch: the chapter's dropout_layer (must be the same "
                      "on every backend, as specified)."]
        else:
            parts += ["", _wrap(
                "Edge cases, builtin: each framework's own dropout, called directly (no "
                "d2ldrop validation). '*' marks a difference from dropout_layer, documented "
                "in docs/conformance.md; '?' an undocumented one.")]
        rows = []
        for case in EDGE_CASES:
            row = [case.title]
            if impl == "scratch":
                row.append(_label_cell(SCRATCH_EXPECTED[case.id]))
            for b in backends:
                e = next((e for e in mine if e.backend == b and e.case == case.id), None)
                if e is None:
                    row.append("")
                    continue
                first, *rest = _label_cell(e.label).split("\n")
                if e.message:
                    first += " " + note(f"{b}: {e.message}" if impl == "builtin"
                                        else e.message)
                if impl == "builtin" and e.label != SCRATCH_EXPECTED[case.id]:
                    first += " *" if e.as_expected else " ?"
                elif impl == "scratch" and not e.as_expected:
                    first += " !"
                row.append("\n".join([first, *rest]))
            if impl == "scratch":
                row.append("DIFFER" if case.id in result.scratch_disagreements else "same")
            rows.append(row)
        head = ["case", *(["specified"] if impl == "scratch" else []), *backends]
        if impl == "scratch":
            head.append("backends")
        parts.append(format_table(head, rows))
    if notes:
        parts += ["", "Error messages:"]
        parts += [f"[{i}] {text}" for text, i in notes.items()]

    # -- framework differences, in words -------------------------------------------------
    documented = [
        (b, case, BUILTIN_DIFFERENCES[(b, case)][1])
        for b, case in (d.split(":", 1) for d in result.documented_differences)
    ]
    if documented:
        parts += ["", "Why the builtins differ (see docs/conformance.md):"]
        for b, case, why in documented:
            parts.append(textwrap.fill(f"- {b}, {case}: {why}", width=100,
                                       subsequent_indent="  "))
    if result.undocumented_differences:
        parts += ["", _wrap(
            "Undocumented builtin behaviour (a framework changed? update "
            "BUILTIN_DIFFERENCES and docs/conformance.md): "
            + ", ".join(result.undocumented_differences))]

    # -- verdict -------------------------------------------------------------------------
    exact = sum(c.kind == "exact" for s in result.stats for c in s.checks.values())
    parts.append("")
    if result.passed:
        parts.append(_wrap(
            f"PASS: all {checks} bounded and {exact} exact checks hold on "
            f"{', '.join(backends)}; dropout_layer behaves the same on every backend in all "
            f"{len(EDGE_CASES)} edge cases; {len(result.documented_differences)} documented "
            "builtin differences."
        ))
    else:
        parts.append(f"FAIL: {len(result.failures)} problem(s):")
        parts += [textwrap.fill(f"- {f}", width=100, subsequent_indent="  ")
                  for f in result.failures]
    return "\n".join(parts)
