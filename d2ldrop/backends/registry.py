"""The backends d2ldrop knows: names, aliases, pip extras, load order.

This is the one table of framework facts outside the adapters. Adding a
backend is one entry here and one folder ``d2ldrop/backends/<name>/``
(see docs/architecture.md). Nothing here imports a framework: availability is
checked with ``importlib.util.find_spec``.

Three sets, kept apart:

- *known* (:data:`BACKENDS`): every entry of this table;
- *installed* (:func:`installed`): those whose framework can be found;
- *required*: what a caller demands (``d2ldrop compare --require``, CI), checked
  with :func:`require`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType

from d2ldrop.errors import BackendNotAvailableError, UnknownBackendError


@dataclass(frozen=True)
class BackendSpec:
    """What d2ldrop must know about a backend before importing its framework."""

    #: Canonical name; the adapter is ``d2ldrop.backends.<name>.adapter``.
    name: str
    #: The framework's top-level module (checked with find_spec).
    module: str
    aliases: tuple[str, ...] = ()
    #: Top-level modules whose types are this framework's tensors (for messages).
    tensor_roots: tuple[str, ...] = ()
    #: The pip extra of d2ldrop that installs the framework.
    extra: str = ""
    #: Backends whose framework must be imported before this one's, if installed.
    load_after: tuple[str, ...] = ()
    #: ``module:function`` that imports the framework (default: a plain import).
    importer: str | None = None
    #: ``module:function`` turning an import failure into an explanation, or None.
    diagnose: str | None = None

    @property
    def package(self) -> str:
        """The backend's folder, ``d2ldrop.backends.<name>`` (adapter.py, quirks.py)."""
        return f"{__package__}.{self.name}"


#: Known backends, in the order ``all`` runs them.
SPECS: tuple[BackendSpec, ...] = (
    BackendSpec("torch", "torch", aliases=("pytorch",), tensor_roots=("torch",), extra="torch"),
    BackendSpec(
        "tensorflow", "tensorflow", aliases=("tf",), tensor_roots=("tensorflow", "keras"),
        extra="tensorflow",
        # MXNet 1.9.1's library crashes in its load-time initializer (SIGSEGV in
        # mxnet::op::OperatorTune<float>::Initialize) when it loads after
        # TensorFlow's; loaded before, both work.
        load_after=("mxnet",),
    ),
    BackendSpec(
        "mxnet", "mxnet", aliases=("mx",), tensor_roots=("mxnet",), extra="mxnet",
        importer="d2ldrop.backends.mxnet.loader:import_mxnet",
        diagnose="d2ldrop.backends.mxnet.loader:diagnose",
    ),
    BackendSpec("jax", "jax", tensor_roots=("jax", "jaxlib"), extra="jax"),
    BackendSpec(
        "paddle", "paddle", aliases=("paddlepaddle",), tensor_roots=("paddle",),
        extra="paddle", importer="d2ldrop.backends.paddle.loader:import_paddle",
    ),
)

#: The backend used when neither an argument, a block nor the environment names one.
DEFAULT_BACKEND = "torch"

BY_NAME: dict[str, BackendSpec] = {s.name: s for s in SPECS}
#: Every backend's canonical name, in the registry's order.
BACKENDS: tuple[str, ...] = tuple(BY_NAME)
#: Alias -> canonical name (``pytorch``, ``tf``, ``mx``).
ALIASES: dict[str, str] = {a: s.name for s in SPECS for a in s.aliases}
EXTRAS: dict[str, str] = {s.name: s.extra for s in SPECS}


