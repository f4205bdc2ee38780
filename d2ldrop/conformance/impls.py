"""The two implementations under test on each backend, as targets of the suite."""

from __future__ import annotations

from typing import Any

from d2ldrop._backend import get_adapter
from d2ldrop.backends.quirks import quirks_of
from d2ldrop.conformance.target import Target
from d2ldrop.errors import InvalidArgumentError
from d2ldrop.ops import dropout_layer

#: "scratch": the chapter's ``dropout_layer`` (validated by d2ldrop); "builtin":
#: the framework's own dropout, called through the adapter without validation.
IMPLS: tuple[str, ...] = ("scratch", "builtin")


def check_impl(impl: object) -> str:
    """Return ``impl`` if it is one of :data:`IMPLS`; raise ValueError otherwise."""
    if impl not in IMPLS:
        raise InvalidArgumentError(
            f"Expected impl to be one of {', '.join(IMPLS)}. Received: {impl!r}"
        )
    return impl


class _AdapterLayer:
    """A framework's own dropout layer, called as the target protocol says."""

    def __init__(self, adapter: Any, layer: Any) -> None:
        self.adapter, self.layer = adapter, layer

    def __call__(self, x: Any, *, training: bool) -> Any:
        return self.adapter.call_layer(self.layer, x, training=training)


def impl_target(backend: str | None, impl: str) -> Target:
    """``impl`` on ``backend`` as a :class:`Target` (loads the framework).

    The builtin's documented differences (its quirks) are its declared ones.
    """
    impl = check_impl(impl)
    adapter = get_adapter(backend)
    name = adapter.name
    if impl == "scratch":
        def scratch(x: Any, p: float, *, training: bool = True) -> Any:
            return dropout_layer(x, p, backend=name) if training else x

        return Target(scratch, backend=name, name=f"{name} scratch",
                      dtypes=adapter.float_dtypes)

    def builtin(x: Any, p: float, *, training: bool = True) -> Any:
        return adapter.builtin_dropout(x, p) if training else x

    quirks = quirks_of(name)
    return Target(
        builtin, backend=name, name=f"{name} builtin", dtypes=adapter.float_dtypes,
        layer=lambda p: _AdapterLayer(adapter, adapter.make_dropout_layer(p)),
        differences=quirks.builtin_differences, stat_differences=quirks.stat_differences,
    )
