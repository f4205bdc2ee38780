"""``d2ldrop stats``: dropout statistics with their bounds, one row per backend x impl x p."""

from __future__ import annotations

import argparse
import sys

from d2ldrop._backend import get_backend
from d2ldrop._io import to_json
from d2ldrop.backends.registry import installed, load_in_order
from d2ldrop.commands._args import add_backend_argument, resolve_backends, seed_type
from d2ldrop.conformance import (
    DEFAULT_PS,
    DEFAULT_SIZE,
    IMPLS,
    STAT_DTYPES,
    Z,
    render_stats,
    run_stats,
)
from d2ldrop.conformance.guard import DEFAULT_TIMEOUT, check_timeout
from d2ldrop.conformance.stats import check_stats_args
from d2ldrop.conformance.target import Target, load_target, target_backends
from d2ldrop.conformance.target_gate import target_stats_run
from d2ldrop.conformance.target_report import render_target_stats
from d2ldrop.errors import UsageError


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``stats`` and ``compare``."""
    p.add_argument(
        "--impl",
        type=_impl_list,
        default=None,
        metavar="LIST",
        help=f"comma-separated implementations among {', '.join(IMPLS)} "
        f"(default: {','.join(IMPLS)}; builtin beside a --target)",
    )
    p.add_argument(
        "--target",
        default=None,
        metavar="MODULE:FUNCTION",
        help="check anyone's dropout, beside the built-ins: a callable dropout(x, p, *, "
        "training=True) or a d2ldrop.conformance.Target, named as package.module:attribute "
        "(docs/conformance.md). The built-ins shown are those of --backend (default: every "
        "installed backend); exits 1 unless the target conforms.",
    )
    p.add_argument(
        "--target-backend",
        default=None,
        metavar="NAME",
        help=f"whose tensors the target takes: {', '.join(target_backends())} (default: "
        "the Target's own, else numpy)",
    )
    p.add_argument(
        "--target-timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="seconds one call of the target may take: a call that does not return fails "
        f"its check and the remaining checks are not run (default: {DEFAULT_TIMEOUT:g})",
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
    p.add_argument("--seed", type=seed_type, default=0, help="seed of every draw (default: 0)")
    p.add_argument(
        "--dtype", choices=STAT_DTYPES, default="float32",
        help="input dtype of the statistics (default: float32); bfloat16 runs on the "
        "backends whose framework has it",
    )
    p.add_argument(
        "--z",
        type=float,
        default=Z,
        help=f"standard deviations of every two-sided bound (default: {Z:g})",
    )
    p.add_argument(
        "--json", action="store_true",
        help="print the results as strict JSON (NaN and infinities as null)",
    )


def _timeout(value: str) -> float:
    try:
        return check_timeout(float(value))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _impl_list(value: str) -> list[str]:
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in names if v not in IMPLS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(IMPLS)}; got {value!r}"
        )
    return list(dict.fromkeys(names))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="dropout statistics (fraction, mean, variance, independence, ...) with bounds",
        description="Run dropout on each backend and implementation and check each "
        "statistic against a bound derived from the binomial distribution or the CLT, "
        "at z standard deviations. Exits 1 if any statistic is out of its bound.",
    )
    add_backend_argument(p)
    add_common_arguments(p)
    p.set_defaults(func=run)


def check_arguments(args: argparse.Namespace, dtype: str = "float32") -> str | None:
    """An error message if the numeric options cannot be used, else None."""
    try:
        for pv in args.p:
            check_stats_args(pv, args.size, args.seed, dtype, args.z)
    except ValueError as err:
        return str(err)
    return None


def target_of(args: argparse.Namespace) -> Target | None:
    """The ``--target`` (with ``--target-backend``), or None; UsageError if unusable."""
    if args.target is None:
        if args.target_backend is not None:
            raise UsageError("--target-backend needs --target")
        return None
    # The built-ins' frameworks load before the target's module, which may import
    # one of them itself: some (MXNet) cannot load after another (TensorFlow).
    # One missing is reported as skipped by the run beside the target.
    load_in_order([*beside_backends(args.backend), *getattr(args, "require", [])],
                  skip_unavailable=True)
    return load_target(args.target, args.target_backend)


def impls_of(args: argparse.Namespace, target: Target | None) -> list[str]:
    """``--impl``, by default both implementations, or the builtin beside a target."""
    if args.impl is not None:
        return args.impl
    return ["builtin"] if target is not None else list(IMPLS)


def beside_backends(value: str | None) -> list[str]:
    """The backends shown beside a target: ``--backend``'s, by default (or ``all``)
    every installed one; none installed leaves the target alone."""
    if value is None or value.strip().lower() == "all":
        return installed()
    return [get_backend(value)]


def run(args: argparse.Namespace) -> int:
    problem = check_arguments(args, args.dtype)
    if problem:
        print(f"d2ldrop stats: error: {problem}", file=sys.stderr)
        return 2
    target = target_of(args)
    if target is not None:
        return _run_target(args, target)
    result = run_stats(
        resolve_backends(args.backend), impls_of(args, None), args.p,
        size=args.size, seed=args.seed, dtype=args.dtype, z=args.z,
    )
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    for name, why in result.unsupported.items():
        print(f"not run on {name}: {why}", file=sys.stderr)
    if args.json:
        print(to_json(result.to_dict()), end="")
    elif result.results:
        print(render_stats(result.results))
    return 0 if result.passed else 1


def _run_target(args: argparse.Namespace, target: Target) -> int:
    result = target_stats_run(
        target, beside_backends(args.backend), impls_of(args, target), args.p,
        size=args.size, seed=args.seed, dtype=args.dtype, z=args.z,
        timeout=args.target_timeout,
    )
    skipped = result.beside.skipped if result.beside else {}
    for name, why in skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    if args.json:
        print(to_json(result.to_dict()), end="")
    else:
        print(render_target_stats(result))
    return 0 if result.passed else 1
