"""What every experiment shares: settings, runs, resume, evaluation, tables.

An experiment is a list of configurations (:class:`Config`), each trained once
per seed. A run is one (configuration, seed): it builds the chapter's scratch
MLP with ``build_mlp(seed=seed)`` and trains it with ``train_ch3`` on a
``Batches(seed=seed)`` order, so two configurations with the same seed start
from the same weights and see the same batches; their difference is paired
(see :func:`d2ldrop.experiments.inference.paired`).

Every finished run is written atomically to ``OUT/runs/<backend>-<config>-seed<s>.json``
with everything that determines it (experiment, settings, options, configuration,
seed). A later call skips a run whose file holds the same identity, and redoes
one whose identity differs (other epochs, another data size, ...). Only
framework-free code lives here: tensors are made by ``Batches`` and read back
with the adapter's ``to_numpy``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._text import align
from d2ldrop.data import Batches, FashionMNIST, load_fashion_mnist_arrays
from d2ldrop.experiments.inference import Summary, paired, summarize
from d2ldrop.models import MLP, build_mlp
from d2ldrop.training import SGD, CrossEntropyLoss, TrainingDiverged, train_ch3, write_atomic

#: Bumped when the content of a run file changes meaning: older files are redone.
RUN_FORMAT = 1
#: Batch size of the evaluation passes (no gradients, so larger than training's).
EVAL_BATCH = 2000
#: Quick form (tests, CI): data size, epochs and seeds.
QUICK_TRAIN, QUICK_TEST, QUICK_EPOCHS, QUICK_SEEDS = 3000, 1000, 2, 2
#: Full form: seeds, and epochs unless the experiment sets its own.
FULL_EPOCHS, FULL_SEEDS = 10, 3
#: Training accuracy "with dropout off" is measured on this many training images.
EVAL_TRAIN_SIZE = 10000

Log = Callable[[str], None]


@dataclass(frozen=True)
class Config:
    """One arm of an experiment, one row of its table."""

    label: str
    dropout1: float = 0.0
    dropout2: float = 0.0
    noise: str = "dropout"
    weight_decay: float = 0.0

    @property
    def key(self) -> str:
        """The label as a file-name-safe string."""
        return re.sub(r"[^A-Za-z0-9.=+-]+", "_", self.label).strip("_")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Settings:
    """What is the same for every run of an experiment (apart from the seed)."""

    backend: str
    epochs: int
    seeds: tuple[int, ...]
    quick: bool = False
    train_size: int | None = None  # None: all 60000 images
    test_size: int | None = None  # None: all 10000
    lr: float = 0.5
    batch_size: int = 256
    model: str = "scratch"  # the noise variants exist only for the scratch model
    init: str = "normal"
    updater: str = "scratch"

    def identity(self) -> dict[str, Any]:
        """The fields that determine one run (the seeds list is not one of them)."""
        d = asdict(self)
        del d["seeds"], d["quick"]
        return d


@dataclass
class Data:
    """The numpy arrays of a run: training, test, and the evaluation subset of training."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @property
    def eval_train(self) -> tuple[np.ndarray, np.ndarray]:
        n = min(EVAL_TRAIN_SIZE, len(self.train_images))
        return self.train_images[:n], self.train_labels[:n]

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.test_images, self.test_labels

    @classmethod
    def subset(cls, data: FashionMNIST, train: int | None, test: int | None) -> Data:
        # Fashion-MNIST's files are already in random class order, so a prefix
        # is a fair sample.
        return cls(data.train_images[:train], data.train_labels[:train],
                   data.test_images[:test], data.test_labels[:test])


@dataclass
class RunContext:
    """Everything a run function gets: one configuration and one seed."""

    experiment: Experiment
    settings: Settings
    config: Config
    seed: int
    options: dict[str, Any]
    data: Data

    @property
    def backend(self) -> str:
        return self.settings.backend


RunResult = dict[str, Any]  # {"metrics": {...}, "curves": {...}, "extra": {...}, "error": ...}


@dataclass(frozen=True)
class Column:
    """A metric of the table: its key in a run's metrics and how to show it."""

    key: str
    label: str
    digits: int = 4


