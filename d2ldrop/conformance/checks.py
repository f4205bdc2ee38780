"""The checks on numpy arrays: each turns observed masks and values into a :class:`Check`.

Nothing here runs a framework; the bounds come from :mod:`d2ldrop.conformance.bounds`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from d2ldrop._dtypes import is_float
from d2ldrop.conformance.bounds import (
    Z,
    binomial_interval,
    dispersion_interval,
    mean_bias_bound,
    rtol_of,
    variance_bound,
)
from d2ldrop.display.html import Cell


@dataclass
class Check:
    """One statistic: what was observed, what was expected, and the bound.

    ``kind`` is "bound" (``low <= value <= high``), "exact" (``value`` counts the
    violations; 0 passes) or "n/a" (``passed`` is None). ``ratio`` is
    ``|value - expected|`` / (distance from expected to the bound on that side):
    a bound check passes when it is at most 1.
    """

    name: str
    title: str
    kind: str
    value: float | None
    expected: float | None
    low: float | None
    high: float | None
    passed: bool | None
    bound: str
    detail: str = ""
    ratio: float | None = None


def bound_check(
    name: str, title: str, value: float, expected: float, low: float, high: float,
    bound: str, detail: str = "",
) -> Check:
    """A "bound" check: passes when ``low <= value <= high``."""
    value, expected, low, high = float(value), float(expected), float(low), float(high)
    side = high - expected if value >= expected else expected - low
    dev = abs(value - expected)
    ratio = dev / side if side > 0 else (0.0 if dev == 0 else math.inf)
    return Check(
        name, title, "bound", value, expected, low, high,
        bool(low <= value <= high), bound, detail, ratio,
    )


def exact_check(name: str, title: str, violations: int, bound: str, detail: str = "") -> Check:
    """An "exact" check: ``violations`` counts what is wrong; it passes at 0."""
    return Check(
        name, title, "exact", float(violations), 0.0, 0.0, 0.0,
        violations == 0, bound, detail, None,
    )


def na_check(name: str, title: str, detail: str) -> Check:
    """A check that does not apply (``passed`` is None); ``detail`` says why."""
    return Check(name, title, "n/a", None, None, None, None, None, "", detail, None)


def fraction_check(dropped: np.ndarray, p: float, z: float = Z, name: str = "fraction",
                   title: str = "fraction dropped") -> Check:
    """The fraction of True in ``dropped`` against p: exact binomial region."""
    n = int(dropped.size)
    k = int(np.count_nonzero(dropped))
    lo, hi = binomial_interval(n, p, z)
    return bound_check(
        name, title, k / n, p, lo / n, hi / n,
        "exact Binomial(n, p) region, tails <= Phi(-z)",
        f"{k} of {n} dropped; accepted counts [{lo}, {hi}]",
    )


def mean_check(x: np.ndarray, y: np.ndarray, p: float, z: float = Z, *, group: int = 1,
               downscale: bool = False, expected: float | None = None) -> Check:
    """Mean of the output against the input's mean (expectation preserved).

    y_i = x_i m_i / (1 - p), m_i ~ Bernoulli(1 - p): E[y_i] = x_i and
    Var[y_i] = x_i^2 p / (1 - p) (h^2 p / (1 - p) for a constant input h), so
    Var(mean y) = p / (1 - p) * sum(x_i^2) / n^2 and the bound is z times its
    square root (CLT), plus the bias that rounding the kept values in ``x``'s
    dtype allows (:func:`~d2ldrop.conformance.bounds.mean_bias_bound`).

    ``group``: consecutive elements (of ``x`` and ``y`` raveled) that share one
    mask value (a structured dropout): Var(mean y) = p / (1 - p) sum_u s_u^2 / n^2
    with s_u the sum of x over unit u. ``downscale``: y_i = x_i m_i, so E[y_i] =
    (1 - p) x_i and the factor is p (1 - p); ``expected`` (the mean of the
    evaluation output) replaces (1 - p) mean(x).
    """
    x64 = x.astype(np.float64).ravel()
    y64 = y.astype(np.float64).ravel()
    n = x64.size
    s = x64.reshape(-1, group).sum(axis=1)
    factor = p * (1.0 - p) if downscale else p / (1.0 - p)
    sd = math.sqrt(factor * float(np.sum(s * s))) / n
    mx = float(x64.mean()) * ((1.0 - p) if downscale else 1.0)
    if expected is not None:
        mx = expected
    bias = mean_bias_bound(float(np.abs(x64).mean()), str(x.dtype))
    formula = "p(1-p)" if downscale else "p/(1-p)"
    what = "matches evaluation" if downscale else "preserved"
    return bound_check(
        "mean", f"mean {what}", float(y64.mean()), mx, mx - z * sd - bias,
        mx + z * sd + bias,
        f"CLT, sd(mean y) = sqrt({formula} sum x^2) / n; + rounding bias rtol mean|x|",
        f"sd = {sd:.3g}; rounding bias allowed {bias:.3g}",
    )


def variance_check(y: np.ndarray, h: float, p: float, z: float = Z, *,
                   downscale: bool = False) -> Check:
    """Sample variance of dropout(h) against h^2 p / (1 - p); see :func:`variance_bound`.

    ``downscale``: the kept value is h itself, so the variance is h^2 p (1 - p):
    the same scaled Bernoulli with h (1 - p) in place of h.
    """
    y64 = y.astype(np.float64).ravel()
    n = y64.size
    h_up = h * (1.0 - p) if downscale else h
    sigma2 = h_up * h_up * p / (1.0 - p)
    # A kept value within rtol of h/(1-p) scales the variance by at most (1 + rtol)^2.
    r = rtol_of(str(y.dtype)) if is_float(y.dtype) else 0.0
    b = variance_bound(n, h_up, p, z) + sigma2 * (2.0 * r + r * r)
    title = "variance h^2 p(1-p)" if downscale else "variance h^2 p/(1-p)"
    return bound_check(
        "variance", title, float(y64.var(ddof=1)), sigma2, sigma2 - b, sigma2 + b,
        "z sd(s^2) + z^2 sigma^2/n + rounding; Var(s^2) = sigma^4/n (1/(pq) - 4 + 2/(n-1))",
    )


def kept_value_errors(x: np.ndarray, y: np.ndarray, p: float,
                      downscale: bool = False) -> tuple[int, float]:
    """(elements that are neither exactly 0 nor x/(1-p) up to rounding, max rel. error).

    ``downscale``: kept values must be x exactly.
    """
    x64 = x.astype(np.float64)
    y64 = y.astype(np.float64)
    want = x64 if downscale else x64 / (1.0 - p)
    kept = y64 != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(y64 - want) / np.abs(want)
    rel = np.where(kept, rel, 0.0)
    tol = 0.0 if downscale else rtol_of(str(y.dtype))
    bad = kept & ~(rel <= tol)  # NaN and inf count as bad
    max_rel = float(np.max(rel, initial=0.0)) if np.all(np.isfinite(rel)) else math.inf
    return int(np.count_nonzero(bad)), max_rel


def values_check(pairs: Sequence[tuple[np.ndarray, np.ndarray]], p: float,
                 downscale: bool = False) -> Check:
    """Every element is exactly 0 or x / (1 - p) up to :func:`rtol_of`, in the input's
    dtype (``downscale``: exactly 0 or x)."""
    bad, worst, n, notes = 0, 0.0, 0, []
    for x, y in pairs:
        b, w = kept_value_errors(x, y, p, downscale)
        if y.dtype != x.dtype:  # a changed dtype makes every element wrong
            b = y.size
            notes.append(f"dtype {x.dtype} -> {y.dtype}")
        bad, worst, n = bad + b, max(worst, w), n + y.size
    dtype = str(pairs[0][1].dtype)
    if downscale:
        return exact_check("values", "values 0 or x", bad, "y == 0 or y == x exactly; dtype kept",
                           "; ".join([f"{bad} of {n} elements off", *notes]))
    return exact_check(
        "values", "values 0 or x/(1-p)", bad,
        f"|y - x/(1-p)| <= {rtol_of(dtype):.1e} |x/(1-p)| where y != 0; dtype kept",
        "; ".join([f"{bad} of {n} elements off; max rel. error {worst:.2g}", *notes]),
    )


def gradient_check(y: np.ndarray, grad: np.ndarray, p: float, downscale: bool = False) -> Check:
    """d sum(y) / dx equals mask / (1 - p) for the mask of that same call (``downscale``:
    the mask itself)."""
    kept = y != 0
    g = grad.astype(np.float64)
    want = 1.0 if downscale else 1.0 / (1.0 - p)
    rel = np.abs(g - want) / want
    bad_kept = kept & ~(rel <= rtol_of(str(grad.dtype)))
    bad_dropped = ~kept & (g != 0)
    bad = int(np.count_nonzero(bad_kept) + np.count_nonzero(bad_dropped))
    return exact_check(
        "gradient", "gradient mask/(1-p)", bad,
        "grad == 0 where dropped, 1/(1-p) up to 4 ulps where kept",
        f"{bad} of {y.size} elements off",
    )


def agreement_check(dropped1: np.ndarray, dropped2: np.ndarray, p: float, z: float = Z) -> Check:
    """Two independent calls agree at rate p^2 + (1 - p)^2: exact binomial region."""
    e = p * p + (1.0 - p) ** 2
    n = int(dropped1.size)
    k = int(np.count_nonzero(dropped1 == dropped2))
    lo, hi = binomial_interval(n, e, z)
    return bound_check(
        "agreement", "two calls agree", k / n, e, lo / n, hi / n,
        "exact Binomial(n, p^2+(1-p)^2) region",
        f"{k} of {n} agree; accepted counts [{lo}, {hi}]",
    )


def dispersion_check(dropped: np.ndarray, p: float, axis: int, z: float = Z) -> Check:
    """Drop counts per row (axis=1) or per column (axis=0) of a 2-D mask."""
    counts = np.count_nonzero(dropped, axis=axis).astype(np.float64)
    groups = counts.size
    per_group = dropped.shape[axis]
    t = float(np.sum((counts - per_group * p) ** 2) / (per_group * p * (1.0 - p)))
    lo, hi = dispersion_interval(groups, per_group, p, z)
    name, what = ("rows", "row") if axis == 1 else ("columns", "column")
    return bound_check(
        name, f"per-{what} drop counts", t, float(groups), lo, hi,
        "sum (k-mp)^2/(mpq): exact mean, var; Wilson-Hilferty",
        f"{groups} {what}s of {per_group}",
    )


def lag1_check(dropped: np.ndarray, p: float, z: float = Z) -> Check:
    """Lag-1 autocorrelation of the mask in memory (row-major) order.

    r = sum_i (d_i - p)(d_{i+1} - p) / ((n - 1) p q) with the known p: the terms
    have mean 0, variance (p q)^2 and are uncorrelated, so Var(r) = 1 / (n - 1)
    exactly and the bound is z / sqrt(n - 1) (CLT for 1-dependent terms).
    """
    d = dropped.astype(np.float64).ravel() - p
    n = d.size
    r = float(np.dot(d[:-1], d[1:]) / ((n - 1) * p * (1.0 - p)))
    b = z / math.sqrt(n - 1)
    return bound_check(
        "lag1", "lag-1 correlation", r, 0.0, -b, b, "CLT, sd(r) = 1/sqrt(n-1)",
    )


# -- the notebook's tables (conformance.stats and conformance.gate build on these) --------


def _num(x: float | None, spec: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def check_cell(check: Check) -> Cell:
    """A check as a cell: the bound ratio (<= 1 holds) or ok / FAIL / -, with a tooltip."""
    tip = f"{check.title}: {check.bound}" if check.bound else check.title
    if check.kind == "bound" and check.value is not None:
        tip += (f"\nobserved {check.value:.6g}, expected {check.expected:.6g}, "
                f"accepted [{check.low:.6g}, {check.high:.6g}]")
    if check.detail:
        tip += f"\n{check.detail}"
    if check.passed is None:
        return Cell("-", tip)
    if check.kind == "bound" and check.ratio is not None and (check.passed or check.ratio > 1):
        return Cell(f"{check.ratio:.2f}" if check.ratio < 100 else f"{check.ratio:.0f}", tip,
                    failed=not check.passed)
    return Cell("ok" if check.passed else "FAIL", tip, failed=not check.passed)


def check_rows(checks: Iterable[Check]) -> list[tuple[object, ...]]:
    """One row per check: title, kind, observed, expected, accepted, ratio / result, bound."""
    rows: list[tuple[object, ...]] = []
    for c in checks:
        accepted = (f"[{c.low:.6g}, {c.high:.6g}]" if c.kind == "bound" and c.low is not None
                    else "")
        rows.append((c.title, c.kind, _num(c.value, ".6g"), _num(c.expected, ".6g"), accepted,
                     check_cell(c), c.bound or c.detail))
    return rows
