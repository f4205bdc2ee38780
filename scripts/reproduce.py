"""Reproduce the chapter: both models on the three backends, 10 epochs each.

Runs ``d2ldrop train --backend all --model all`` with the chapter's
hyperparameters and a fixed seed, then prints the table of final figures and
whether each run passes the book's train_ch3 checks and reaches test accuracy
>= 0.82. Exits non-zero if any run falls short.

    python scripts/reproduce.py [--seed 0] [--epochs 10] [--out runs/reproduce]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from d2ldrop.cli import main as d2ldrop_main

TARGET_TEST_ACC = 0.82


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/reproduce"))
    parser.add_argument("--data-dir", default=None)
    args, rest = parser.parse_known_args()
    argv = ["train", "--backend", "all", "--model", "all", "--epochs", str(args.epochs),
            "--lr", "0.5", "--batch-size", "256", "--dropout1", "0.2", "--dropout2", "0.5",
            "--seed", str(args.seed), "--out", str(args.out), "--quiet", *rest]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    status = d2ldrop_main(argv)
    if status:
        return status
    rows = json.loads((args.out / "summary.json").read_text())
    short = [r for r in rows if not (r.get("book_checks") and r["test_acc"] >= TARGET_TEST_ACC)]
    print(f"\nall {len(rows)} runs pass the book's checks and reach test accuracy >= "
          f"{TARGET_TEST_ACC}" if not short else
          f"\n{len(short)} run(s) fall short: {[(r['backend'], r['model']) for r in short]}")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
