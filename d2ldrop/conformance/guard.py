"""A target that hangs costs one timeout, and one that exits ends nothing.

The suite runs each unit of work on a target (its statistics at one p, one edge
case) on a worker thread of its own, and times every call of the target's code
(``dropout``, the layer factory and its layers, a declared ``gradient`` or
``seed``) made there. A call still running after ``timeout`` seconds is
abandoned: the unit raises :class:`TargetTimeout` and the watch remembers it,
so that the suite runs nothing more on the target.

Python cannot stop a thread: the hung call's thread is left behind. It is a
daemon thread, so it does not keep pytest or the command line from exiting.
All of one unit's calls run on that one thread, so thread-local state (an
autograd tape, a JAX trace, MXNet's recording scope) stays with them.

A ``SystemExit`` raised by the target becomes :class:`TargetExited`, a failure
of the item, instead of ending the run silently.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from d2ldrop.errors import D2LDropError, InvalidArgumentError

#: Seconds a call of the target may take (``--target-timeout``).
DEFAULT_TIMEOUT = 60.0

R = TypeVar("R")


class TargetTimeout(D2LDropError, TimeoutError):
    """A call of the target did not return within the timeout (its thread is left behind)."""


class TargetExited(D2LDropError, RuntimeError):
    """The target raised SystemExit (called ``sys.exit``) instead of returning."""


def check_timeout(seconds: object) -> float:
    """``seconds`` as a positive finite float; ValueError otherwise."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            0 < seconds < float("inf")):
        raise InvalidArgumentError(
            f"Expected a target timeout in seconds > 0. Received: {seconds!r}"
        )
    return float(seconds)


class Watch:
    """Times the calls of one target and runs units of work where they can be abandoned.

    Args:
        timeout: seconds one call of the target may take.
        prepare: run first on each worker thread (the adapter's ``prepare_thread``:
            a framework's per-thread settings, such as MXNet's numpy mode).
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT,
                 prepare: Callable[[], None] | None = None) -> None:
        self.timeout = check_timeout(timeout)
        self._prepare = prepare
        #: Why the target is not called any more (None while it has not hung).
        self.hung: str | None = None
        self._started: float | None = None
        self._what = ""

    def timed(self, fn: Callable[..., R], what: str) -> Callable[..., R]:
        """``fn`` with its calls timed (and SystemExit turned into TargetExited)."""

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> R:
            outer = self._started
            if outer is None:
                self._started, self._what = time.monotonic(), what
            try:
                return fn(*args, **kwargs)
            except SystemExit as err:
                raise TargetExited(
                    f"the target's {what} raised SystemExit({err.code!r}) instead of returning"
                ) from None
            finally:
                if outer is None:
                    self._started = None

        return call

    def guard(self, target: Any) -> Any:
        """A copy of the :class:`~d2ldrop.conformance.target.Target` whose code is timed."""
        timed_layer = None
        if target.layer is not None:
            factory = self.timed(target.layer, "layer factory")

            def timed_layer(p: float) -> Callable[..., Any]:
                return self.timed(factory(p), "layer")

        changes: dict[str, Any] = {
            "dropout": self.timed(target.dropout, "dropout"), "layer": timed_layer,
            "name": target.title,
        }
        for what in ("gradient", "seed"):
            value = getattr(target, what)
            if callable(value) and not isinstance(value, bool):
                changes[what] = self.timed(value, what)
        return dataclasses.replace(target, **changes)

    def run(self, fn: Callable[[], R]) -> R:
        """``fn()`` on a daemon thread; TargetTimeout once a target call in it overruns."""
        if self.hung is not None:
            raise TargetTimeout(self.hung)
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                if self._prepare is not None:
                    self._prepare()
                box["value"] = fn()
            except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = err

        thread = threading.Thread(target=work, name="d2ldrop-target", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(min(0.05, self.timeout))
            started = self._started
            if (thread.is_alive() and started is not None
                    and time.monotonic() - started > self.timeout):
                self.hung = (f"a call of the target's {self._what} did not return within "
                             f"{self.timeout:g} s (the target timeout); its thread is left "
                             "behind and the target is not called again")
                raise TargetTimeout(self.hung)
        if "error" in box:
            raise box["error"]
        return box["value"]