@dataclass(frozen=True)
class Experiment:
    """One entry of the registry: configurations, how a run goes, what is reported."""

    name: str
    title: str
    question: str
    configs: tuple[Config, ...]
    columns: tuple[Column, ...]
    plot: Callable[[ExperimentResult, Path], Path]
    run: Callable[[RunContext], RunResult] | None = None  # None: train_and_evaluate
    baseline: str | None = None  # label of the row others are compared with, paired
    compare: tuple[str, ...] = ("test_acc",)  # metrics compared with the baseline
    analyse: Callable[[ExperimentResult], tuple[dict[str, Any], list[str]]] | None = None
    epochs: int = FULL_EPOCHS  # full form
    options: dict[str, Any] = field(default_factory=dict)  # full form
    quick_options: dict[str, Any] = field(default_factory=dict)  # overrides in quick form

    def options_for(self, quick: bool) -> dict[str, Any]:
        return {**self.options, **(self.quick_options if quick else {})}

    def config(self, label: str) -> Config:
        for c in self.configs:
            if c.label == label:
                return c
        raise KeyError(label)


@dataclass
class Row:
    """Aggregate of one configuration over its seeds."""

    config: Config
    metrics: dict[str, Summary]
    vs_baseline: dict[str, Summary]  # paired difference, this row minus the baseline
    errors: list[str]

    @property
    def n(self) -> int:
        """Runs that finished without an error (each metric's own count is in its Summary)."""
        return max((s.n for s in self.metrics.values()), default=0)


@dataclass
class ExperimentResult:
    """Rows of the table, the runs behind them and the experiment's own analysis."""

    experiment: Experiment
    settings: Settings
    options: dict[str, Any]
    runs: dict[tuple[str, int], RunResult]  # (config key, seed) -> result
    rows: list[Row] = field(default_factory=list)
    analysis: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    ran: int = 0
    skipped: int = 0

    def runs_of(self, config: Config) -> list[RunResult]:
        """The finished runs of ``config``, in seed order."""
        return [self.runs[(config.key, s)] for s in self.settings.seeds
                if (config.key, s) in self.runs]

    def metric(self, config: Config, key: str) -> list[float]:
        """Per-seed values of a metric (NaN for a run without it)."""
        return [_float(r.get("metrics", {}).get(key)) for r in self.runs_of(config)]

    def curves(self, config: Config, key: str) -> np.ndarray:
        """(seeds, points) array of a per-epoch curve (NaN-padded)."""
        rows = [r.get("curves", {}).get(key) or [] for r in self.runs_of(config)]
        width = max((len(r) for r in rows), default=0)
        out = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r)] = [_float(v) for v in r]
        return out

    def row(self, label: str) -> Row:
        for r in self.rows:
            if r.config.label == label:
                return r
        raise KeyError(label)


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


def json_safe(obj: Any) -> Any:
    """NaN and inf become null (strict JSON); numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# -- evaluation ------------------------------------------------------------------------


def logits_of(net: MLP, images: np.ndarray, labels: np.ndarray, *, training: bool) -> np.ndarray:
    """Logits of ``net`` for every image, as a numpy (N, 10) array.

    ``training=True`` keeps dropout (or the configured noise) on: each call
    draws new masks from the backend's generator.
    """
    adapter = net.adapter
    batches = Batches(images, labels, EVAL_BATCH, shuffle=False, backend=net.backend)
    return np.concatenate(
        [adapter.to_numpy(net(X, training=training)) for X, _ in batches]
    ).astype(np.float64)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def accuracy_and_loss(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Share of correct argmax predictions, and the mean softmax cross-entropy."""
    labels = np.asarray(labels, np.int64)
    acc = float(np.mean(logits.argmax(axis=1) == labels))
    loss = float(-np.mean(log_softmax(logits)[np.arange(len(labels)), labels]))
    return acc, loss


def evaluate(net: MLP, images: np.ndarray, labels: np.ndarray,
             *, training: bool = False) -> tuple[float, float]:
    """Accuracy and loss of ``net`` on the given images (dropout off by default)."""
    return accuracy_and_loss(logits_of(net, images, labels, training=training), labels)


# -- one run ---------------------------------------------------------------------------

#: Per-epoch curves recorded by every run. train_loss / train_acc are the book's
#: (training mode, dropout on, averaged while the weights change); the "eval"
#: ones are measured after the epoch with dropout off.
CURVES = ("train_loss", "train_acc", "train_eval_acc", "train_eval_loss", "test_acc",
          "test_loss", "gap")


def build_net(ctx: RunContext) -> MLP:
    """The run's model: seeded with the run's seed, so every configuration starts alike."""
    c, s = ctx.config, ctx.settings
    return build_mlp(s.model, dropout1=c.dropout1, dropout2=c.dropout2, noise=c.noise,
                     init=s.init, seed=ctx.seed, backend=s.backend)


