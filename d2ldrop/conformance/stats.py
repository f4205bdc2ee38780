"""Dropout statistics of one target x p, checked against their bounds.

A target is a built-in implementation on a backend (:func:`dropout_stats`) or
anyone's dropout (:func:`target_stats`, :mod:`d2ldrop.conformance.target`). The
target only runs the op; masks, counts and bounds are computed with numpy, the
same for every backend.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from d2ldrop._io import json_safe
from d2ldrop._validate import SEED_LIMIT, check_probability, check_seed
from d2ldrop.conformance.bounds import Z, two_sided_alpha
from d2ldrop.conformance.checks import (
    Check,
    agreement_check,
    dispersion_check,
    exact_check,
    fraction_check,
    gradient_check,
    kept_value_errors,
    lag1_check,
    mean_check,
    na_check,
    values_check,
    variance_check,
)
from d2ldrop.conformance.impls import check_impl, impl_target
from d2ldrop.conformance.target import Target
from d2ldrop.errors import BackendNotAvailableError, UsageError

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
STAT_DTYPES = ("float16", "float32", "float64")


def grid_shape(size: int) -> tuple[int, int]:
    """The (rows, columns) grid used for ``size`` elements: near square, <= size."""
    rows = max(16, math.isqrt(size))
    return rows, size // rows


def other_seed(seed: int) -> int:
    """The seed of the "new seed, new mask" draw: ``seed + 1``, wrapping to stay a seed."""
    return (seed + 1) % SEED_LIMIT


@dataclass
class DropoutStats:
    """All statistics of one backend x implementation x p (plain data)."""

    backend: str
    impl: str
    p: float
    dtype: str
    n: int
    shape: tuple[int, int]
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

    def _repr_html_(self) -> str:  # the notebook's table (d2ldrop.display.reprs)
        from d2ldrop.display.reprs import stats_html
        return stats_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (NaN and infinities as None)."""
        d = asdict(self)
        d["passed"] = self.passed
        d["failures"] = self.failures
        return json_safe(d)


