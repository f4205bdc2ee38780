"""What a lockstep run measured: every run's history, and their differences.

Plain data and the bounds applied to it; :class:`d2ldrop.lockstep.result.LockstepResult`
adds what it shows (its text and HTML tables, its figure), drawn by
:mod:`~d2ldrop.lockstep.report` and :mod:`~d2ldrop.lockstep.plot` from these fields.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from d2ldrop.history import History
from d2ldrop.lockstep.constants import LOSS_BOUND, REFERENCE, TEST_ACC_BOUND


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
class LockstepMeasures:
    """Histories of every run (the backends and ``"numpy"``) and their differences.

    ``step_losses`` holds each run's batch mean losses, in order;
    ``final_param_diffs`` the largest parameter difference of every pair of runs
    at the end (keys ``"<backend>-<backend>"``, ``"<backend>-numpy"``), and
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


def record_diffs(
    result: LockstepMeasures, epoch: int, params: dict[str, list[np.ndarray]], first_step: int
) -> None:
    """Append the epoch's :class:`EpochDiff` to ``result`` and update its finals.

    ``params`` holds every run's parameters at the end of the epoch; the epoch's
    batches are the ``step_losses`` from index ``first_step`` on.
    """
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
