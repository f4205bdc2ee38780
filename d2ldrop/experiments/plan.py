"""Experiments as a sweep: every (configuration, seed) a run spec, each run computed once.

Each (configuration, seed) of an experiment is a :class:`~d2ldrop.sweep.spec.RunSpec`
(what the run does, the backend, the hyperparameters, the seed, the epochs and
a digest of the data); the experiment's name and the configuration's label
are not part of it, so the chapter's dropout model at 10 epochs is one run for
dropout-grid, weight-decay, dropconnect and noise alike. :func:`run_experiments`
plans the runs of several experiments, computes the distinct ones that the run
store lacks on the executor chosen (see :mod:`d2ldrop.sweep.executors`), and
writes each experiment's table and figure as soon as its last run is in.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from d2ldrop.data import FashionMNIST, load_fashion_mnist_arrays
from d2ldrop.display.live import live_figure
from d2ldrop.display.progress import notebook_log
from d2ldrop.experiments.plots import experiment_curves
from d2ldrop.experiments.results import ExperimentResult, aggregate, as_float, with_derived
from d2ldrop.experiments.runner import perform
from d2ldrop.experiments.spec import Config, Experiment, Log, Settings
from d2ldrop.experiments.tables import write_outputs
from d2ldrop.sweep.driver import Counts, run_tasks
from d2ldrop.sweep.executors import open_executor
from d2ldrop.sweep.spec import RunSpec, data_digest
from d2ldrop.sweep.store import Record, RunStore
from d2ldrop.sweep.worker import Task

#: The ``procedure`` of a run that is train_and_evaluate and nothing more.
PLAIN = "train"


def run_spec(experiment: Experiment, settings: Settings, config: Config, seed: int,
             digest: str) -> RunSpec:
    """The spec of one (configuration, seed) of ``experiment``."""
    options = experiment.options_for(settings.quick)
    return RunSpec(
        procedure=PLAIN if experiment.run is None else experiment.name,
        backend=settings.backend, seed=seed, epochs=settings.epochs, model=settings.model,
        lr=settings.lr, batch_size=settings.batch_size, dropout1=config.dropout1,
        dropout2=config.dropout2, noise=config.noise, weight_decay=config.weight_decay,
        init=settings.init, updater=settings.updater, train_size=settings.train_size,
        test_size=settings.test_size, data=digest, options=tuple(options.items()),
    )


def subset_digest(data: FashionMNIST, train_size: int | None, test_size: int | None) -> str:
    """The digest of the arrays a run with these sizes trains and is tested on."""
    return data_digest(data.train_images[:train_size], data.train_labels[:train_size],
                       data.test_images[:test_size], data.test_labels[:test_size])


@dataclass
class _Planned:
    """One experiment of the sweep: its result so far and the runs it waits for."""

    result: ExperimentResult
    out: Path
    slots: dict[str, list[tuple[Config, int]]]  # run key -> (configuration, seed) using it
    missing: int = 0  # (configuration, seed) still without their run
    written: bool = False  # the table and figure


def plan(items: Sequence[tuple[Experiment, Settings, str | Path]], data: FashionMNIST,
         threads: int | None = None) -> tuple[list[Task], list[_Planned]]:
    """Tasks for every (experiment, configuration, seed), repeats included, in order."""
    digests: dict[tuple[int | None, int | None], str] = {}
    tasks, planned = [], []
    for experiment, settings, out in items:
        sizes = (settings.train_size, settings.test_size)
        if sizes not in digests:
            digests[sizes] = subset_digest(data, *sizes)
        procedure = functools.partial(perform, run=experiment.run)
        result = ExperimentResult(experiment, settings, experiment.options_for(settings.quick),
                                  runs={})
        p = _Planned(result, Path(out), {})
        for config in experiment.configs:
            for seed in settings.seeds:
                spec = run_spec(experiment, settings, config, seed, digests[sizes])
                tasks.append(Task(spec, procedure, threads))
                p.slots.setdefault(spec.key, []).append((config, seed))
                p.missing += 1
        planned.append(p)
    return tasks, planned


def _describe(record: Record) -> str:
    result, m = record["result"], record["result"].get("metrics", {})
    if result.get("error"):
        return f"error: {result['error']}"
    threads = f", {record['threads']} thread(s)" if record.get("threads") else ""
    return (f"test acc {as_float(m.get('test_acc')):.4f}, train acc (dropout off) "
            f"{as_float(m.get('train_eval_acc')):.4f} ({record.get('seconds', 0):.1f} s"
            f"{threads})")


def run_experiments(
    items: Sequence[tuple[Experiment, Settings, str | Path]],
    *,
    store: RunStore | str | Path,
    data: FashionMNIST | None = None,
    data_dir: str | Path | None = None,
    executor: str | Executor | None = None,
    jobs: int | None = None,
    address: str | None = None,
    threads_per_run: int | None = None,
    log: Log | None = None,
    on_result: Callable[[ExperimentResult], None] | None = None,
    counts: Counts | None = None,
    live: bool | None = None,
) -> list[ExperimentResult]:
    """Run (or resume) several experiments as one sweep; write each one's table and figure.

    ``items``: (experiment, settings, output directory) triples; every run goes
    to ``store`` (a directory or a :class:`RunStore`), shared by all of them.
    ``executor`` / ``jobs`` / ``address`` / ``threads_per_run``: where the runs
    are computed (see :func:`d2ldrop.sweep.executors.open_executor`; default: in
    this process, one after another). ``on_result`` gets each experiment's
    result once its table is written; ``counts`` is filled with the sweep's
    totals. ``live``: in a notebook (None: only there; False: never) each
    experiment's curves so far are one output, redrawn after each of its runs,
    and ``log`` defaults to one updating line. Ctrl-C stops after saving the
    finished runs (KeyboardInterrupt propagates).
    """
    store = store if isinstance(store, RunStore) else RunStore(store)
    log = log or (notebook_log() if live is not False else None) or (lambda line: None)
    counts = counts if counts is not None else Counts()
    if data is None:
        data = load_fashion_mnist_arrays(data_dir=data_dir)
    with open_executor(executor, jobs=jobs, address=address,
                       threads_per_run=threads_per_run) as (pool, threads):
        tasks, planned = plan(items, data, threads)
        users: dict[str, list[_Planned]] = {}
        for p in planned:
            for key in p.slots:
                users.setdefault(key, []).append(p)
        done = [0]
        figures = {id(p): live_figure(live) for p in planned}

        def on_record(key: str, record: Record, fresh: bool) -> None:
            done[0] += 1
            for i, p in enumerate(users[key]):
                exp = p.result.experiment
                for config, seed in p.slots[key]:
                    p.result.runs[(config.key, seed)] = with_derived(
                        copy.deepcopy(record["result"]))
                    p.missing -= 1
                    if fresh and i == 0:
                        p.result.ran += 1
                    else:
                        p.result.skipped += 1
                        p.result.shared += fresh
                if i == 0:
                    config, seed = p.slots[key][0]
                    also = ", ".join(q.result.experiment.name for q in users[key][1:])
                    what = _describe(record) if fresh else f"done before ({key}.json)"
                    log(f"{exp.name} [{done[0]}/{counts.distinct}] {config.label}, seed "
                        f"{seed}: {what}" + (f"; also for {also}" if also else ""))
            for p in users[key]:
                figure = figures[id(p)]
                if figure is not None:
                    figure.show(experiment_curves(p.result))
                if p.missing == 0 and not p.written:
                    p.written = True
                    p.out.mkdir(parents=True, exist_ok=True)
                    aggregate(p.result)
                    write_outputs(p.result, p.out)
                    if on_result is not None:
                        on_result(p.result)

        try:
            run_tasks(tasks, store, data, executor=pool, on_record=on_record, counts=counts)
        except KeyboardInterrupt:
            log(f"interrupted; {counts.stored + counts.computed} of {counts.distinct} runs "
                f"are saved in {store.root}")
            raise
    return [p.result for p in planned]


def run_experiment(
    experiment: Experiment,
    settings: Settings,
    out: str | Path,
    *,
    store: RunStore | str | Path | None = None,
    data: FashionMNIST | None = None,
    data_dir: str | Path | None = None,
    log: Log | None = None,
    executor: str | Executor | None = None,
    jobs: int | None = None,
    address: str | None = None,
    threads_per_run: int | None = None,
    live: bool | None = None,
) -> ExperimentResult:
    """Run (or resume) every (configuration, seed), then write the table and figure.

    ``out`` receives ``<name>.csv``, ``<name>.json`` and ``<name>.png``; the runs
    go to ``store`` (default ``out/runs``), one file each, named by the run's
    key. ``log`` gets one line per run. The executor arguments and ``live`` are
    those of :func:`run_experiments`.
    """
    out = Path(out)
    (result,) = run_experiments(
        [(experiment, settings, out)], store=out / "runs" if store is None else store,
        data=data, data_dir=data_dir, executor=executor, jobs=jobs, address=address,
        threads_per_run=threads_per_run, log=log, live=live)
    return result
