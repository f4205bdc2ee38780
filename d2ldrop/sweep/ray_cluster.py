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
import socket
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


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """UsageError unless ``HOST:PORT`` (or ``ray://HOST:PORT``) accepts a connection:
    ``ray.init`` would otherwise retry an unreachable address for minutes."""
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # a form ray.init knows and we do not: let it judge
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise UsageError(f"address: no Ray cluster answers at {address!r} "
                         f"({err.strerror or err})") from None


class RayExecutor(Executor):
    """A :class:`concurrent.futures.Executor` whose runs are Ray tasks.

    ``address``: the cluster to join (what ``ray.init`` accepts: ``"auto"``,
    ``"HOST:6379"``, ``"ray://HOST:10001"``); None starts a local cluster with
    ``num_cpus`` CPUs (default: every core), shut down again with the executor.
    When Ray is already initialized in this process, that session is used (and
    left running). Nothing is joined or started before the first run is submitted.
    """

    def __init__(self, address: str | None = None, *, threads_per_run: int = 1,
                 num_cpus: int | None = None) -> None:
        self._ray = _import_ray()
        self.threads = threads_per_run
        self._address, self._num_cpus = address, num_cpus
        self._started = False
        self._remote: dict[Callable[..., Any], Any] = {}
        self._refs: list[Any] = []

    def _connect(self) -> Any:
        """Join (or start) the cluster on first use: a sweep with nothing to compute
        starts none."""
        ray = self._ray
        if not ray.is_initialized():
            _check_reachable(self._address)
            kwargs: dict[str, Any] = {"address": self._address, "include_dashboard": False,
                                      "configure_logging": False, "log_to_driver": False}
            if self._address is None:
                kwargs["num_cpus"] = self._num_cpus
            try:
                ray.init(**kwargs)
            except ConnectionError as err:
                raise UsageError(f"address: cannot join the Ray cluster at "
                                 f"{self._address!r}: {err}") from None
            self._started = True
        return ray

    def share(self, name: str, data: Any) -> Any:
        """An object-store reference to ``data``; Ray passes the object itself to tasks."""
        return self._connect().put(data)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        ray = self._connect()
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = ray.remote(fn).options(num_cpus=self.threads,
                                                               max_retries=0)
        ref = remote.remote(*args, **kwargs)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        ray = self._ray
        if cancel_futures and self._refs and ray.is_initialized():
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
