"""Dropout conformance: statistics, bounds and edge cases, the same on every backend.

Backend-neutral throughout: the adapters only run the op (the chapter's
``dropout_layer`` for ``impl="scratch"``, the framework's own dropout for
``impl="builtin"``); masks, counts and bounds are computed with numpy. Where a
framework's own dropout is documented to differ, the facts live in
``d2ldrop/backends/<name>/quirks.py`` (docs/conformance.md explains each one).

Modules, by topic: :mod:`~d2ldrop.conformance.bounds` (the derived bounds),
:mod:`~d2ldrop.conformance.checks` (each statistic as a :class:`Check`),
:mod:`~d2ldrop.conformance.stats` (one backend x impl x p: :func:`dropout_stats`),
:mod:`~d2ldrop.conformance.edges` (:func:`edge_cases`),
:mod:`~d2ldrop.conformance.gate` (:func:`compare`, the CI gate) and
:mod:`~d2ldrop.conformance.report` (the text the commands print).

Anyone's dropout goes through the same suite as a *target*:
:mod:`~d2ldrop.conformance.target` (the protocol, :class:`Target`,
:func:`load_target`), :mod:`~d2ldrop.conformance.spec` (what a target must do
in each edge case), :mod:`~d2ldrop.conformance.suite` (its checks as named
items: :class:`ConformanceSuite`), :mod:`~d2ldrop.conformance.target_gate` and
:mod:`~d2ldrop.conformance.target_report` (``--target``),
:mod:`~d2ldrop.conformance.builtin` (each framework's own dropout as a target)
and :mod:`~d2ldrop.conformance.plugin` (the pytest plugin).
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
    TARGET_EDGE_CASES,
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
from d2ldrop.conformance.spec import ERROR, Spec, specified, target_edge_cases
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
    target_stats,
)
from d2ldrop.conformance.suite import ConformanceSuite, Item, Verdict, conformance_suite
from d2ldrop.conformance.target import NUMPY, Target, load_target
from d2ldrop.conformance.target_gate import TargetComparison, compare_target
from d2ldrop.conformance.target_report import render_target_comparison
from d2ldrop.errors import ConformanceFailure

#: What a user of the suite needs: run it on the backends (``compare``,
#: ``dropout_stats``, ``edge_cases``, ``run_stats``) or on anyone's dropout
#: (``Target``, ``compare_target``, ``conformance_suite``), read and print the
#: results. The bounds, the single checks and the edge-case specification are
#: in their modules (``conformance.bounds``, ``.checks``, ``.edges``, ``.spec``); the
#: names imported above and not listed here stay importable from this package for
#: the code and tests that already use them, but are not the suite's API.
__all__ = [
    "DEFAULT_PS", "DEFAULT_SIZE", "IMPLS", "NUMPY", "STAT_DTYPES", "Z",
    "Check", "Comparison", "ConformanceFailure", "ConformanceSuite", "DropoutStats",
    "EdgeOutcome", "Item", "StatsRun", "Target", "TargetComparison", "Verdict",
    "compare", "compare_target", "conformance_suite", "dropout_stats", "edge_cases",
    "load_target", "render_comparison", "render_stats", "render_target_comparison",
    "run_stats",
]
