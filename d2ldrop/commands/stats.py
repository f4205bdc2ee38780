"""``d2ldrop stats``: dropout statistics with their bounds, one row per backend x impl x p."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence

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


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``stats`` and ``compare``."""
    from d2ldrop.stats import DEFAULT_PS, DEFAULT_SIZE, IMPLS, Z

    p.add_argument(
        "--impl",
        type=_impl_list,
        default=list(IMPLS),
        metavar="LIST",
        help=f"comma-separated implementations among {', '.join(IMPLS)} "
        f"(default: {','.join(IMPLS)})",
    )
    p.add_argument(
        "--p",
        type=float,
        nargs="+",
        default=list(DEFAULT_PS),
        metavar="P",
        help=f"dropout probabilities, each in (0, 1) (default: {' '.join(map(str, DEFAULT_PS))})",
    )
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        metavar="N",
        help=f"elements per draw, as a near-square grid (default: {DEFAULT_SIZE})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every draw (default: 0)")
    p.add_argument(
        "--z",
        type=float,
        default=Z,
        help=f"standard deviations of every two-sided bound (default: {Z:g})",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _impl_list(value: str) -> list[str]:
    from d2ldrop.stats import IMPLS

    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in names if v not in IMPLS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(IMPLS)}; got {value!r}"
        )
    return list(dict.fromkeys(names))


def add_parser(sub: argparse._SubParsersAction) -> None:
    from d2ldrop.commands._args import add_backend_argument
    from d2ldrop.stats import STAT_DTYPES

    p = sub.add_parser(
        "stats",
        help="dropout statistics (fraction, mean, variance, independence, ...) with bounds",
        description="Run dropout on each backend and implementation and check each "
        "statistic against a bound derived from the binomial distribution or the CLT, "
        "at z standard deviations. Exits 1 if any statistic is out of its bound.",
    )
    add_backend_argument(p)
    add_common_arguments(p)
    p.add_argument(
        "--dtype", choices=STAT_DTYPES, default="float32", help="input dtype (default: float32)"
    )
    p.set_defaults(func=run)


def check_arguments(args: argparse.Namespace, dtype: str = "float32") -> str | None:
    """An error message if the numeric options cannot be used, else None."""
    from d2ldrop.stats import check_stats_args

    try:
        for pv in args.p:
            check_stats_args(pv, args.size, args.seed, dtype, args.z)
    except ValueError as err:
        return str(err)
    return None


def run(args: argparse.Namespace) -> int:
    from d2ldrop.commands._args import resolve_backends
    from d2ldrop.errors import BackendNotAvailableError
    from d2ldrop.stats import dropout_stats, two_sided_alpha

    problem = check_arguments(args, args.dtype)
    if problem:
        print(f"d2ldrop stats: error: {problem}", file=sys.stderr)
        return 2
    status = 0
    results = []
    skipped: dict[str, str] = {}
    for name in resolve_backends(args.backend):
        try:
            for impl in args.impl:
                for pv in args.p:
                    results.append(
                        dropout_stats(
                            name, impl, pv, size=args.size, seed=args.seed,
                            dtype=args.dtype, z=args.z,
                        )
                    )
        except BackendNotAvailableError as err:
            skipped[name] = str(err)
            print(f"skipped {name}: {err}", file=sys.stderr)
            status = 1
    if any(not r.passed for r in results):
        status = 1
    if args.json:
        doc = {
            "z": args.z,
            "alpha": two_sided_alpha(args.z),
            "passed": status == 0,
            "skipped": skipped,
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(doc, indent=2))
        return status
    if results:
        print(render(results))
    return status


# -- rendering ------------------------------------------------------------------------


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], gap: str = "  ") -> str:
    """A plain-text table; a cell may hold several lines separated by newlines."""
    split = [[str(c).split("\n") for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in split:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in cell))
    out = [gap.join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in split:
        height = max(len(cell) for cell in row)
        for k in range(height):
            parts = [(cell[k] if k < len(cell) else "").ljust(w) for cell, w in zip(row, widths)]
            out.append(gap.join(parts).rstrip())
    return "\n".join(out)


def cell(check) -> str:  # noqa: ANN001 - a d2ldrop.stats.Check
    """One check as a table cell: the bound ratio, or ok / FAIL / -."""
    if check.passed is None:
        return "-"
    if check.kind == "bound":
        if not check.passed and not check.ratio > 1:
            return "FAIL"  # in bound but failed for another reason (dtype, values)
        mark = "" if check.passed else "!"
        return f"{check.ratio:.2f}{mark}" if check.ratio < 100 else f"{check.ratio:.0f}{mark}"
    return "ok" if check.passed else "FAIL"


def header_line(n: int, shape: Sequence[int], dtype: str, seed: int, z: float,
                checks: int) -> str:
    from d2ldrop.stats import H, two_sided_alpha

    alpha = two_sided_alpha(z)
    return textwrap.fill(
        f"n = {n} elements per draw ({shape[0]} x {shape[1]}), {dtype}, constant input "
        f"h = {H:g}, seed {seed}. Every bound is two-sided at z = {z:g}: false-alarm rate "
        f"{alpha:.2g} per check; {checks} bounded checks here, family-wise <= "
        f"{min(1.0, checks * alpha):.2g} (Bonferroni).",
        width=100,
    )


def bounds_table(results) -> str:  # noqa: ANN001 - list of DropoutStats
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
    return format_table(["p", "statistic", "expected", "accepted", "bound"], rows)


def render(results) -> str:  # noqa: ANN001 - list of DropoutStats
    from d2ldrop.stats import BUILTIN_STAT_DIFFERENCES, CHECK_COLUMNS

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
    notes = []
    for r in results:
        documented = BUILTIN_STAT_DIFFERENCES.get((r.backend, r.dtype), {})
        for name in r.failures if r.impl == "builtin" else []:
            if name in documented:
                why = f"- {r.backend} builtin {r.dtype}, {name}: {documented[name]}"
                if why not in notes:
                    notes.append(why)
    parts = [
        header_line(first.n, first.shape, first.dtype, first.seed, first.z, checks),
        "",
        format_table(head, rows),
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
