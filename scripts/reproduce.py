"""Reproduce the chapter: both models on every installed backend, 10 epochs each.

With one seed (``--seed S``, the default 0): runs ``d2ldrop train --backend all
--model all`` with the chapter's hyperparameters, prints the table of final
figures, and exits non-zero unless every run passes the book's train_ch3 checks
(train loss < 0.5, train and test accuracy > 0.7).

With several seeds (``--seeds 0-9``): every (backend, model, seed) is one run in
the run store OUT/runs (a finished run is never computed again, so an
interrupted reproduction continues), computed in this process, in ``--jobs N``
worker processes, or on Ray (``--executor ray [--address ADDR]``). The exit
status follows the accuracy bar over seeds (d2ldrop.experiments.reproduction):
for each backend and model every run passes the book's checks and the mean
final test accuracy is >= 0.84, and no backend stands apart (for each model,
each pair of backends' means within their 99% Welch interval). The bar is
defined over 10 seeds.

    python scripts/reproduce.py [--seed 0 | --seeds 0-9 [--jobs 2 | --executor ray]]
                                [--epochs 10] [--out runs/reproduce]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from d2ldrop._io import write_json
from d2ldrop.backends import load_in_order
from d2ldrop.backends.registry import canonical_name, installed
from d2ldrop.cli import main as d2ldrop_main
from d2ldrop.data import load_fashion_mnist_arrays
from d2ldrop.errors import D2LDropError, UnknownBackendError
from d2ldrop.experiments.reproduction import CHAPTER, accuracy_bar, bar_report, run_book
from d2ldrop.models import KINDS
from d2ldrop.sweep.driver import Counts
from d2ldrop.sweep.executors import KINDS as EXECUTORS


def parse_seeds(spec: str) -> list[int]:
    """'0-9', '0,3,5' or '0-3,7' as a sorted list of distinct seeds."""
    seeds: set[int] = set()
    try:
        for part in spec.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"Expected seeds like 0-9 or 0,3,5. Received: {spec!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"Expected at least one seed. Received: {spec!r}")
    return sorted(seeds)


def backends_type(value: str) -> list[str]:
    try:
        return [canonical_name(v) for v in value.split(",") if v.strip()]
    except UnknownBackendError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def train(seed: int, epochs: int, out: Path, data_dir: str | None, rest: list[str]) -> int:
    argv = ["train", "--backend", "all", "--model", "all", "--epochs", str(epochs),
            "--lr", str(CHAPTER["lr"]), "--batch-size", str(CHAPTER["batch_size"]),
            "--dropout1", str(CHAPTER["dropout1"]), "--dropout2", str(CHAPTER["dropout2"]),
            "--seed", str(seed), "--out", str(out), "--quiet", *rest]
    if data_dir:
        argv += ["--data-dir", data_dir]
    return d2ldrop_main(argv)


def one_seed(args: argparse.Namespace, rest: list[str]) -> int:
    status = train(args.seed, args.epochs, args.out, args.data_dir, rest)
    if status:
        return status
    rows = json.loads((args.out / "summary.json").read_text())
    short = [(r["backend"], r["model"]) for r in rows if not r.get("book_checks")]
    print(f"\nall {len(rows)} runs pass the book's checks" if not short else
          f"\n{len(short)} run(s) fail the book's checks: {short}")
    return 1 if short else 0


def several_seeds(args: argparse.Namespace) -> int:
    backends = args.backends or installed()
    load_in_order(backends)  # a framework that fails to import stops us before any run
    data = load_fashion_mnist_arrays(data_dir=args.data_dir)
    counts = Counts()
    rows = run_book(backends, KINDS, args.seeds, args.epochs, store=args.out / "runs",
                    data=data, executor=args.executor, jobs=args.jobs, address=args.address,
                    threads_per_run=args.threads_per_run,
                    log=None if args.quiet else lambda line: print(line, flush=True),
                    counts=counts)
    bar = accuracy_bar(rows)
    print(f"\n{counts.describe()}; runs in {args.out / 'runs'}\n")
    print(bar_report(bar))
    write_json(args.out / "reproduce.json", {
        "seeds": args.seeds, "epochs": args.epochs, "settings": CHAPTER, "rows": rows,
        "bar_met": bar.ok, "problems": bar.problems(),
        "groups": [{"backend": g.backend, "model": g.model, "mean": g.mean, "sd": g.sd,
                    "test_acc": g.test_acc, "failing_seeds": g.failing} for g in bar.groups],
        "pairs": [{"model": p.model, "a": p.a, "b": p.b, "diff": p.diff, "low": p.low,
                   "high": p.high, "apart": p.apart} for p in bar.pairs],
    })
    print(f"\nwrote {args.out / 'reproduce.json'}")
    return 0 if bar.ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--seeds", type=parse_seeds, default=None,
                       help="several seeds, e.g. 0-9 or 0,3,5: every run once per seed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/reproduce"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--resume", action="store_true",
                        help="kept for old command lines: with --seeds, finished runs in "
                        "OUT/runs are always reused")
    parser.add_argument("--quiet", "-q", action="store_true", help="with --seeds: no line per run")
    parser.add_argument("--backends", type=backends_type, default=None,
                        help="with --seeds: comma-separated backends (default: every "
                        "installed one)")
    sweep = parser.add_argument_group("with --seeds: where the runs are computed")
    sweep.add_argument("--jobs", "-j", type=int, default=None,
                       help="N worker processes on this machine (default: this process)")
    sweep.add_argument("--executor", choices=EXECUTORS, default=None,
                       help="local (default) or ray (each run a Ray task)")
    sweep.add_argument("--address", default=None, help="with --executor ray: the cluster")
    sweep.add_argument("--threads-per-run", type=int, default=None, metavar="T",
                       help="threads of each run (default: cores / jobs; 1 on Ray)")
    args, rest = parser.parse_known_args()

    if args.seeds is None:
        if any(v is not None for v in (args.jobs, args.executor, args.address,
                                       args.threads_per_run, args.backends)):
            parser.error("--jobs, --executor, --address, --threads-per-run and --backends "
                         "go with --seeds")
        return one_seed(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return several_seeds(args)
    except KeyboardInterrupt:
        print(f"interrupted: the finished runs are kept in {args.out / 'runs'}; run the same "
              "command again to continue", file=sys.stderr)
        return 130
    except D2LDropError as err:
        print(f"reproduce.py: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 1


if __name__ == "__main__":
    sys.exit(main())
