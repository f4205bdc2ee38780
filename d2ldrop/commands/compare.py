"""``d2ldrop compare``: the backends side by side; a conformance gate for CI."""

from __future__ import annotations

import argparse
import sys

from d2ldrop._io import to_json
from d2ldrop.backends.registry import BACKENDS, require
from d2ldrop.commands._args import add_backend_argument, backend_list_type, resolve_backends
from d2ldrop.commands.stats import (
    add_common_arguments,
    beside_backends,
    check_arguments,
    impls_of,
    target_of,
)
from d2ldrop.conformance import compare, render_comparison
from d2ldrop.conformance.structured import render_structured, structured_comparison
from d2ldrop.conformance.target import Target
from d2ldrop.conformance.target_gate import compare_target
from d2ldrop.conformance.target_report import render_target_comparison
from d2ldrop.errors import BackendNotAvailableError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="all backends side by side on the dropout statistics and edge cases "
        "(exits 1 unless they conform)",
        description="Run the statistics of `d2ldrop stats` and the edge cases on every "
        "installed backend and show them side by side. Exits 1 when a statistic falls "
        "outside its bound, the chapter's dropout_layer behaves differently on two backends "
        "(or not as specified) in an edge case, or a backend named by --backend or "
        "--require is not installed. Differences of the frameworks' own dropout are shown, "
        "never hidden, and do not fail the run. With --target, anyone's dropout gets the "
        "same statistics and edge cases, beside the built-ins, and exits 1 unless it "
        "conforms to the specification (docs/conformance.md).",
    )
    add_backend_argument(p)
    for action in p._actions:  # compare is about all backends: make that the default
        if action.dest == "backend":
            action.default = "all"
            action.help = action.help.split(" Default:")[0] + " Default: all."
    p.add_argument(
        "--require",
        type=backend_list_type,
        default=[],
        metavar="NAMES",
        help="comma-separated backends that must be installed (e.g. "
        f"{','.join(BACKENDS)}, as in CI); exits 1 naming the missing ones and their "
        "pip extra. They are compared with the others.",
    )
    p.add_argument(
        "--structured", action="store_true",
        help="instead, the frameworks' own structured dropouts side by side (channel "
        "dropouts, noise shapes, broadcast dims, axes), each on its usual layout with the "
        "axes it shares a mask value along, and their axis conventions; exits 1 if one "
        "fails a statistic",
    )
    add_common_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    problem = check_arguments(args, args.dtype)
    if problem:
        print(f"d2ldrop compare: error: {problem}", file=sys.stderr)
        return 2
    target = target_of(args)
    try:
        required = require(args.require)
    except BackendNotAvailableError as err:
        print(f"d2ldrop compare: error: {err}", file=sys.stderr)
        return 1
    if target is not None:
        return _run_target(args, target, required)
    if args.structured:
        return _run_structured(args, required)
    backends = list(dict.fromkeys([*resolve_backends(args.backend), *required]))
    result = compare(backends, impls_of(args, None), args.p, size=args.size, seed=args.seed,
                     z=args.z, dtype=args.dtype)
    if args.json:
        print(to_json(result.to_dict()), end="")
    else:
        print(render_comparison(result))
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    for name, why in result.unsupported.items():
        print(f"not run on {name}: {why}", file=sys.stderr)
    return 0 if result.passed else 1


def _run_target(args: argparse.Namespace, target: Target, required: list[str]) -> int:
    backends = list(dict.fromkeys([*beside_backends(args.backend), *required]))
    result = compare_target(target, backends, impls_of(args, target), args.p,
                            size=args.size, seed=args.seed, z=args.z, dtype=args.dtype,
                            timeout=args.target_timeout)
    if args.json:
        print(to_json(result.to_dict()), end="")
    else:
        print(render_target_comparison(result))
    for name, why in (result.beside.skipped if result.beside else {}).items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    return 0 if result.passed else 1


def _run_structured(args: argparse.Namespace, required: list[str]) -> int:
    backends = list(dict.fromkeys([*resolve_backends(args.backend), *required]))
    rows, skipped = structured_comparison(backends, args.p, size=args.size, seed=args.seed,
                                          z=args.z)
    if args.json:
        print(to_json({
            "passed": not any(r.failures for r in rows), "skipped": skipped,
            "rows": [{"target": r.target.describe(), "convention": r.declared.convention,
                      "failures": r.failures, "stats": [s.to_dict() for s in r.stats]}
                     for r in rows],
        }), end="")
    else:
        print(render_structured(rows))
    for name, why in skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    return 1 if any(r.failures for r in rows) else 0
