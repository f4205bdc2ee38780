"""``d2ldrop experiment``: the chapter's exercises as reproducible, resumable experiments."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from d2ldrop.commands._args import add_backend_argument, check_writable_dir, dir_path, seed_type
from d2ldrop.data import load_fashion_mnist_arrays
from d2ldrop.errors import D2LDropError, UsageError
from d2ldrop.experiments import (
    EXPERIMENTS,
    NAMES,
    get_experiment,
    make_settings,
    report,
    run_experiments,
)
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.spec import epochs_and_seeds
from d2ldrop.sweep.driver import Counts
from d2ldrop.sweep.executors import KINDS, check_choice


def add_parser(sub: argparse._SubParsersAction) -> None:
    listing = "\n".join(f"  {name:<13} {e.title}" for name, e in EXPERIMENTS.items())
    p = sub.add_parser(
        "experiment",
        help="run one of the chapter's exercises (or all) as a multi-seed experiment",
        description="Train the chapter's scratch MLP in each configuration of an experiment, "
        "once per seed, and write a table (CSV, JSON) of means, standard deviations and paired "
        "95% t-intervals over the seeds, plus a figure (PNG), to --out. Each finished run is "
        "saved once in the run store (--out/runs/, one file per run, named by a hash of "
        "everything that determines it) and reused by every experiment that needs it; "
        "running the same command again skips them, so an interrupted experiment continues "
        "where it stopped. Runs with other settings (--epochs, --quick, ...) are other "
        "files: nothing finished is overwritten.",
        epilog=f"experiments:\n{listing}\n  all           every experiment, each in "
        "--out/NAME (one run store for all: --out/runs)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", choices=(*NAMES, "all"),
                   help=f"{', '.join(NAMES)}, or all")
    add_backend_argument(p, allow_all=False)
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per run (default: 10; 30 for `epochs`; 2 with --quick)")
    p.add_argument("--seeds", type=int, default=None,
                   help="runs per configuration (default: 3; 2 with --quick)")
    p.add_argument("--seed", type=seed_type, default=0,
                   help="first seed; runs use seed, seed+1, ... (default: 0)")
    p.add_argument("--quick", action="store_true",
                   help="the small form for tests: 3000 training and 1000 test images, "
                   "2 epochs, 2 seeds")
    p.add_argument("--out", type=dir_path, default=None,
                   help="output directory (default: runs/experiments/NAME)")
    p.add_argument("--data-dir", type=Path, default=None, help="directory with the data")
    p.add_argument("--store", type=dir_path, default=None,
                   help="the run store, shared by every experiment (default: --out/runs)")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per run")
    add_executor_arguments(p)
    p.set_defaults(func=run, parser=p)


#: The errors of a disk that cannot take a run's files (full, read-only, over quota).
WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES})


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    """``--jobs``, ``--executor``, ``--address``, ``--threads-per-run``."""
    g = p.add_argument_group("where the runs are computed")
    g.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="N runs at once in N worker processes on this machine (default: one "
                   "after another in this process); with --executor ray and no --address: N "
                   "runs at once on the local Ray cluster")
    g.add_argument("--executor", choices=KINDS, default=None,
                   help="local (this machine; the default) or ray (each run a Ray task; "
                   "needs pip install \"d2ldrop[ray]\")")
    g.add_argument("--address", default=None,
                   help="with --executor ray: the cluster to join (auto, HOST:6379, "
                   "ray://HOST:10001); default: start a local cluster for the sweep")
    g.add_argument("--threads-per-run", type=int, default=None, metavar="T",
                   help="threads (and Ray CPUs) of each run, set before its framework loads "
                   "(default: the cores / --jobs for worker processes, 1 on Ray, the "
                   "frameworks' own in this process); recorded in each run's file")


def _check_args(args: argparse.Namespace) -> list[str]:
    """Every argument error, before any framework is imported or data read (exit 2).

    Returns the names of the experiments to run.
    """
    parser: argparse.ArgumentParser = args.parser
    for name in ("epochs", "seeds", "jobs", "threads_per_run"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')}: expected an integer >= 1. "
                         f"Received: {value}")
    try:
        check_choice(args.executor, args.jobs, args.address, args.threads_per_run)
    except UsageError as err:
        parser.error(f"--{err}")
    names = list(NAMES) if args.name == "all" else [args.name]
    for name in names:
        try:
            epochs_and_seeds(get_experiment(name), epochs=args.epochs, seeds=args.seeds,
                             seed=args.seed, quick=args.quick)
        except ValueError as err:  # the seeds run past 2**32
            parser.error(f"--seed: {err}")
    if args.out is None:
        args.out = Path("runs/experiments") / args.name
    check_writable_dir(parser, args.out)
    if args.store is None:
        args.store = args.out / "runs"
    check_writable_dir(parser, args.store, "--store")
    return names


def run(args: argparse.Namespace) -> int:
    names = _check_args(args)
    settings = {n: make_settings(get_experiment(n), args.backend, epochs=args.epochs,
                                 seeds=args.seeds, seed=args.seed, quick=args.quick)
                for n in names}  # a missing framework fails here, before any data is read
    data = load_fashion_mnist_arrays(data_dir=args.data_dir)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    items = [(get_experiment(n), settings[n], args.out / n if args.name == "all" else args.out)
             for n in names]
    counts = Counts()

    def show(result: ExperimentResult) -> None:
        print()
        print(report(result))
        shared = f" ({result.shared} shared with other experiments)" if result.shared else ""
        print(f"\n{result.ran} run(s) trained, {result.skipped} reused{shared}; wrote "
              f"{', '.join(str(p) for p in result.paths)}\n", flush=True)

    try:
        run_experiments(items, store=args.store, data=data, executor=args.executor,
                        jobs=args.jobs, address=args.address,
                        threads_per_run=args.threads_per_run, log=log, on_result=show,
                        counts=counts)
    except KeyboardInterrupt:
        print(f"d2ldrop experiment: interrupted; the finished runs are kept in "
              f"{args.store}: run the same command again to continue", file=sys.stderr)
        return 130
    except OSError as err:
        if err.errno not in WRITE_ERRORS:
            raise
        # Every file is replaced atomically: the runs stored before stay valid.
        where = f" {err.filename}" if err.filename else ""
        raise D2LDropError(f"cannot write{where}: {err.strerror or err}; the finished runs "
                           f"are kept in {args.store}") from err
    if len(names) > 1:
        print(f"sweep: {counts.describe()}; runs in {args.store}", flush=True)
    return 0
