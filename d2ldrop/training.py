"""``train_ch3``: the book's training loop, written once for every backend.

The adapter compiles one SGD step and one evaluation step for its framework;
everything else here (epochs, metrics, timing, divergence, interruption,
history) is backend-neutral.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from d2ldrop._progress import Progress
from d2ldrop.errors import D2LDropError
from d2ldrop.models import MLP

Tensor = Any


@dataclass(frozen=True)
class CrossEntropyLoss:
    """Softmax cross-entropy on logits, averaged over the batch (the chapter's loss)."""

    reduction: Literal["mean"] = "mean"


@dataclass(frozen=True)
class SGD:
    """Minibatch SGD, p <- p - lr * (grad of the batch-mean loss + weight_decay * p).

    ``impl="scratch"`` is the book's from-scratch ``sgd`` (parameters updated by
    hand, on every backend); ``"framework"`` is the framework's own optimizer
    (``torch.optim.SGD``, ``keras.optimizers.SGD``, ``gluon.Trainer('sgd')``).
    Weight decay, when set, applies to every parameter, biases included.
    """

    lr: float = 0.5
    impl: Literal["scratch", "framework"] = "scratch"
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"Expected a positive learning rate. Received: lr={self.lr!r}")
        wd = self.weight_decay
        if not (isinstance(wd, (int, float)) and math.isfinite(wd) and wd >= 0):
            raise ValueError(f"Expected a non-negative weight decay. Received: {wd!r}")
        if self.impl not in ("scratch", "framework"):
            raise ValueError(f"Expected impl 'scratch' or 'framework'. Received: {self.impl!r}")


def sgd(lr: float = 0.5) -> SGD:
    """The book's from-scratch SGD updater."""
    return SGD(lr, "scratch")


def framework_sgd(lr: float = 0.5) -> SGD:
    """The framework's own SGD optimizer."""
    return SGD(lr, "framework")


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    train_seconds: float
    eval_seconds: float

    @property
    def seconds(self) -> float:
        return self.train_seconds + self.eval_seconds


@dataclass
class History:
    """What train_ch3 measured, one record per finished epoch."""

    backend: str
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    epochs: list[EpochRecord] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None

    @property
    def final(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model,
            "config": self.config,
            "epochs": [asdict(r) for r in self.epochs],
            "interrupted": self.interrupted,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(
            backend=data["backend"],
            model=data["model"],
            config=data.get("config", {}),
            epochs=[EpochRecord(**r) for r in data["epochs"]],
            interrupted=data.get("interrupted", False),
            error=data.get("error"),
        )

    def to_csv(self) -> str:
        out = io.StringIO()
        names = [f for f in EpochRecord.__dataclass_fields__]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["backend", "model", *names])
        for r in self.epochs:
            writer.writerow([self.backend, self.model, *(getattr(r, n) for n in names)])
        return out.getvalue()

    def save(self, directory: str | os.PathLike[str], stem: str | None = None) -> list[Path]:
        """Write ``<stem>.json`` and ``<stem>.csv``; each file is replaced atomically."""
        directory = Path(directory)
        stem = stem or f"history-{self.backend}-{self.model}"
        paths = [directory / f"{stem}.json", directory / f"{stem}.csv"]
        write_atomic(paths[0], json.dumps(self.to_dict(), indent=2) + "\n")
        write_atomic(paths[1], self.to_csv())
        return paths


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``.

    A reader (or a crash) never sees half a file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class TrainingDiverged(D2LDropError, FloatingPointError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, batch: int, loss: float, history: History):
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch}: loss is {loss} "
            "(try a smaller learning rate)"
        )
        self.epoch, self.batch, self.loss, self.history = epoch, batch, loss, history


def evaluate_accuracy(net: MLP, data_iter: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Accuracy of ``net`` in evaluation mode (dropout off) over ``data_iter``."""
    evaluate = net.adapter.make_eval_step(net.net)
    return _accuracy(evaluate, data_iter)


def _accuracy(evaluate: Callable[[Tensor, Tensor], int], data_iter: Iterable) -> float:
    correct = total = 0
    for X, y in data_iter:
        correct += evaluate(X, y)
        total += int(y.shape[0])
    return correct / total if total else math.nan


def train_ch3(
    net: MLP,
    train_iter: Iterable[tuple[Tensor, Tensor]],
    test_iter: Iterable[tuple[Tensor, Tensor]],
    loss: CrossEntropyLoss,
    num_epochs: int,
    updater: SGD,
    *,
    progress: bool | None = None,
    on_epoch: Callable[[History], None] | None = None,
) -> History:
    """Train ``net`` for ``num_epochs`` and evaluate it after each, as the book does.

    Train loss and accuracy are those of the training-mode forward passes of the
    epoch (dropout on); test accuracy is measured in evaluation mode (dropout
    off). ``progress`` None shows a bar only on a terminal. ``on_epoch`` is
    called with the history after every finished epoch (e.g. to save it).

    Raises TrainingDiverged (carrying the history so far) if the loss becomes
    NaN or infinite. Ctrl-C stops after the current batch: the finished epochs
    are returned with ``history.interrupted`` set.
    """
    if not isinstance(loss, CrossEntropyLoss):
        raise TypeError(f"Expected a d2ldrop.CrossEntropyLoss. Received: {loss!r}")
    if not isinstance(updater, SGD):
        raise TypeError(f"Expected a d2ldrop.SGD updater. Received: {updater!r}")
    if not isinstance(num_epochs, int) or num_epochs < 0:
        raise ValueError(f"Expected a non-negative number of epochs. Received: {num_epochs!r}")
    adapter = net.adapter
    step = adapter.make_train_step(net.net, updater.lr, updater.impl, updater.weight_decay)
    evaluate = adapter.make_eval_step(net.net)
    history = History(
        backend=net.backend,
        model=net.kind,
        config={
            "num_epochs": num_epochs,
            "lr": updater.lr,
            "updater": updater.impl,
            "weight_decay": updater.weight_decay,
            "noise": net.noise,
            "dropout1": net.dropout[0],
            "dropout2": net.dropout[1],
        },
    )
    num_batches = len(train_iter) if hasattr(train_iter, "__len__") else None
    try:
        for epoch in range(1, num_epochs + 1):
            label = f"{net.backend}/{net.kind} epoch {epoch}/{num_epochs}"
            loss_sum = 0.0
            correct = seen = 0
            start = time.perf_counter()
            with Progress(label, num_batches, enabled=progress) as bar:
                for batch, (X, y) in enumerate(train_iter, start=1):
                    batch_loss, batch_correct = step(X, y)
                    if not math.isfinite(batch_loss):
                        raise TrainingDiverged(epoch, batch, batch_loss, history)
                    loss_sum += batch_loss
                    correct += batch_correct
                    seen += int(y.shape[0])
                    bar.update(batch, f"loss {loss_sum / seen:.4f}")
            train_seconds = time.perf_counter() - start
            start = time.perf_counter()
            test_acc = _accuracy(evaluate, test_iter)
            eval_seconds = time.perf_counter() - start
            history.epochs.append(
                EpochRecord(epoch, loss_sum / seen, correct / seen, test_acc,
                            train_seconds, eval_seconds)
            )
            if on_epoch is not None:
                on_epoch(history)
    except KeyboardInterrupt:
        history.interrupted = True
    except TrainingDiverged as err:
        history.error = str(err)
        raise
    return history
