"""Running an experiment: one run per (configuration, seed), saved and resumed.

A run builds the chapter's scratch MLP with ``build_mlp(seed=seed)`` and trains
it with ``train_ch3`` on a ``Batches(seed=seed)`` order, so two configurations
with the same seed start from the same weights and see the same batches; their
difference is paired (see :func:`d2ldrop.experiments.inference.paired`).

Every finished run is written atomically to ``OUT/runs/<backend>-<config>-seed<s>.json``
with everything that determines it (experiment, settings, options, configuration,
seed). A later call skips a run whose file holds the same identity, and redoes
one whose identity differs (other epochs, another data size, ...). Only
framework-free code lives here: tensors are made by ``Batches`` and read back
with the adapter's ``to_numpy``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop._io import json_safe, to_json, write_atomic
from d2ldrop.data import Batches, FashionMNIST, load_fashion_mnist_arrays
from d2ldrop.experiments.results import ExperimentResult, aggregate, as_float, with_derived
from d2ldrop.experiments.spec import (
    Config,
    Data,
    Experiment,
    Log,
    RunContext,
    RunResult,
    Settings,
)
from d2ldrop.experiments.tables import write_outputs
from d2ldrop.models import MLP, build_mlp
from d2ldrop.reference import cross_entropy
from d2ldrop.training import SGD, CrossEntropyLoss, TrainingDiverged, train_ch3

#: Bumped when the content of a run file changes meaning: older files are redone.
RUN_FORMAT = 1
#: Batch size of the evaluation passes (no gradients, so larger than training's).
EVAL_BATCH = 2000

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


def accuracy_and_loss(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Share of correct argmax predictions, and the mean softmax cross-entropy."""
    labels = np.asarray(labels, np.int64)
    acc = float(np.mean(logits.argmax(axis=1) == labels))
    losses, _ = cross_entropy(logits, labels)
    return acc, float(np.mean(losses))


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


# -- run files -------------------------------------------------------------------------


def run_identity(experiment: Experiment, settings: Settings, options: dict[str, Any],
                 config: Config, seed: int) -> dict[str, Any]:
    """What determines a run; a saved run is reused only if this matches exactly."""
    return json_safe({"format": RUN_FORMAT, "experiment": experiment.name,
                      "settings": settings.identity(), "options": options,
                      "config": config.to_dict(), "seed": seed})


def run_path(out: Path, settings: Settings, config: Config, seed: int) -> Path:
    """Where the run of ``config`` with ``seed`` is saved."""
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


# -- the experiment --------------------------------------------------------------------


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
        write_atomic(path, to_json({"identity": identity, "result": outcome,
                                    "seconds": round(seconds, 2)}, indent=1))
        result.runs[(config.key, seed)] = with_derived(outcome)
        result.ran += 1
        m = outcome.get("metrics", {})
        what = (f"error: {outcome['error']}" if outcome.get("error") else
                f"test acc {as_float(m.get('test_acc')):.4f}, train acc (dropout off) "
                f"{as_float(m.get('train_eval_acc')):.4f}")
        log(f"{tag}: {what} ({seconds:.1f} s)")
    aggregate(result)
    write_outputs(result, out)
    return result