def check_stats_args(p: object, size: object, seed: object, dtype: object, z: object) -> float:
    """Validate the arguments of :func:`dropout_stats`; return p as a float."""
    pf = check_probability(p, "p")
    if not 0.0 < pf < 1.0:
        raise ValueError(
            f"Statistics need 0 < p < 1 (p = 0 and p = 1 are edge cases: see "
            f"edge_cases()). Received: p={p!r}"
        )
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < MIN_SIZE:
        raise ValueError(f"Expected an integer size >= {MIN_SIZE}. Received: size={size!r}")
    check_seed(seed, "seed")
    if dtype not in STAT_DTYPES:
        raise ValueError(f"Expected dtype in {STAT_DTYPES}. Received: dtype={dtype!r}")
    if not isinstance(z, numbers.Real) or isinstance(z, bool) or not 0 < float(z) <= 20:
        raise ValueError(f"Expected 0 < z <= 20. Received: z={z!r}")
    rows, cols = grid_shape(int(size))
    n = rows * cols
    if n * min(pf, 1.0 - pf) < MIN_EXPECTED:
        need = math.ceil(MIN_EXPECTED / min(pf, 1.0 - pf))
        while math.prod(grid_shape(need)) * min(pf, 1.0 - pf) < MIN_EXPECTED:
            need += 1
        raise ValueError(
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
        size: elements per draw (at least :data:`MIN_SIZE`).
        seed: the seed of the draws.
        z: the bounds' half-width in standard deviations (:data:`Z` = 5).
        dtype: the input dtype (one of :data:`STAT_DTYPES`).

    Returns:
        A :class:`DropoutStats`: each statistic as a :class:`Check` with its
        observed value, expected value and bound; ``passed`` and ``failures``.

    Raises:
        ValueError: an unknown impl or dtype, p outside (0, 1), a size below
            :data:`MIN_SIZE`, a bad seed or z.
        BackendNotAvailableError: the backend's framework is not installed.

    Example:
        >>> from d2ldrop.conformance import dropout_stats
        >>> dropout_stats("tensorflow", "builtin", 0.5).passed
        True
    """
    impl = check_impl(impl)
    p = check_stats_args(p, size, seed, dtype, z)
    return measure(impl_target(backend, impl), impl, p, size=int(size), seed=int(seed),
                   dtype=dtype, z=float(z))


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

    Adds the check that ``dropout(x, p, training=False)`` returns x
    (``eval_call``). Checks a target does not support (no gradient, no seeding,
    no layer) are n/a, with the reason in their detail.
    """
    p = check_stats_args(p, size, seed, dtype, z)
    if dtype not in target.dtypes:
        raise UsageError(
            f"target {target.title!r} declares dtypes {', '.join(target.dtypes)}, not {dtype}"
        )
    target.check_available()
    return measure(target, "target", p, size=int(size), seed=int(seed), dtype=dtype,
                   z=float(z))


_NO_LAYER = {
    "scratch": "the chapter calls dropout_layer only when training; there is no layer object",
    "target": "the target declares no layer factory (Target(layer=...))",
}
_NO_SEED = "the target declares no seeding (Target(seed=False))"


def _read(target: Target, out: Any, x: np.ndarray) -> np.ndarray:
    y = target.to_numpy(out)
    if y.shape != x.shape:
        raise ValueError(f"the target returned shape {y.shape} for an input of shape {x.shape}")
    return y


def measure(
    target: Target, impl: str, p: float, *, size: int, seed: int, dtype: str, z: float
) -> DropoutStats:
    """Every statistic of ``target`` at ``p`` (arguments already checked).

    Inputs are a constant ``H`` grid and a grid of U[0.5, 1.5) values,
    ``grid_shape(size)``, in ``dtype``, each call on a fresh copy. Draws, in
    order after seeding with ``seed``: dropout(H) (fraction, variance, rows,
    columns, lag-1), then value and gradient of dropout(x) (mean, values,
    gradient; its mask against the first one's gives the agreement); then
    re-seeding checks, then the layer, then (``impl`` "target") the call with
    ``training=False``.
    """
    shape = grid_shape(size)
    n = shape[0] * shape[1]
    rng = np.random.default_rng(seed)
    # Positive, so that the mean check has power against a wrong scale.
    x_var = rng.uniform(0.5, 1.5, shape).astype(dtype)
    x_const = np.full(shape, H, dtype=dtype)

    def call(x: np.ndarray) -> np.ndarray:
        return _read(target, target.dropout(target.from_numpy(x), p), x)

    if target.seedable:
        target.reseed(seed)
    y1 = call(x_const)
    if target.has_gradient:
        y2_t, g2_t = target.value_and_grad(target.from_numpy(x_var), p)
        y2, g2 = _read(target, y2_t, x_var), _read(target, g2_t, x_var)
        grad = gradient_check(y2, g2, p)
    else:
        y2 = call(x_var)
        why = ("numpy arrays have no autograd: declare Target(gradient=fn)"
               if target.gradient is None else "the target declares no gradient")
        grad = na_check("gradient", "gradient mask/(1-p)", why)
    d1, d2 = y1 == 0, y2 == 0  # inputs are nonzero, so zero means dropped

    checks: dict[str, Check] = {}
    for c in (
        fraction_check(d1, p, z),
        mean_check(x_var, y2, p, z),
        variance_check(y1, H, p, z),
        values_check([(x_const, y1), (x_var, y2)], p),
        grad,
        agreement_check(d1, d2, p, z),
        dispersion_check(d1, p, axis=1, z=z),
        dispersion_check(d1, p, axis=0, z=z),
        lag1_check(d1, p, z),
    ):
        checks[c.name] = c
    checks.update(_seed_checks(target, impl, call, x_const, d1, seed))
    checks.update(_layer_checks(target, impl, p, x_const, x_var, seed, z))
    if impl == "target":
        checks["eval_call"] = _eval_call_check(target, p, x_var)
    return DropoutStats(
        backend=target.backend, impl=impl, p=p, dtype=dtype, n=n, shape=shape, seed=seed,
        z=z, h=H, checks=checks,
    )


def _seed_checks(target: Target, impl: str, call: Callable[[np.ndarray], np.ndarray],
                 x_const: np.ndarray, d1: np.ndarray, seed: int) -> list[tuple[str, Check]]:
    """Same seed, same mask; new seed, new mask."""
    if not target.seedable:
        return [("seed_same", na_check("seed_same", "same seed, same mask", _NO_SEED)),
                ("seed_different", na_check("seed_different", "new seed, new mask", _NO_SEED))]
    n = d1.size
    hint = f"; seeded with {target.seed_text()}" if impl == "target" else ""
    target.reseed(seed)
    again = call(x_const) == 0
    diff = int(np.count_nonzero(again != d1))
    if diff and impl == "target" and target.seed is True:
        hint += " (a target with a generator of its own declares Target(seed=...))"
    same_seed = exact_check(
        "seed_same", "same seed, same mask", diff,
        "seed(s); dropout(H) twice: masks identical", f"{diff} of {n} differ" + hint,
    )
    target.reseed(other_seed(seed))
    other = call(x_const) == 0
    same = int(np.count_nonzero(other == d1))
    new_seed = exact_check(
        "seed_different", "new seed, new mask", int(same == n),
        "seed(s + 1): the mask differs somewhere", f"{same} of {n} agree" + hint,
    )
    return [("seed_same", same_seed), ("seed_different", new_seed)]


def _layer_checks(target: Target, impl: str, p: float, x_const: np.ndarray,
                  x_var: np.ndarray, seed: int, z: float) -> list[tuple[str, Check]]:
    """The layer: identity in evaluation, drops at rate p in training, seeded."""
    if target.layer is None:
        why = _NO_LAYER.get(impl, _NO_LAYER["target"])
        return [("layer_eval", na_check("layer_eval", "layer: eval is identity", why)),
                ("layer_train", na_check("layer_train", "layer: training drops", why)),
                ("layer_seed", na_check("layer_seed", "layer: same seed, same mask", why))]
    n = x_var.size

    def run(layer: Any, x: np.ndarray, training: bool) -> np.ndarray:
        return _read(target, layer(target.from_numpy(x), training=training), x)

    if target.seedable:
        target.reseed(seed)
    layer = target.layer(p)
    ev = run(layer, x_var, False)
    differ = int(np.count_nonzero(ev.astype(np.float64) != x_var.astype(np.float64)))
    detail = f"{differ} of {n} values differ"
    if ev.dtype != x_var.dtype:
        differ = n
        detail += f"; dtype {x_var.dtype} -> {ev.dtype}"
    out = [("layer_eval", exact_check(
        "layer_eval", "layer: eval is identity", differ,
        "call_layer(training=False) returns x exactly, dtype kept", detail,
    ))]
    tr = run(layer, x_const, True)
    c = fraction_check(tr == 0, p, z, name="layer_train", title="layer: training drops")
    bad, _ = kept_value_errors(x_const, tr, p)
    c.detail += f"; {bad} values neither 0 nor x/(1-p)"
    if tr.dtype != x_const.dtype:
        bad += 1
        c.detail += f"; dtype {x_const.dtype} -> {tr.dtype}"
    if bad:
        c.passed = False
    out.append(("layer_train", c))
    if not target.seedable:
        return [*out, ("layer_seed", na_check("layer_seed", "layer: same seed, same mask",
                                              _NO_SEED))]
    # A layer may own its generator; the adapters build layers whose seed
    # d2ldrop.seed reaches, so seed(s) and a new layer repeat the mask.
    masks = []
    for _ in range(2):
        target.reseed(seed)
        masks.append(run(target.layer(p), x_const, True) == 0)
    diff = int(np.count_nonzero(masks[0] != masks[1]))
    out.append(("layer_seed", exact_check(
        "layer_seed", "layer: same seed, same mask", diff,
        "seed(s); new layer; training call - twice: masks identical",
        f"{diff} of {n} differ",
    )))
    return out


def _eval_call_check(target: Target, p: float, x_var: np.ndarray) -> Check:
    """``dropout(x, p, training=False)`` returns x exactly, dtype kept."""
    title, bound = "training=False returns x", "dropout(x, p, training=False) == x, dtype kept"
    n = x_var.size
    try:
        ev = _read(target, target.dropout(target.from_numpy(x_var), p, training=False), x_var)
    except Exception as err:  # a target without the keyword fails this check only
        return exact_check("eval_call", title, n, bound,
                           f"raised {type(err).__name__}: {err}".splitlines()[0][:200])
    differ = int(np.count_nonzero(ev.astype(np.float64) != x_var.astype(np.float64)))
    detail = f"{differ} of {n} values differ"
    if ev.dtype != x_var.dtype:
        differ = n
        detail += f"; dtype {x_var.dtype} -> {ev.dtype}"
    return exact_check("eval_call", title, differ, bound, detail)


@dataclass
class StatsRun:
    """The statistics of several backends (``d2ldrop stats``) and the backends skipped."""

    z: float
    results: list[DropoutStats]
    #: Backends that could not be loaded (name -> why).
    skipped: dict[str, str] = field(default_factory=dict)

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

    A backend whose framework does not load is recorded in ``skipped``, not raised.
    """
    run = StatsRun(z=z, results=[])
    for name in backends:
        try:
            for impl in impls:
                for p in ps:
                    run.results.append(
                        dropout_stats(name, impl, p, size=size, seed=seed, dtype=dtype, z=z)
                    )
        except BackendNotAvailableError as err:
            run.skipped[name] = str(err)
    return run
