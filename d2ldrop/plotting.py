"""Figures drawn with matplotlib's object API on the Agg canvas: to PNG files or bytes.

No GUI backend and no pyplot global state are involved, so plotting works on
a machine without a display and never changes a notebook's matplotlib setup
(notebooks show these figures through :class:`d2ldrop.display.InlineFigure`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d2ldrop._io import atomic_path

if TYPE_CHECKING:
    from d2ldrop.history import History

METRICS = (("train_loss", "train loss"), ("train_acc", "train acc"), ("test_acc", "test acc"))


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on the Agg canvas, with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` through a temporary file: never half a PNG."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """``fig`` as the bytes of a PNG file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


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
