"""The target protocol: anyone's dropout, checked by the same suite as the built-ins.

A *target* is a callable ``dropout(x, p, *, training=True)`` that takes a tensor
of one backend (or a numpy array: backend ``"numpy"``) and returns the tensor
after dropout at rate ``p``. It may come with declared capabilities, a
:class:`Target`; a bare callable gets the defaults. A target is named on the
command line or in pytest by ``package.module:attribute`` and resolved with
importlib (:func:`load_target`). docs/conformance.md has an example for each
framework.

Nothing here imports a framework: a backend's tensors are made, read, seeded and
differentiated through its adapter (:func:`d2ldrop.backends.get_adapter`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._dtypes import FLOAT_DTYPES
from d2ldrop.backends.registry import BACKENDS, canonical_name, framework_of
from d2ldrop.errors import D2LDropError, UnknownBackendError, UsageError
from d2ldrop.ops import seed as seed_backend

#: The pseudo-backend of a target that takes and returns numpy arrays.
NUMPY = "numpy"
#: The p values a target may accept: all of [0, 1] (the chapter's), or [0, 1)
#: for a dropout that refuses p = 1 with an error.
P_RANGES: tuple[str, ...] = ("[0, 1]", "[0, 1)")
#: The input dtypes a target may declare (the statistics' dtypes).
TARGET_DTYPES: tuple[str, ...] = FLOAT_DTYPES
#: The conventions a target may declare: "upscale" (inverted dropout: kept values
#: x / (1 - p) in training, evaluation returns x) or "downscale" (the 2014 paper's:
#: kept values x in training, evaluation returns x (1 - p)).
CONVENTIONS: tuple[str, ...] = ("upscale", "downscale")
#: The dtypes of a target that declares none: bfloat16 must be declared.
DEFAULT_DTYPES: tuple[str, ...] = ("float16", "float32", "float64")


class TargetOutputError(D2LDropError, TypeError):
    """The target returned something other than its backend's tensor (or a numpy array)."""


def target_backends() -> tuple[str, ...]:
    """The backend names a target may name: numpy and every known backend."""
    return (NUMPY, *BACKENDS)


def check_target_backend(name: object) -> str:
    """The canonical name of a target's backend ("numpy", a backend or an alias)."""
    if isinstance(name, str) and name.strip().lower() == NUMPY:
        return NUMPY
    try:
        return canonical_name(name)
    except UnknownBackendError as err:
        raise UsageError(f"{err} A target may also take numpy arrays: {NUMPY!r}.") from None


