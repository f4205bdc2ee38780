"""``d2ldrop demo``: the chapter's demonstration of ``dropout_layer``."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from d2ldrop.errors import BackendNotAvailableError

PROBABILITIES = (0.0, 0.5, 1.0)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from d2ldrop.commands._args import add_backend_argument, seed_type

    p = sub.add_parser(
        "demo",
        help="the chapter's demo: arange(16) through dropout with p = 0, 0.5, 1",
        description="Pass X = arange(16) as a 2x8 float32 tensor through the "
        "from-scratch dropout_layer with p = 0, 0.5 and 1, on each backend.",
    )
    add_backend_argument(p)
    p.add_argument("--seed", type=seed_type, default=None, help="seed the backend first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from d2ldrop import dropout_layer, from_numpy, seed
    from d2ldrop.backends import load_in_order
    from d2ldrop.commands._args import resolve_backends

    status = 0
    backends = resolve_backends(args.backend)
    load_in_order(backends, skip_unavailable=True)  # each one missing is reported below
    for i, name in enumerate(backends):
        if i:
            print()
        print(f"== backend: {name} ==")
        try:
            X = from_numpy(np.arange(16, dtype=np.float32).reshape(2, 8), backend=name)
        except BackendNotAvailableError as err:
            print(f"skipped: {err}", file=sys.stderr)
            status = 1
            continue
        if args.seed is not None:
            seed(args.seed, backend=name)
        print(f"X =\n{X}")
        for p in PROBABILITIES:
            print(f"dropout_layer(X, {p}) =\n{dropout_layer(X, p, backend=name)}")
    return status
