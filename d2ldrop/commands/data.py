"""``d2ldrop data``: where Fashion-MNIST is found, whether it verifies, and getting it."""

from __future__ import annotations

import argparse
import sys


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
    from d2ldrop import data
    from d2ldrop.errors import DataError

    if args.download:
        try:
            directory = data.find_fashion_mnist(args.data_dir, download=True)
        except DataError as err:
            print(err, file=sys.stderr)
            return 1
        print(f"Fashion-MNIST is in {directory}\n")

    places = data.inspect_fashion_mnist(args.data_dir)
    print("Fashion-MNIST, places searched in order (the first complete, verified one is used):")
    for i, place in enumerate(places, 1):
        where = f"{place.source} {place.directory}" if place.directory else place.source
        status = "ok" if place.ok else place.problem.splitlines()[0]
        print(f"  {i}. {where}: {status}")
        for f in place.files:
            shown = f.path.name if f.path is not None else f.name
            mark = "ok " if f.ok else "-- " if f.path is None else "BAD"
            print(f"       {mark} {shown}: {f.detail}")
    used = next((p for p in places if p.ok), None)
    if used is None:
        print("\nNot found. Ways to get it:", file=sys.stderr)
        print(
            f"  - d2ldrop data --data-dir DIR (or {data.DATA_DIR_ENV}=DIR), DIR holding "
            "the four files\n"
            f"  - sudo apt-get install {data.DEBIAN_PACKAGE} (Debian/Ubuntu)\n"
            f"  - d2ldrop data --download (needs a network connection; saves them in "
            f"{data.cache_dir()})",
            file=sys.stderr,
        )
        return 1
    print(f"\nUsing {used.directory} ({used.source}).")
    return 0
