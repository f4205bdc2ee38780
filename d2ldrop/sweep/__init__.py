"""Sweeps: many training runs, each computed once, here or on other processes and machines.

- :mod:`~d2ldrop.sweep.spec`: a run as a plain spec (:class:`RunSpec`) whose
  content hash (:attr:`RunSpec.key`) is its identity;
- :mod:`~d2ldrop.sweep.store`: the run store, one JSON file per finished run;
- :mod:`~d2ldrop.sweep.worker`: what a worker does with one task (threads
  pinned before its framework loads);
- :mod:`~d2ldrop.sweep.executors`: in this process, ``jobs`` spawned worker
  processes (:class:`LocalPool`), Ray, or any ``concurrent.futures.Executor``;
- :mod:`~d2ldrop.sweep.ray_cluster`: the Ray executor (Ray is imported only there);
- :mod:`~d2ldrop.sweep.driver`: a sweep of tasks through the store.

Nothing here knows an experiment: :mod:`d2ldrop.experiments.plan` turns
experiments into tasks, :mod:`d2ldrop.experiments.reproduction` the chapter's
reproduction over seeds. No framework is imported here either.
"""

from __future__ import annotations

from d2ldrop.sweep.driver import Counts, run_tasks
from d2ldrop.sweep.executors import LocalPool, open_executor
from d2ldrop.sweep.ray_cluster import RayExecutor
from d2ldrop.sweep.spec import RunSpec, data_digest
from d2ldrop.sweep.store import RunStore, RunStoreError
from d2ldrop.sweep.worker import Task, execute

__all__ = [
    "Counts",
    "LocalPool",
    "RayExecutor",
    "RunSpec",
    "RunStore",
    "RunStoreError",
    "Task",
    "data_digest",
    "execute",
    "open_executor",
    "run_tasks",
]