def train_and_evaluate(
    ctx: RunContext,
    net: MLP | None = None,
    on_epoch: Callable[[MLP, int], None] | None = None,
) -> RunResult:
    """Train the run's model with train_ch3 and measure it after every epoch.

    ``net``: the model to train (default: :func:`build_net`; pass one to examine
    it afterwards). ``on_epoch(net, epoch)`` is called before training (epoch 0)
    and after each epoch. The result's "metrics" are the last epoch's values plus the best test
    accuracy; a diverged run has NaN metrics and its "error". Ctrl-C propagates
    as KeyboardInterrupt (the run is not finished, so nothing is saved).
    """
    s = ctx.settings
    net = net or build_net(ctx)
    train_iter = Batches(ctx.data.train_images, ctx.data.train_labels, s.batch_size,
                         shuffle=True, seed=ctx.seed, backend=s.backend)
    curves: dict[str, list[float]] = {k: [] for k in CURVES}
    eval_train, test = ctx.data.eval_train, ctx.data.test

    def after_epoch(history: Any) -> None:
        r = history.epochs[-1]
        train_eval_acc, train_eval_loss = evaluate(net, *eval_train)
        test_acc, test_loss = evaluate(net, *test)
        for key, value in (("train_loss", r.train_loss), ("train_acc", r.train_acc),
                           ("train_eval_acc", train_eval_acc),
                           ("train_eval_loss", train_eval_loss), ("test_acc", test_acc),
                           ("test_loss", test_loss), ("gap", train_eval_acc - test_acc)):
            curves[key].append(value)
        if on_epoch is not None:
            on_epoch(net, r.epoch)

    if on_epoch is not None:
        on_epoch(net, 0)
    updater = SGD(s.lr, s.updater, ctx.config.weight_decay)
    try:
        # Test accuracy and loss come from after_epoch's own pass (the loss needs
        # the logits), so train_ch3 gets an empty test set instead of a second pass.
        history = train_ch3(net, train_iter, [], CrossEntropyLoss(), s.epochs, updater,
                            progress=False, on_epoch=after_epoch)
    except TrainingDiverged as err:
        return {"metrics": {k: math.nan for k in CURVES}, "curves": curves,
                "error": str(err)}
    if history.interrupted:  # train_ch3 turns Ctrl-C into a flag; we stop the experiment
        raise KeyboardInterrupt
    metrics = {k: v[-1] for k, v in curves.items()}
    best = int(np.argmax(curves["test_acc"]))
    metrics.update(best_test_acc=curves["test_acc"][best], best_epoch=best + 1)
    return {"metrics": metrics, "curves": curves}


# -- the experiment --------------------------------------------------------------------


#: Epochs averaged by the "last epochs" metrics: at lr 0.5 the test accuracy of
#: single epochs swings by a point or more, which the average smooths.
LAST = 3


def with_derived(run: RunResult) -> RunResult:
    """Add metrics computed from the saved curves (so older run files get them too)."""
    curves, metrics = run.get("curves") or {}, run.setdefault("metrics", {})
    for key in ("test_acc", "gap"):
        values = [_float(v) for v in (curves.get(key) or [])[-LAST:]]
        ok = values and not run.get("error")  # a diverged run has no final epochs
        metrics[f"{key}_last{LAST}"] = float(np.mean(values)) if ok else math.nan
    return run


def make_settings(experiment: Experiment, backend: str | None = None, *,
                  epochs: int | None = None, seeds: int | None = None, seed: int = 0,
                  quick: bool = False) -> Settings:
    """Settings of the quick or full form, with ``epochs`` / ``seeds`` overriding them."""
    if epochs is None:
        epochs = QUICK_EPOCHS if quick else experiment.epochs
    if seeds is None:
        seeds = QUICK_SEEDS if quick else FULL_SEEDS
    for name, value, low in (("epochs", epochs, 1), ("seeds", seeds, 1), ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"Expected an integer {name} >= {low}. Received: {value!r}")
    if seed + seeds > 2**32:
        raise ValueError(f"Expected seed + seeds <= 2**32. Received: {seed} + {seeds}")
    return Settings(
        backend=get_adapter(backend).name, epochs=epochs,
        seeds=tuple(range(seed, seed + seeds)), quick=quick,
        train_size=QUICK_TRAIN if quick else None, test_size=QUICK_TEST if quick else None,
    )


def run_identity(experiment: Experiment, settings: Settings, options: dict[str, Any],
                 config: Config, seed: int) -> dict[str, Any]:
    """What determines a run; a saved run is reused only if this matches exactly."""
    return json_safe({"format": RUN_FORMAT, "experiment": experiment.name,
                      "settings": settings.identity(), "options": options,
                      "config": config.to_dict(), "seed": seed})


