"""Backend selection: which framework runs an operation.

Precedence, highest first: an explicit ``backend=`` argument, the innermost
``with use_backend(name):`` block, the environment variable ``D2LDROP_BACKEND``,
and the default, ``torch``. Adapters are imported the first time their backend is
used, so ``import d2ldrop`` imports no framework.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from d2ldrop.errors import BackendNotAvailableError, UnknownBackendError

if TYPE_CHECKING:
    from d2ldrop.backends.base import Adapter

#: Canonical backend names. The order is the import order used by ``all``:
#: torch before TensorFlow, as Keras's own test-suite does, to avoid a known
#: crash when TensorFlow's bundled libraries load first.
BACKENDS: tuple[str, ...] = ("torch", "tensorflow", "mxnet")
ALIASES: dict[str, str] = {"pytorch": "torch", "tf": "tensorflow", "mx": "mxnet"}
DEFAULT_BACKEND = "torch"
ENV_VAR = "D2LDROP_BACKEND"

#: The pip extra that installs each backend's framework.
EXTRAS: dict[str, str] = {name: name for name in BACKENDS}

_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "d2ldrop_backend", default=None
)
_adapters: dict[str, Adapter] = {}


def canonical_name(name: str) -> str:
    """Return the canonical backend name for ``name`` or one of its aliases."""
    if not isinstance(name, str):
        raise UnknownBackendError(
            f"Expected a backend name (a string). Received: {name!r}"
        )
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in BACKENDS:
        known = ", ".join(BACKENDS)
        aliases = ", ".join(f"{a} -> {b}" for a, b in ALIASES.items())
        raise UnknownBackendError(
            f"Unknown backend {name!r}. Known backends: {known} (aliases: {aliases})."
        )
    return key


def get_backend(backend: str | None = None) -> str:
    """Name of the backend that an operation given ``backend`` would run on."""
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
    takes precedence over the block.
    """
    token = _context.set(canonical_name(backend))
    try:
        yield _context.get()  # type: ignore[misc]
    finally:
        _context.reset(token)


def install_hint(backend: str) -> str:
    return f'pip install "d2ldrop[{EXTRAS[backend]}]"'


def get_adapter(backend: str | None = None) -> Adapter:
    """Return the adapter of the selected backend, importing its framework once."""
    name = get_backend(backend)
    adapter = _adapters.get(name)
    if adapter is None:
        adapter = _load_adapter(name)
        _adapters[name] = adapter
    return adapter


def _load_adapter(name: str) -> Adapter:
    try:
        module = importlib.import_module(f"d2ldrop.backends.{name}")
    except ImportError as err:
        raise BackendNotAvailableError(
            f"The {name!r} backend needs its framework, which failed to import "
            f"({err}). Install it with: {install_hint(name)}"
        ) from err
    except AttributeError as err:
        # MXNet 1.9.1 (the last release) uses ``np.bool``, removed in numpy 1.24.
        if name == "mxnet" and "bool" in str(err):
            import numpy

            raise BackendNotAvailableError(
                f"MXNet 1.9.1 needs numpy<1.24, but numpy {numpy.__version__} is "
                f"installed ({err}). Use a separate environment with "
                f'pip install "numpy<1.24" "d2ldrop[mxnet]"'
            ) from err
        raise
    return module.Adapter()


def available_backends() -> list[str]:
    """Backends whose framework is installed (checked without importing it)."""
    import importlib.util

    # Each backend is named after the module of its framework.
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
