"""The ``d2ldrop`` command line: one sub-command per module in ``d2ldrop.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from d2ldrop import __version__
from d2ldrop._backend import BACKENDS, canonical_name, get_backend
from d2ldrop.errors import D2LDropError, UnknownBackendError

#: Each ``d2ldrop.commands.<name>`` module defines ``add_parser(subparsers)``,
#: which registers the sub-command and sets ``func(args) -> int`` as its default.
COMMANDS: tuple[str, ...] = ("demo", "data", "train", "stats", "compare", "experiment")


def add_backend_argument(parser: argparse.ArgumentParser, allow_all: bool = True) -> None:
    choices = " | ".join((*BACKENDS, "all") if allow_all else BACKENDS)
    parser.add_argument(
        "--backend",
        "-b",
        type=backend_type if allow_all else _single_backend_type,
        default=None,
        metavar="NAME",
        help=f"{choices}, or an alias (pytorch, tf, mx). Default: $D2LDROP_BACKEND, "
        "else torch.",
    )


def resolve_backends(value: str | None) -> list[str]:
    """The backends a ``--backend`` value names; ``all`` is every backend."""
    if value is not None and value.strip().lower() == "all":
        return list(BACKENDS)
    return [get_backend(value)]


def backend_type(value: str) -> str:
    """argparse ``type=`` for a backend name or ``all``; errors exit with status 2."""
    if value.strip().lower() == "all":
        return "all"
    try:
        return canonical_name(value)
    except UnknownBackendError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _single_backend_type(value: str) -> str:
    if value.strip().lower() == "all":
        raise argparse.ArgumentTypeError("this command takes one backend, not 'all'")
    return backend_type(value)


def check_writable_dir(
    parser: argparse.ArgumentParser, path: Path, flag: str = "--out"
) -> None:
    """Create ``path`` and prove it writable, or exit with status 2 before any work."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        parser.error(f"{flag}: cannot write to {str(path)!r}: {err.strerror or err}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="d2ldrop",
        description="Dropout (Dive into Deep Learning) on MXNet, PyTorch and TensorFlow.",
    )
    parser.add_argument("--version", action="version", version=f"d2ldrop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"d2ldrop.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UnknownBackendError as err:
        parser.error(str(err))  # exits with status 2
    except D2LDropError as err:
        print(f"d2ldrop {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"d2ldrop {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
