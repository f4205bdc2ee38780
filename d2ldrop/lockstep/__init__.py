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

Backend-neutral: frameworks are reached only through their adapters. Modules:

- :mod:`~d2ldrop.lockstep.constants`: the reference's name and the bounds;
- :mod:`~d2ldrop.lockstep.masks`: the dropout masks, drawn from the seed;
- :mod:`~d2ldrop.lockstep.measures`: the differences, the bounds (plain data);
- :mod:`~d2ldrop.lockstep.result`: :class:`LockstepResult`, the measures that show themselves;
- :mod:`~d2ldrop.lockstep.run`: :func:`run_lockstep`, on the loop of ``train_ch3``;
- :mod:`~d2ldrop.lockstep.report` and :mod:`~d2ldrop.lockstep.plot`: text, HTML and
  figure (in a notebook, results show as tables, ``result.figure()`` inline, and a
  run redraws its curves after every epoch);
- :mod:`~d2ldrop.lockstep.files`: :func:`run_and_save`, several models to a directory.
"""

from __future__ import annotations

from d2ldrop.lockstep.constants import LOSS_BOUND, REFERENCE, TEST_ACC_BOUND
from d2ldrop.lockstep.files import LockstepOutcome, run_and_save, save_lockstep
from d2ldrop.lockstep.masks import MASK_STREAM, draw_masks, mask_generator
from d2ldrop.lockstep.measures import EpochDiff
from d2ldrop.lockstep.plot import lockstep_figure, plot_lockstep
from d2ldrop.lockstep.report import epoch_line, format_lockstep, lockstep_html
from d2ldrop.lockstep.result import LockstepResult
from d2ldrop.lockstep.run import LockstepError, run_lockstep

__all__ = [
    "LOSS_BOUND",
    "MASK_STREAM",
    "REFERENCE",
    "TEST_ACC_BOUND",
    "EpochDiff",
    "LockstepError",
    "LockstepOutcome",
    "LockstepResult",
    "draw_masks",
    "epoch_line",
    "format_lockstep",
    "lockstep_figure",
    "lockstep_html",
    "mask_generator",
    "plot_lockstep",
    "run_and_save",
    "run_lockstep",
    "save_lockstep",
]
