"""``train_ch3``: the book's training loop, written once for every backend.

The adapter compiles one SGD step and one evaluation step for its framework;
everything else here (epochs, metrics, timing, divergence, interruption,
history) is backend-neutral. :func:`train_epochs` is that loop, for one run
(``train_ch3``) or several runs trained side by side on the same batches
(:mod:`d2ldrop.lockstep`).
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from d2ldrop._backend import get_adapter
from d2ldrop.backends.arrays import Tensor
from d2ldrop.display.progress import Progress
from d2ldrop.errors import D2LDropError, InvalidArgumentError, UsageError, WrongTypeError
from d2ldrop.history import EpochRecord, History, live_curves
from d2ldrop.models import MLP

__all__ = [
    "SGD", "CrossEntropyLoss", "EpochRecord", "History", "Run", "TrainingDiverged",
    "evaluate_accuracy", "framework_sgd", "sgd", "train_ch3", "train_epochs",
]

#: How SGD updates: by hand (the chapter's scratch step) or with the framework's optimizer.
Updater = Literal["scratch", "framework"]



@dataclass(frozen=True)
class CrossEntropyLoss:
    """Softmax cross-entropy on logits, averaged over the batch (the chapter's loss).

    The loss is computed in a numerically stable form by each backend's step;
    this object only names it for :func:`train_ch3`.

    Example:
        >>> d2ldrop.train_ch3(net, train_iter, test_iter, d2ldrop.CrossEntropyLoss(), 10,
        ...                   d2ldrop.sgd(0.5))
    """

    reduction: Literal["mean"] = "mean"


@dataclass(frozen=True)
class SGD:
    """Minibatch SGD, p <- p - lr * (grad of the batch-mean loss + weight_decay * p).

    ``impl="scratch"`` is the book's from-scratch ``sgd`` (parameters updated by
    hand, on every backend); ``"framework"`` is the framework's own SGD optimizer.
    Weight decay, when set, applies to every parameter, biases included.

    Args:
        lr: the learning rate, a positive finite number.
        impl: ``"scratch"`` or ``"framework"``.
        weight_decay: the L2 coefficient, a non-negative finite number.

    Raises:
        ValueError: a learning rate that is not positive and finite, a negative
            or non-finite weight decay, or an unknown ``impl``.

    Example:
        >>> d2ldrop.SGD(0.5, "scratch", weight_decay=1e-4)
        SGD(lr=0.5, impl='scratch', weight_decay=0.0001)
    """

    lr: float = 0.5
    impl: Updater = "scratch"
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        # numbers.Real admits numpy's scalars (np.float32(0.5)); bools are not rates.
        lr, wd = self.lr, self.weight_decay
        if not (_is_real(lr) and math.isfinite(lr) and lr > 0):
            raise InvalidArgumentError(f"Expected a positive learning rate. Received: lr={lr!r}")
        if not (_is_real(wd) and math.isfinite(wd) and wd >= 0):
            raise InvalidArgumentError(f"Expected a non-negative weight decay. Received: {wd!r}")
        # Held as Python floats: they are baked into compiled steps and written to JSON.
        object.__setattr__(self, "lr", float(lr))
        object.__setattr__(self, "weight_decay", float(wd))
        if self.impl not in ("scratch", "framework"):
            raise InvalidArgumentError(
                f"Expected impl 'scratch' or 'framework'. Received: {self.impl!r}"
            )


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def sgd(lr: float = 0.5) -> SGD:
    """The book's from-scratch SGD updater.

    Args:
        lr: the learning rate, a positive finite number.

    Returns:
        ``SGD(lr, "scratch")``: parameters updated by hand, the same on every backend.

    Raises:
        ValueError: ``lr`` is not a positive finite number.
    """
    return SGD(lr, "scratch")


def framework_sgd(lr: float = 0.5) -> SGD:
    """The framework's own SGD optimizer.

    Each backend's adapter steps with its framework's own optimizer (the
    backends guide names them). Where that optimizer cannot run in this
    environment, :func:`train_ch3` uses the scratch SGD instead, the same
    update, with a warning saying why.

    Args:
        lr: the learning rate, a positive finite number.

    Returns:
        ``SGD(lr, "framework")``.

    Raises:
        ValueError: ``lr`` is not a positive finite number.
    """
    return SGD(lr, "framework")


def default_updater(kind: str, backends: Sequence[str]) -> Updater:
    """The book's pairing: the scratch SGD for the scratch model, the framework's
    optimizer for the concise one, where every backend in ``backends`` has one.

    Where one has not (its optimizer library cannot be imported here, as the
    adapter's ``framework_updater_error`` says), the scratch SGD, with a warning
    saying why: for plain SGD it is the same update.
    """
    if kind == "scratch":
        return "scratch"
    for name in backends:
        reason = get_adapter(name).framework_updater_error()
        if reason is not None:
            warnings.warn(f"{name}/{kind}: the scratch SGD instead of the framework's "
                          f"(the same update): {reason}", UpdaterWarning, stacklevel=2)
            return "scratch"
    return "framework"


class UpdaterWarning(UserWarning):
    """The framework's optimizer cannot run here; the scratch SGD is used instead."""


class TrainingDiverged(D2LDropError, FloatingPointError):
    """The training loss became NaN or infinite.

    Also a ``FloatingPointError``. Raised by :func:`train_ch3`.

    Attributes:
        epoch: the epoch (from 1) in which the loss diverged.
        batch: the batch (from 1) of that epoch.
        loss: the loss of that batch (NaN or infinite).
        history: the finished epochs, a :class:`History`.
    """

    def __init__(self, epoch: int, batch: int, loss: float, history: History):
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch}: loss is {loss} "
            "(try a smaller learning rate)"
        )
        self.epoch, self.batch, self.loss, self.history = epoch, batch, loss, history