@dataclass(frozen=True)
class Target:
    """A dropout under test and what it declares it can do.

    ``dropout(x, p, *, training=True)`` is called as ``dropout(x, p)`` in
    training and as ``dropout(x, p, training=False)`` for the evaluation check.
    The capabilities, all optional:

    * ``backend``: whose tensors ``dropout`` takes ("numpy" for numpy arrays);
    * ``layer``: a factory ``layer(p)`` of an object called as
      ``obj(x, training=True|False)`` (the layer checks are n/a without one);
    * ``dtypes``: the float dtypes it supports, among float16, bfloat16 (given
      as ``ml_dtypes.bfloat16`` arrays to a numpy target), float32 and float64;
      by default all but bfloat16; edge cases in others are n/a;
    * ``gradient``: None (the default) differentiates ``dropout`` with the
      backend's autograd (n/a for numpy); False: n/a; or a callable
      ``gradient(x, p) -> (y, dy)``: one call's output and d sum(y) / dx;
    * ``seed``: True (the default) seeds with ``d2ldrop.seed(s, backend=...)``,
      or numpy's global ``np.random.seed(s)`` for numpy; a callable
      ``seed(s)``; or False: not seedable (the seeding checks are n/a);
    * ``p_range``: "[0, 1]" (the default) or "[0, 1)" (p = 1 must raise);
    * ``differences``: edge case id -> (label, why): known, documented
      departures from the specification, expected instead of it;
    * ``stat_differences``: dtype -> {check name: why}, explained in reports;
    * ``normalize_message``: keeps the informative part of an error's text;
    * ``broadcast_axes``: a structured dropout (one mask value shared along these
      axes of the input, e.g. ``(2,)`` for a channel dropout on (N, C, L)); the
      suite feeds it inputs of ``ndim`` dimensions (default: the largest axis + 1,
      at least 2), checks the mask is exactly constant along the axes and runs
      the statistics on the independent units;
    * ``convention``: "upscale" (the default) or "downscale" (training keeps x
      unscaled, evaluation returns x (1 - p): ``dropout(x, p, training=False)``
      and the layer in evaluation are checked for that).
    """

    dropout: Callable[..., Any]
    backend: str = NUMPY
    name: str = ""
    layer: Callable[[float], Any] | None = None
    dtypes: tuple[str, ...] = DEFAULT_DTYPES
    gradient: bool | Callable[[Any, float], tuple[Any, Any]] | None = None
    seed: bool | Callable[[int], None] = True
    p_range: str = "[0, 1]"
    differences: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    stat_differences: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    normalize_message: Callable[[str], str] | None = None
    broadcast_axes: tuple[int, ...] = ()
    ndim: int | None = None
    convention: str = "upscale"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not callable(self.dropout):
            raise UsageError(f"Target dropout must be callable. Received: {self.dropout!r}")
        set_(self, "backend", check_target_backend(self.backend))
        if self.layer is not None and not callable(self.layer):
            raise UsageError(f"Target layer must be a callable factory. Received: {self.layer!r}")
        dtypes = (self.dtypes,) if isinstance(self.dtypes, str) else tuple(self.dtypes)
        bad = [d for d in dtypes if d not in TARGET_DTYPES]
        if bad or not dtypes:
            raise UsageError(f"Target dtypes must be among {TARGET_DTYPES}. Received: {dtypes!r}")
        set_(self, "dtypes", dtypes)
        for what, value in (("gradient", self.gradient), ("seed", self.seed)):
            if not (value is None or isinstance(value, bool) or callable(value)):
                raise UsageError(f"Target {what} must be a bool or a callable. Received: {value!r}")
        if self.seed is None:
            set_(self, "seed", True)
        if self.gradient is True and self.backend == NUMPY:
            raise UsageError(
                "Target gradient=True needs a backend with autograd; a numpy target "
                "declares gradient=callable(x, p) -> (y, dy) instead"
            )
        if self.p_range not in P_RANGES:
            raise UsageError(
                f"Target p_range must be one of {P_RANGES}. Received: {self.p_range!r}"
            )
        if self.convention not in CONVENTIONS:
            raise UsageError(
                f"Target convention must be one of {CONVENTIONS}. Received: {self.convention!r}"
            )
        self._check_structure()

    def _check_structure(self) -> None:
        axes = self.broadcast_axes
        axes = () if axes is None else (axes,) if isinstance(axes, int) else tuple(axes)
        if any(not isinstance(a, int) or isinstance(a, bool) or a < 0 for a in axes) or len(
            set(axes)
        ) != len(axes):
            raise UsageError(
                "Target broadcast_axes must be distinct non-negative ints. "
                f"Received: {self.broadcast_axes!r}"
            )
        ndim = self.ndim if self.ndim is not None else max(2, max(axes, default=0) + 1)
        if not isinstance(ndim, int) or isinstance(ndim, bool) or not (
            max(axes, default=0) < ndim and len(axes) < ndim and 1 <= ndim <= 8
        ):
            raise UsageError(
                f"Target ndim must be an int in [1, 8] above every broadcast axis and "
                f"leave one axis independent. Received: ndim={self.ndim!r}, "
                f"broadcast_axes={self.broadcast_axes!r}"
            )
        object.__setattr__(self, "broadcast_axes", tuple(sorted(axes)))
        object.__setattr__(self, "ndim", ndim if (axes or self.ndim is not None) else None)

    # -- capabilities ------------------------------------------------------------
    @property
    def structured(self) -> bool:
        """True for a structured dropout (it declares ``broadcast_axes``)."""
        return bool(self.broadcast_axes)

    @property
    def downscale(self) -> bool:
        return self.convention == "downscale"

    @property
    def title(self) -> str:
        """The name in reports (``name``, else the callable's qualified name)."""
        return self.name or getattr(self.dropout, "__qualname__", repr(self.dropout))

    @property
    def has_gradient(self) -> bool:
        if callable(self.gradient):
            return True
        return self.gradient is not False and self.backend != NUMPY

    @property
    def seedable(self) -> bool:
        return self.seed is not False

    def describe(self) -> dict[str, Any]:
        """The capabilities in plain data (for reports and JSON)."""
        return {
            "name": self.title, "backend": self.backend, "dtypes": list(self.dtypes),
            "layer": self.layer is not None, "gradient": self.gradient_text(),
            "seed": self.seed_text(), "p_range": self.p_range,
            "differences": {k: list(v) for k, v in self.differences.items()},
            "broadcast_axes": list(self.broadcast_axes), "ndim": self.ndim,
            "convention": self.convention,
        }

    def gradient_text(self) -> str:
        if not self.has_gradient:
            return "none"
        return "declared" if callable(self.gradient) else f"{self.backend} autograd"

    def seed_text(self) -> str:
        if self.seed is False:
            return "none"
        if callable(self.seed):
            return "declared"
        if self.backend == NUMPY:
            return "np.random.seed"
        return f"d2ldrop.seed(backend={self.backend!r})"

    # -- running it ---------------------------------------------------------------
    def check_available(self) -> None:
        """Load the backend's framework (BackendNotAvailableError if it is missing)."""
        if self.backend != NUMPY:
            get_adapter(self.backend)

    def from_numpy(self, a: np.ndarray) -> Any:
        """A fresh input: a copy, so that a dropout working in place spoils nothing."""
        a = np.array(a, copy=True)
        return a if self.backend == NUMPY else get_adapter(self.backend).from_numpy(a)

    def to_numpy(self, t: Any) -> np.ndarray:
        """A numpy copy of what the target returned; TypeError unless it is the
        backend's tensor (a list would read as float64 and hide the mistake)."""
        if self.backend == NUMPY:
            if not isinstance(t, (np.ndarray, np.generic)):
                raise TargetOutputError(
                    f"the target returned a {type(t).__name__}, not a numpy array")
            return np.array(t, copy=True)
        if framework_of(t) != self.backend:
            raise TargetOutputError(
                f"the target returned a {type(t).__module__}.{type(t).__qualname__}, not a "
                f"{self.backend} tensor")
        return get_adapter(self.backend).to_numpy(t)

    def reseed(self, s: int) -> None:
        """Seed the target's draws (callers check :attr:`seedable` first)."""
        if self.seed is False:
            return
        if callable(self.seed):
            self.seed(s)
        elif self.backend == NUMPY:
            np.random.seed(s)
        else:
            seed_backend(s, backend=self.backend)

    def value_and_grad(self, x: Any, p: float) -> tuple[Any, Any]:
        """One training call on ``x`` and the gradient of the sum of its output."""
        if callable(self.gradient):
            return self.gradient(x, p)
        return get_adapter(self.backend).value_and_grad(lambda t: self.dropout(t, p), x)


