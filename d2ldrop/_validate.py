"""Argument validation shared by every backend and command (written once)."""

from __future__ import annotations

import math
import numbers

from d2ldrop.errors import InvalidArgumentError

#: Seeds are 32-bit unsigned integers everywhere (numpy, torch, TensorFlow,
#: MXNet and JAX all accept this range): one rule, one message.
SEED_LIMIT = 2**32


def check_probability(p: object, name: str = "p") -> float:
    """Return ``p`` as a float if it is a real number in [0, 1]; raise otherwise.

    Booleans and NaN are rejected: ``True`` is an int in Python but never a
    meaningful probability. This is a real check, not an ``assert`` (``python -O``
    strips asserts).
    """
    # numpy registers its float and int scalars as numbers.Real; numpy.bool_ is not.
    ok = isinstance(p, numbers.Real) and not isinstance(p, bool)
    try:
        value = float(p) if ok else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float's range, e.g. 10**400
        value = math.inf
    if not ok or math.isnan(value) or not 0.0 <= value <= 1.0:
        hint = ""
        if not ok and hasattr(p, "shape") and hasattr(p, "dtype"):
            # A 0-d tensor or array: a rate is a number, read once, not a tensor.
            hint = f" (a {type(p).__qualname__}, not a number: pass float({name}))"
        shown = repr(p)
        if len(shown) > 40:  # 10**400 has 401 digits
            shown = f"{shown[:12]}... ({len(shown)} characters)"
        raise InvalidArgumentError(
            f"Expected a float between 0 and 1. Received: {name}={shown}{hint}"
        )
    return value


def is_seed(n: object) -> bool:
    """True if ``n`` is an integer (not a bool) in [0, 2**32)."""
    return isinstance(n, numbers.Integral) and not isinstance(n, bool) and 0 <= int(n) < SEED_LIMIT


def seed_error(n: object, name: str = "seed") -> str:
    """The one message for a bad seed (the CLI prints it behind its flag)."""
    return f"Expected an integer seed in [0, 2**32). Received: {name}={n!r}"


def check_seed(n: object, name: str = "seed") -> int:
    """Return ``n`` as an int if it is a valid seed; raise ValueError otherwise."""
    if not isinstance(n, numbers.Integral) or not is_seed(n):
        raise InvalidArgumentError(seed_error(n, name))
    return int(n)


def check_seed_range(first: int, count: int, name: str = "seed") -> None:
    """Seeds ``first, ..., first + count - 1`` must all be valid seeds."""
    check_seed(first, name)
    if first + count > SEED_LIMIT:
        raise InvalidArgumentError(
            f"Expected {name} + seeds <= 2**32 (every seed in [0, 2**32)). "
            f"Received: {first} + {count}"
        )
