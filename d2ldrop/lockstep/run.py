"""Training the backends in lockstep, next to the numpy reference.

Every backend and the reference are runs of one :func:`d2ldrop.training.train_epochs`
loop (the epoch accounting of ``train_ch3``): each batch goes to all of them,
with the same dropout masks, and after each epoch their parameters are compared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._validate import check_seed
from d2ldrop.backends.registry import load_in_order
from d2ldrop.data import Batches
from d2ldrop.display.figure import InlineFigure
from d2ldrop.display.live import live_figure
from d2ldrop.errors import D2LDropError, InvalidArgumentError
from d2ldrop.history import History
from d2ldrop.lockstep.constants import REFERENCE
from d2ldrop.lockstep.masks import draw_masks, mask_generator
from d2ldrop.lockstep.measures import record_diffs
from d2ldrop.lockstep.plot import default_title, lockstep_figure
from d2ldrop.lockstep.result import LockstepResult
from d2ldrop.models import KINDS, MLP, Kind, build_mlp, normal_init
from d2ldrop.reference import ReferenceMLP
from d2ldrop.training import SGD, Run, Updater, accuracy, default_updater, train_epochs

#: A lockstep batch as :func:`train_epochs` sees it: ``X`` is every backend's
#: (images, labels) tensors and the numpy masks, ``y`` the labels in numpy.
Inputs = tuple[dict[str, tuple[Any, Any]], list[np.ndarray]]


class LockstepError(D2LDropError):
    """The backends were not given the same inputs (a bug, not a numerical difference)."""


def run_lockstep(
    kind: Kind,
    backends: Sequence[str],
    data: Any,
    *,
    num_epochs: int = 10,
    lr: float = 0.5,
    batch_size: int = 256,
    dropout: tuple[float, float] = (0.2, 0.5),
    seed: int = 0,
    updater: Updater | None = None,
    dtype: str = "float32",
    reference: bool = True,
    reference_dtype: str = "float64",
    progress: bool | None = None,
    on_epoch: Callable[[LockstepResult], None] | None = None,
    live: bool | None = None,
) -> LockstepResult:
    """Train ``kind`` ('scratch' or 'concise') on ``backends`` in lockstep.

    ``data`` holds uint8 ``train_images``, ``train_labels``, ``test_images`` and
    ``test_labels`` (e.g. :func:`d2ldrop.data.load_fashion_mnist_arrays`).
    ``updater`` 'scratch' or 'framework' (default: the book's pairing, scratch
    for the scratch model, framework for the concise one). ``dtype`` 'float64'
    trains double-precision models (masks and inputs in float64 too). With ``reference``,
    the numpy reference (:class:`d2ldrop.reference.ReferenceMLP`, in
    ``reference_dtype``) takes the same steps. ``on_epoch`` is called with the
    result after every epoch. ``live``: every run's curves and the batch-loss
    differences redrawn in place after every epoch, in one notebook output
    (None: in a notebook unless ``progress`` is False; False: never).

    Raises TrainingDiverged if a backend's loss becomes NaN or infinite; Ctrl-C
    stops after the current step with ``result.interrupted`` set.
    """
    if kind not in KINDS:
        raise InvalidArgumentError(f"Expected kind in {KINDS}. Received: kind={kind!r}")
    load_in_order(backends)  # every framework first, in an order that works
    backends = [get_adapter(b).name for b in backends]
    if not backends or len(set(backends)) != len(backends):
        raise InvalidArgumentError(
            f"Expected one or more distinct backends. Received: {backends!r}"
        )
    seed = check_seed(seed)
    updater_ = SGD(lr, updater or default_updater(kind, backends))
    nets = {
        b: build_mlp(kind, dropout1=dropout[0], dropout2=dropout[1], seed=seed, backend=b,
                     dtype=dtype)
        for b in backends
    }
    first = nets[backends[0]]
    dropout = first.dropout
    # The initial parameters, drawn once in numpy and loaded into every model
    # (build_mlp drew the same numbers from the seed; this makes it explicit).
    init = normal_init(first.sizes, 0.01, seed, dtype)
    for net in nets.values():
        net.set_params(init)
    ref = ReferenceMLP(init, dropout, reference_dtype) if reference else None
    runs = [*backends, *([REFERENCE] if ref is not None else [])]
    config = {
        "num_epochs": num_epochs, "lr": lr, "updater": updater_.impl, "batch_size": batch_size,
        "dropout1": dropout[0], "dropout2": dropout[1], "seed": seed, "init": "normal",
        "lockstep": True, "dtype": dtype,
        "reference_dtype": reference_dtype if ref is not None else None,
    }
    result = LockstepResult(
        kind=kind, backends=list(backends), config=config,
        histories={r: History(backend=r, model=kind, config=dict(config)) for r in runs},
        step_losses={r: [] for r in runs},
    )
    lockstep = _Lockstep(result, nets, data, batch_size, seed, updater_, ref, dtype)
    shown = live_figure(live, progress)
    title = default_title(result)

    def end_epoch() -> None:
        lockstep.record_diffs()
        if shown is not None:
            shown.show(InlineFigure(lockstep_figure([result], title, num_epochs)))
        if on_epoch is not None:
            on_epoch(result)

    result.interrupted = train_epochs(
        lockstep.runs(), lockstep, num_epochs, label=f"lockstep {kind}", progress=progress,
        on_epoch=end_epoch,
    )
    return result


class _Lockstep:
    """The batches every run sees, and each run's step and evaluation.

    Iterating gives one epoch of :data:`Inputs`: each backend's own batch of the
    same examples (the same permutation on every backend), and one pair of
    dropout masks drawn in numpy for all of them.
    """

    def __init__(self, result: LockstepResult, nets: dict[str, MLP], data: Any,
                 batch_size: int, seed: int, updater: SGD, ref: ReferenceMLP | None,
                 dtype: str) -> None:
        self.result, self.nets, self.ref = result, nets, ref
        self.lr, self.dtype = updater.lr, dtype
        self.backends = list(nets)
        first = nets[self.backends[0]]
        self.dropout, self.widths = first.dropout, (first.sizes[1], first.sizes[2])
        self.steps = {b: n.adapter.make_train_step(n.net, updater.lr, updater.impl)
                      for b, n in nets.items()}
        self.evals = {b: n.adapter.make_eval_step(n.net) for b, n in nets.items()}
        self.train = {b: Batches(data.train_images, data.train_labels, batch_size,
                                 shuffle=True, seed=seed, backend=b) for b in nets}
        self.test = {b: Batches(data.test_images, data.test_labels, batch_size,
                                shuffle=False, backend=b) for b in nets}
        self.masks_rng = mask_generator(seed)
        self.epoch = 0
        self.first_step = 0  # where the epoch in progress starts in step_losses

    def __len__(self) -> int:
        return len(self.train[self.backends[0]])

    def __iter__(self) -> Iterator[tuple[Inputs, np.ndarray]]:
        self.epoch += 1
        first = self.nets[self.backends[0]].adapter
        # iter() draws each backend's permutation now: the same one for all.
        iterators = [iter(self.train[b]) for b in self.backends]
        for batch, pairs in enumerate(zip(*iterators), start=1):
            y0 = first.to_numpy(pairs[0][1])
            for b, (_, y) in zip(self.backends[1:], pairs[1:]):
                if not np.array_equal(self.nets[b].adapter.to_numpy(y), y0):
                    raise LockstepError(f"epoch {self.epoch}, batch {batch}: {b} got "
                                        f"other examples than {self.backends[0]}")
            masks = draw_masks(self.masks_rng, len(y0), self.widths, self.dropout, self.dtype)
            yield (dict(zip(self.backends, pairs)), masks), y0

    def runs(self) -> list[Run]:
        """Every backend, then the reference: the runs of :func:`train_epochs`."""
        runs = [self._backend_run(b) for b in self.backends]
        if self.ref is not None:
            runs.append(self._reference_run(self.ref))
        return runs

    def _backend_run(self, b: str) -> Run:
        adapter, step, evaluate = self.nets[b].adapter, self.steps[b], self.evals[b]
        losses = self.result.step_losses[b]

        def run_step(inputs: Inputs, y0: np.ndarray) -> tuple[float, int]:
            pairs, masks = inputs
            x, y = pairs[b]
            loss, correct = step(x, y, masks=[adapter.from_numpy(m) for m in masks])
            losses.append(loss / len(y0))
            return loss, correct

        return Run(self.result.histories[b], run_step, lambda: accuracy(evaluate, self.test[b]))

    def _reference_run(self, ref: ReferenceMLP) -> Run:
        # The reference reads the first backend's batches, converted to numpy.
        first = self.backends[0]
        adapter, losses = self.nets[first].adapter, self.result.step_losses[REFERENCE]

        def run_step(inputs: Inputs, y0: np.ndarray) -> tuple[float, int]:
            pairs, masks = inputs
            loss, correct = ref.step(adapter.to_numpy(pairs[first][0]), y0, masks, self.lr)
            losses.append(loss / len(y0))
            return loss, correct

        def evaluate(x: Any, y: Any) -> int:
            return ref.evaluate(adapter.to_numpy(x), adapter.to_numpy(y))

        return Run(self.result.histories[REFERENCE], run_step,
                   lambda: accuracy(evaluate, self.test[first]))

    def record_diffs(self) -> None:
        """Compare every run's parameters and metrics at the end of the epoch."""
        params = {b: n.get_params() for b, n in self.nets.items()}
        if self.ref is not None:
            params[REFERENCE] = self.ref.get_params()
        record_diffs(self.result, self.epoch, params, self.first_step)
        self.first_step = len(self.result.step_losses[self.backends[0]])
