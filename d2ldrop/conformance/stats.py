"""Dropout statistics of one target x p, checked against their bounds.

A target is a built-in implementation on a backend (:func:`dropout_stats`) or
anyone's dropout (:func:`target_stats`, :mod:`d2ldrop.conformance.target`). The
target only runs the op; masks, counts and bounds are computed with numpy, the
same for every backend.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._dtypes import FLOAT_DTYPES, np_dtype
from d2ldrop._io import json_safe
from d2ldrop._memory import check_memory
from d2ldrop._validate import check_probability, check_seed
from d2ldrop.backends.registry import load_in_order
from d2ldrop.conformance.bounds import Z, two_sided_alpha
from d2ldrop.conformance.calls import eval_call, layer_checks, read, seed_checks
from d2ldrop.conformance.calls import other_seed as other_seed  # re-exported
from d2ldrop.conformance.checks import (
    Check,
    agreement_check,
    check_rows,
    dispersion_check,
    exact_check,
    fraction_check,
    gradient_check,
    lag1_check,
    mean_check,
    na_check,
    values_check,
    variance_check,
)
from d2ldrop.conformance.impls import check_impl, impl_target
from d2ldrop.conformance.layout import grid_shape, layout, structure_check
from d2ldrop.conformance.target import Target
from d2ldrop.display.html import block, paragraph, table
from d2ldrop.errors import BackendNotAvailableError, InvalidArgumentError, UsageError

#: Default dropout probabilities of ``stats`` and ``compare``.
DEFAULT_PS: tuple[float, ...] = (0.1, 0.5, 0.9)
#: Default number of elements per draw (a 512 x 512 grid).
DEFAULT_SIZE = 2**18
#: The constant input of the fraction, variance and pattern checks.
H = 1.5
#: Smallest ``size`` accepted (a 16 x 16 grid).
MIN_SIZE = 256
#: The normal approximations need this many expected drops and keeps at least.
MIN_EXPECTED = 100
#: The input dtypes the statistics can be measured in.
STAT_DTYPES = FLOAT_DTYPES


@dataclass
class DropoutStats:
    """All statistics of one backend x implementation x p (plain data)."""

    backend: str
    impl: str
    p: float
    dtype: str
    n: int
    shape: tuple[int, ...]  # (rows, cols); a structured target's input shape
    seed: int
    z: float
    h: float
    checks: dict[str, Check]

    @property
    def passed(self) -> bool:
        """True unless a check failed (checks that do not apply, n/a, do not count)."""
        return all(c.passed is not False for c in self.checks.values())

    @property
    def failures(self) -> list[str]:
        """The names of the checks that failed."""
        return [name for name, c in self.checks.items() if c.passed is False]

    def _repr_html_(self) -> str:  # the notebook's table
        return stats_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (NaN and infinities as None)."""
        d = asdict(self)
        d["passed"] = self.passed
        d["failures"] = self.failures
        return json_safe(d)


def peak_bytes(n: int, dtype: str) -> int:
    """The memory a statistics run on ``n`` elements of ``dtype`` is budgeted.

    The peak measured (ru_maxrss; one run each at 4 and 16 million
    elements, p = 0.5) was 60 bytes per float32 element for a numpy target and
    80 to 126 for the frameworks' built-ins; 75 (numpy) and 153 (the largest
    framework) per float64 element: 40 + 15 * itemsize, plus 256 MiB for the
    framework's own buffers.
    """
    return (40 + 15 * np_dtype(dtype).itemsize) * n + (256 << 20)


def check_stats_args(p: object, size: object, seed: object, dtype: object, z: object) -> float:
    """Validate the arguments of :func:`dropout_stats`; return p as a float."""
    pf = check_probability(p, "p")
    if not 0.0 < pf < 1.0:
        raise InvalidArgumentError(
            f"Statistics need 0 < p < 1 (p = 0 and p = 1 are edge cases: see "
            f"edge_cases()). Received: p={p!r}"
        )
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < MIN_SIZE:
        raise InvalidArgumentError(
            f"Expected an integer size >= {MIN_SIZE}. Received: size={size!r}"
        )
    check_seed(seed, "seed")
    if dtype not in STAT_DTYPES:
        raise InvalidArgumentError(f"Expected dtype in {STAT_DTYPES}. Received: dtype={dtype!r}")
    if not isinstance(z, numbers.Real) or isinstance(z, bool) or not 0 < float(z) <= 20:
        raise InvalidArgumentError(f"Expected 0 < z <= 20. Received: z={z!r}")
    rows, cols = grid_shape(int(size))
    n = rows * cols
    check_memory(peak_bytes(n, str(dtype)), f"size={size} ({dtype})")
    if n * min(pf, 1.0 - pf) < MIN_EXPECTED:
        need = math.ceil(MIN_EXPECTED / min(pf, 1.0 - pf))
        while math.prod(grid_shape(need)) * min(pf, 1.0 - pf) < MIN_EXPECTED:
            need += 1
        raise InvalidArgumentError(
            f"size={size} is too small for the normal bounds at p={pf}: "
            f"size * min(p, 1 - p) must be >= {MIN_EXPECTED}; use size >= {need}"
        )
    return pf