def _import(module: str, ref: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and (module == err.name or module.startswith(err.name + ".")):
            raise UsageError(f"target {ref!r}: no module named {err.name!r}") from None
        raise UsageError(f"target {ref!r}: importing {module!r} failed: {err}") from None
    except Exception as err:  # the user's module: any failure is reported in one line
        raise UsageError(
            f"target {ref!r}: importing {module!r} raised {type(err).__name__}: {err}"
        ) from None


def load_target(ref: object, backend: str | None = None) -> Target:
    """The :class:`Target` that ``ref`` names, a ``"package.module:attribute"`` string.

    The attribute may be a :class:`Target` or a callable (which gets the default
    capabilities). ``ref`` may also be a Target or a callable itself.
    ``backend`` (``--target-backend``) overrides the declared backend.

    Args:
        ref: ``"package.module:attribute"``, a :class:`Target` or a callable
            ``dropout(x, p, *, training=True)``.
        backend: the target's framework, or ``"numpy"``; None: as declared.

    Returns:
        A :class:`Target`.

    Raises:
        UsageError: (one line) a malformed reference, a missing module or
            attribute, an attribute that is not callable, or bad capabilities.

    Example:
        >>> target = load_target("mypkg.drop:dropout", backend="torch")
        >>> target.title
        'dropout'
    """
    name = ""
    obj = ref
    if backend is not None and check_target_backend(backend) != NUMPY:
        # The framework first, through its adapter: some must load in a safe order.
        get_adapter(check_target_backend(backend))
    if isinstance(ref, str):
        module, sep, attr = ref.strip().partition(":")
        if not sep or not module or not attr:
            raise UsageError(
                f"target {ref!r}: expected package.module:function (a module path, a "
                "colon, and the name of a callable in it)"
            )
        obj = _import(module, ref)
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                where = module if obj is None else getattr(obj, "__name__", module)
                raise UsageError(f"target {ref!r}: {where!r} has no attribute {part!r}") from None
        name = ref.strip()
    if isinstance(obj, Target):
        changes: dict[str, Any] = {}
        if backend is not None:
            changes["backend"] = backend
        if name and not obj.name:
            changes["name"] = name
        return dataclasses.replace(obj, **changes) if changes else obj
    if not callable(obj):
        raise UsageError(
            f"target {ref!r} is not callable (it is a {type(obj).__name__}); expected a "
            "function dropout(x, p, *, training=True) or a d2ldrop.conformance.Target"
        )
    return Target(obj, backend=NUMPY if backend is None else backend, name=name)
