"""``d2ldrop data``: where Fashion-MNIST is found, whether it verifies, and getting it.

Exit status: 0 when the data set is usable; 1 when no place holds it (or a
download fails); 2 when a directory the user named (``--data-dir``,
``$D2LDROP_DATA_DIR``) is missing or broken: the report shows each of its files.
"""

from __future__ import annotations

import argparse
import sys

from d2ldrop.data import (
    find_fashion_mnist,
    format_places,
    inspect_fashion_mnist,
    named_place_error,
    ways_to_get_it,
)
from d2ldrop.errors import DataError, DataPathError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="where Fashion-MNIST is found and whether it verifies; --download fetches it",
        description="List the places searched for Fashion-MNIST, in order, with each "
        "file's sha256 status, and say which one loading uses. A directory you name "
        "(--data-dir, $D2LDROP_DATA_DIR) is the only place: used, or refused (exit 2) "
        "with what is wrong with each file. With --download, fetch the missing files "
        "first: into the named directory, else into the user cache.",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="a directory holding the four files (name.gz or name); used, or refused if "
        "it does not hold them (no other place is searched)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="download the missing files: into the named directory (never overwriting a "
        "file there), else into the user cache when no local copy verifies",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report of every place; 2 if a named directory is unusable, 1 if
    no place holds the data set."""
    refused: DataPathError | None = None
    if args.download:
        try:
            directory = find_fashion_mnist(args.data_dir, download=True)
        except DataPathError as err:
            refused = err  # the report below shows each file
        except DataError as err:
            print(err, file=sys.stderr)
            return 1
        else:
            print(f"Fashion-MNIST is in {directory}\n")

    places = inspect_fashion_mnist(args.data_dir)
    print(format_places(places))
    named = next((p for p in places if p.named), None)
    if named is not None and not named.ok:
        error = refused or named_place_error(named)
        print(f"\nd2ldrop data: error: {error}", file=sys.stderr)
        return 2
    used = next((p for p in places if p.ok), None)
    if used is None:
        print("\n" + ways_to_get_it(), file=sys.stderr)
        return 1
    print(f"\nUsing {used.directory} ({used.source}).")
    return 0