def dropout_stats(
    backend: str | None = None,
    impl: str = "scratch",
    p: float = 0.5,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    dtype: str = "float32",
    z: float = Z,
) -> DropoutStats:
    """Run dropout on ``backend`` and check every statistic against its bound.

    ``impl`` "scratch" is the chapter's ``dropout_layer`` (validated, through
    d2ldrop); "builtin" is the framework's own functional dropout (and, for the
    layer checks, its Dropout layer). See :func:`measure` for the draws.

    Args:
        backend: a name or alias; None: the active one.
        impl: ``"scratch"`` or ``"builtin"``.
        p: the dropout probability, in (0, 1) (0 and 1 are edge cases).
        size: elements per draw (at least ``MIN_SIZE``).
        seed: the seed of the draws.
        z: the bounds' half-width in standard deviations (:data:`Z` = 5).
        dtype: the input dtype (one of :data:`STAT_DTYPES`).

    Returns:
        A :class:`DropoutStats`: each statistic as a :class:`Check` with its
        observed value, expected value and bound; ``passed`` and ``failures``.

    Raises:
        ValueError: an unknown impl or dtype, p outside (0, 1), a size below
            ``MIN_SIZE``, a bad seed or z.
        BackendNotAvailableError: the backend's framework is not installed.

    Example:
        >>> from d2ldrop.conformance import dropout_stats
        >>> dropout_stats("tensorflow", "builtin", 0.5).passed
        True
    """
    impl = check_impl(impl)
    p = check_stats_args(p, size, seed, dtype, z)
    target = impl_target(backend, impl)
    if dtype not in target.dtypes:
        get_adapter(target.backend).check_dtype(dtype)
    return measure(target, impl, p, size=int(size), seed=int(seed), dtype=dtype, z=float(z))


def target_stats(
    target: Target,
    p: float = 0.5,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    dtype: str = "float32",
    z: float = Z,
) -> DropoutStats:
    """:func:`dropout_stats` of anyone's dropout (``impl`` "target").

    Adds the checks that ``dropout(x, p, training=False)`` returns x
    (``eval_call``) and that no call changes its input (``input_kept``). Checks a
    target does not support (no gradient, no seeding, no layer) are n/a, with the
    reason in their detail.
    """
    p = check_stats_args(p, size, seed, dtype, z)
    if dtype not in target.dtypes:
        raise UsageError(
            f"target {target.title!r} declares dtypes {', '.join(target.dtypes)}, not {dtype}"
        )
    target.check_available()
    return measure(target, "target", p, size=int(size), seed=int(seed), dtype=dtype,
                   z=float(z))


