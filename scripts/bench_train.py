"""Seconds per epoch of train_ch3, training and evaluation separately.

For each backend and model: a short warm-up (compilation, graph caching), then
``--epochs`` epochs on the real Fashion-MNIST; prints the median seconds per
epoch of training and of evaluation.

    python scripts/bench_train.py [--backend all] [--model all] [--epochs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from d2ldrop.commands._args import resolve_backends
from d2ldrop.data import Batches, load_fashion_mnist_arrays
from d2ldrop.models import build_mlp
from d2ldrop.training import SGD, CrossEntropyLoss, train_ch3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all")
    parser.add_argument("--model", choices=("scratch", "concise", "all"), default="all")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    data = load_fashion_mnist_arrays(data_dir=args.data_dir)
    models = ("scratch", "concise") if args.model == "all" else (args.model,)
    print(f"{'backend':<11} {'model':<8} {'train s/epoch':>13} {'eval s/epoch':>12} "
          f"{'total':>6} {'warm-up s':>9}")
    for backend in resolve_backends(args.backend):
        for kind in models:
            net = build_mlp(kind, seed=0, backend=backend)
            updater = SGD(0.5, "scratch" if kind == "scratch" else "framework")
            train = Batches(data.train_images, data.train_labels, args.batch_size,
                            shuffle=True, seed=0, backend=backend)
            test = Batches(data.test_images, data.test_labels, args.batch_size,
                           shuffle=False, backend=backend)
            # Warm-up on a slice: traces tf.functions, builds Gluon's cached graph.
            start = time.perf_counter()
            small = Batches(data.train_images[:2560], data.train_labels[:2560],
                            args.batch_size, shuffle=True, seed=0, backend=backend)
            small_test = Batches(data.test_images[:2560], data.test_labels[:2560],
                                 args.batch_size, shuffle=False, backend=backend)
            train_ch3(net, small, small_test, CrossEntropyLoss(), 1, updater, progress=False)
            warmup = time.perf_counter() - start
            h = train_ch3(net, train, test, CrossEntropyLoss(), args.epochs, updater,
                          progress=False)
            tr = statistics.median(r.train_seconds for r in h.epochs)
            ev = statistics.median(r.eval_seconds for r in h.epochs)
            print(f"{backend:<11} {kind:<8} {tr:>13.2f} {ev:>12.2f} {tr + ev:>6.2f} "
                  f"{warmup:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
