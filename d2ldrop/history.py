"""What a training run measured: one :class:`EpochRecord` per epoch, in a :class:`History`.

Histories are plain data (no framework): they are saved as strict JSON and CSV
(:meth:`History.save`) and read back with :meth:`History.from_dict`; in a
notebook they show as a table, and :meth:`History.figure` draws their curves.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from d2ldrop._io import to_json, write_atomic
from d2ldrop.display.figure import InlineFigure, curves
from d2ldrop.display.reprs import history_html


@dataclass
class EpochRecord:
    """One finished epoch: training-mode loss and accuracy, test accuracy, seconds."""

    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    train_seconds: float
    eval_seconds: float

    @property
    def seconds(self) -> float:
        """Training plus evaluation time of the epoch."""
        return self.train_seconds + self.eval_seconds

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        """The inverse of ``asdict``; a null (how strict JSON writes NaN) reads as NaN."""
        return cls(**{k: math.nan if v is None else v for k, v in data.items()})


@dataclass
class History:
    """What train_ch3 measured, one record per finished epoch.

    In a notebook it shows as a table; :meth:`figure` draws the book's curves.

    Attributes:
        backend: the backend's canonical name.
        model: ``"scratch"`` or ``"concise"``.
        config: the run's settings (epochs, lr, updater, dropout, ...).
        epochs: one ``EpochRecord`` per finished epoch.
        interrupted: True if Ctrl-C stopped the run early.
        error: why the run stopped, if it failed (e.g. it diverged); else None.

    Example:
        >>> history = d2ldrop.train_ch3(net, train_iter, test_iter,
        ...                             d2ldrop.CrossEntropyLoss(), 10, d2ldrop.sgd(0.5))
        >>> history.final.test_acc, len(history.epochs)
        >>> history.save("runs/mine")  # history-<backend>-<model>.json and .csv
    """

    backend: str
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    epochs: list[EpochRecord] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None

    @property
    def final(self) -> EpochRecord | None:
        """The last finished epoch, or None before the first."""
        return self.epochs[-1] if self.epochs else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written to ``history-*.json``."""
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
        """The inverse of :meth:`to_dict` (reads a saved ``history-*.json``)."""
        return cls(
            backend=data["backend"],
            model=data["model"],
            config=data.get("config", {}),
            epochs=[EpochRecord.from_dict(r) for r in data["epochs"]],
            interrupted=data.get("interrupted", False),
            error=data.get("error"),
        )

    def to_csv(self) -> str:
        """One CSV row per epoch, with the backend and model in each row."""
        out = io.StringIO()
        names = [f.name for f in fields(EpochRecord)]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["backend", "model", *names])
        for r in self.epochs:
            writer.writerow([self.backend, self.model, *(getattr(r, n) for n in names)])
        return out.getvalue()

    def _repr_html_(self) -> str:
        return history_html(self)

    def figure(self, title: str | None = None) -> InlineFigure:
        """The book's three curves of this run (shown inline in a notebook)."""
        return curves([self], title)

    def save(self, directory: str | os.PathLike[str], stem: str | None = None) -> list[Path]:
        """Write ``<stem>.json`` and ``<stem>.csv``; each file is replaced atomically."""
        directory = Path(directory)
        stem = stem or f"history-{self.backend}-{self.model}"
        return [write_atomic(directory / f"{stem}.json", to_json(self.to_dict())),
                write_atomic(directory / f"{stem}.csv", self.to_csv())]