def measure(
    target: Target, impl: str, p: float, *, size: int, seed: int, dtype: str, z: float
) -> DropoutStats:
    """Every statistic of ``target`` at ``p`` (arguments already checked).

    Inputs are a constant ``H`` grid and a grid of U[0.5, 1.5) values,
    ``grid_shape(size)``, in ``dtype``, each call on a fresh copy (a structured
    target gets the input of :func:`~d2ldrop.conformance.layout.layout`, and the
    statistics run on its units). Draws, in order after seeding with ``seed``:
    dropout(H) (fraction, variance, rows, columns, lag-1), then value and
    gradient of dropout(x) (mean, values, gradient; its mask against the first
    one's gives the agreement); then (``impl`` "target") the call with
    ``training=False`` (a downscale target's mean is compared with its output),
    then re-seeding checks, then the layer.
    """
    lay = layout(size, target.ndim, target.broadcast_axes)
    down = target.downscale
    rng = np.random.default_rng(seed)
    # Positive, so that the mean check has power against a wrong scale.
    x_var = rng.uniform(0.5, 1.5, lay.shape).astype(np_dtype(dtype))
    x_const = np.full(lay.shape, H, dtype=np_dtype(dtype))

    changed = [0, 0]  # calls that changed their input, calls checked

    def call(x: np.ndarray) -> np.ndarray:
        t = target.from_numpy(x)
        y = read(target, target.dropout(t, p), x)
        if impl == "target":  # the input, compared with its copy after the call
            changed[0] += not np.array_equal(target.to_numpy(t), x)
            changed[1] += 1
        return y

    if target.seedable:
        target.reseed(seed)
    y1 = call(x_const)
    if target.has_gradient:
        y2_t, g2_t = target.value_and_grad(target.from_numpy(x_var), p)
        y2, g2 = read(target, y2_t, x_var), read(target, g2_t, x_var)
        grad = gradient_check(y2, g2, p, down)
    else:
        y2 = call(x_var)
        why = ("numpy arrays have no autograd: declare Target(gradient=fn)"
               if target.gradient is None else "the target declares no gradient")
        grad = na_check("gradient", "gradient mask/(1-p)", why)
    d1, d2 = y1 == 0, y2 == 0  # inputs are nonzero, so zero means dropped
    u1, u2 = lay.unit_grid(d1), lay.unit_grid(d2)
    evaluated = eval_call(target, p, x_var) if impl == "target" else None
    expected = None
    if down and evaluated is not None and evaluated[1] is not None:
        expected = float(evaluated[1].astype(np.float64).mean())

    checks: dict[str, Check] = {}
    for c in (
        fraction_check(u1, p, z),
        mean_check(lay.unit_view(x_var), lay.unit_view(y2), p, z, group=lay.group,
                   downscale=down, expected=expected),
        variance_check(lay.unit_grid(y1), H, p, z, downscale=down),
        values_check([(x_const, y1), (x_var, y2)], p, down),
        grad,
        agreement_check(u1, u2, p, z),
        dispersion_check(u1, p, axis=1, z=z),
        dispersion_check(u1, p, axis=0, z=z),
        lag1_check(u1, p, z),
    ):
        checks[c.name] = c
    if lay.axes:
        checks["structure"] = structure_check(lay, [d1, d2])
    checks.update(seed_checks(target, impl, call, x_const, d1, seed))
    checks.update(layer_checks(target, impl, p, x_const, x_var, seed, z, lay))
    if evaluated is not None:
        checks["eval_call"] = evaluated[0]
    if impl == "target":
        checks["input_kept"] = exact_check(
            "input_kept", "input left unchanged", changed[0],
            "x equal to a copy of it after each call", f"{changed[0]} of {changed[1]} calls "
            "changed their input" + (" (in place)" if changed[0] else ""))
    return DropoutStats(
        backend=target.backend, impl=impl, p=p, dtype=dtype, n=lay.n, shape=lay.shape,
        seed=seed, z=z, h=H, checks=checks,
    )


def stats_html(stats: DropoutStats) -> str:
    """One row per statistic of one backend x implementation x p."""
    verdict = ("PASS" if stats.passed else "FAIL: " + ", ".join(stats.failures))
    return block(
        table(("statistic", "kind", "observed", "expected", "accepted", "ratio / result",
               "bound"), check_rows(stats.checks.values()),
              caption=f"Dropout statistics: {stats.backend} {stats.impl}, p = {stats.p:g}, "
                      f"{stats.dtype}, n = {stats.n}, seed {stats.seed}, z = {stats.z:g}"),
        paragraph("Ratio: |observed - expected| / the bound on that side; a statistic "
                  "holds when it is at most 1."),
        paragraph(verdict, failed=not stats.passed),
    )


@dataclass
class StatsRun:
    """The statistics of several backends (``d2ldrop stats``) and the backends skipped."""

    z: float
    results: list[DropoutStats]
    #: Backends that could not be loaded (name -> why).
    skipped: dict[str, str] = field(default_factory=dict)
    #: name -> why, for the backends whose framework has no tensors of the dtype (not a failure).
    unsupported: dict[str, str] = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        return two_sided_alpha(self.z)

    @property
    def passed(self) -> bool:
        """No backend skipped and every statistic within its bound."""
        return not self.skipped and all(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (NaN and infinities as None)."""
        return json_safe({
            "z": self.z, "alpha": self.alpha, "passed": self.passed, "skipped": self.skipped,
            "unsupported": self.unsupported,
            "results": [r.to_dict() for r in self.results],
        })


def run_stats(
    backends: Sequence[str],
    impls: Sequence[str],
    ps: Sequence[float],
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    dtype: str = "float32",
    z: float = Z,
) -> StatsRun:
    """:func:`dropout_stats` for every backend x implementation x p, in that order.

    A backend whose framework does not load is recorded in ``skipped``, not raised;
    one whose framework has no ``dtype`` tensors in ``unsupported``.
    """
    run = StatsRun(z=z, results=[])
    load_in_order(backends, skip_unavailable=True)  # one that cannot load is skipped below
    for name in backends:
        try:
            try:
                get_adapter(name).check_dtype(dtype)
            except TypeError as err:
                run.unsupported[name] = str(err)
                continue
            for impl in impls:
                for p in ps:
                    run.results.append(
                        dropout_stats(name, impl, p, size=size, seed=seed, dtype=dtype, z=z)
                    )
        except BackendNotAvailableError as err:
            run.skipped[name] = str(err)
    return run
