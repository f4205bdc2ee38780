"""The two implementations under test on each backend, as functions of a tensor."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from d2ldrop.ops import dropout_layer

if TYPE_CHECKING:
    from d2ldrop.backends.base import Adapter

#: "scratch": the chapter's ``dropout_layer`` (validated by d2ldrop); "builtin":
#: the framework's own dropout, called through the adapter without validation.
IMPLS: tuple[str, ...] = ("scratch", "builtin")


def check_impl(impl: object) -> str:
    """Return ``impl`` if it is one of :data:`IMPLS`; raise ValueError otherwise."""
    if impl not in IMPLS:
        raise ValueError(f"Expected impl to be one of {', '.join(IMPLS)}. Received: {impl!r}")
    return impl  # type: ignore[return-value]


def dropout_fn(adapter: Adapter, impl: str, p: float) -> Callable[[Any], Any]:
    """The op under test as a function of a tensor (no validation for builtin)."""
    if impl == "scratch":
        return lambda t: dropout_layer(t, p, backend=adapter.name)
    return lambda t: adapter.builtin_dropout(t, p)