def run_path(out: Path, settings: Settings, config: Config, seed: int) -> Path:
    return out / "runs" / f"{settings.backend}-{config.key}-seed{seed}.json"


def load_run(path: Path, identity: dict[str, Any]) -> RunResult | None:
    """The saved result at ``path`` if it exists, reads, and has this identity."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("identity") != identity:
        return None
    return saved.get("result")


def run_experiment(
    experiment: Experiment,
    settings: Settings,
    out: str | Path,
    *,
    data: FashionMNIST | None = None,
    data_dir: str | Path | None = None,
    log: Log | None = None,
) -> ExperimentResult:
    """Run (or resume) every (configuration, seed), then write the table and figure.

    ``out`` receives ``runs/*.json`` (one per finished run), ``<name>.csv``,
    ``<name>.json`` and ``<name>.png``. ``log`` gets one line per run.
    Ctrl-C stops after saving the finished runs (KeyboardInterrupt propagates).
    """
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    log = log or (lambda line: None)
    options = experiment.options_for(settings.quick)
    if data is None:
        data = load_fashion_mnist_arrays(data_dir=data_dir)
    subset = Data.subset(data, settings.train_size, settings.test_size)
    result = ExperimentResult(experiment, settings, options, runs={})
    plan = [(c, s) for c in experiment.configs for s in settings.seeds]
    run = experiment.run or train_and_evaluate
    for i, (config, seed) in enumerate(plan, start=1):
        identity = run_identity(experiment, settings, options, config, seed)
        path = run_path(out, settings, config, seed)
        tag = f"{experiment.name} [{i}/{len(plan)}] {config.label}, seed {seed}"
        saved = load_run(path, identity)
        if saved is not None:
            result.runs[(config.key, seed)] = with_derived(saved)
            result.skipped += 1
            log(f"{tag}: done before ({path.name})")
            continue
        start = time.perf_counter()
        ctx = RunContext(experiment, settings, config, seed, options, subset)
        try:
            outcome = run(ctx)
        except KeyboardInterrupt:
            log(f"{tag}: interrupted; {i - 1} of {len(plan)} runs are saved in {out / 'runs'}")
            raise
        outcome = json_safe(outcome)
        seconds = time.perf_counter() - start
        write_atomic(path, json.dumps({"identity": identity, "result": outcome,
                                       "seconds": round(seconds, 2)}, indent=1) + "\n")
        result.runs[(config.key, seed)] = with_derived(outcome)
        result.ran += 1
        m = outcome.get("metrics", {})
        what = (f"error: {outcome['error']}" if outcome.get("error") else
                f"test acc {_float(m.get('test_acc')):.4f}, train acc (dropout off) "
                f"{_float(m.get('train_eval_acc')):.4f}")
        log(f"{tag}: {what} ({seconds:.1f} s)")
    aggregate(result)
    write_outputs(result, out)
    return result


def aggregate(result: ExperimentResult) -> None:
    """Fill the rows (means and paired differences) and the experiment's analysis."""
    exp = result.experiment
    keys = list(dict.fromkeys([c.key for c in exp.columns] + list(exp.compare)))
    base = exp.config(exp.baseline) if exp.baseline else None
    result.rows = []
    for config in exp.configs:
        metrics = {k: summarize(result.metric(config, k)) for k in keys}
        diffs = {}
        if base is not None and config != base:
            diffs = {k: paired(result.metric(config, k), result.metric(base, k))
                     for k in exp.compare}
        errors = [r["error"] for r in result.runs_of(config) if r.get("error")]
        result.rows.append(Row(config, metrics, diffs, errors))
    if exp.analyse is not None:
        result.analysis, result.notes = exp.analyse(result)


# -- tables ----------------------------------------------------------------------------


def fmt_summary(s: Summary, digits: int = 4, signed: bool = False) -> str:
    """'mean ± sd' ('-' when unknown); ``signed`` for differences: 'mean [low, high]'."""
    if s.n == 0:
        return "-"
    sign = "+" if signed else ""
    if signed:
        if s.n < 2:
            return f"{s.mean:{sign}.{digits}f}"
        return f"{s.mean:+.{digits}f} [{s.low:+.{digits}f}, {s.high:+.{digits}f}]"
    if s.n < 2:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {s.sd:.{digits}f}"


def _column_label(exp: Experiment, key: str) -> str:
    for c in exp.columns:
        if c.key == key:
            return c.label
    return key


def table_cells(result: ExperimentResult) -> list[list[str]]:
    """Header and rows: mean ± sd over seeds, paired differences with their 95% CI."""
    exp = result.experiment
    head = ["config", "n", *(c.label for c in exp.columns)]
    if exp.baseline:
        head += [f"Δ {_column_label(exp, k)} vs {exp.baseline} [95% CI]" for k in exp.compare]
    lines = [head]
    digits = {c.key: c.digits for c in exp.columns}
    for row in result.rows:
        failed = f" (+{len(row.errors)} diverged)" if row.errors else ""
        cells = [row.config.label, f"{row.n}{failed}"]
        cells += [fmt_summary(row.metrics[c.key], c.digits) for c in exp.columns]
        if exp.baseline:
            cells += [fmt_summary(row.vs_baseline[k], digits.get(k, 4), signed=True)
                      if k in row.vs_baseline else "(baseline)" for k in exp.compare]
        lines.append(cells)
    return lines


def text_table(result: ExperimentResult) -> str:
    """The table as aligned text, then any run's error."""
    text = [align(table_cells(result))]
    for row in result.rows:
        for err in dict.fromkeys(row.errors):
            text.append(f"{row.config.label}: {err}")
    return "\n".join(text)


def markdown_table(result: ExperimentResult) -> str:
    """The table in Markdown (for results pages)."""
    lines = table_cells(result)
    rows = ["| " + " | ".join(line) + " |" for line in lines]
    rows.insert(1, "|" + "|".join("---" for _ in lines[0]) + "|")
    return "\n".join(rows)


def csv_table(result: ExperimentResult) -> str:
    """One row per configuration: its parameters, then mean, sd, 95% CI half-width, n."""
    exp = result.experiment
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = ["experiment", "config", "dropout1", "dropout2", "noise", "weight_decay"]
    for c in exp.columns:
        head += [f"{c.key}_mean", f"{c.key}_sd", f"{c.key}_ci95", f"{c.key}_n"]
    for k in exp.compare if exp.baseline else ():
        head += [f"d_{k}_vs_baseline_mean", f"d_{k}_vs_baseline_ci95"]
    writer.writerow(head)

    def num(x: float) -> str:
        return repr(float(x)) if math.isfinite(x) else ""

    for row in result.rows:
        c = row.config
        cells = [exp.name, c.label, c.dropout1, c.dropout2, c.noise, c.weight_decay]
        for col in exp.columns:
            s = row.metrics[col.key]
            cells += [num(s.mean), num(s.sd), num(s.ci95), s.n]
        for k in exp.compare if exp.baseline else ():
            d = row.vs_baseline.get(k)
            cells += [num(d.mean), num(d.ci95)] if d else ["", ""]
        writer.writerow(cells)
    return out.getvalue()


def json_table(result: ExperimentResult) -> dict[str, Any]:
    exp = result.experiment
    return json_safe({
        "experiment": exp.name,
        "title": exp.title,
        "question": exp.question,
        "settings": asdict(result.settings),
        "options": result.options,
        "baseline": exp.baseline,
        "columns": [asdict(c) for c in exp.columns],
        "rows": [{
            "config": row.config.to_dict(),
            "n": row.n,
            "metrics": {k: s.to_dict() for k, s in row.metrics.items()},
            "vs_baseline": {k: s.to_dict() for k, s in row.vs_baseline.items()},
            "errors": row.errors,
        } for row in result.rows],
        "analysis": result.analysis,
        "notes": result.notes,
    })


def write_outputs(result: ExperimentResult, out: Path) -> list[Path]:
    """``<name>.csv``, ``<name>.json`` and ``<name>.png`` in ``out`` (each atomically)."""
    name = result.experiment.name
    paths = [out / f"{name}.csv", out / f"{name}.json"]
    write_atomic(paths[0], csv_table(result))
    write_atomic(paths[1], json.dumps(json_table(result), indent=2, ensure_ascii=False) + "\n")
    paths.append(result.experiment.plot(result, out / f"{name}.png"))
    result.paths = paths
    return paths


def report(result: ExperimentResult) -> str:
    """The printed form: title, sizes, the table and the experiment's notes."""
    s = result.settings
    seeds = f"{len(s.seeds)} seed{'s' * (len(s.seeds) > 1)} ({s.seeds[0]}..{s.seeds[-1]})"
    data = "full Fashion-MNIST" if s.train_size is None else (
        f"{s.train_size} training / {s.test_size} test images")
    lines = [f"{result.experiment.title}",
             f"{s.backend}, {s.model} MLP, {s.epochs} epochs, {seeds}, {data}, lr {s.lr}, "
             f"batch {s.batch_size}. Mean ± sd over seeds; Δ: paired difference per seed, "
             "mean [95% t-interval].",
             "", text_table(result)]
    if result.notes:
        lines += ["", *result.notes]
    return "\n".join(lines)
