"""Runs as Ray tasks: on an existing cluster, or on a local one started for the sweep.

Ray core only (``pip install "d2ldrop[ray]"``); it is imported when a
:class:`RayExecutor` is made, never by ``import d2ldrop``. Each run is one task
asking for ``threads_per_run`` CPUs; the data go to the object store once
(:meth:`RayExecutor.share`) and every task reads them from there. The nodes of
a cluster need d2ldrop and the frameworks of the backends they run.
Ray's usage statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``)
unless the environment says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from d2ldrop.errors import UsageError

#: The pip extra that installs Ray core.
EXTRA = 'pip install "d2ldrop[ray]"'


def _import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as err:
        raise UsageError(f"The ray executor needs Ray ({err}). Install it with: {EXTRA}") from None
    return ray


class RayExecutor(Executor):
    """A :class:`concurrent.futures.Executor` whose runs are Ray tasks.

    ``address``: the cluster to join (what ``ray.init`` accepts: ``"auto"``,
    ``"HOST:6379"``, ``"ray://HOST:10001"``); None starts a local cluster with
    ``num_cpus`` CPUs (default: every core), shut down again with the executor.
    When Ray is already initialized in this process, that session is used.
    """

    def __init__(self, address: str | None = None, *, threads_per_run: int = 1,
                 num_cpus: int | None = None) -> None:
        self._ray = ray = _import_ray()
        self.threads = threads_per_run
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False,
                                      "configure_logging": False, "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = num_cpus
            try:
                ray.init(**kwargs)
            except ConnectionError as err:
                raise UsageError(f"address: cannot join the Ray cluster at {address!r}: "
                                 f"{err}") from None
        self._remote: dict[Callable[..., Any], Any] = {}
        self._refs: list[Any] = []

    def share(self, name: str, data: Any) -> Any:
        """An object-store reference to ``data``; Ray passes the object itself to tasks."""
        return self._ray.put(data)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(fn).options(num_cpus=self.threads,
                                                                     max_retries=0)
        ref = remote.remote(*args, **kwargs)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        ray = self._ray
        if cancel_futures and ray.is_initialized():
            ready, pending = ray.wait(self._refs, num_returns=len(self._refs), timeout=0)
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001, S110 - already finished or gone
                    pass
        self._refs = []
        if self._started and ray.is_initialized():
            ray.shutdown()
            self._started = False
