"""Lockstep runs of several models, written to a directory as they progress.

For each model and run: ``lockstep-<run>-<model>.json`` / ``.csv`` (its
history), rewritten after every epoch, as is ``lockstep.json`` (every result so
far); at the end ``lockstep.txt`` (:func:`format_lockstep`) and
``lockstep.png`` (:func:`plot_lockstep`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from d2ldrop._io import write_atomic, write_json
from d2ldrop.display.figure import PNGFile
from d2ldrop.display.html import block, bullets
from d2ldrop.lockstep.constants import REFERENCE
from d2ldrop.lockstep.plot import plot_lockstep
from d2ldrop.lockstep.report import epoch_line, format_lockstep, lockstep_html
from d2ldrop.lockstep.result import LockstepResult
from d2ldrop.lockstep.run import run_lockstep
from d2ldrop.models import Kind
from d2ldrop.training import TrainingDiverged, Updater

#: What ``config["data"]`` of the saved histories names.
DATA_NAME = "fashion-mnist"


@dataclass
class LockstepOutcome:
    """What :func:`run_and_save` did: the results of the models that finished (or
    were interrupted), the models that diverged, and the files written at the end."""

    results: list[LockstepResult] = field(default_factory=list)
    diverged: dict[str, str] = field(default_factory=dict)  # model -> the error
    interrupted: bool = False
    table: str | None = None
    plot: Path | None = None

    @property
    def agrees(self) -> bool:
        """No model diverged, and every model's backends agree."""
        return not self.diverged and all(r.agrees for r in self.results)

    def _repr_html_(self) -> str:
        return block(lockstep_html(self.results) if self.results else "",
                     bullets(f"{kind} diverged: {err}" for kind, err in self.diverged.items()))

    def figure(self) -> PNGFile | None:
        """The figure written at the end (``lockstep.png``), shown inline; None if none."""
        return PNGFile(self.plot) if self.plot is not None else None


def save_lockstep(
    out: str | os.PathLike[str], results: Sequence[LockstepResult]
) -> None:
    """Every run's history of the last result, and ``lockstep.json`` of them all."""
    out = Path(out)
    for h in results[-1].histories.values():
        h.config["data"] = DATA_NAME
        h.save(out, stem=f"lockstep-{h.backend}-{h.model}")
    write_json(out / "lockstep.json", [r.to_dict() for r in results])


def run_and_save(
    kinds: Sequence[Kind],
    backends: Sequence[str],
    data: Any,
    out: str | os.PathLike[str],
    *,
    num_epochs: int = 10,
    lr: float = 0.5,
    batch_size: int = 256,
    dropout: tuple[float, float] = (0.2, 0.5),
    seed: int = 0,
    updater: Updater | None = None,
    dtype: str = "float64",
    progress: bool | None = None,
    echo: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
    live: bool | None = None,
) -> LockstepOutcome:
    """:func:`run_lockstep` of each model in ``kinds``, saved to ``out`` as it goes.

    ``echo`` (if given) gets a line after every epoch (:func:`epoch_line`);
    ``warn`` gets ``"<model>: <error>"`` when a model diverges (the next model
    still runs). ``live``: each model's curves redrawn in place in a notebook
    (see :func:`run_lockstep`). Ctrl-C stops after the current step, keeping
    what finished.
    """
    out = Path(out)
    outcome = LockstepOutcome()

    def on_epoch(res: LockstepResult) -> None:
        save_lockstep(out, [*outcome.results, res])
        if echo is not None:
            echo(epoch_line(res))

    for kind in kinds:
        try:
            res = run_lockstep(
                kind, backends, data, num_epochs=num_epochs, lr=lr, batch_size=batch_size,
                dropout=dropout, seed=seed, updater=updater, dtype=dtype, progress=progress,
                on_epoch=on_epoch, live=live,
            )
        except TrainingDiverged as err:
            outcome.diverged[kind] = str(err)
            if warn is not None:
                warn(f"{kind}: {err}")
            continue
        outcome.results.append(res)
        save_lockstep(out, outcome.results)
        if res.interrupted:
            outcome.interrupted = True
            break
    if outcome.results:
        title = (f"Lockstep ({dtype}): {', '.join(backends)} and {REFERENCE}; Fashion-MNIST, "
                 f"lr {lr}, batch {batch_size}, seed {seed}")
        outcome.plot = plot_lockstep(outcome.results, out / "lockstep.png", title=title)
        outcome.table = format_lockstep(outcome.results)
        write_atomic(out / "lockstep.txt", outcome.table + "\n")
    return outcome
