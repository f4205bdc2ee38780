"""Where runs are computed: in this process, in worker processes here, or on Ray.

:func:`open_executor` turns the user's choice into an executor and the thread
count each run is pinned to:

- nothing (the default), or one job: this process, one run after another, with
  the frameworks' own thread counts unless ``threads_per_run`` is given;
- ``jobs=N`` (N >= 2): :class:`LocalPool`, N spawned worker processes, each run
  on ``threads_per_run`` threads (default: this machine's cores / N);
- ``"ray"``: :class:`~d2ldrop.sweep.ray_cluster.RayExecutor`, each run a Ray task
  asking for ``threads_per_run`` CPUs (default 1), on the cluster at ``address``
  or on a local one started for the sweep (``jobs`` runs at once);
- any :class:`concurrent.futures.Executor` (Dask's ``client.get_executor()``...):
  used as it is; it must run :func:`~d2ldrop.sweep.worker.execute` where
  d2ldrop and the frameworks are installed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from d2ldrop.backends.threads import pinned
from d2ldrop.errors import InvalidArgumentError, UsageError
from d2ldrop.sweep.ray_cluster import RayExecutor
from d2ldrop.sweep.worker import Shared, init_worker

#: The executors known by name (``--executor``).
KINDS = ("local", "ray")


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(jobs: int) -> int:
    """Threads per run when ``jobs`` runs share this machine: its cores / jobs, at least 1."""
    return max(1, cores() // max(1, jobs))


class LocalPool(Executor):
    """``jobs`` worker processes (spawned, not forked) on this machine.

    Each worker is pinned to ``threads_per_run`` threads before it imports a
    framework, and receives the data shared with :meth:`share` once, when it
    starts, rather than with every run.
    """

    def __init__(self, jobs: int, threads_per_run: int | None = None) -> None:
        if jobs < 1:
            raise InvalidArgumentError(f"Expected jobs >= 1. Received: {jobs}")
        self.jobs = jobs
        self.threads = threads_per_run or default_threads(jobs)
        self._shared: dict[str, Any] = {}
        self._pool: ProcessPoolExecutor | None = None

    def share(self, name: str, data: Any) -> Any:
        """What to pass to a task for ``data``: its name once the workers will hold it."""
        if self._pool is None:
            self._shared[name] = data
        if self._shared.get(name) is data:
            return Shared(name)
        return data  # the workers have started with other data: send it with each run

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker, initargs=(self.threads, self._shared))
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self) -> None:
        """Stop the workers now (after Ctrl-C: their runs are not waited for)."""
        if self._pool is None:
            return
        processes = dict(getattr(self._pool, "_processes", None) or {})
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            with contextlib.suppress(Exception):
                process.terminate()
        for process in processes.values():
            with contextlib.suppress(Exception):
                process.join(5)


def _check_count(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 1):
        raise UsageError(f"{name}: expected an integer >= 1. Received: {value!r}")


def _check_address(address: object) -> None:
    """UsageError unless ``address`` is "auto", "local", HOST:PORT or ray://HOST:PORT."""
    text = address if isinstance(address, str) else ""
    host, colon, port = text.removeprefix("ray://").rpartition(":")
    if text in ("auto", "local") or (colon and host and port.isdigit()
                                     and 0 < int(port) < 65536):
        return
    raise UsageError(f"address: expected auto, local, HOST:PORT or ray://HOST:PORT (a port "
                     f"number in 1-65535). Received: {address!r}")


def check_choice(executor: str | Executor | None = None, jobs: int | None = None,
                 address: str | None = None, threads_per_run: int | None = None) -> None:
    """UsageError for a combination that cannot be used (before anything starts)."""
    _check_count("jobs", jobs)
    _check_count("threads_per_run", threads_per_run)
    if isinstance(executor, Executor):
        if jobs is not None or address is not None:
            raise UsageError("jobs and address are for an executor by name, not for "
                             f"{type(executor).__name__}, which decides for itself")
        return
    if executor is not None and executor not in KINDS:
        raise UsageError(f"Unknown executor {executor!r}. Known: {', '.join(KINDS)}, or a "
                         "concurrent.futures.Executor")
    if address is not None and executor != "ray":
        raise UsageError("address: only for the ray executor (executor='ray')")
    if address is not None:
        _check_address(address)
    if address is not None and jobs is not None:
        raise UsageError("jobs: the cluster at address decides how many runs run at once; "
                         "give threads_per_run (CPUs per run) instead")


@contextlib.contextmanager
def open_executor(executor: str | Executor | None = None, *, jobs: int | None = None,
                  address: str | None = None,
                  threads_per_run: int | None = None) -> Iterator[tuple[Executor | None,
                                                                        int | None]]:
    """The executor for a sweep (None: this process) and the threads of each run.

    An executor made here is shut down when the block ends; after an exception
    (Ctrl-C) its queued runs are cancelled and its workers stopped. An executor
    passed in is left running.
    """
    check_choice(executor, jobs, address, threads_per_run)
    if isinstance(executor, Executor):
        yield executor, threads_per_run or getattr(executor, "threads", None)
        return
    made: Executor | None
    if executor == "ray":
        threads = threads_per_run or 1
        made = RayExecutor(address=address, threads_per_run=threads,
                           num_cpus=None if jobs is None else jobs * threads)
    elif jobs is not None and jobs > 1:
        made = LocalPool(jobs, threads_per_run)
        threads = made.threads
    else:
        with pinned(threads_per_run):  # this process's counts are given back afterwards
            yield None, threads_per_run
        return
    try:
        yield made, threads
    except BaseException:
        stop = getattr(made, "terminate", None)
        if stop is not None:
            stop()
        else:
            made.shutdown(wait=False, cancel_futures=True)
        raise
    made.shutdown(wait=True)
