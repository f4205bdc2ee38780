"""Lockstep training: one training run, computed by every framework step by step.

Everything random is drawn once, in numpy, from the seed, and handed to each
backend: the initial parameters (:func:`d2ldrop.models.normal_init`), the batch
order (:class:`d2ldrop.data.Batches`, the same permutation on every backend) and
the dropout keep-masks (:func:`mask_generator`, a stream of its own, passed to
``step(x, y, masks=...)`` in place of the framework's generator). The forward
pass, the loss, the gradients and the SGD update are each framework's own. The
backends advance together, one batch at a time, next to the numpy reference of
:mod:`d2ldrop.reference` (float64 by default), so that the runs can be compared
at every step and after every epoch.

Backend-neutral: frameworks are reached only through their adapters.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._progress import Progress
from d2ldrop._text import align
from d2ldrop.data import Batches
from d2ldrop.errors import D2LDropError
from d2ldrop.models import KINDS, build_mlp, normal_init
from d2ldrop.plotting import new_figure, save_png
from d2ldrop.reference import ReferenceMLP
from d2ldrop.training import SGD, EpochRecord, History, TrainingDiverged

#: Spawn key of the dropout-mask stream: ``SeedSequence(seed, spawn_key=(1,))``,
#: independent of the streams that draw the initial parameters and batch orders.
MASK_STREAM = 1
#: Name of the numpy reference among the runs.
REFERENCE = "numpy"
#: What lockstep runs must satisfy: the largest difference between two backends of
#: the per-epoch training loss, and of the final test accuracy. Float64 runs of the
#: chapter meet them by ten orders of magnitude; float32 runs cannot: the run
#: amplifies one float32 rounding until the runs part (README, "Lockstep").
LOSS_BOUND = 1e-3
TEST_ACC_BOUND = 0.003


class LockstepError(D2LDropError):
    """The backends were not given the same inputs (a bug, not a numerical difference)."""


def mask_generator(seed: int) -> np.random.Generator:
    """The numpy generator the dropout masks of a lockstep run are drawn from."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(MASK_STREAM,)))


def draw_masks(
    rng: np.random.Generator,
    n: int,
    widths: tuple[int, int],
    dropout: tuple[float, float],
    dtype: str | np.dtype = "float32",
) -> list[np.ndarray]:
    """Two 0/1 keep-masks of shapes (n, widths[0]) and (n, widths[1]).

    Keep where a float32 uniform exceeds p, as the chapter's dropout_layer. The
    draws are made even when p is 0 or 1 (where the masks are not used), so the
    stream does not depend on the rates.
    """
    return [
        (rng.random((n, w), dtype=np.float32) > p).astype(dtype)
        for w, p in zip(widths, dropout)
    ]


@dataclass
class EpochDiff:
    """The largest differences after one epoch.

    Fields without a prefix: between any two backends (None with one backend);
    ``ref_``: between any backend and the numpy reference (None without it).
    ``params`` is the largest absolute difference of any parameter at the end of
    the epoch; ``step_loss`` the largest difference of a batch's mean loss.
    """

    epoch: int
    train_loss: float | None
    train_acc: float | None
    test_acc: float | None
    params: float | None
    step_loss: float | None
    ref_train_loss: float | None = None
    ref_train_acc: float | None = None
    ref_test_acc: float | None = None
    ref_params: float | None = None
    ref_step_loss: float | None = None


