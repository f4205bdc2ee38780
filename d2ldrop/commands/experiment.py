"""``d2ldrop experiment``: the chapter's exercises as reproducible, resumable experiments."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from d2ldrop.commands._args import add_backend_argument, check_writable_dir, seed_type
from d2ldrop.data import load_fashion_mnist_arrays
from d2ldrop.experiments import (
    EXPERIMENTS,
    NAMES,
    get_experiment,
    make_settings,
    report,
    run_experiment,
)
from d2ldrop.experiments.spec import epochs_and_seeds


def add_parser(sub: argparse._SubParsersAction) -> None:
    listing = "\n".join(f"  {name:<13} {e.title}" for name, e in EXPERIMENTS.items())
    p = sub.add_parser(
        "experiment",
        help="run one of the chapter's exercises (or all) as a multi-seed experiment",
        description="Train the chapter's scratch MLP in each configuration of an experiment, "
        "once per seed, and write a table (CSV, JSON) of means, standard deviations and paired "
        "95% t-intervals over the seeds, plus a figure (PNG), to --out. Each finished run is "
        "saved in --out/runs/; running the same command again skips them, so an interrupted "
        "experiment continues where it stopped.",
        epilog=f"experiments:\n{listing}\n  all           every experiment, each in --out/NAME",
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
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: runs/experiments/NAME)")
    p.add_argument("--data-dir", type=Path, default=None, help="directory with the data")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per run")
    p.set_defaults(func=run, parser=p)


def _check_args(args: argparse.Namespace) -> list[str]:
    """Every argument error, before any framework is imported or data read (exit 2).

    Returns the names of the experiments to run.
    """
    parser: argparse.ArgumentParser = args.parser
    for name in ("epochs", "seeds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name}: expected an integer >= 1. Received: {value}")
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
    return names


def run(args: argparse.Namespace) -> int:
    names = _check_args(args)
    settings = {n: make_settings(get_experiment(n), args.backend, epochs=args.epochs,
                                 seeds=args.seeds, seed=args.seed, quick=args.quick)
                for n in names}  # a missing framework fails here, before any data is read
    data = load_fashion_mnist_arrays(data_dir=args.data_dir)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    for name in names:
        out = args.out / name if args.name == "all" else args.out
        try:
            result = run_experiment(get_experiment(name), settings[name], out, data=data,
                                    log=log)
        except KeyboardInterrupt:
            print(f"d2ldrop experiment: interrupted; the finished runs are kept in "
                  f"{out / 'runs'}: run the same command again to continue", file=sys.stderr)
            return 130
        print()
        print(report(result))
        print(f"\n{result.ran} run(s) trained, {result.skipped} reused; wrote "
              f"{', '.join(str(p) for p in result.paths)}\n", flush=True)
    return 0
