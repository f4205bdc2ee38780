"""The backends: what they are, which one runs a call, and each framework's folder.

Framework code lives only here, one folder per framework
(``d2ldrop/backends/<name>/``: ``adapter.py`` defines ``Adapter``, a subclass of
:class:`d2ldrop.backends.base.Adapter`, and imports its framework at module level,
so the framework is imported when the backend is first used; ``quirks.py`` holds
its documented differences). This package itself imports no framework: it
gathers the registry and the selection (:mod:`d2ldrop._backend`) for callers
that need more than :func:`d2ldrop.use_backend` and :func:`d2ldrop.available_backends`.

Example:

    from d2ldrop.backends import get_adapter
    adapter = get_adapter("torch")   # imports torch now, once, and no other framework

A program that uses several backends in one process loads them first with
:func:`load_in_order` (MXNet cannot load after TensorFlow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from d2ldrop._backend import (
        ALIASES,
        BACKENDS,
        DEFAULT_BACKEND,
        ENV_VAR,
        available_backends,
        canonical_name,
        get_adapter,
        get_backend,
        use_backend,
    )
    from d2ldrop.backends.registry import EXTRAS, install_hint, installed, load_in_order

__all__ = [
    "ALIASES", "BACKENDS", "DEFAULT_BACKEND", "ENV_VAR", "EXTRAS", "available_backends",
    "canonical_name", "get_adapter", "get_backend", "install_hint", "installed",
    "load_in_order", "use_backend",
]
#: Names read from the registry itself (the others from d2ldrop._backend).
_REGISTRY = ("EXTRAS", "install_hint", "installed", "load_in_order")


def __getattr__(name: str) -> Any:
    # Read from d2ldrop._backend on first use: it imports this package's registry,
    # so importing it here, as the package loads, would be circular.
    if name in _REGISTRY:
        from d2ldrop.backends import registry

        return getattr(registry, name)
    if name in __all__:
        from d2ldrop import _backend

        return getattr(_backend, name)
    from d2ldrop.errors import UnknownAttributeError

    raise UnknownAttributeError(f"module {__name__!r} has no attribute {name!r}")