@dataclass
class LockstepResult:
    """Histories of every run (the backends and ``"numpy"``) and their differences.

    ``step_losses`` holds each run's batch mean losses, in order;
    ``final_param_diffs`` the largest parameter difference of every pair of runs
    at the end (keys ``"torch-mxnet"``, ``"torch-numpy"``, ...), and
    ``param_scale`` the largest absolute parameter (of the first backend), for scale.
    """

    kind: str
    backends: list[str]
    config: dict[str, Any]
    histories: dict[str, History] = field(default_factory=dict)
    diffs: list[EpochDiff] = field(default_factory=list)
    step_losses: dict[str, list[float]] = field(default_factory=dict)
    final_param_diffs: dict[str, float] = field(default_factory=dict)
    param_scale: float = math.nan
    interrupted: bool = False

    @property
    def max_train_loss_diff(self) -> float | None:
        """Largest per-epoch training-loss difference between two backends."""
        values = [d.train_loss for d in self.diffs if d.train_loss is not None]
        return max(values) if values else None

    @property
    def final_test_acc_diff(self) -> float | None:
        """Test-accuracy difference between two backends after the last epoch."""
        return self.diffs[-1].test_acc if self.diffs else None

    def compared(self) -> tuple[str, float | None, float | None, float | None]:
        """What the bounds apply to: (label, largest per-epoch train-loss difference,
        final test-accuracy difference, final parameter difference), between the
        backends, or with one backend between it and numpy."""
        if len(self.backends) > 1:
            pairs = [v for k, v in self.final_param_diffs.items() if REFERENCE not in k]
            return ("between backends", self.max_train_loss_diff, self.final_test_acc_diff,
                    max(pairs, default=None))
        losses = [d.ref_train_loss for d in self.diffs if d.ref_train_loss is not None]
        return (
            f"{self.backends[0]} vs {REFERENCE}",
            max(losses, default=None),
            self.diffs[-1].ref_test_acc if self.diffs else None,
            self.final_param_diffs.get(f"{self.backends[0]}-{REFERENCE}"),
        )

    @property
    def agrees(self) -> bool:
        """Within LOSS_BOUND and TEST_ACC_BOUND (see :meth:`compared`)."""
        _, loss, acc, _ = self.compared()
        return (loss is None or loss < LOSS_BOUND) and (acc is None or acc <= TEST_ACC_BOUND)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "backends": self.backends,
            "config": self.config,
            "bounds": {"train_loss": LOSS_BOUND, "test_acc": TEST_ACC_BOUND},
            "agrees": self.agrees,
            "compared": self.compared()[0],
            "max_train_loss_diff": self.max_train_loss_diff,
            "final_test_acc_diff": self.final_test_acc_diff,
            "final_param_diffs": self.final_param_diffs,
            "param_scale": self.param_scale,
            "diffs": [asdict(d) for d in self.diffs],
            "histories": {k: h.to_dict() for k, h in self.histories.items()},
            "interrupted": self.interrupted,
        }


def _max_pairwise(values: dict[str, float]) -> float | None:
    pairs = list(itertools.combinations(values.values(), 2))
    return max(abs(a - b) for a, b in pairs) if pairs else None


def _max_vs(values: dict[str, float], ref: float | None) -> float | None:
    if ref is None or not values:
        return None
    return max(abs(v - ref) for v in values.values())


def _param_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) for x, y in zip(a, b)
    )


