"""Arguments and checks the sub-commands share (``cli.py`` only dispatches)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from d2ldrop._backend import get_backend
from d2ldrop._validate import is_seed, seed_error
from d2ldrop.backends.registry import (
    ALIASES,
    BACKENDS,
    DEFAULT_BACKEND,
    canonical_name,
    installed,
    require,
)
from d2ldrop.errors import UnknownBackendError


def add_backend_argument(parser: argparse.ArgumentParser, allow_all: bool = True) -> None:
    choices = " | ".join((*BACKENDS, "all") if allow_all else BACKENDS)
    aliases = ", ".join(ALIASES)
    more = " 'all' is every installed backend." if allow_all else ""
    parser.add_argument(
        "--backend",
        "-b",
        type=backend_type if allow_all else _single_backend_type,
        default=None,
        metavar="NAME",
        help=f"{choices}, or an alias ({aliases}). Default: $D2LDROP_BACKEND, "
        f"else {DEFAULT_BACKEND}.{more}",
    )


def resolve_backends(value: str | None) -> list[str]:
    """The backends a ``--backend`` value names; ``all`` is every installed backend."""
    if value is not None and value.strip().lower() == "all":
        found = installed()
        if not found:
            # require() names each backend with the extra that installs it.
            require(BACKENDS)
        return found
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


def backend_list_type(value: str) -> list[str]:
    """argparse ``type=`` for comma-separated backend names (``--require``)."""
    try:
        return [canonical_name(v) for v in value.split(",") if v.strip()]
    except UnknownBackendError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def seed_type(value: str) -> int:
    """argparse ``type=`` for a seed: the package's one seed rule, exit 2 otherwise."""
    try:
        n = int(value)
    except ValueError:
        n = value  # type: ignore[assignment]
    if not is_seed(n):
        raise argparse.ArgumentTypeError(seed_error(value, "seed"))
    return n


def dir_path(value: str) -> Path:
    """An ``argparse`` type for a directory: an empty string is an error, not "here"."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a directory. Received an empty path")
    return Path(value)


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
