"""``d2ldrop data``: where Fashion-MNIST is found, whether it verifies, and getting it."""

from __future__ import annotations

import argparse
import sys

from d2ldrop.data import find_fashion_mnist, format_places, inspect_fashion_mnist, ways_to_get_it
from d2ldrop.errors import DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="where Fashion-MNIST is found and whether it verifies; --download fetches it",
        description="List the places searched for Fashion-MNIST, in order, with each "
        "file's sha256 status, and say which one loading uses. With --download, "
        "fetch the files into the user cache first if no place has them.",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="a directory holding the four files (name.gz or name); searched first",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="download into the user cache when no local copy verifies",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report of every place; 1 if none holds the data set."""
    if args.download:
        try:
            directory = find_fashion_mnist(args.data_dir, download=True)
        except DataError as err:
            print(err, file=sys.stderr)
            return 1
        print(f"Fashion-MNIST is in {directory}\n")

    places = inspect_fashion_mnist(args.data_dir)
    print(format_places(places))
    used = next((p for p in places if p.ok), None)
    if used is None:
        print("\n" + ways_to_get_it(), file=sys.stderr)
        return 1
    print(f"\nUsing {used.directory} ({used.source}).")
    return 0
