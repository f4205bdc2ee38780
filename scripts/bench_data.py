"""Seconds per epoch of iterating the Fashion-MNIST batches, for each available backend.

    python scripts/bench_data.py [--batch-size 256] [--epochs 7] [--resize N] [--data-dir DIR]

Reports the median over several epochs (after one warm-up epoch) of a full pass
over the training batches, plus the one-off decoding time. Needs the real data
(see ``d2ldrop data``); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import d2ldrop
import d2ldrop.backends
from d2ldrop.data import load_fashion_mnist_arrays
from d2ldrop.errors import BackendNotAvailableError, DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per backend")
    parser.add_argument("--resize", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--backend", action="append", default=None,
        help="repeatable; default: every installed backend",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        arrays = load_fashion_mnist_arrays(data_dir=args.data_dir, resize=args.resize)
    except DataError as err:
        print(err, file=sys.stderr)
        return 1
    print(
        f"decode + verify{' + resize' if args.resize else ''}: "
        f"{time.perf_counter() - start:.3f} s (once per process); "
        f"train images {arrays.train_images.shape}"
    )
    print(f"{'backend':<12}{'batches':>8}{'s/epoch (median)':>18}{'min':>8}{'max':>8}")
    status = 0
    names = args.backend or d2ldrop.available_backends()
    d2ldrop.backends.load_in_order(names, skip_unavailable=True)  # one missing: skipped below
    for name in names:
        try:
            train, _ = d2ldrop.load_data_fashion_mnist(
                args.batch_size, args.resize, backend=name, data_dir=args.data_dir, seed=0
            )
        except BackendNotAvailableError as err:
            print(f"{name:<12}skipped: {err}")
            status = 1
            continue
        times = []
        for _ in range(args.epochs + 1):
            start = time.perf_counter()
            for _X, _y in train:
                pass
            times.append(time.perf_counter() - start)
        times = times[1:]  # the first epoch pays for one-off framework start-up
        print(
            f"{name:<12}{len(train):>8}{statistics.median(times):>18.4f}"
            f"{min(times):>8.4f}{max(times):>8.4f}"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
