"""The chapter's exercises (and Monte Carlo dropout) as reproducible experiments.

Each experiment trains the chapter's scratch MLP in a few configurations, once
per seed, and reports every metric as the mean and spread over the seeds, with
paired differences (same seed: same initial weights and batch order) and their
95% t-intervals, so that a difference can be told from noise. Each run is a
plain spec with a content hash (:mod:`d2ldrop.sweep`), saved once in a run
store and reused by every experiment that needs it: an interrupted experiment
continues where it stopped, and runs can be computed in worker processes
(``jobs=N``) or on a Ray cluster (``executor="ray"``).

    from d2ldrop import experiments

    result = experiments.run("dropout-grid", out="runs/grid", quick=True)  # default backend
    print(experiments.report(result))      # the table, as `d2ldrop experiment` prints it
    result.rows[0].metrics["test_acc"]      # Summary(mean, sd, ci95, n)
    experiments.run("noise", out="runs/noise", jobs=2)  # two worker processes

Modules: ``spec`` (configurations, settings, columns, rows), ``runner`` (one
run: training and evaluation), ``plan`` (experiments as a sweep of run specs,
the store, the executors), ``results`` (aggregation over seeds), ``tables`` (text,
Markdown, CSV, JSON, the report), ``registry`` (the experiments by name),
``catalog`` (one module per experiment: its configurations, run, analysis and
figure), ``plots`` (figure helpers), ``inference`` (t-intervals, Welch and
rank-sum tests), ``reproduction`` (the chapter on every backend over seeds, and
its accuracy bar). No framework is imported here: models and tensors go through
d2ldrop's adapters.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

from d2ldrop.data import FashionMNIST
from d2ldrop.experiments.inference import Summary, paired, summarize
from d2ldrop.experiments.plan import run_experiment, run_experiments
from d2ldrop.experiments.registry import EXPERIMENTS, NAMES, get_experiment
from d2ldrop.experiments.results import ExperimentResult
from d2ldrop.experiments.spec import Config, Experiment, Log, Row, Settings, make_settings
from d2ldrop.experiments.tables import report


def run(
    name: str,
    *,
    backend: str | None = None,
    out: str | Path,
    epochs: int | None = None,
    seeds: int | None = None,
    seed: int = 0,
    quick: bool = False,
    data: FashionMNIST | None = None,
    data_dir: str | Path | None = None,
    log: Log | None = None,
    store: str | Path | None = None,
    executor: str | Executor | None = None,
    jobs: int | None = None,
    address: str | None = None,
    threads_per_run: int | None = None,
    live: bool | None = None,
) -> ExperimentResult:
    """Run (or resume) experiment ``name`` and write its table and figure to ``out``.

    ``quick``: the small form (3000 training and 1000 test images, 2 epochs,
    2 seeds). ``epochs`` and ``seeds`` override either form; the seeds are
    ``seed, seed + 1, ...``. ``data``: arrays already loaded (else they are
    found as ``load_fashion_mnist_arrays(data_dir=...)`` finds them).
    ``live``: in a notebook the curves so far, redrawn after each run (None: only
    there; False: never). ``store``: the run store (default ``out/runs``). ``jobs=N``: N worker
    processes; ``executor="ray"`` (with ``address``), or any
    ``concurrent.futures.Executor``; ``threads_per_run``: threads of each run.
    """
    experiment = get_experiment(name)
    settings = make_settings(experiment, backend, epochs=epochs, seeds=seeds, seed=seed,
                             quick=quick)
    return run_experiment(experiment, settings, out, store=store, data=data,
                          data_dir=data_dir, log=log, executor=executor, jobs=jobs,
                          address=address, threads_per_run=threads_per_run, live=live)


__all__ = [
    "EXPERIMENTS",
    "NAMES",
    "Config",
    "Experiment",
    "ExperimentResult",
    "Row",
    "Settings",
    "Summary",
    "get_experiment",
    "make_settings",
    "paired",
    "report",
    "run",
    "run_experiment",
    "run_experiments",
    "summarize",
]
