"""The bounds of the statistical checks, derived once (no tuning).

Every statistical check is two-sided at ``z`` standard deviations (default
:data:`Z` = 5, a false alarm rate of :func:`two_sided_alpha` (5) = 5.7e-7 per
check, so a whole ``compare`` run of a few hundred checks has a family-wise
false-alarm probability below 1e-4 by Bonferroni). The bounds are:

* counts (fraction dropped, agreement of two calls, the layer's fraction):
  the exact binomial acceptance region, :func:`binomial_interval`;
* mean of the output: CLT, Var(mean y) = p / (1 - p) * sum(x_i^2) / n^2
  (h^2 p / ((1 - p) n) for a constant input h), see
  :func:`d2ldrop.conformance.checks.mean_check`;
* variance of the output: the variance of the sample variance of a scaled
  Bernoulli plus its curvature term, :func:`variance_bound`;
* per-row and per-column drop counts: a dispersion (chi-square) statistic with
  exact mean and variance, :func:`dispersion_interval`;
* lag-1 correlation of the mask: CLT, Var(r) = 1 / (n - 1), see
  :func:`d2ldrop.conformance.checks.lag1_check`.

Exact checks (values, gradient, seeding, evaluation mode) have no tolerance
beyond dtype rounding: :func:`rtol_of` = 4 ulps of the dtype.
"""

from __future__ import annotations

import math

import numpy as np

from d2ldrop._dtypes import LOW_PRECISION, finfo, unit_roundoff

#: Default number of standard deviations of every two-sided bound.
Z = 5.0


def two_sided_alpha(z: float = Z) -> float:
    """``P(|N(0, 1)| > z)``: the false-alarm rate of one two-sided check."""
    return math.erfc(z / math.sqrt(2.0))


def rtol_of(dtype: str) -> float:
    """Relative tolerance of a kept value against x / (1 - p), in ``dtype``.

    float32 and float64: 4 ulps (a framework computes x * (1 / (1 - p)) or
    x / (1 - p) in the input's dtype: a few roundings). float16 and bfloat16
    (the low-precision specification, docs/conformance.md): at most two
    roundings to the dtype, the scale 1 / (1 - p) and the product x * scale,
    so |y - x/(1-p)| <= ((1 + u)^2 - 1) |x/(1-p)| = (2u + u^2) |x/(1-p)|, u
    the dtype's unit roundoff (2^-11 for float16, 2^-8 for bfloat16).
    Computing in float32 and rounding once (the chapter's way) is within it.
    """
    if dtype in LOW_PRECISION:
        u = unit_roundoff(dtype)
        return 2.0 * u + u * u
    return 4.0 * float(finfo(dtype).eps)


def mean_bias_bound(x_abs_mean: float, dtype: str) -> float:
    """The expectation bias of the mean of dropout(x) that rounding allows.

    E[y_i] = (1 - p) k_i where k_i is the kept value; a conforming k_i is
    x_i / (1 - p) within :func:`rtol_of` relatively, so |E[y_i] - x_i| <=
    rtol |x_i| and the mean's bias is at most rtol * mean(|x|). It is added to
    the CLT bound of the mean check (negligible in float32 and float64; in
    bfloat16 it is what a correctly rounded scale may cost: at p = 0.001 the
    kept x / 0.999 rounds back to x, a bias of -p x).
    """
    return rtol_of(dtype) * x_abs_mean



def binomial_interval(n: int, prob: float, z: float = Z) -> tuple[int, int]:
    """Exact acceptance region [lo, hi] of K ~ Binomial(n, prob) at ``z``.

    lo is the smallest k with P(K <= k) > tail and hi the largest with
    P(K >= k) > tail, where tail = P(N(0, 1) > z); so P(K < lo) <= tail and
    P(K > hi) <= tail, exactly, with no normal approximation (the normal bound
    n * prob +- z * sqrt(n * prob * (1 - prob)) is close for large n * prob).
    """
    if prob <= 0.0:
        return 0, 0
    if prob >= 1.0:
        return n, n
    tail = 0.5 * two_sided_alpha(z)
    mean = n * prob
    sd = math.sqrt(n * prob * (1.0 - prob))
    # The window holds all but a negligible part of the mass (Chernoff).
    half = int(math.ceil((z + 10.0) * sd)) + 50
    k0 = max(0, int(math.floor(mean)) - half)
    k1 = min(n, int(math.ceil(mean)) + half)
    k = np.arange(k0, k1 + 1, dtype=np.float64)
    log0 = (
        math.lgamma(n + 1)
        - math.lgamma(k0 + 1)
        - math.lgamma(n - k0 + 1)
        + k0 * math.log(prob)
        + (n - k0) * math.log1p(-prob)
    )
    # log pmf(k + 1) - log pmf(k) = log((n - k) / (k + 1)) + log(prob / (1 - prob)).
    steps = np.log(n - k[:-1]) - np.log(k[:-1] + 1.0) + math.log(prob) - math.log1p(-prob)
    logpmf = log0 + np.concatenate(([0.0], np.cumsum(steps)))
    pmf = np.exp(logpmf - logpmf.max())
    pmf /= pmf.sum()
    cdf = np.cumsum(pmf)
    sf = np.cumsum(pmf[::-1])[::-1]  # P(K >= k)
    lo = k0 + int(np.argmax(cdf > tail))
    hi = k0 + int(len(sf) - 1 - np.argmax(sf[::-1] > tail))
    return lo, hi


