"""Backend-neutral public operations: validate once, then call the adapter."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._validate import check_probability, check_seed
from d2ldrop.backends import kernels
from d2ldrop.backends.base import Adapter
from d2ldrop.backends.registry import framework_of
from d2ldrop.errors import D2LDropError

Tensor = Any

def check_float_tensor(adapter: Adapter, x: object, name: str = "X") -> None:
    """Raise TypeError unless ``x`` is a floating tensor of ``adapter``'s framework."""
    if not adapter.is_tensor(x):
        other = framework_of(x)
        hint = (
            f"; it is a {other} tensor, so pass backend={other!r}"
            if other and other != adapter.name
            else ""
        )
        if other == adapter.name:
            hint = f": {adapter.tensor_hint(x) or 'a type this backend does not take'}"
        elif other:
            # The other framework may refuse this type too (MXNet's legacy arrays):
            # then its own reason, not advice that fails.
            with contextlib.suppress(D2LDropError):
                refused = get_adapter(other).tensor_hint(x)
                if refused:
                    hint = f"; it is {refused}, then pass backend={other!r}"
        raise TypeError(
            f"Expected {name} to be a {adapter.name} tensor (the selected backend). "
            f"Received: {type(x).__module__}.{type(x).__qualname__}{hint}"
        )
    if not adapter.is_floating(x):
        raise TypeError(
            f"Expected {name} to be a floating-point tensor. "
            f"Received: dtype={adapter.dtype_name(x)}"
        )


def dropout_layer(X: Tensor, p: float, *, backend: str | None = None) -> Tensor:
    """The chapter's from-scratch dropout.

    Each element of ``X`` is kept where a uniform sample on [0, 1) exceeds ``p``
    (so with probability 1 - p) and the kept elements are scaled by 1 / (1 - p),
    which preserves the expectation. ``p == 0`` returns ``X`` itself and ``p == 1``
    returns zeros. Shape and dtype are kept; the gradient with respect to ``X``
    is mask / (1 - p).

    Raises ValueError if ``p`` is not a real number in [0, 1], and TypeError if
    ``X`` is not a floating tensor of the selected backend.
    """
    p = check_probability(p, "p")
    adapter = get_adapter(backend)
    check_float_tensor(adapter, X)
    return kernels.guarded_dropout(adapter.ops, X, p)


def seed(n: int, *, backend: str | None = None) -> None:
    """Seed the random generator of the selected backend.

    The same seed gives the same dropout masks, call after call.
    """
    n = check_seed(n, "n")  # before the adapter: a bad seed is a ValueError anywhere
    get_adapter(backend).seed(n)


def to_numpy(x: Tensor, *, backend: str | None = None) -> np.ndarray:
    """A numpy copy of a tensor of the selected backend."""
    adapter = get_adapter(backend)
    if not adapter.is_tensor(x):
        raise TypeError(
            f"Expected a {adapter.name} tensor. Received: {type(x).__qualname__}"
        )
    return adapter.to_numpy(x)


def from_numpy(a: np.ndarray, *, backend: str | None = None) -> Tensor:
    """A tensor of the selected backend with the values, shape and dtype of ``a``."""
    return get_adapter(backend).from_numpy(np.asarray(a))
