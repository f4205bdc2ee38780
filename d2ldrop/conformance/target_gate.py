"""``--target``: anyone's dropout through the suite, beside the built-ins, and the verdict.

The target's items (:class:`~d2ldrop.conformance.suite.ConformanceSuite`) are
gated: every bound must hold and every edge case must be as specified
(:mod:`d2ldrop.conformance.spec`). The built-ins beside it are the run of
``d2ldrop compare`` (or ``stats``) on the named backends, gated as there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from d2ldrop._io import json_safe
from d2ldrop.conformance.bounds import Z, two_sided_alpha
from d2ldrop.conformance.edges import EDGE_CASE_IDS, TARGET_EDGE_CASES, EdgeOutcome, edge_cases
from d2ldrop.conformance.gate import Comparison, compare
from d2ldrop.conformance.guard import DEFAULT_TIMEOUT
from d2ldrop.conformance.stats import DEFAULT_PS, DEFAULT_SIZE, DropoutStats, StatsRun, run_stats
from d2ldrop.conformance.suite import ConformanceSuite
from d2ldrop.conformance.target import Target

#: The edge cases that ``d2ldrop compare`` itself does not run (shown beside a target).
EXTRA_CASES = tuple(c for c in TARGET_EDGE_CASES if c.id not in EDGE_CASE_IDS)


@dataclass
class TargetComparison:
    """A target's statistics and edge cases, the built-ins beside it, and the verdict."""

    target: Target
    ps: list[float]
    size: int
    seed: int
    z: float
    alpha: float
    #: The target's statistics, one per p it did not raise at.
    stats: list[DropoutStats]
    edges: list[EdgeOutcome]
    #: The built-ins' run, as ``d2ldrop compare`` makes it (None: nothing beside).
    beside: Comparison | None
    #: The built-ins' outcomes in :data:`EXTRA_CASES` (shown, not gated).
    beside_edges: list[EdgeOutcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def bounded_checks(self) -> int:
        mine = sum(c.kind == "bound" for s in self.stats for c in s.checks.values())
        return mine + (self.beside.bounded_checks if self.beside else 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (NaN and infinities as None)."""
        return json_safe({
            "target": self.target.describe(), "ps": self.ps, "size": self.size,
            "seed": self.seed, "z": self.z, "alpha": self.alpha, "passed": self.passed,
            "failures": self.failures, "bounded_checks": self.bounded_checks,
            "stats": [s.to_dict() for s in self.stats],
            "edges": [e.to_dict() for e in self.edges],
            "beside": self.beside.to_dict() if self.beside else None,
            "beside_edges": [e.to_dict() for e in self.beside_edges],
        })


def target_failures(suite: ConformanceSuite, kinds: Sequence[str] = ("check", "edge")) -> list[str]:
    """The suite's failed items as gate messages: the target, the case, the observation."""
    return [f"target {suite.target.title} {line}" for line in suite.failures(kinds)]


def compare_target(
    target: Target,
    backends: Sequence[str] = (),
    impls: Sequence[str] = ("builtin",),
    ps: Sequence[float] = DEFAULT_PS,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    z: float = Z,
    dtype: str = "float32",
    timeout: float = DEFAULT_TIMEOUT,
) -> TargetComparison:
    """The target's checks and edge cases beside ``impls`` on ``backends``.

    Fails when one of the target's bounds fails, one of its edge cases differs
    from the specification (or from a difference it documents), or the
    built-ins' own run fails (as ``d2ldrop compare`` would).

    Args:
        target: the :class:`Target` (see :func:`load_target`).
        backends: frameworks whose own dropout runs beside it; empty: none.
        impls: the implementations run on ``backends``.
        ps: the dropout probabilities of the statistics, each in (0, 1).
        size: elements per draw (at least ``MIN_SIZE``).
        seed: the seed of the draws.
        z: the bounds' half-width in standard deviations (:data:`Z` = 5).
        dtype: the input dtype of the statistics.
        timeout: the seconds one call of the target may take; past it the call's
            item fails and the remaining items are not run.

    Returns:
        A :class:`TargetComparison` (``passed``, ``failures``); it prints with
        :func:`render_target_comparison`.

    Raises:
        BackendNotAvailableError: the target's framework is not installed.
        ValueError: a p, size, seed or z out of range.

    Example:
        >>> from d2ldrop.conformance import compare_target, load_target
        >>> result = compare_target(load_target("mypkg.drop:dropout", "torch"))
        >>> result.passed
    """
    target.check_available()
    suite = ConformanceSuite(target, ps=ps, size=size, seed=seed, z=z, dtype=dtype,
                             timeout=timeout)
    failures = target_failures(suite)
    stats = [suite.stats(p) for p in suite.ps if _ran(suite, p)]
    edges = [suite.edge(c.id) for c in TARGET_EDGE_CASES]
    # The built-ins beside a target run in the target's dtype only.
    beside = (compare(backends, impls, suite.ps, size=size, seed=seed, z=z, dtype=dtype,
                      also=()) if backends else None)
    extra = []
    if beside is not None:
        for name in beside.backends:
            for impl in beside.impls:
                extra += edge_cases(name, impl, seed=seed, cases=EXTRA_CASES)
        failures += beside.failures
    return TargetComparison(
        target=target, ps=suite.ps, size=size, seed=seed, z=float(z), alpha=two_sided_alpha(z),
        stats=stats, edges=edges, beside=beside, beside_edges=extra, failures=failures,
    )


def _ran(suite: ConformanceSuite, p: float) -> bool:
    """True if the target's statistics at ``p`` exist (it did not raise)."""
    try:
        suite.stats(p)
    except Exception:  # already reported as a failure of every check at p
        return False
    return True


@dataclass
class TargetStatsRun:
    """``d2ldrop stats --target``: the target's rows, the built-ins' rows, the verdict."""

    target: Target
    results: list[DropoutStats]
    beside: StatsRun | None
    failures: list[str]

    @property
    def passed(self) -> bool:
        """True if the target conforms, and the built-ins run beside it pass too."""
        return not self.failures and (self.beside is None or self.beside.passed)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (NaN and infinities as None)."""
        return json_safe({
            "target": self.target.describe(), "passed": self.passed, "failures": self.failures,
            "results": [r.to_dict() for r in self.results],
            "beside": self.beside.to_dict() if self.beside else None,
        })


def target_stats_run(
    target: Target,
    backends: Sequence[str] = (),
    impls: Sequence[str] = ("builtin",),
    ps: Sequence[float] = DEFAULT_PS,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    dtype: str = "float32",
    z: float = Z,
    timeout: float = DEFAULT_TIMEOUT,
) -> TargetStatsRun:
    """The target's statistics at each p (no edge cases), beside ``impls`` on ``backends``."""
    target.check_available()
    suite = ConformanceSuite(target, ps=ps, size=size, seed=seed, z=z, dtype=dtype,
                             timeout=timeout)
    failures = target_failures(suite, kinds=("check",))
    results = [suite.stats(p) for p in suite.ps if _ran(suite, p)]
    beside = None
    if backends:
        beside = run_stats(backends, impls, suite.ps, size=size, seed=seed, dtype=dtype, z=z)
    return TargetStatsRun(target=target, results=results, beside=beside, failures=failures)