def canonical_name(name: object) -> str:
    """The canonical backend name for ``name`` or one of its aliases.

    Args:
        name: a backend's name or alias, any case, surrounding spaces ignored.

    Returns:
        One of :data:`BACKENDS` (``"torch"``, ``"tensorflow"``, ``"mxnet"``,
        ``"jax"``, ``"paddle"``).

    Raises:
        UnknownBackendError: ``name`` is not a string or names no backend.

    Example:
        >>> d2ldrop.backends.canonical_name(" MX ")
        'mxnet'
    """
    if not isinstance(name, str):
        raise UnknownBackendError(f"Expected a backend name (a string). Received: {name!r}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in BY_NAME:
        known = ", ".join(BACKENDS)
        aliases = ", ".join(f"{a} -> {b}" for a, b in ALIASES.items())
        raise UnknownBackendError(
            f"Unknown backend {name!r}. Known backends: {known} (aliases: {aliases})."
        )
    return key


def install_hint(name: str) -> str:
    return f'pip install "d2ldrop[{EXTRAS[name]}]"'


def is_installed(name: str) -> bool:
    """True if the framework of backend ``name`` can be found (not imported)."""
    module = BY_NAME[name].module
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def installed() -> list[str]:
    """Known backends whose framework is installed, in :data:`BACKENDS` order."""
    return [b for b in BACKENDS if is_installed(b)]


def require(names: Iterable[str]) -> list[str]:
    """Canonical names of ``names``; BackendNotAvailableError if one is not installed."""
    wanted = list(dict.fromkeys(canonical_name(n) for n in names))
    missing = [n for n in wanted if not is_installed(n)]
    if missing:
        hints = "; ".join(f"{n}: {install_hint(n)}" for n in missing)
        raise BackendNotAvailableError(
            f"Required backend(s) not installed: {', '.join(missing)} ({hints})"
        )
    return wanted


def framework_of(obj: object) -> str | None:
    """The backend whose framework ``obj``'s type comes from (by module name, no import)."""
    root = type(obj).__module__.split(".")[0]
    for spec in SPECS:
        if root in spec.tensor_roots:
            return spec.name
    return None


def _resolve(ref: str) -> Callable[..., object]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _import_framework(name: str) -> ModuleType:
    spec = BY_NAME[name]
    if spec.importer is not None:
        return _resolve(spec.importer)()  # type: ignore[return-value]
    return importlib.import_module(spec.module)


def _load_first(name: str) -> None:
    """Import the installed frameworks that backend ``name``'s must follow, while
    that is still possible (not once ``name``'s own framework is imported)."""
    if BY_NAME[name].module in sys.modules:
        return  # imported by the caller: too late for the others, which are refused
    for first in BY_NAME[name].load_after:
        if BY_NAME[first].module not in sys.modules and is_installed(first):
            try:
                _import_framework(first)
            except Exception:  # noqa: BLE001, S110 - a broken MXNet must not stop TensorFlow
                pass


def _refuse_late_load(name: str) -> None:
    """BackendNotAvailableError if a framework that ``name``'s must precede is loaded."""
    after = [s.name for s in SPECS if name in s.load_after and s.module in sys.modules]
    if after:
        first = BY_NAME[after[0]]
        raise BackendNotAvailableError(
            f"The {name!r} backend cannot load in this process: {first.module} is "
            f"already imported, and {BY_NAME[name].module} crashes when it loads after it. "
            f"Load {name} first (d2ldrop.backends.get_adapter({name!r}) or import "
            f"{BY_NAME[name].module} before {first.module}), or use it in another process"
        )


def load_adapter_module(name: str) -> ModuleType:
    """Import ``d2ldrop.backends.<name>.adapter``, which imports its framework (in a safe order).

    Raises BackendNotAvailableError, chained from the cause, when the framework
    is missing or fails to import.
    """
    spec = BY_NAME[name]
    if spec.module not in sys.modules:
        _refuse_late_load(name)
    try:
        _load_first(name)
        return importlib.import_module(f"{spec.package}.adapter")
    except ImportError as err:
        raise BackendNotAvailableError(
            f"The {name!r} backend needs its framework, which failed to import "
            f"({err}). Install it with: {install_hint(name)}"
        ) from err
    except Exception as err:
        explanation = _resolve(spec.diagnose)(err) if spec.diagnose else None
        if explanation:
            raise BackendNotAvailableError(explanation) from err
        raise
