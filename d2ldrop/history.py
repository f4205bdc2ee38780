"""What a training run measured: one :class:`EpochRecord` per epoch, in a :class:`History`.

Histories are plain data (no framework): they are saved as strict JSON and CSV
(:meth:`History.save`) and read back with :meth:`History.from_dict`; in a
notebook they show as a table, and :meth:`History.figure` draws their curves
(:func:`curves` those of several runs, :func:`plot_histories` to a PNG file).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from d2ldrop._io import to_json, write_atomic
from d2ldrop.display.figure import InlineFigure, new_figure, save_png
from d2ldrop.display.html import block, paragraph, table
from d2ldrop.display.live import live_figure

#: The book's three curves: (EpochRecord field, panel title).
METRICS = (("train_loss", "train loss"), ("train_acc", "train acc"), ("test_acc", "test acc"))


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
        values: dict[str, Any] = {k: math.nan if v is None else v for k, v in data.items()}
        return cls(**values)


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


# -- what a history shows: its table, the book's curves -------------------------------------


def history_html(history: History) -> str:
    """One row per epoch: the book's three metrics and the seconds of each epoch."""
    config = ", ".join(f"{k} {v}" for k, v in history.config.items() if v is not None)
    rows = [(r.epoch, f"{r.train_loss:.4f}", f"{r.train_acc:.4f}", f"{r.test_acc:.4f}",
             f"{r.train_seconds:.2f}", f"{r.eval_seconds:.2f}") for r in history.epochs]
    status = []
    if history.error:
        status.append(paragraph(history.error, failed=True))
    elif history.interrupted:
        status.append(paragraph(f"interrupted after {len(history.epochs)} epoch(s)"))
    return block(
        table(("epoch", "train loss", "train acc", "test acc", "train s", "eval s"), rows,
              caption=f"History: {history.backend}/{history.model}"),
        paragraph(config) if config else "",
        *status,
    )


def curves_figure(
    histories: Sequence[History], title: str | None = None, num_epochs: int | None = None
) -> Any:
    """The book's three curves: one panel per metric (train loss, train acc, test
    acc), one line per run. ``num_epochs``: the x axis spans them all (so that
    curves drawn while training grow to the right on fixed axes)."""
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(12, 3.6)
    axes = fig.subplots(1, len(METRICS))
    for ax, (key, label) in zip(axes, METRICS):
        for h in histories:
            if h.epochs:
                xs = [r.epoch for r in h.epochs]
                ax.plot(xs, [getattr(r, key) for r in h.epochs], marker="o", ms=3,
                        label=f"{h.backend}/{h.model}")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if num_epochs:
            ax.set_xlim(0.75, max(num_epochs, 1) + 0.25)
        ax.grid(True, alpha=0.3)
        if key != "train_loss":
            ax.set_ylim(top=1.0)
    if any(h.epochs for h in histories):
        axes[-1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_histories(
    histories: Sequence[History], path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """:func:`curves_figure` of ``histories``, written to ``path`` as PNG."""
    return save_png(curves_figure(histories, title), path)


def curves(histories: Sequence[History], title: str | None = None,
           num_epochs: int | None = None) -> InlineFigure:
    """The book's three curves of ``histories`` (train loss, train acc, test acc), shown
    inline in a notebook.

    Args:
        histories: the runs to draw, one line each per panel.
        title: the figure's title.
        num_epochs: the x axis spans this many epochs (curves drawn while training
            grow to the right on fixed axes).

    Returns:
        An :class:`~d2ldrop.display.figure.InlineFigure` (``.save(path)`` writes a PNG).

    Example:

        d2ldrop.curves([history_scratch, history_concise], "the chapter's two models")
    """
    return InlineFigure(curves_figure(histories, title, num_epochs))


def live_curves(
    live: bool | None, progress: bool | None, title: str, num_epochs: int | None = None
) -> Callable[[Sequence[History]], None] | None:
    """A function that redraws the book's curves of some histories in one output
    (None when nothing is to be shown; see :func:`live_figure`)."""
    out = live_figure(live, progress)
    if out is None:
        return None

    def redraw(histories: Sequence[History]) -> None:
        out.show(curves(histories, title, num_epochs))

    return redraw