def evaluate_accuracy(net: MLP, data_iter: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Accuracy of ``net`` in evaluation mode (dropout off) over ``data_iter``.

    Args:
        net: an :class:`MLP`.
        data_iter: batches ``(X, y)`` of ``net``'s backend, e.g. the ``test_iter``
            of :func:`load_data_fashion_mnist`.

    Returns:
        Correct predictions over examples, in [0, 1]; NaN if ``data_iter`` is empty.
    """
    evaluate = net.adapter.make_eval_step(net.net)
    return accuracy(evaluate, data_iter)


def accuracy(evaluate: Callable[[Any, Any], int], data_iter: Iterable[tuple[Any, Any]]) -> float:
    """Correct predictions over the examples of ``data_iter`` (NaN if it is empty).

    ``evaluate(X, y)`` returns the number of correct predictions of a batch.
    """
    correct = total = 0
    for X, y in data_iter:
        correct += evaluate(X, y)
        total += int(y.shape[0])
    return correct / total if total else math.nan


@dataclass
class Run:
    """One model in :func:`train_epochs`: its step, its evaluation and its history.

    ``step(X, y)`` takes one SGD step on a batch and returns (sum of the
    per-example losses, number of correct predictions), as the adapters'
    ``make_train_step`` does; ``evaluate()`` returns the test accuracy.
    """

    history: History
    step: Callable[[Any, Any], tuple[float, int]]
    evaluate: Callable[[], float]


@dataclass
class _Tally:
    """Sums over the batches of the epoch in progress, for one run."""

    loss_sum: float = 0.0
    correct: int = 0
    step_seconds: float = 0.0


def train_epochs(
    runs: Sequence[Run],
    batches: Iterable[tuple[Any, Any]],
    num_epochs: int,
    *,
    label: str,
    progress: bool | None = None,
    on_epoch: Callable[[], None] | None = None,
) -> bool:
    """Train every run for ``num_epochs`` on ``batches``; returns True if interrupted.

    Each batch ``(X, y)`` goes to every run's step in turn (``y``'s first
    dimension counts its examples). After each epoch every run is evaluated and
    gets an :class:`EpochRecord`: the mean loss and the accuracy of its
    training-mode steps, its test accuracy, and its seconds. The epoch's wall
    time is shared out: each run is charged its own steps and an equal part of
    the rest (drawing the batches, the progress bar), so a run trained alone is
    charged the whole epoch. Then ``on_epoch()`` is called (e.g. to save the
    histories).

    Raises TrainingDiverged, with the run's history (its ``error`` set), if a
    loss becomes NaN or infinite. Ctrl-C stops after the current step: the
    finished epochs are kept and every history is marked ``interrupted``.
    """
    if not runs:
        raise InvalidArgumentError("Expected one or more runs to train. Received: none")
    num_batches = len(batches) if isinstance(batches, Sized) else None
    # One bar for the whole run: a line per epoch on a terminal, one output in a notebook.
    bar = Progress(label, num_batches, enabled=progress)
    try:
        for epoch in range(1, num_epochs + 1):
            tallies = [_Tally() for _ in runs]
            seen = 0
            start = time.perf_counter()
            bar.restart(f"{label} epoch {epoch}/{num_epochs}")
            with bar:
                for batch, (X, y) in enumerate(batches, start=1):
                    for run, tally in zip(runs, tallies):
                        step_start = time.perf_counter()
                        loss, correct = run.step(X, y)
                        tally.step_seconds += time.perf_counter() - step_start
                        if not math.isfinite(loss):
                            raise TrainingDiverged(epoch, batch, loss, run.history)
                        tally.loss_sum += loss
                        tally.correct += correct
                    seen += int(y.shape[0])
                    bar.update(batch, f"loss {tallies[0].loss_sum / seen:.4f}")
            if not seen:
                raise UsageError(f"the training batches are empty: epoch {epoch} got none "
                                 "(an exhausted iterator or an empty dataset?)")
            wall = time.perf_counter() - start
            shared = (wall - sum(t.step_seconds for t in tallies)) / len(runs)
            tests = []
            for run in runs:
                eval_start = time.perf_counter()
                tests.append((run.evaluate(), time.perf_counter() - eval_start))
            for run, tally, (test_acc, eval_seconds) in zip(runs, tallies, tests):
                run.history.epochs.append(EpochRecord(
                    epoch, tally.loss_sum / seen, tally.correct / seen, test_acc,
                    shared + tally.step_seconds, eval_seconds,
                ))
            if on_epoch is not None:
                on_epoch()
    except KeyboardInterrupt:
        for run in runs:
            run.history.interrupted = True
        return True
    except TrainingDiverged as err:
        err.history.error = str(err)
        raise
    return False


R = TypeVar("R")


def _checked(adapter: Any, name: str, step: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
    """``step`` checking that its first batch holds the model's framework's tensors."""
    seen: list[bool] = []

    def checked(X: Any, y: Any) -> R:
        if not seen:
            for what, t in (("images", X), ("labels", y)):
                if not adapter.is_tensor(t):
                    raise UsageError(
                        f"{name} gives {what} as {type(t).__module__}.{type(t).__qualname__}, "
                        f"not {adapter.name} tensors: load the data with "
                        f"d2ldrop.data.Batches(..., backend={adapter.name!r})")
            seen.append(True)
        return step(X, y)

    return checked


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
    live: bool | None = None,
) -> History:
    """Train ``net`` for ``num_epochs`` and evaluate it after each, as the book does.

    Train loss and accuracy are those of the training-mode forward passes of the
    epoch (dropout on); test accuracy is measured in evaluation mode (dropout
    off). ``progress`` None shows a bar only on a terminal or in a notebook.
    ``on_epoch`` is called with the history after every finished epoch (e.g. to
    save it). ``live``: the three curves redrawn in place after every epoch, in
    one notebook output (None: in a notebook unless ``progress`` is False; False:
    never; True: also outside a notebook, which needs IPython).

    Ctrl-C stops after the current batch: the finished epochs are returned with
    ``history.interrupted`` set.

    Args:
        net: an :class:`MLP` from :func:`build_mlp`.
        train_iter: training batches ``(X, y)`` of ``net``'s backend.
        test_iter: test batches, evaluated after every epoch.
        loss: a :class:`CrossEntropyLoss`.
        num_epochs: a non-negative number of epochs.
        updater: an :class:`SGD` (:func:`sgd` or :func:`framework_sgd`).
        progress: show a progress bar; None: on a terminal or in a notebook.
        on_epoch: called with the :class:`History` after every finished epoch.
        live: redraw the three curves after every epoch (see above).

    Returns:
        A :class:`History`: one record per epoch (train loss, train accuracy,
        test accuracy, seconds); ``history.final`` is the last.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (it carries the
            history so far).
        TypeError: ``loss`` or ``updater`` is not d2ldrop's.
        ValueError: ``num_epochs`` is not a non-negative integer, or the
            batches are of another backend than ``net``.

    Example:
        >>> train_iter, test_iter = d2ldrop.load_data_fashion_mnist(256, seed=0)
        >>> net = d2ldrop.build_mlp("scratch", seed=0)
        >>> history = d2ldrop.train_ch3(net, train_iter, test_iter,
        ...                             d2ldrop.CrossEntropyLoss(), 10, d2ldrop.sgd(0.5))
        >>> history.final.test_acc > 0.7
        True
    """
    if not isinstance(loss, CrossEntropyLoss):
        raise WrongTypeError(f"Expected a d2ldrop.CrossEntropyLoss. Received: {loss!r}")
    if not isinstance(updater, SGD):
        raise WrongTypeError(f"Expected a d2ldrop.SGD updater. Received: {updater!r}")
    if not isinstance(num_epochs, int) or isinstance(num_epochs, bool) or num_epochs < 0:
        raise InvalidArgumentError(
            f"Expected a non-negative number of epochs. Received: {num_epochs!r}"
        )
    for name, batches in (("train_iter", train_iter), ("test_iter", test_iter)):
        other = getattr(batches, "backend", net.backend)
        if other != net.backend:
            raise InvalidArgumentError(
                f"{name} gives {other} tensors but the model is on {net.backend}: load the "
                f"data with backend={net.backend!r} (or build the model on {other!r})"
            )
    adapter = net.adapter
    step = _checked(adapter, "train_iter",
                    adapter.make_train_step(net.net, updater.lr, updater.impl,
                                            updater.weight_decay))
    evaluate = _checked(adapter, "test_iter", adapter.make_eval_step(net.net))
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
    run = Run(history, step, lambda: accuracy(evaluate, test_iter))
    label = f"{net.backend}/{net.kind}"
    redraw = live_curves(live, progress, label, num_epochs)

    def end_epoch() -> None:
        if redraw is not None:
            redraw([history])
        if on_epoch is not None:
            on_epoch(history)

    train_epochs([run], train_iter, num_epochs, label=label, progress=progress,
                 on_epoch=end_epoch)
    return history
