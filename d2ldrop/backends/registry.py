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
    #: Backends whose framework cannot be imported after this one's: loaded
    #: together (:func:`load_in_order`), they come first; loaded later, refused.
    load_after: tuple[str, ...] = ()
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
        diagnose="d2ldrop.backends.mxnet.loader:diagnose",
    ),
    BackendSpec("jax", "jax", tensor_roots=("jax", "jaxlib"), extra="jax"),
    BackendSpec(
        "paddle", "paddle", aliases=("paddlepaddle",), tensor_roots=("paddle",),
        extra="paddle",
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


def safe_order(names: Iterable[str]) -> list[str]:
    """The canonical names of ``names``, reordered so that each backend comes after
    those it must load after (``load_after``); otherwise in the given order."""
    wanted = list(dict.fromkeys(canonical_name(n) for n in names))
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for first in BY_NAME[name].load_after:
            if first in wanted:
                visit(first)
        ordered.append(name)

    for name in wanted:
        visit(name)
    return ordered


def loads_before(name: str, among: Iterable[str]) -> list[str]:
    """The backends of ``among`` whose framework must be imported before backend
    ``name``'s, in a safe order (those of a process that may run any of ``among``)."""
    name = canonical_name(name)
    firsts = {canonical_name(n) for n in among} & set(BY_NAME[name].load_after)
    return [n for n in safe_order(firsts) if n != name]


def _refuse_late_load(name: str) -> None:
    """BackendNotAvailableError if a framework that ``name``'s must precede is loaded."""
    after = [s.name for s in SPECS if name in s.load_after and s.module in sys.modules]
    if after:
        first = BY_NAME[after[0]]
        both = [name, first.name]
        raise BackendNotAvailableError(
            f"The {name!r} backend cannot load in this process: {first.module} is "
            f"already imported, and {BY_NAME[name].module} crashes when it loads after it. "
            f"What works: load both before {first.module} is imported, in a safe order, "
            f"with d2ldrop.backends.load_in_order({both!r}) (the commands that run several "
            f"backends do this), or import {BY_NAME[name].module} before {first.module}, "
            f"or use {name} in another process"
        )


def load_in_order(names: Iterable[str], *, skip_unavailable: bool = False) -> list[str]:
    """Import the frameworks of backends ``names`` now, in an order that works.

    Loading a backend imports its own framework and nothing else, so a process
    that uses several backends loads them in the order it uses them. Some
    frameworks cannot load after another one (MXNet 1.9.1 crashes when it loads
    after TensorFlow, and is then refused): a program that uses several backends
    calls this first, with all of them, before it (or a module it imports)
    imports any of their frameworks. ``d2ldrop train/stats/compare/demo`` with
    several backends, lockstep runs, the conformance comparisons and sweeps do.

    Args:
        names: backend names or aliases, in any order.
        skip_unavailable: True: a backend whose framework is missing, fails to
            import or cannot load any more is left out (the call that uses it
            raises later); False: its BackendNotAvailableError is raised.

    Returns:
        The canonical names whose adapters are loaded, in the order they loaded.

    Raises:
        UnknownBackendError: a name that is no backend.
        BackendNotAvailableError: (unless ``skip_unavailable``) a framework is
            missing or fails to import, or cannot load after a framework already
            imported (the message says what order works).

    Example:
        >>> d2ldrop.backends.load_in_order(["tensorflow", "mxnet"])
        ['mxnet', 'tensorflow']
    """
    loaded = []
    for name in safe_order(names):
        try:
            load_adapter_module(name)
        except BackendNotAvailableError:
            if not skip_unavailable:
                raise
            continue
        loaded.append(name)
    return loaded


def load_adapter_module(name: str) -> ModuleType:
    """Import ``d2ldrop.backends.<name>.adapter``, which imports its framework (only that one).

    Raises BackendNotAvailableError, chained from the cause, when the framework
    is missing or fails to import.
    """
    spec = BY_NAME[name]
    if spec.module not in sys.modules:
        _refuse_late_load(name)
    try:
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
