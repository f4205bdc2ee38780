"""One experiment run: a configuration trained with one seed, and measured.

A run builds the chapter's scratch MLP with ``build_mlp(seed=seed)`` and trains
it with ``train_ch3`` on a ``Batches(seed=seed)`` order, so two configurations
with the same seed start from the same weights and see the same batches; their
difference is paired (see :func:`d2ldrop.experiments.inference.paired`).

A run is described by a :class:`~d2ldrop.sweep.spec.RunSpec`; :func:`perform`
turns one into its :class:`RunContext` and runs it (in this process or in a
sweep worker, see :mod:`d2ldrop.experiments.plan`). Only framework-free code
lives here: tensors are made by ``Batches`` and read back with the adapter's
``to_numpy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from d2ldrop._io import json_safe
from d2ldrop.data import Batches, FashionMNIST
from d2ldrop.experiments.spec import Config, Data, RunContext, RunResult, Settings
from d2ldrop.models import MLP, build_mlp
from d2ldrop.reference import cross_entropy
from d2ldrop.sweep.spec import RunSpec
from d2ldrop.training import SGD, CrossEntropyLoss, TrainingDiverged, train_ch3

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


# -- a run from its spec -----------------------------------------------------------------


def context(spec: RunSpec, data: FashionMNIST) -> RunContext:
    """The :class:`RunContext` of a run spec: its settings, configuration and data."""
    settings = Settings(backend=spec.backend, epochs=spec.epochs, seeds=(spec.seed,),
                        train_size=spec.train_size, test_size=spec.test_size, lr=spec.lr,
                        batch_size=spec.batch_size, model=spec.model, init=spec.init,
                        updater=spec.updater)
    config = Config("run", spec.dropout1, spec.dropout2, spec.noise, spec.weight_decay)
    return RunContext(settings, config, spec.seed, dict(spec.options),
                      Data.subset(data, spec.train_size, spec.test_size))


def perform(spec: RunSpec, data: FashionMNIST,
            run: Callable[[RunContext], RunResult] | None = None) -> RunResult:
    """Perform one experiment run: ``run`` (default :func:`train_and_evaluate`) on its
    context, the result as strict-JSON data. What a sweep worker calls."""
    return json_safe((run or train_and_evaluate)(context(spec, data)))
