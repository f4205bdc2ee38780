"""Correct dropouts on numpy arrays: the suite must pass them.

``dropout`` is a plain function (the default capabilities: numpy arrays, seeded
by ``np.random.seed``, no gradient); ``target`` declares a generator of its own,
its seeding and its gradient.
"""

from __future__ import annotations

import math

import numpy as np

from d2ldrop.conformance import Target


def _check(x: np.ndarray, p: float) -> None:
    if not isinstance(p, (int, float)) or math.isnan(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be floating, got {x.dtype}")


def _apply(x: np.ndarray, p: float, u: np.ndarray) -> np.ndarray:
    if p == 1:
        return np.zeros_like(x)
    keep = u >= p
    scale = x.dtype.type(1 / (1 - p))
    return np.where(keep, x * scale, x.dtype.type(0))


def dropout(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Inverted dropout with numpy's global generator."""
    _check(x, p)
    if not training or p == 0:
        return x
    return _apply(x, p, np.random.random_sample(x.shape))


_rng = [np.random.default_rng(0)]


def seed(s: int) -> None:
    _rng[0] = np.random.default_rng(s)


def generator_dropout(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    """Inverted dropout with a generator of its own (seeded by :func:`seed`)."""
    return _generator_value_and_grad(x, p, training)[0]


def _generator_value_and_grad(x, p, training=True):
    _check(x, p)
    if not training or p == 0:
        return x, np.ones_like(x)
    u = _rng[0].random(x.shape)
    y = _apply(x, p, u)
    grad = _apply(np.ones_like(x), p, u)
    return y, grad


def value_and_grad(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """One call's output and d sum(y) / dx = mask / (1 - p), for that call's mask."""
    return _generator_value_and_grad(x, p)


class _Layer:
    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        return generator_dropout(x, self.p, training=training)


target = Target(
    generator_dropout, backend="numpy", name="targets.correct:target",
    gradient=value_and_grad, seed=seed, layer=_Layer,
)
