"""The ``d2ldrop`` command line: one sub-command per module in ``d2ldrop.commands``."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from d2ldrop._version import __version__
from d2ldrop.backends import threads
from d2ldrop.backends.registry import BACKENDS
from d2ldrop.errors import D2LDropError, UnknownBackendError, UsageError

#: Each ``d2ldrop.commands.<name>`` module defines ``add_parser(subparsers)``,
#: which registers the sub-command and sets ``func(args) -> int`` as its default.
COMMANDS: tuple[str, ...] = ("demo", "data", "train", "stats", "compare", "experiment")
#: Sub-commands that load no framework: no thread setting to choose.
NO_FRAMEWORK: tuple[str, ...] = ("data",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="d2ldrop",
        description=f"Dropout (Dive into Deep Learning) on {', '.join(BACKENDS)}.",
    )
    parser.add_argument("--version", action="version", version=f"d2ldrop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"d2ldrop.commands.{name}").add_parser(sub)
    return parser


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a job scheduler, a container stop) handled as Ctrl-C while
    a command runs: the finished epochs stay, the summary says "interrupted" and the
    output directory's lock is released. A second SIGTERM ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
def _backends_of(args: argparse.Namespace) -> list[str] | None:
    """The backends the command will load, as the commands resolve ``--backend``
    (None: any; ``compare --require`` may add some, which the merged policy covers)."""
    from d2ldrop.commands._args import resolve_backends

    value = getattr(args, "backend", None)
    if value is not None and not isinstance(value, str):
        return None
    try:
        return resolve_backends(value)
    except D2LDropError:  # the command reports it
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _terminate_as_interrupt():
            if args.command in NO_FRAMEWORK:
                return int(args.func(args) or 0)
            # This run's frameworks get d2ldrop's thread setting when they load (a
            # user's own variables win); the environment is given back afterwards.
            with threads.applied(_backends_of(args)) as args.thread_setting:
                return int(args.func(args) or 0)
    except UnknownBackendError as err:
        parser.error(str(err))  # exits with status 2
    except UsageError as err:
        # Something named on the command line cannot be used: like an argument
        # error, status 2, but one line (the usage says nothing about a path).
        print(f"d2ldrop {args.command}: error: {err}", file=sys.stderr)
        return 2
    except D2LDropError as err:
        print(f"d2ldrop {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"d2ldrop {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
