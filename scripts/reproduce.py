"""Reproduce the chapter: both models on every installed backend, 10 epochs each.

Runs ``d2ldrop train --backend all --model all`` with the chapter's
hyperparameters and a fixed seed, then prints the table of final figures and
whether each run passes the book's train_ch3 checks and reaches test accuracy
>= 0.82. Exits non-zero if any run falls short.

With several seeds (``--seeds 0-9``), each seed's runs go to OUT/seed-S and
a last table gives, per backend and model, the spread of the final test
accuracy over the seeds and how many runs reach 0.82. ``--resume`` keeps a
seed's runs that are already complete in OUT/seed-S with the same settings.

    python scripts/reproduce.py [--seed 0 | --seeds 0-9 [--resume]] [--epochs 10]
                                [--out runs/reproduce]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from d2ldrop.backends.registry import installed
from d2ldrop.cli import main as d2ldrop_main
from d2ldrop.models import KINDS

TARGET_TEST_ACC = 0.82
CHAPTER = {"lr": 0.5, "batch_size": 256, "dropout1": 0.2, "dropout2": 0.5}
RUNS = [(b, m) for b in installed() for m in KINDS]


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


def is_complete(out: Path, seed: int, epochs: int) -> bool:
    """True if ``out`` holds every run of ``seed``, finished, with these settings."""
    want = {**CHAPTER, "seed": seed, "num_epochs": epochs}
    for backend, model in RUNS:
        path = out / f"history-{backend}-{model}.json"
        if not path.is_file():
            return False
        h = json.loads(path.read_text())
        config = h.get("config", {})
        if (any(config.get(k) != v for k, v in want.items()) or h.get("error")
                or len(h.get("epochs", [])) != epochs):
            return False
    return (out / "summary.json").is_file()


def train(seed: int, epochs: int, out: Path, data_dir: str | None, rest: list[str]) -> int:
    argv = ["train", "--backend", "all", "--model", "all", "--epochs", str(epochs),
            "--lr", str(CHAPTER["lr"]), "--batch-size", str(CHAPTER["batch_size"]),
            "--dropout1", str(CHAPTER["dropout1"]), "--dropout2", str(CHAPTER["dropout2"]),
            "--seed", str(seed), "--out", str(out), "--quiet", *rest]
    if data_dir:
        argv += ["--data-dir", data_dir]
    return d2ldrop_main(argv)


def falls_short(row: dict) -> bool:
    return not (row.get("book_checks") and row["test_acc"] >= TARGET_TEST_ACC)


def spread_table(rows_by_seed: dict[int, list[dict]]) -> str:
    seeds = sorted(rows_by_seed)
    lines = [f"final test accuracy over {len(seeds)} seeds ({', '.join(map(str, seeds))})",
             f"{'backend':<11} {'model':<8} {'mean':>6} {'sd':>6} {'min':>6} {'max':>6} "
             f"{'runs >= ' + str(TARGET_TEST_ACC):>13}  seeds short"]
    for backend, model in RUNS:
        runs = {s: r for s, rows in rows_by_seed.items() for r in rows
                if (r["backend"], r["model"]) == (backend, model)}
        values = [r["test_acc"] for r in runs.values()]
        short = [s for s, r in runs.items() if falls_short(r)]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        lines.append(f"{backend:<11} {model:<8} {statistics.mean(values):>6.4f} {sd:>6.4f} "
                     f"{min(values):>6.4f} {max(values):>6.4f} "
                     f"{len(values) - len(short):>9}/{len(values):<3}  "
                     f"{', '.join(map(str, sorted(short))) or '-'}")
    return "\n".join(lines)


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
                        help="with --seeds: keep the seeds already complete in OUT/seed-S")
    args, rest = parser.parse_known_args()

    if args.seeds is None:
        status = train(args.seed, args.epochs, args.out, args.data_dir, rest)
        if status:
            return status
        rows = json.loads((args.out / "summary.json").read_text())
        short = [r for r in rows if falls_short(r)]
        print(f"\nall {len(rows)} runs pass the book's checks and reach test accuracy >= "
              f"{TARGET_TEST_ACC}" if not short else
              f"\n{len(short)} run(s) fall short: {[(r['backend'], r['model']) for r in short]}")
        return 1 if short else 0

    rows_by_seed: dict[int, list[dict]] = {}
    for seed in args.seeds:
        out = args.out / f"seed-{seed}"
        if args.resume and is_complete(out, seed, args.epochs):
            print(f"seed {seed}: kept the complete runs in {out}/", flush=True)
        else:
            print(f"\nseed {seed}", flush=True)
            status = train(seed, args.epochs, out, args.data_dir, rest)
            if status:
                return status
        rows_by_seed[seed] = json.loads((out / "summary.json").read_text())
    print("\n" + spread_table(rows_by_seed))
    n_short = sum(falls_short(r) for rows in rows_by_seed.values() for r in rows)
    n_runs = sum(len(rows) for rows in rows_by_seed.values())
    print(f"\n{n_runs - n_short} of {n_runs} runs pass the book's checks and reach test "
          f"accuracy >= {TARGET_TEST_ACC}")
    return 1 if n_short else 0


if __name__ == "__main__":
    sys.exit(main())
