"""Each framework's own dropout as a target: ``d2ldrop.conformance.builtin:<backend>``.

``d2ldrop compare --target d2ldrop.conformance.builtin:tf`` (any backend name
or alias) checks a framework's functional dropout and its Dropout layer as
anyone's dropout is checked, with its documented differences
(``d2ldrop/backends/<name>/quirks.py``) declared: a correct target that passes. The
attribute is made on first access and loads the framework then.
"""

from __future__ import annotations

from d2ldrop.backends.registry import canonical_name
from d2ldrop.conformance.impls import impl_target
from d2ldrop.conformance.target import Target
from d2ldrop.errors import UnknownAttributeError, UnknownBackendError


def builtin_target(backend: str) -> Target:
    """The framework's own dropout on ``backend`` as a :class:`Target`."""
    return impl_target(backend, "builtin")


def __getattr__(name: str) -> Target:
    try:
        backend = canonical_name(name)
    except UnknownBackendError:
        raise UnknownAttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return builtin_target(backend)
