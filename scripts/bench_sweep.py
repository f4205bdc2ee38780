"""Wall time of one quick sweep in this process, in --jobs worker processes, and on Ray.

The same experiments (their quick form: 3000 training and 1000 test images,
2 epochs, 2 seeds) are run three ways, each into a fresh run store:

- in this process, one run after another, with the frameworks' own thread
  counts (the default of ``d2ldrop experiment``);
- ``--jobs N`` spawned worker processes, each run on ``--threads-per-run``
  threads (default: the cores / N);
- a local Ray cluster of N x threads CPUs started for the sweep, each run a
  task on ``--threads-per-run`` threads (the cluster's start is in its time).

It prints the wall time of each, the speed-up over the first, whether the
per-run numbers are the same (they must be for the two pinned ways, which
run each run on the same threads), how many runs the sweep shares between its
experiments, and the load average around each measurement (the machine may be
busy with other work: compare figures measured at the same load).
``--unshared`` also measures today's loop without sharing: each experiment in
its own store, so its repeats are computed again.

    python scripts/bench_sweep.py [--experiments dropout-grid,weight-decay,noise,dropconnect]
                                  [--backend NAME] [--jobs 2] [--threads-per-run T]
                                  [--epochs N] [--no-ray] [--unshared]

The times include starting the workers (a few seconds each: a fresh process
imports its framework) and the Ray cluster; a quick run takes well under a
second on an idle machine, so ``--epochs 10`` shows the steady speed-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from d2ldrop._text import align
from d2ldrop.data import load_fashion_mnist_arrays
from d2ldrop.experiments import NAMES, get_experiment, make_settings, run_experiments
from d2ldrop.sweep.driver import Counts
from d2ldrop.sweep.executors import cores, default_threads

DEFAULT = "dropout-grid,weight-decay,noise,dropconnect"


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def numbers(store: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["result"] for p in sorted(store.glob("*.json"))}


def measure(items, data, store: Path, **executor) -> tuple[float, Counts]:
    counts = Counts()
    start = time.perf_counter()
    run_experiments(items, store=store, data=data, counts=counts, **executor)
    return time.perf_counter() - start, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default=DEFAULT,
                        help=f"comma-separated names, or all (default: {DEFAULT})")
    parser.add_argument("--backend", "-b", default=None)
    parser.add_argument("--jobs", "-j", type=int, default=2)
    parser.add_argument("--threads-per-run", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per run (default: the quick form's 2); more epochs make "
                        "the workers' start-up a smaller part of the time")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray measurement")
    parser.add_argument("--unshared", action="store_true",
                        help="also time each experiment in its own store (no shared runs)")
    args = parser.parse_args()
    names = list(NAMES) if args.experiments == "all" else args.experiments.split(",")
    threads = args.threads_per_run or default_threads(args.jobs)
    items_of = {n: (get_experiment(n), make_settings(get_experiment(n), args.backend,
                                                    quick=True, epochs=args.epochs))
                for n in names}
    backend = next(iter(items_of.values()))[1].backend
    data = load_fashion_mnist_arrays(data_dir=args.data_dir)

    rows, seen = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)

        def items(mode: str):
            return [(exp, s, root / mode / exp.name) for exp, s in items_of.values()]

        modes = [("in this process (frameworks' threads)", {}, "framework's"),
                 (f"--jobs {args.jobs}", {"jobs": args.jobs, "threads_per_run": threads},
                  str(threads))]
        if not args.no_ray:
            modes.append((f"ray, local cluster of {args.jobs * threads} CPUs",
                          {"executor": "ray", "jobs": args.jobs, "threads_per_run": threads},
                          str(threads)))
        # Warm-up, not timed: the first run in this process pays one-time costs
        # (imports, the first figure, caches) that would count against the first way.
        exp, s = next(iter(items_of.values()))
        run_experiments([(exp, dataclasses.replace(s, epochs=1, seeds=s.seeds[:1]),
                          root / "warm-up")], store=root / "warm-up" / "runs", data=data)
        counts = None
        for i, (mode, executor, per_run) in enumerate(modes):
            before = load()
            seconds, counts = measure(items(str(i)), data, root / str(i) / "runs", **executor)
            seen[mode] = numbers(root / str(i) / "runs")
            rows.append([mode, f"{seconds:.1f}", f"{counts.distinct / seconds:.2f}", seconds,
                         per_run, before, load()])
            print(f"{mode}: {seconds:.1f} s", flush=True)
        if args.unshared:
            before = load()
            start = time.perf_counter()
            for exp, s in items_of.values():
                run_experiments([(exp, s, root / "u" / exp.name)], data=data,
                                store=root / "u" / exp.name / "runs")
            seconds = time.perf_counter() - start
            rows.insert(1, ["in this process, no shared runs (before)", f"{seconds:.1f}",
                            f"{counts.requested / seconds:.2f}", seconds, "framework's",
                            before, load()])
            print(f"unshared: {seconds:.1f} s", flush=True)

    base = rows[0][3]
    table = [["how", "wall s", "runs/s", "speed-up", "threads/run", "load before",
              "load after"]]
    table += [[r[0], r[1], r[2], f"{base / r[3]:.2f}x", r[4], r[5], r[6]] for r in rows]
    epochs = next(iter(items_of.values()))[1].epochs
    print(f"\nquick sweep ({epochs} epochs per run) of {', '.join(names)} on {backend}: "
          f"{counts.describe()}")
    print(f"machine: {cores()} cores; load average over 1/5/15 min around each measurement\n")
    print(align(table))
    first, *others = list(seen)
    pinned = others
    same = all(seen[m] == seen[pinned[0]] for m in pinned[1:]) if pinned else True
    print(f"\nsame per-run numbers, pinned ways ({', '.join(pinned)}): "
          f"{'yes' if same else 'NO'}")
    if pinned:
        alike = seen[first] == seen[pinned[0]]
        print(f"in this process with the frameworks' threads, same as pinned: "
              f"{'yes' if alike else 'no (another thread count may round differently)'}")
    if counts.shared:
        print(f"shared runs: {counts.shared} of {counts.requested} asked for are computed "
              f"once ({counts.shared / counts.requested:.0%} fewer runs than one experiment "
              "at a time)")
    return 0 if same else 1


if __name__ == "__main__":  # the spawned workers import this file: run nothing then
    sys.exit(main())
