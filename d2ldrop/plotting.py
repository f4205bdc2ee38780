"""The book's three training curves, drawn to a PNG (no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from d2ldrop.training import History

METRICS = (("train_loss", "train loss"), ("train_acc", "train acc"), ("test_acc", "test acc"))


def plot_histories(
    histories: Sequence[History], path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """One panel per metric (train loss, train acc, test acc), one line per run.

    Uses matplotlib's object API with the Agg canvas, so no GUI backend and no
    pyplot global state are involved.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(METRICS))
    for ax, (key, label) in zip(axes, METRICS):
        for h in histories:
            if h.epochs:
                xs = [r.epoch for r in h.epochs]
                ax.plot(xs, [getattr(r, key) for r in h.epochs], marker="o", ms=3,
                        label=f"{h.backend}/{h.model}")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if key != "train_loss":
            ax.set_ylim(top=1.0)
    if any(h.epochs for h in histories):
        axes[-1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
