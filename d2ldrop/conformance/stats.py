"""Dropout statistics of one backend x implementation x p, checked against their bounds.

The adapters only run the op (:func:`d2ldrop.conformance.impls.dropout_fn`);
masks, counts and bounds are computed with numpy, the same for every backend.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
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
from d2ldrop.conformance.impls import check_impl, dropout_fn
from d2ldrop.errors import BackendNotAvailableError
from d2ldrop.ops import seed as seed_backend

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
        return all(c.passed is not False for c in self.checks.values())

    @property
    def failures(self) -> list[str]:
        return [name for name, c in self.checks.items() if c.passed is False]

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
    layer checks, its Dropout layer). Inputs are a constant ``H`` grid and a
    grid of U[0.5, 1.5) values, ``grid_shape(size)``, in ``dtype``. Draws, in
    order after ``seed(seed)``: dropout(H) (fraction, variance, rows, columns,
    lag-1), then value and gradient of dropout(x) (mean, values, gradient;
    its mask against the first one's gives the agreement); then re-seeding
    checks, then the layer.
    """
    impl = check_impl(impl)
    p = check_stats_args(p, size, seed, dtype, z)
    z = float(z)
    adapter = get_adapter(backend)
    shape = grid_shape(int(size))
    n = shape[0] * shape[1]
    rng = np.random.default_rng(seed)
    # Positive, so that the mean check has power against a wrong scale.
    x_var = rng.uniform(0.5, 1.5, shape).astype(dtype)
    x_const = np.full(shape, H, dtype=dtype)
    t_const = adapter.from_numpy(x_const)
    t_var = adapter.from_numpy(x_var)
    fn = dropout_fn(adapter, impl, p)

    seed_backend(seed, backend=adapter.name)
    y1 = adapter.to_numpy(fn(t_const))
    y2_t, g2_t = adapter.value_and_grad(fn, t_var)
    y2, g2 = adapter.to_numpy(y2_t), adapter.to_numpy(g2_t)
    d1, d2 = y1 == 0, y2 == 0  # inputs are nonzero, so zero means dropped

    checks: dict[str, Check] = {}
    for c in (
        fraction_check(d1, p, z),
        mean_check(x_var, y2, p, z),
        variance_check(y1, H, p, z),
        values_check([(x_const, y1), (x_var, y2)], p),
        gradient_check(y2, g2, p),
        agreement_check(d1, d2, p, z),
        dispersion_check(d1, p, axis=1, z=z),
        dispersion_check(d1, p, axis=0, z=z),
        lag1_check(d1, p, z),
    ):
        checks[c.name] = c

    seed_backend(seed, backend=adapter.name)
    again = adapter.to_numpy(fn(t_const)) == 0
    diff = int(np.count_nonzero(again != d1))
    checks["seed_same"] = exact_check(
        "seed_same", "same seed, same mask", diff,
        "seed(s); dropout(H) twice: masks identical", f"{diff} of {n} differ",
    )
    seed_backend(other_seed(seed), backend=adapter.name)
    other = adapter.to_numpy(fn(t_const)) == 0
    same = int(np.count_nonzero(other == d1))
    checks["seed_different"] = exact_check(
        "seed_different", "new seed, new mask", int(same == n),
        "seed(s + 1): the mask differs somewhere", f"{same} of {n} agree",
    )

    if impl == "scratch":
        why = "the chapter calls dropout_layer only when training; there is no layer object"
        checks["layer_eval"] = na_check("layer_eval", "layer: eval is identity", why)
        checks["layer_train"] = na_check("layer_train", "layer: training drops", why)
        checks["layer_seed"] = na_check("layer_seed", "layer: same seed, same mask", why)
    else:
        seed_backend(seed, backend=adapter.name)
        layer = adapter.make_dropout_layer(p)
        ev = adapter.to_numpy(adapter.call_layer(layer, t_var, training=False))
        differ = int(np.count_nonzero(ev.astype(np.float64) != x_var.astype(np.float64)))
        detail = f"{differ} of {n} values differ"
        if ev.dtype != x_var.dtype:
            differ = n
            detail += f"; dtype {x_var.dtype} -> {ev.dtype}"
        checks["layer_eval"] = exact_check(
            "layer_eval", "layer: eval is identity", differ,
            "call_layer(training=False) returns x exactly, dtype kept", detail,
        )
        tr = adapter.to_numpy(adapter.call_layer(layer, t_const, training=True))
        c = fraction_check(tr == 0, p, z, name="layer_train", title="layer: training drops")
        bad, _ = kept_value_errors(x_const, tr, p)
        c.detail += f"; {bad} values neither 0 nor x/(1-p)"
        if tr.dtype != x_const.dtype:
            bad += 1
            c.detail += f"; dtype {x_const.dtype} -> {tr.dtype}"
        if bad:
            c.passed = False
        checks["layer_train"] = c
        # A layer may own its generator; the adapters build layers whose seed
        # d2ldrop.seed reaches, so seed(s) and a new layer repeat the mask.
        masks = []
        for _ in range(2):
            seed_backend(seed, backend=adapter.name)
            fresh = adapter.make_dropout_layer(p)
            masks.append(adapter.to_numpy(adapter.call_layer(fresh, t_const, training=True)) == 0)
        diff = int(np.count_nonzero(masks[0] != masks[1]))
        checks["layer_seed"] = exact_check(
            "layer_seed", "layer: same seed, same mask", diff,
            "seed(s); new layer; training call - twice: masks identical",
            f"{diff} of {n} differ",
        )

    return DropoutStats(
        backend=adapter.name, impl=impl, p=p, dtype=dtype, n=n, shape=shape, seed=int(seed),
        z=z, h=H, checks=checks,
    )



@dataclass
class StatsRun:
    """The statistics of several backends (``d2ldrop stats``) and the backends skipped."""

    z: float
    results: list[DropoutStats]
    #: Backends that could not be loaded: name -> why.
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
