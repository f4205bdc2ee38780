"""Argument validation shared by every backend (written once, not per adapter)."""

from __future__ import annotations

import math
import numbers


def check_probability(p: object, name: str = "p") -> float:
    """Return ``p`` as a float if it is a real number in [0, 1]; raise otherwise.

    Booleans and NaN are rejected: ``True`` is an int in Python but never a
    meaningful probability. This is a real check, not an ``assert`` (``python -O``
    strips asserts).
    """
    # numpy registers its float and int scalars as numbers.Real; numpy.bool_ is not.
    ok = isinstance(p, numbers.Real) and not isinstance(p, bool)
    value = float(p) if ok else math.nan  # type: ignore[arg-type]
    if not ok or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"Expected a float between 0 and 1. Received: {name}={p!r}"
        )
    return value
