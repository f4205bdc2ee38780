"""Deliberately wrong dropouts on numpy arrays, one bug each.

:data:`BUGS` maps each function's name to the suite items that must fail on
it (the check that names its bug); tests/test_target.py runs them all. Each is
otherwise a correct inverted dropout (:mod:`targets.correct`).
"""

from __future__ import annotations

import numpy as np

from d2ldrop.conformance import Target
from targets.correct import _check


def _scale(x: np.ndarray, p: float) -> np.generic:
    return x.dtype.type(1 / (1 - p))


def _guarded(x: np.ndarray, p: float, training: bool) -> np.ndarray | None:
    """The shared start: validate, then x itself (p = 0, evaluation) or zeros (p = 1)."""
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return None


def keep_as_drop(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Uses p as the keep-probability: keeps where u < p (drops at rate 1 - p)."""
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) < p
    return np.where(keep, x * _scale(x, p), x.dtype.type(0))


def unscaled(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Drops at rate p but forgets the 1 / (1 - p) scaling."""
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x, x.dtype.type(0))


def frozen_mask(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """The same mask every call: a generator made from a fixed seed in each call (the
    d2l JAX bug: one PRNG key reused)."""
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.default_rng(42).random(x.shape) >= p
    return np.where(keep, x * _scale(x, p), x.dtype.type(0))


def row_shared_mask(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """One mask of the last axis, broadcast to every row."""
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape[-1:]) >= p
    return np.where(keep, x * _scale(x, p), x.dtype.type(0))


def p0_drops_zero(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """The chapter's formula without the p = 0 guard: keeps where u > p, so p = 0 drops
    where u == 0. Its uniforms come from 12 random bits (as a kernel that draws
    random bytes might), so u == 0 happens once in 4096; with float32 uniforms
    (2^-24 apart) the same bug drops one element in 16 million."""
    _check(x, p)
    if not training:
        return x
    if p == 1:
        return np.zeros_like(x)
    u = np.random.randint(0, 4096, x.shape) / 4096.0
    return np.where(u > p, x * _scale(x, p), x.dtype.type(0))


def nan_p_accepted(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Validates p with ``p < 0 or p > 1``, which NaN passes: NaN p keeps nothing."""
    if p < 0 or p > 1:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be floating, got {x.dtype}")
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    keep = np.random.random_sample(x.shape) >= p
    with np.errstate(invalid="ignore"):
        return np.where(keep, x * _scale(x, p), x.dtype.type(0))


def dtype_not_kept(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Computes in float32 and returns float32, whatever the input's dtype."""
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x.astype(np.float32) * np.float32(1 / (1 - p)), np.float32(0))


def _straight_through(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """The right output, but the gradient of the identity (as a straight-through
    estimator would give): 1 everywhere, dropped elements included."""
    _check(x, p)
    keep = np.random.random_sample(x.shape) >= p
    y = np.where(keep, x * _scale(x, p), x.dtype.type(0))
    return y, np.ones_like(x)


def _correct(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    early = _guarded(x, p, training)
    if early is not None:
        return early
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x * _scale(x, p), x.dtype.type(0))


gradient_not_masked = Target(
    _correct, backend="numpy", name="targets.broken:gradient_not_masked",
    gradient=_straight_through,
)

#: Each broken target -> the items that must fail on it (others may fail too).
BUGS: dict[str, set[str]] = {
    "keep_as_drop": {"fraction[p=0.1]", "fraction[p=0.9]"},
    "unscaled": {"values[p=0.5]", "mean[p=0.5]"},
    "frozen_mask": {"agreement[p=0.5]"},
    "row_shared_mask": {"columns[p=0.5]"},
    "p0_drops_zero": {"edge[p=0,large]"},
    "nan_p_accepted": {"edge[p=nan]"},
    "dtype_not_kept": {"edge[float16]", "edge[float64]"},
    "gradient_not_masked": {"gradient[p=0.5]"},
}
