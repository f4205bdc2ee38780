"""Backend selection: which framework runs an operation.

Precedence, highest first: an explicit ``backend=`` argument, the innermost
``with use_backend(name):`` block, the environment variable ``D2LDROP_BACKEND``,
and the default (the registry's ``DEFAULT_BACKEND``). Adapters are imported the
first time their backend is used, so ``import d2ldrop`` imports no framework.
What the backends are lives in :mod:`d2ldrop.backends.registry`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from d2ldrop.backends.registry import (
    ALIASES,
    BACKENDS,
    DEFAULT_BACKEND,
    EXTRAS,
    canonical_name,
    install_hint,
    installed,
    load_adapter_module,
)
from d2ldrop.errors import UnknownBackendError

if TYPE_CHECKING:
    from d2ldrop.backends.base import Adapter

__all__ = [
    "ALIASES", "BACKENDS", "DEFAULT_BACKEND", "ENV_VAR", "EXTRAS", "available_backends",
    "canonical_name", "get_adapter", "get_backend", "install_hint", "use_backend",
]

#: The environment variable naming the backend when no argument or block does.
ENV_VAR = "D2LDROP_BACKEND"

_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "d2ldrop_backend", default=None
)
_adapters: dict[str, Adapter] = {}


def get_backend(backend: str | None = None) -> str:
    """Name of the backend that an operation given ``backend`` would run on.

    The first of these wins: ``backend`` itself, the innermost
    :func:`use_backend` block, ``$D2LDROP_BACKEND``, the default (``torch``).

    Args:
        backend: a name or alias, or None.

    Returns:
        The canonical name: ``"torch"``, ``"tensorflow"``, ``"mxnet"`` or ``"jax"``.

    Raises:
        UnknownBackendError: ``backend``, or ``$D2LDROP_BACKEND``, names no backend.

    Example:
        >>> with d2ldrop.use_backend("tf"):
        ...     d2ldrop.get_backend()
        'tensorflow'
    """
    if backend is not None:
        return canonical_name(backend)
    active = _context.get()
    if active is not None:
        return active
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        try:
            return canonical_name(env)
        except UnknownBackendError as err:
            raise UnknownBackendError(f"{ENV_VAR}={env!r}: {err}") from None
    return DEFAULT_BACKEND


@contextlib.contextmanager
def use_backend(backend: str) -> Iterator[str]:
    """Make ``backend`` the active backend inside a ``with`` block.

    Blocks nest; the innermost wins. An explicit ``backend=`` argument still
    takes precedence over the block. The block is per thread and per asyncio
    task (a context variable).

    Args:
        backend: a name or alias.

    Yields:
        The canonical name of the backend.

    Raises:
        UnknownBackendError: ``backend`` names no backend.

    Example:
        >>> with d2ldrop.use_backend("mxnet"):
        ...     d2ldrop.seed(0)
        ...     Y = d2ldrop.dropout_layer(d2ldrop.from_numpy(np.ones((2, 8), np.float32)), 0.2)
    """
    token = _context.set(canonical_name(backend))
    try:
        yield _context.get()  # type: ignore[misc]
    finally:
        _context.reset(token)


def get_adapter(backend: str | None = None) -> Adapter:
    """Return the adapter of the selected backend, importing its framework once.

    The adapter is the one object that knows the framework (see the
    architecture page); most code needs only the functions of :mod:`d2ldrop`.

    Args:
        backend: a name or alias; None: the active one.

    Returns:
        The backend's adapter, one per backend and process.

    Raises:
        UnknownBackendError: ``backend`` names no backend.
        BackendNotAvailableError: its framework is not installed (the message
            names the extra to install).
    """
    name = get_backend(backend)
    adapter = _adapters.get(name)
    if adapter is None:
        adapter = _adapters[name] = load_adapter_module(name).Adapter()
    return adapter


def available_backends() -> list[str]:
    """Backends whose framework is installed (checked without importing it).

    Returns:
        Canonical names, in the registry's order.
    """
    return installed()
