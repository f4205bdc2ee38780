"""A sweep: every distinct run of a list of tasks, computed once, through the store.

:func:`run_tasks` keeps the first task of each key (a run several experiments
ask for is one task), takes from the :class:`~d2ldrop.sweep.store.RunStore`
what is already there, and computes the rest on the executor (the runs of
most epochs first), or in this process, in order, when there is none. Each
finished run is saved at once, by this process; on Ctrl-C (or a failed run)
the runs that finished are saved, the queued ones cancelled, and the
exception propagates.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from typing import Any

from d2ldrop.sweep.store import Record, RunStore, RunStoreError
from d2ldrop.sweep.worker import Task, execute

#: Called for every run of the sweep, as it becomes available:
#: (key, record, fresh) where ``fresh`` says it was computed by this sweep.
OnRecord = Callable[[str, Record, bool], None]


@dataclass
class Counts:
    """How many runs a sweep asked for, how many distinct ones, and where they came from."""

    requested: int = 0  # tasks, repeats included
    distinct: int = 0
    stored: int = 0  # found in the store
    computed: int = 0

    @property
    def shared(self) -> int:
        """Tasks that are repeats of another task of the sweep."""
        return self.requested - self.distinct

    def describe(self) -> str:
        share = f", {self.shared / self.requested:.0%}" if self.requested else ""
        return (f"{self.requested} runs asked for, {self.distinct} distinct "
                f"({self.shared} shared{share}): {self.stored} found in the store, "
                f"{self.computed} computed")


def distinct_tasks(tasks: Sequence[Task]) -> dict[str, Task]:
    """The first task of each key, in order."""
    out: dict[str, Task] = {}
    for task in tasks:
        out.setdefault(task.spec.key, task)
    return out


def run_tasks(tasks: Sequence[Task], store: RunStore, data: Any, *,
              executor: Executor | None = None, on_record: OnRecord | None = None,
              counts: Counts | None = None) -> dict[str, Record]:
    """The record of every task's run, by key (see the module docstring).

    ``counts`` (if given) is filled in as the sweep goes. A stored file that
    does not hold its run raises :class:`~d2ldrop.sweep.store.RunStoreError`
    before anything is computed.
    """
    counts = counts if counts is not None else Counts()
    todo = distinct_tasks(tasks)
    counts.requested, counts.distinct = len(tasks), len(todo)
    records: dict[str, Record] = {}
    stored = {key: store.load(task.spec) for key, task in todo.items()}
    for key, record in stored.items():
        if record is not None:
            records[key] = record
            counts.stored += 1
            if on_record is not None:
                on_record(key, record, False)
    pending = [task for key, task in todo.items() if key not in records]
    # Every task knows the backends still to run: the process that runs it may run the others.
    every = tuple(dict.fromkeys(task.spec.backend for task in pending))
    pending = [dataclasses.replace(task, sweep_backends=every) for task in pending]

    def finish(task: Task, outcome: dict[str, Any]) -> None:
        result = outcome.pop("result")
        store.save(task.spec, result, **outcome)
        record = store.load(task.spec)  # as saved: strict JSON, the same for every reader
        if record is None:  # the store must read back what it has just written
            raise RunStoreError(f"run {task.spec.key}: saved, but its file does not read back")
        records[task.spec.key] = record
        counts.computed += 1
        if on_record is not None:
            on_record(task.spec.key, record, True)

    if executor is None or not pending:  # (an executor with nothing to do starts nothing)
        for task in pending:
            finish(task, execute(task, data))
        return records

    pending.sort(key=lambda t: -t.spec.epochs)  # the longest first: a shorter tail
    share = getattr(executor, "share", None)
    handle = share("data", data) if share is not None else data
    futures: dict[Future, Task] = {executor.submit(execute, t, handle): t for t in pending}
    try:
        for future in as_completed(futures):
            finish(futures[future], future.result())
    except BaseException:
        for future, task in futures.items():
            future.cancel()
            if task.spec.key not in records and future.done() and not future.cancelled() \
                    and future.exception() is None:
                with contextlib.suppress(Exception):  # keep the error that stopped us
                    finish(task, future.result())
        raise
    return records