def dispersion_interval(groups: int, per_group: int, p: float, z: float = Z) -> tuple[float, float]:
    """Acceptance interval of T = sum_g (k_g - m p)^2 / (m p (1 - p)) at ``z``.

    k_g ~ Binomial(m, p) are the drop counts of ``groups`` rows (or columns) of
    ``per_group`` = m elements each. Each term is a squared standardized binomial
    Z_g^2 with E = 1 and Var = E[Z^4] - 1 = 2 + (1 - 6 p q) / (m p q), q = 1 - p,
    so E[T] = G and Var[T] = G (2 + (1 - 6 p q) / (m p q)), exactly. T is matched
    to a * chi2_k with the same mean and variance (a = Var / (2 G), k = 2 G^2 / Var,
    Satterthwaite) and the chi-square quantiles at +-z come from the
    Wilson-Hilferty cube-root normal approximation,
    k (1 - 2/(9k) +- z sqrt(2/(9k)))^3. Too large a T means rows that drop more
    than others; too small means a mask more regular than chance (stratified).
    """
    pq = p * (1.0 - p)
    var = groups * (2.0 + (1.0 - 6.0 * pq) / (per_group * pq))
    a = var / (2.0 * groups)
    k = 2.0 * groups * groups / var
    c = 2.0 / (9.0 * k)
    lo = a * k * max(0.0, 1.0 - c - z * math.sqrt(c)) ** 3
    hi = a * k * (1.0 - c + z * math.sqrt(c)) ** 3
    return lo, hi


def sample_variance_variance(n: int, h: float, p: float) -> float:
    """Var(s^2) of n outputs of dropout(h): sigma^4 / n * (1 / (p q) - 4 + 2 / (n - 1)).

    sigma^2 = h^2 p / q, q = 1 - p; see :func:`variance_bound` for the derivation.
    """
    q = 1.0 - p
    sigma2 = h * h * p / q
    return sigma2 * sigma2 / n * (1.0 / (p * q) - 4.0 + 2.0 / (n - 1))


def variance_bound(n: int, h: float, p: float, z: float = Z) -> float:
    """Half-width of the acceptance interval of the sample variance of dropout(h).

    With a constant input h each output is Y = c B, B ~ Bernoulli(q), q = 1 - p,
    c = h / q: a scaled Bernoulli with sigma^2 = c^2 p q = h^2 p / (1 - p) and
    kurtosis kappa = mu_4 / sigma^4 = 1 / (p q) - 3. The unbiased sample variance
    s^2 of n such values has E[s^2] = sigma^2 and (the standard identity)

        Var(s^2) = sigma^4 / n * (kappa - (n - 3) / (n - 1))
                 = sigma^4 / n * (1 / (p q) - 4 + 2 / (n - 1)).

    Because s^2 = c^2 n / (n - 1) * f (1 - f), with f the kept fraction, it is a
    parabola in f whose slope (1 - 2q) vanishes at p = 1/2: there Var(s^2) is
    O(1 / n^2) and s^2 is far from normal. The bound therefore adds the
    curvature term: on the event ``|f - q| <= z sqrt(p q / n)`` (the fraction check
    at the same z), ``|s^2 - sigma^2| <= z sqrt(Var(s^2)) + z^2 sigma^2 / n``, up to
    O(1 / n) terms. Away from p = 1/2 the first term dominates.
    """
    sigma2 = h * h * p / (1.0 - p)
    var_s2 = sample_variance_variance(n, h, p)
    return z * math.sqrt(max(var_s2, 0.0)) + z * z * sigma2 / n

