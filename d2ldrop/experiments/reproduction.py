"""The chapter reproduced on every backend over seeds, and the accuracy bar it must meet.

A *book run* is what ``d2ldrop train`` does with the chapter's settings (lr 0.5,
batch 256, dropout 0.2 / 0.5, the model's default updater): ``train_ch3`` on the
full data, test accuracy after each epoch. It is a run spec like any other
(procedure ``"book"``), so ``scripts/reproduce.py --seeds`` computes its runs
through the run store and any executor, and resumes.

The bar, over seeds (one seed's final test accuracy swings by a point or more
at lr 0.5, so no per-run threshold above the book's is used): for each backend
and model,

- every run passes the book's ``train_ch3`` checks (train loss < 0.5, train and
  test accuracy > 0.7);
- the mean final test accuracy over the seeds is >= 0.84;
- no backend stands apart: for each model and each pair of backends, the 99%
  Welch interval of the difference of their means contains 0.

It is defined over 10 seeds; with fewer it is computed on what is given, and
with fewer than 2 no interval exists, so the bar is not met.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2ldrop._text import align
from d2ldrop.data import Batches, FashionMNIST
from d2ldrop.experiments.inference import welch_interval
from d2ldrop.experiments.plan import subset_digest
from d2ldrop.experiments.spec import Log
from d2ldrop.models import Kind, build_mlp
from d2ldrop.sweep.driver import Counts, run_tasks
from d2ldrop.sweep.executors import open_executor
from d2ldrop.sweep.spec import RunSpec
from d2ldrop.sweep.store import Record, RunStore
from d2ldrop.sweep.worker import Task
from d2ldrop.training import (
    SGD,
    CrossEntropyLoss,
    TrainingDiverged,
    default_updater,
    train_ch3,
)

CHAPTER: dict[str, Any] = {"lr": 0.5, "batch_size": 256, "dropout1": 0.2, "dropout2": 0.5}
BOOK_MAX_TRAIN_LOSS, BOOK_MIN_ACC = 0.5, 0.7
MIN_MEAN_TEST_ACC = 0.84
LEVEL = 0.99
SEEDS = 10


def book_spec(backend: str, model: Kind, seed: int, epochs: int, digest: str) -> RunSpec:
    """The spec of one book run (the updater as ``d2ldrop train`` chooses it, see
    :func:`d2ldrop.training.default_updater`)."""
    return RunSpec(procedure="book", backend=backend, model=model, seed=seed, epochs=epochs,
                   updater=default_updater(model, [backend]), data=digest, **CHAPTER)


def train_book(spec: RunSpec, data: FashionMNIST) -> dict[str, Any]:
    """Train as ``d2ldrop train`` does; the history's curves and final figures."""
    net = build_mlp(spec.model, dropout1=spec.dropout1, dropout2=spec.dropout2,
                    init=spec.init, seed=spec.seed, backend=spec.backend, dtype=spec.dtype)
    train_iter = Batches(data.train_images[:spec.train_size], data.train_labels[:spec.train_size],
                         spec.batch_size, shuffle=True, seed=spec.seed, backend=spec.backend)
    test_iter = Batches(data.test_images[:spec.test_size], data.test_labels[:spec.test_size],
                        spec.batch_size, shuffle=False, backend=spec.backend)
    try:
        history = train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), spec.epochs,
                            SGD(spec.lr, spec.updater, spec.weight_decay), progress=False)
        error = None
    except TrainingDiverged as err:
        history, error = err.history, str(err)
    if history.interrupted:
        raise KeyboardInterrupt
    curves = {k: [getattr(r, k) for r in history.epochs]
              for k in ("train_loss", "train_acc", "test_acc")}
    final = {k: (v[-1] if v and error is None else math.nan) for k, v in curves.items()}
    return {"metrics": final, "curves": curves, "error": error}


def book_checks(row: dict[str, Any]) -> bool:
    """d2l's train_ch3 assertions on the final epoch."""
    loss, train, test = (row.get(k, math.nan) for k in ("train_loss", "train_acc", "test_acc"))
    if any(v is None or not math.isfinite(v) for v in (loss, train, test)) or row.get("error"):
        return False
    return loss < BOOK_MAX_TRAIN_LOSS and train > BOOK_MIN_ACC and test > BOOK_MIN_ACC


def row_of(record: Record) -> dict[str, Any]:
    """One run's line of the table: backend, model, seed, final figures, checks."""
    spec, result = record["spec"], record["result"]
    row = {"backend": spec["backend"], "model": spec["model"], "seed": spec["seed"],
           "epochs": len(result.get("curves", {}).get("test_acc", [])),
           **{k: math.nan if v is None else v for k, v in result.get("metrics", {}).items()},
           "error": result.get("error"), "seconds": record.get("seconds"),
           "threads": record.get("threads")}
    row["book_checks"] = book_checks(row)
    return row


