"""Statistics over seeds and over test images, in numpy and the standard library.

The project depends on numpy only, so the Student t distribution is computed
here from the regularized incomplete beta function (a continued fraction, as in
Numerical Recipes); :func:`t_quantile` agrees with published tables to 1e-9.

* :func:`summarize`: mean, sample standard deviation and the half-width of the
  95% t-interval of the mean, over seeds;
* :func:`paired`: the same for per-seed differences of two configurations that
  share a seed (same initial weights, same batch order), which removes the
  seed-to-seed variation that both share;
* :func:`welch`: Welch's two-sample t-test (unequal variances), and
  :func:`welch_interval`: the interval of the difference of two means;
* :func:`mann_whitney`: the rank-sum test and its AUC, P(X > Y) + P(X = Y) / 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from d2ldrop.errors import InvalidArgumentError

#: Confidence level of every interval reported by the experiments.
LEVEL = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast only below the mean of Beta(a, b).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's T with ``df`` degrees of freedom."""
    if not math.isfinite(t):
        return 0.0 if not math.isnan(t) else math.nan
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile (0.5 < q < 1) of Student's T with ``df`` degrees of freedom."""
    if not 0.5 < q < 1.0 or not df > 0:
        raise InvalidArgumentError(f"Expected 0.5 < q < 1 and df > 0. Received: q={q}, df={df}")
    target = 2.0 * (1.0 - q)  # two-sided tail probability
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(200):  # bisection: the tail is monotone in t
        mid = 0.5 * (lo + hi)
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2.0))


@dataclass(frozen=True)
class Summary:
    """Mean over seeds, sample standard deviation and the 95% t-interval half-width.

    Non-finite values (a diverged run) are left out; ``n`` counts the rest.
    With n < 2 the spread is unknown (NaN).
    """

    mean: float
    sd: float
    ci95: float
    n: int
    values: tuple[float, ...] = field(default=(), repr=False)

    @property
    def low(self) -> float:
        return self.mean - self.ci95

    @property
    def high(self) -> float:
        return self.mean + self.ci95

    @property
    def excludes_zero(self) -> bool:
        """True when the 95% interval lies entirely on one side of 0."""
        return self.n >= 2 and (self.low > 0.0 or self.high < 0.0)

    def to_dict(self) -> dict[str, float | int | list[float | None] | None]:
        return {"mean": _finite_or_none(self.mean), "sd": _finite_or_none(self.sd),
                "ci95": _finite_or_none(self.ci95), "n": self.n,
                "values": [_finite_or_none(v) for v in self.values]}


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summarize(values: Sequence[float] | np.ndarray) -> Summary:
    """Mean, standard deviation (ddof 1) and 95% t-interval of ``values``."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0, ())
    mean = math.fsum(finite) / n
    if n == 1:
        return Summary(mean, math.nan, math.nan, 1, tuple(finite))
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / (n - 1))
    half = t_quantile(0.5 + LEVEL / 2.0, n - 1) * sd / math.sqrt(n)
    return Summary(mean, sd, half, n, tuple(finite))


def paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Summary:
    """Summary of the per-seed differences a[i] - b[i] (pairs with a NaN are dropped)."""
    if len(a) != len(b):
        raise InvalidArgumentError(
            f"Expected paired values of equal length. Received: {len(a)}, {len(b)}"
        )
    return summarize([x - y for x, y in zip(a, b)])


@dataclass(frozen=True)
class TwoSample:
    """A comparison of two groups of observations (e.g. test images)."""

    mean_x: float
    se_x: float
    n_x: int
    mean_y: float
    se_y: float
    n_y: int
    welch_t: float
    welch_df: float
    welch_p: float
    auc: float  # P(X > Y) + P(X = Y) / 2
    mw_z: float
    mw_p: float

    def to_dict(self) -> dict[str, float | int | None]:
        return {k: (_finite_or_none(v) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}


def welch(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Welch's t statistic of mean(x) - mean(y), its degrees of freedom and two-sided p."""
    nx, ny = len(x), len(y)
    if nx < 2 or ny < 2:
        return math.nan, math.nan, math.nan
    vx, vy = float(np.var(x, ddof=1)) / nx, float(np.var(y, ddof=1)) / ny
    if vx + vy == 0.0:
        return math.nan, math.nan, math.nan
    t = (float(np.mean(x)) - float(np.mean(y))) / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1))
    return t, df, t_two_sided_p(t, df)


def welch_interval(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                   level: float = 0.99) -> tuple[float, float, float, float]:
    """mean(x) - mean(y), the ends of its Welch ``level`` interval, and the degrees of freedom.

    The interval is the difference ± t(df) · sqrt(var(x)/nx + var(y)/ny), with
    Welch's df (unequal variances). Fewer than 2 values in a group: NaN ends.
    Both groups without spread: the interval is the difference itself.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    nx, ny = len(x), len(y)
    diff = float(np.mean(x)) - float(np.mean(y)) if nx and ny else math.nan
    if nx < 2 or ny < 2:
        return diff, math.nan, math.nan, math.nan
    vx, vy = float(np.var(x, ddof=1)) / nx, float(np.var(y, ddof=1)) / ny
    if vx + vy == 0.0:
        return diff, diff, diff, math.inf
    df = (vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1))
    half = t_quantile(0.5 + level / 2.0, df) * math.sqrt(vx + vy)
    return diff, diff - half, diff + half, df


def average_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks of ``a``, ties given the mean of the ranks they span."""
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return (last - (counts - 1) / 2.0)[inverse]


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """AUC = P(X > Y) + P(X = Y) / 2, and the rank-sum test's z and two-sided p.

    The normal approximation with the tie correction; the groups here are
    hundreds to thousands of images, where it is accurate.
    """
    nx, ny = len(x), len(y)
    if nx == 0 or ny == 0:
        return math.nan, math.nan, math.nan
    both = np.concatenate([np.asarray(x, np.float64), np.asarray(y, np.float64)])
    ranks = average_ranks(both)
    u = float(ranks[:nx].sum()) - nx * (nx + 1) / 2.0
    n = nx + ny
    _, counts = np.unique(both, return_counts=True)
    ties = float(np.sum(counts.astype(np.float64) ** 3 - counts))
    var = nx * ny / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    z = (u - nx * ny / 2.0) / math.sqrt(var) if var > 0 else math.nan
    return u / (nx * ny), z, normal_two_sided_p(z) if math.isfinite(z) else math.nan


def compare_groups(x: np.ndarray, y: np.ndarray) -> TwoSample:
    """Means with standard errors, Welch's t-test and the rank-sum test of x against y."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def mean_se(a: np.ndarray) -> tuple[float, float]:
        if len(a) == 0:
            return math.nan, math.nan
        se = float(np.std(a, ddof=1)) / math.sqrt(len(a)) if len(a) > 1 else math.nan
        return float(np.mean(a)), se

    (mx, sx), (my, sy) = mean_se(x), mean_se(y)
    t, df, p = welch(x, y)
    auc, z, mw_p = mann_whitney(x, y)
    return TwoSample(mx, sx, len(x), my, sy, len(y), t, df, p, auc, z, mw_p)
