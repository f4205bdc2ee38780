"""The dropout keep-masks of a lockstep run, drawn in numpy from the seed."""

from __future__ import annotations

import numpy as np

#: Spawn key of the dropout-mask stream: ``SeedSequence(seed, spawn_key=(1,))``,
#: independent of the streams that draw the initial parameters and batch orders.
MASK_STREAM = 1


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
