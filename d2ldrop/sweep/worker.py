"""What runs in a worker: one task, with its threads pinned before its framework loads.

A :class:`Task` is a :class:`~d2ldrop.sweep.spec.RunSpec` plus the function that
performs it (module-level, so it pickles by name) and the thread count to pin.
:func:`execute` is the same in every executor: in this process, in a spawned
worker of :class:`~d2ldrop.sweep.executors.LocalPool`, or in a Ray task. The
data reach it either as the arrays themselves or, where an executor shares them
once per worker, as a :class:`Shared` name looked up in this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from d2ldrop._backend import get_adapter
from d2ldrop.backends import threads
from d2ldrop.backends.registry import load_in_order, loads_before
from d2ldrop.sweep.spec import RunSpec

#: Performs a run: (spec, data) -> {"metrics": ..., "curves": ..., "error": ...}.
Procedure = Callable[[RunSpec, Any], dict[str, Any]]

#: Data shared with this worker process when it started, by name.
_SHARED: dict[str, Any] = {}


@dataclass(frozen=True)
class Task:
    """One run to perform: its spec, the procedure and the threads to pin (None: leave)."""

    spec: RunSpec
    procedure: Procedure
    threads: int | None = None
    #: The backends of the whole sweep: a worker may run any of them, one after
    #: another, so a framework that cannot load after this task's loads first.
    sweep_backends: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shared:
    """The name of data a worker received once, at start (see :func:`init_worker`)."""

    name: str


def init_worker(n_threads: int | None, shared: dict[str, Any]) -> None:
    """Initializer of a spawned pool worker: pin threads, keep the shared data.

    Runs before any framework is imported in the worker, so the thread
    variables take effect. On Linux the worker also dies with its parent, so a
    killed sweep leaves no worker behind.
    """
    if n_threads is not None:
        threads.configure(n_threads)  # every backend: the worker may run any of them
    _SHARED.update(shared)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            PR_SET_PDEATHSIG = 1  # noqa: N806 - the prctl constant's name
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def execute(task: Task, data: Any) -> dict[str, Any]:
    """Perform ``task`` and return ``{"result", "seconds", "threads", "threads_pinned",
    "thread_setting", "host"}``.

    ``threads`` is the intra-op thread count the run's framework reports (None
    where it does not say: its default, from the cores); ``threads_pinned`` the
    count the task asked for (None: this process's own setting, e.g. the one
    the CLI chose); ``thread_setting`` what was applied for the task
    (:meth:`~d2ldrop.backends.threads.Setting.record`; None: nothing).
    """
    if isinstance(data, Shared):
        data = _SHARED[data.name]
    n = task.threads
    backend = [*loads_before(task.spec.backend, task.sweep_backends), task.spec.backend]
    setting = None
    if n is not None:
        # Before the framework loads (its engines read the variables), and after.
        setting = threads.configure(n, backend)
    load_in_order(backend[:-1], skip_unavailable=True)  # this task's needs only its own
    get_adapter(task.spec.backend)
    if n is not None:
        threads.configure(n, backend)  # the setters of the frameworks now imported
    start = time.perf_counter()
    result = task.procedure(task.spec, data)
    seconds = time.perf_counter() - start
    return {"result": result, "seconds": round(seconds, 2),
            "threads": threads.current(task.spec.backend), "threads_pinned": n,
            "thread_setting": None if setting is None else setting.record(),
            "host": socket.gethostname()}