def run_lockstep(
    kind: str,
    backends: Sequence[str],
    data: Any,
    *,
    num_epochs: int = 10,
    lr: float = 0.5,
    batch_size: int = 256,
    dropout: tuple[float, float] = (0.2, 0.5),
    seed: int = 0,
    updater: str | None = None,
    dtype: str = "float32",
    reference: bool = True,
    reference_dtype: str = "float64",
    progress: bool | None = None,
    on_epoch: Callable[[LockstepResult], None] | None = None,
) -> LockstepResult:
    """Train ``kind`` ('scratch' or 'concise') on ``backends`` in lockstep.

    ``data`` holds uint8 ``train_images``, ``train_labels``, ``test_images`` and
    ``test_labels`` (e.g. :func:`d2ldrop.data.load_fashion_mnist_arrays`).
    ``updater`` 'scratch' or 'framework' (default: the book's pairing, scratch
    for the scratch model, framework for the concise one). ``dtype`` 'float64'
    trains double-precision models (masks and inputs in float64 too). With ``reference``,
    the numpy reference (:class:`d2ldrop.reference.ReferenceMLP`, in
    ``reference_dtype``) takes the same steps. ``on_epoch`` is called with the
    result after every epoch.

    Raises TrainingDiverged if a backend's loss becomes NaN or infinite; Ctrl-C
    stops after the current step with ``result.interrupted`` set.
    """
    if kind not in KINDS:
        raise ValueError(f"Expected kind in {KINDS}. Received: kind={kind!r}")
    backends = [get_adapter(b).name for b in backends]
    if not backends or len(set(backends)) != len(backends):
        raise ValueError(f"Expected one or more distinct backends. Received: {backends!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"Expected an integer seed. Received: seed={seed!r}")
    updater_ = SGD(lr, updater or ("scratch" if kind == "scratch" else "framework"))
    nets = {
        b: build_mlp(kind, dropout1=dropout[0], dropout2=dropout[1], seed=seed, backend=b,
                     dtype=dtype)
        for b in backends
    }
    first = nets[backends[0]]
    dropout, sizes = first.dropout, first.sizes
    # The initial parameters, drawn once in numpy and loaded into every model
    # (build_mlp drew the same numbers from the seed; this makes it explicit).
    init = normal_init(sizes, 0.01, seed, dtype)
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
    state = _Lockstep(
        result=result,
        adapters={b: get_adapter(b) for b in backends},
        steps={b: n.adapter.make_train_step(n.net, lr, updater_.impl) for b, n in nets.items()},
        evals={b: n.adapter.make_eval_step(n.net) for b, n in nets.items()},
        train={b: Batches(data.train_images, data.train_labels, batch_size, shuffle=True,
                          seed=seed, backend=b) for b in backends},
        test={b: Batches(data.test_images, data.test_labels, batch_size, shuffle=False,
                         backend=b) for b in backends},
        ref=ref, masks_rng=mask_generator(seed), widths=(sizes[1], sizes[2]),
        dropout=dropout, lr=lr, dtype=dtype,
    )
    try:
        for epoch in range(1, num_epochs + 1):
            first_step = len(result.step_losses[backends[0]])
            state.train_epoch(epoch, num_epochs, progress)
            state.evaluate(epoch)
            params = {b: n.get_params() for b, n in nets.items()}
            if ref is not None:
                params[REFERENCE] = ref.get_params()
            _record_diffs(result, epoch, params, first_step)
            if on_epoch is not None:
                on_epoch(result)
    except KeyboardInterrupt:
        result.interrupted = True
    return result


@dataclass
class _Lockstep:
    """The backends' (and the reference's) training state while they advance together."""

    result: LockstepResult
    adapters: dict[str, Any]
    steps: dict[str, Callable[..., tuple[float, int]]]
    evals: dict[str, Callable[[Any, Any], int]]
    train: dict[str, Batches]
    test: dict[str, Batches]
    ref: ReferenceMLP | None
    masks_rng: np.random.Generator
    widths: tuple[int, int]
    dropout: tuple[float, float]
    lr: float
    dtype: str
    # Sums of the epoch in progress, per run.
    loss_sum: dict[str, float] = field(default_factory=dict)
    correct: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    seen: int = 0

    def train_epoch(self, epoch: int, num_epochs: int, progress: bool | None) -> None:
        """One pass over the training set, every backend taking each step in turn."""
        backends = list(self.train)
        runs = list(self.result.histories)
        self.loss_sum = dict.fromkeys(runs, 0.0)
        self.correct = dict.fromkeys(runs, 0)
        self.seconds = dict.fromkeys(runs, 0.0)
        self.seen = 0
        label = f"lockstep {self.result.kind} epoch {epoch}/{num_epochs}"
        # iter() draws each backend's permutation now: the same one for all.
        iterators = [iter(self.train[b]) for b in backends]
        with Progress(label, len(self.train[backends[0]]), enabled=progress) as bar:
            for batch, pairs in enumerate(zip(*iterators), start=1):
                self._step(epoch, batch, dict(zip(backends, pairs)))
                bar.update(batch, f"loss {self.loss_sum[backends[0]] / self.seen:.4f}")

    def _step(self, epoch: int, batch: int, pairs: dict[str, tuple[Any, Any]]) -> None:
        backends = list(pairs)
        first = self.adapters[backends[0]]
        y0 = first.to_numpy(pairs[backends[0]][1])
        for b in backends[1:]:
            if not np.array_equal(self.adapters[b].to_numpy(pairs[b][1]), y0):
                raise LockstepError(
                    f"epoch {epoch}, batch {batch}: {b} got other examples than {backends[0]}"
                )
        n = len(y0)
        masks = draw_masks(self.masks_rng, n, self.widths, self.dropout, self.dtype)
        for b, (x, y) in pairs.items():
            a = self.adapters[b]
            start = time.perf_counter()
            loss, correct = self.steps[b](x, y, masks=[a.from_numpy(m) for m in masks])
            self._add(b, loss, correct, n, time.perf_counter() - start)
            if not math.isfinite(loss):
                raise TrainingDiverged(epoch, batch, loss, self.result.histories[b])
        if self.ref is not None:
            start = time.perf_counter()
            x0 = first.to_numpy(pairs[backends[0]][0])
            loss, correct = self.ref.step(x0, y0, masks, self.lr)
            self._add(REFERENCE, loss, correct, n, time.perf_counter() - start)
        self.seen += n

    def _add(self, run: str, loss: float, correct: int, n: int, seconds: float) -> None:
        self.loss_sum[run] += loss
        self.correct[run] += correct
        self.seconds[run] += seconds
        self.result.step_losses[run].append(loss / n)

    def evaluate(self, epoch: int) -> None:
        """Test accuracy of every run (dropout off); appends the epoch's records."""
        backends = list(self.test)
        runs = list(self.result.histories)
        test_correct = dict.fromkeys(runs, 0)
        eval_seconds = dict.fromkeys(runs, 0.0)
        for b in backends:
            start = time.perf_counter()
            for x, y in self.test[b]:
                test_correct[b] += self.evals[b](x, y)
            eval_seconds[b] = time.perf_counter() - start
        a, total = self.adapters[backends[0]], 0
        for x, y in self.test[backends[0]]:
            total += int(y.shape[0])
            if self.ref is not None:
                start = time.perf_counter()
                test_correct[REFERENCE] += self.ref.evaluate(a.to_numpy(x), a.to_numpy(y))
                eval_seconds[REFERENCE] += time.perf_counter() - start
        for r in runs:
            self.result.histories[r].epochs.append(EpochRecord(
                epoch, self.loss_sum[r] / self.seen, self.correct[r] / self.seen,
                test_correct[r] / total if total else math.nan,
                self.seconds[r], eval_seconds[r],
            ))


def _record_diffs(
    result: LockstepResult, epoch: int, params: dict[str, list[np.ndarray]], first_step: int
) -> None:
    records = {r: h.epochs[-1] for r, h in result.histories.items()}
    ref = records.pop(REFERENCE, None)
    ref_params = params.get(REFERENCE)
    backend_params = {b: p for b, p in params.items() if b != REFERENCE}
    steps = {r: np.asarray(losses[first_step:]) for r, losses in result.step_losses.items()}
    ref_steps = steps.pop(REFERENCE, None)

    def metric(name: str) -> dict[str, float]:
        return {b: getattr(r, name) for b, r in records.items()}

    pair_steps = [float(np.max(np.abs(a - b))) for a, b in
                  itertools.combinations(steps.values(), 2) if len(a)]
    diff = EpochDiff(
        epoch=epoch,
        train_loss=_max_pairwise(metric("train_loss")),
        train_acc=_max_pairwise(metric("train_acc")),
        test_acc=_max_pairwise(metric("test_acc")),
        params=max((_param_diff(a, b) for a, b in
                    itertools.combinations(backend_params.values(), 2)), default=None),
        step_loss=max(pair_steps, default=None),
    )
    if ref is not None and ref_params is not None and ref_steps is not None:
        diff.ref_train_loss = _max_vs(metric("train_loss"), ref.train_loss)
        diff.ref_train_acc = _max_vs(metric("train_acc"), ref.train_acc)
        diff.ref_test_acc = _max_vs(metric("test_acc"), ref.test_acc)
        diff.ref_params = max(_param_diff(p, ref_params) for p in backend_params.values())
        diff.ref_step_loss = max(float(np.max(np.abs(s - ref_steps))) for s in steps.values())
    result.diffs.append(diff)
    result.param_scale = max(float(np.max(np.abs(p))) for p in params[result.backends[0]])
    result.final_param_diffs = {
        f"{a}-{b}": _param_diff(params[a], params[b])
        for a, b in itertools.combinations(params, 2)
    }


# -- reporting --------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".1e") -> str:
    return "-" if value is None else format(value, spec)


def _pp(value: float | None) -> str:
    """An accuracy difference in percentage points."""
    return "-" if value is None else f"{100 * value:.3f}"


def format_lockstep(results: Sequence[LockstepResult]) -> str:
    """Per-epoch largest differences (between backends, and to numpy), then finals.

    Accuracy differences are in percentage points (pp).
    """
    head = ("model", "epoch", "train loss", "Δ loss", "Δ train acc pp", "Δ test acc pp",
            "Δ params", "Δ batch loss", "| vs numpy: Δ loss", "Δ test acc pp", "Δ params")
    lines = [head]
    for res in results:
        main = res.histories[res.backends[0]]
        for d, r in zip(res.diffs, main.epochs):
            lines.append((
                res.kind, str(d.epoch), f"{r.train_loss:.6f}", _fmt(d.train_loss),
                _pp(d.train_acc), _pp(d.test_acc), _fmt(d.params), _fmt(d.step_loss),
                "| " + _fmt(d.ref_train_loss), _pp(d.ref_test_acc), _fmt(d.ref_params),
            ))
    table = align(lines)
    final_head = ("model", "run", "updater", "train loss", "train acc", "test acc",
                  "train s", "Δ params to numpy")
    finals = [final_head]
    for res in results:
        for run, h in res.histories.items():
            if not h.epochs:
                continue
            r = h.final
            key = f"{run}-{REFERENCE}"
            finals.append((
                res.kind, run, res.config["updater"] if run != REFERENCE else
                f"by hand ({res.config['reference_dtype']})",
                f"{r.train_loss:.6f}", f"{r.train_acc:.4f}", f"{r.test_acc:.4f}",
                f"{sum(e.train_seconds for e in h.epochs):.1f}",
                _fmt(res.final_param_diffs.get(key)) if run != REFERENCE else "",
            ))
    verdicts = []
    for res in results:
        what, loss, acc, params = res.compared()
        verdicts.append(
            f"{res.kind} ({res.config['dtype']}), {what}: max Δ train loss "
            f"{_fmt(loss, '.2e')} (bound {LOSS_BOUND:g}), final Δ test acc {_pp(acc)} pp "
            f"(bound {100 * TEST_ACC_BOUND:g}), final Δ params {_fmt(params, '.2e')} "
            f"(largest |param| {res.param_scale:.2f}): "
            + ("agree" if res.agrees else "DISAGREE")
        )
    return "\n".join([table, "", align(finals), "", *verdicts])


#: Where equal batch losses (a difference of 0) are drawn on the log scale: below
#: float64's resolution of a loss near 1 (2e-16).
_FLOOR = 1e-17
#: Line and marker per run: curves drawn on top of each other all stay visible.
_STYLES = {"torch": ("-", "o", 8), "tensorflow": ("--", "s", 6), "mxnet": (":", "^", 5),
           REFERENCE: ("none", "x", 7)}


def plot_lockstep(
    results: Sequence[LockstepResult], path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """One row per model: train loss, train acc, test acc (one curve per run,
    drawn with different dashes so that curves on top of each other stay
    visible), and the largest difference of each step's batch loss (log scale).
    """
    rows = max(len(results), 1)
    fig = new_figure(15, 3.4 * rows)
    axes = fig.subplots(rows, 4, squeeze=False)
    metrics = (("train_loss", "train loss"), ("train_acc", "train acc"), ("test_acc", "test acc"))
    for row, res in zip(axes, results):
        for ax, (key, label) in zip(row, metrics):
            for run, h in res.histories.items():
                if not h.epochs:
                    continue
                line, marker, size = _STYLES.get(run, ("-", "o", 5))
                ax.plot([r.epoch for r in h.epochs], [getattr(r, key) for r in h.epochs],
                        linestyle=line, marker=marker, ms=size, mfc="none", lw=2, label=run)
            ax.set_title(f"{res.kind}: {label}")
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
        row[2].legend(fontsize="small")
        ax = row[3]
        backends = [np.asarray(res.step_losses[b]) for b in res.backends]
        if len(backends) > 1:
            pair = np.max([np.abs(a - b) for a, b in itertools.combinations(backends, 2)], axis=0)
            ax.semilogy(np.arange(1, len(pair) + 1), np.maximum(pair, _FLOOR), lw=0.8,
                        label="between backends")
        if REFERENCE in res.step_losses and backends:
            ref = np.asarray(res.step_losses[REFERENCE])
            vs = np.max([np.abs(a - ref) for a in backends], axis=0)
            ax.semilogy(np.arange(1, len(vs) + 1), np.maximum(vs, _FLOOR), lw=0.8,
                        label="backend vs numpy", alpha=0.7)
        ax.set_xscale("log")  # the first steps, where rounding starts to grow, stay visible
        ax.set_title(f"{res.kind}: largest |Δ batch loss|")
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