def run_book(backends: Sequence[str], models: Sequence[Kind], seeds: Sequence[int],
             epochs: int, *, store: RunStore | str | Path, data: FashionMNIST,
             executor: str | Executor | None = None, jobs: int | None = None,
             address: str | None = None, threads_per_run: int | None = None,
             log: Log | None = None, counts: Counts | None = None) -> list[dict[str, Any]]:
    """Every (backend, model, seed) book run, through the store; their rows, in order."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    log = log or (lambda line: None)
    digest = subset_digest(data, None, None)
    done = [0]
    with open_executor(executor, jobs=jobs, address=address,
                       threads_per_run=threads_per_run) as (pool, threads):
        tasks = [Task(book_spec(b, m, s, epochs, digest), train_book, threads)
                 for s in seeds for b in backends for m in models]

        def on_record(key: str, record: Record, fresh: bool) -> None:
            done[0] += 1
            r = row_of(record)
            what = (f"test acc {r['test_acc']:.4f}, train loss {r['train_loss']:.4f} "
                    f"({r['seconds']:.0f} s)" if fresh else "done before")
            log(f"[{done[0]}/{len(tasks)}] {r['backend']}/{r['model']} seed {r['seed']}: {what}")

        records = run_tasks(tasks, store, data, executor=pool, on_record=on_record,
                            counts=counts)
    return [row_of(records[t.spec.key]) for t in tasks]


@dataclass
class Group:
    """One backend and model over the seeds."""

    backend: str
    model: str
    seeds: list[int]
    test_acc: list[float]
    failing: list[int]  # seeds whose run fails the book's checks

    @property
    def mean(self) -> float:
        return statistics.fmean(self.test_acc) if self.test_acc else math.nan

    @property
    def sd(self) -> float:
        return statistics.stdev(self.test_acc) if len(self.test_acc) > 1 else math.nan


@dataclass
class Pair:
    """Two backends' mean test accuracy on one model: difference and its Welch interval."""

    model: str
    a: str
    b: str
    diff: float
    low: float
    high: float

    @property
    def decided(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def apart(self) -> bool:
        """True unless the interval contains 0 (undecided counts as apart)."""
        return not (self.decided and self.low <= 0.0 <= self.high)


@dataclass
class Bar:
    """The accuracy bar over seeds: the groups, the pairs and what falls short."""

    groups: list[Group]
    pairs: list[Pair]
    seeds: list[int]

    def problems(self) -> list[str]:
        out = []
        if len(self.seeds) < 2:
            out.append(f"{len(self.seeds)} seed(s): the bar needs at least 2 (it is defined "
                       f"over {SEEDS})")
        for g in self.groups:
            if g.failing:
                out.append(f"{g.backend}/{g.model}: seed(s) {', '.join(map(str, g.failing))} "
                           "fail the book's checks")
            if not g.mean >= MIN_MEAN_TEST_ACC:
                out.append(f"{g.backend}/{g.model}: mean test accuracy {g.mean:.4f} < "
                           f"{MIN_MEAN_TEST_ACC}")
        for p in self.pairs:
            if p.apart:
                out.append(f"{p.model}: {p.a} - {p.b} = {p.diff:+.4f}, "
                           + (f"{LEVEL:.0%} interval [{p.low:+.4f}, {p.high:+.4f}] excludes 0"
                              if p.decided else "no interval"))
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()


def accuracy_bar(rows: Sequence[dict[str, Any]]) -> Bar:
    """The bar (see the module docstring) over the rows of :func:`run_book`."""
    keys = list(dict.fromkeys((r["backend"], r["model"]) for r in rows))
    groups = []
    for backend, model in keys:
        runs = sorted((r for r in rows if (r["backend"], r["model"]) == (backend, model)),
                      key=lambda r: r["seed"])
        groups.append(Group(backend, model, [r["seed"] for r in runs],
                            [r["test_acc"] for r in runs if math.isfinite(r["test_acc"])],
                            [r["seed"] for r in runs if not r["book_checks"]]))
    pairs = []
    for i, g in enumerate(groups):
        for h in groups[i + 1:]:
            if g.model == h.model:
                diff, low, high, _ = welch_interval(g.test_acc, h.test_acc, LEVEL)
                pairs.append(Pair(g.model, g.backend, h.backend, diff, low, high))
    models = list(dict.fromkeys(g.model for g in groups))
    pairs.sort(key=lambda p: models.index(p.model))
    return Bar(groups, pairs, sorted({r["seed"] for r in rows}))


def bar_report(bar: Bar) -> str:
    """The table of the groups and of the pairs, then the verdict."""
    n = len(bar.seeds)
    lines = [f"final test accuracy over {n} seed(s) ({', '.join(map(str, bar.seeds))})", ""]
    cells = [["backend", "model", "mean", "sd", "min", "max", "book checks",
              f"mean >= {MIN_MEAN_TEST_ACC}"]]
    for g in bar.groups:
        v = g.test_acc
        cells.append([g.backend, g.model, f"{g.mean:.4f}", f"{g.sd:.4f}" if n > 1 else "-",
                      f"{min(v):.4f}" if v else "-", f"{max(v):.4f}" if v else "-",
                      f"{len(g.seeds) - len(g.failing)}/{len(g.seeds)}",
                      "yes" if g.mean >= MIN_MEAN_TEST_ACC else "NO"])
    lines.append(align(cells))
    if bar.pairs:
        cells = [["model", "pair", "difference of means", f"{LEVEL:.0%} Welch interval",
                  "stands apart"]]
        for p in bar.pairs:
            cells.append([p.model, f"{p.a} - {p.b}", f"{p.diff:+.4f}",
                          f"[{p.low:+.4f}, {p.high:+.4f}]" if p.decided else "none (n < 2)",
                          "YES" if p.apart else "no"])
        lines += ["", align(cells)]
    problems = bar.problems()
    lines.append("")
    if problems:
        lines += ["the bar is not met:", *(f"  - {p}" for p in problems)]
    else:
        lines.append(f"the bar is met: every run passes the book's checks, every mean >= "
                     f"{MIN_MEAN_TEST_ACC}, no backend stands apart ({LEVEL:.0%} Welch "
                     "intervals)")
    if n != SEEDS and n >= 2:
        lines.append(f"(the bar is defined over {SEEDS} seeds; this is {n})")
    return "\n".join(lines)
