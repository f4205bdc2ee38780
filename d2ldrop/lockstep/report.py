"""Lockstep results as text and as HTML: the per-epoch line, and the table of differences.

The tables' cells are computed once (:func:`epoch_rows`, :func:`final_rows`,
:func:`verdict`), then laid out as aligned text (:func:`format_lockstep`, what
``d2ldrop train --lockstep`` prints) or as HTML (:func:`lockstep_html`, what a
notebook shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from d2ldrop._text import align
from d2ldrop.display.html import block, paragraph, table
from d2ldrop.lockstep.constants import LOSS_BOUND, REFERENCE, TEST_ACC_BOUND

if TYPE_CHECKING:
    from d2ldrop.lockstep.measures import LockstepMeasures

EPOCH_HEAD = ("model", "epoch", "train loss", "Δ loss", "Δ train acc pp", "Δ test acc pp",
              "Δ params", "Δ batch loss", "| vs numpy: Δ loss", "Δ test acc pp", "Δ params")
FINAL_HEAD = ("model", "run", "updater", "train loss", "train acc", "test acc", "train s",
              "Δ params to numpy")


def _fmt(value: float | None, spec: str = ".1e") -> str:
    return "-" if value is None else format(value, spec)


def _pp(value: float | None) -> str:
    """An accuracy difference in percentage points."""
    return "-" if value is None else f"{100 * value:.3f}"


def epoch_line(result: LockstepMeasures) -> str:
    """One line on the epoch just finished: the first backend's figures, and the
    largest differences between backends and to numpy."""
    d, r = result.diffs[-1], result.histories[result.backends[0]].epochs[-1]
    line = (f"lockstep {result.kind} epoch {d.epoch}/{result.config['num_epochs']}: "
            f"loss {r.train_loss:.4f}, test acc {r.test_acc:.4f}")
    if d.train_loss is not None and d.train_acc is not None and d.test_acc is not None:
        line += (f"; largest difference between backends: loss {d.train_loss:.1e}, "
                 f"train acc {100 * d.train_acc:.3f} pp, test acc {100 * d.test_acc:.3f} "
                 f"pp, params {d.params:.1e}")
    if d.ref_train_loss is not None:
        line += f"; to numpy: loss {d.ref_train_loss:.1e}, params {d.ref_params:.1e}"
    return line


def epoch_rows(results: Sequence[LockstepMeasures]) -> list[tuple[str, ...]]:
    """Per model and epoch: the first backend's loss and the largest differences
    (between backends, then to numpy); accuracies in percentage points."""
    rows: list[tuple[str, ...]] = []
    for res in results:
        main = res.histories[res.backends[0]]
        for d, r in zip(res.diffs, main.epochs):
            rows.append((
                res.kind, str(d.epoch), f"{r.train_loss:.6f}", _fmt(d.train_loss),
                _pp(d.train_acc), _pp(d.test_acc), _fmt(d.params), _fmt(d.step_loss),
                "| " + _fmt(d.ref_train_loss), _pp(d.ref_test_acc), _fmt(d.ref_params),
            ))
    return rows


def final_rows(results: Sequence[LockstepMeasures]) -> list[tuple[str, ...]]:
    """Per model and run: its final figures and parameter difference to numpy."""
    rows: list[tuple[str, ...]] = []
    for res in results:
        for run, h in res.histories.items():
            if not h.epochs:
                continue
            r = h.epochs[-1]
            key = f"{run}-{REFERENCE}"
            rows.append((
                res.kind, run, res.config["updater"] if run != REFERENCE else
                f"by hand ({res.config['reference_dtype']})",
                f"{r.train_loss:.6f}", f"{r.train_acc:.4f}", f"{r.test_acc:.4f}",
                f"{sum(e.train_seconds for e in h.epochs):.1f}",
                _fmt(res.final_param_diffs.get(key)) if run != REFERENCE else "",
            ))
    return rows


def verdict(res: LockstepMeasures) -> str:
    """Whether the runs of one model agree, with the figures the bounds apply to."""
    what, loss, acc, params = res.compared()
    return (f"{res.kind} ({res.config['dtype']}), {what}: max Δ train loss "
            f"{_fmt(loss, '.2e')} (bound {LOSS_BOUND:g}), final Δ test acc {_pp(acc)} pp "
            f"(bound {100 * TEST_ACC_BOUND:g}), final Δ params {_fmt(params, '.2e')} "
            f"(largest |param| {res.param_scale:.2f}): "
            + ("agree" if res.agrees else "DISAGREE"))


def format_lockstep(results: Sequence[LockstepMeasures]) -> str:
    """Per-epoch largest differences (between backends, and to numpy), then finals.

    Accuracy differences are in percentage points (pp).
    """
    return "\n".join([align([EPOCH_HEAD, *epoch_rows(results)]), "",
                      align([FINAL_HEAD, *final_rows(results)]), "",
                      *(verdict(res) for res in results)])


def lockstep_html(results: Sequence[LockstepMeasures]) -> str:
    """The tables of :func:`format_lockstep` in HTML, verdicts first."""
    epochs = [(*r[:8], r[8].removeprefix("| "), *r[9:]) for r in epoch_rows(results)]
    head = (*EPOCH_HEAD[:8], "vs numpy: Δ loss", *EPOCH_HEAD[9:])
    return block(
        *(paragraph(verdict(res), failed=not res.agrees) for res in results),
        table(head, epochs, caption="Lockstep: largest differences after each epoch "
              "(accuracies in percentage points)"),
        table(FINAL_HEAD, final_rows(results), caption="Final figures of each run"),
    )
