"""Dropout conformance: statistics, bounds and edge cases, the same on every backend.

Backend-neutral throughout: the adapters only run the op (the chapter's
``dropout_layer`` for ``impl="scratch"``, the framework's own dropout for
``impl="builtin"``); masks, counts and bounds are computed with numpy. Where a
framework's own dropout is documented to differ, the facts live in
``d2ldrop/backends/quirks/`` (docs/conformance.md explains each one).

Modules, by topic: :mod:`~d2ldrop.conformance.bounds` (the derived bounds),
:mod:`~d2ldrop.conformance.checks` (each statistic as a :class:`Check`),
:mod:`~d2ldrop.conformance.stats` (one backend x impl x p: :func:`dropout_stats`),
:mod:`~d2ldrop.conformance.edges` (:func:`edge_cases`),
:mod:`~d2ldrop.conformance.gate` (:func:`compare`, the CI gate) and
:mod:`~d2ldrop.conformance.report` (the text the commands print).
"""

from __future__ import annotations

from d2ldrop.conformance.bounds import (
    Z,
    binomial_interval,
    dispersion_interval,
    rtol_of,
    sample_variance_variance,
    two_sided_alpha,
    variance_bound,
)
from d2ldrop.conformance.checks import (
    Check,
    agreement_check,
    dispersion_check,
    fraction_check,
    gradient_check,
    lag1_check,
    mean_check,
    values_check,
    variance_check,
)
from d2ldrop.conformance.edges import (
    EDGE_CASE_IDS,
    EDGE_CASES,
    SCRATCH_EXPECTED,
    EdgeCase,
    EdgeOutcome,
    describe_output,
    documented_difference,
    edge_cases,
    expected_label,
    run_edge_case,
)
from d2ldrop.conformance.gate import Comparison, compare
from d2ldrop.conformance.impls import IMPLS
from d2ldrop.conformance.report import CHECK_COLUMNS, render_comparison, render_stats
from d2ldrop.conformance.stats import (
    DEFAULT_PS,
    DEFAULT_SIZE,
    MIN_EXPECTED,
    MIN_SIZE,
    STAT_DTYPES,
    DropoutStats,
    H,
    StatsRun,
    check_stats_args,
    dropout_stats,
    grid_shape,
    run_stats,
)

__all__ = [
    "CHECK_COLUMNS", "DEFAULT_PS", "DEFAULT_SIZE", "EDGE_CASES", "EDGE_CASE_IDS", "H",
    "IMPLS", "MIN_EXPECTED", "MIN_SIZE", "SCRATCH_EXPECTED", "STAT_DTYPES", "Z",
    "Check", "Comparison", "DropoutStats", "EdgeCase", "EdgeOutcome", "StatsRun",
    "agreement_check", "binomial_interval", "check_stats_args", "compare", "describe_output",
    "dispersion_check", "dispersion_interval", "documented_difference", "dropout_stats",
    "edge_cases", "expected_label", "fraction_check", "gradient_check", "grid_shape",
    "lag1_check", "mean_check", "render_comparison", "render_stats", "rtol_of",
    "run_edge_case", "run_stats", "sample_variance_variance", "two_sided_alpha",
    "values_check", "variance_bound", "variance_check",
]
