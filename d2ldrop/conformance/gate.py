"""The conformance gate: every backend's statistics and edge cases, and the verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from d2ldrop._backend import get_adapter
from d2ldrop._io import json_safe
from d2ldrop.backends.quirks import quirks_of
from d2ldrop.backends.registry import BACKENDS, canonical_name, installed, load_in_order
from d2ldrop.conformance.bounds import Z, two_sided_alpha
from d2ldrop.conformance.checks import check_cell
from d2ldrop.conformance.edges import EDGE_CASE_IDS, SCRATCH_EXPECTED, EdgeOutcome, edge_cases
from d2ldrop.conformance.impls import IMPLS, check_impl
from d2ldrop.conformance.layout import grid_shape
from d2ldrop.conformance.stats import (
    DEFAULT_PS,
    DEFAULT_SIZE,
    MIN_EXPECTED,
    DropoutStats,
    check_stats_args,
    dropout_stats,
)
from d2ldrop.display.html import Cell, block, bullets, paragraph, table
from d2ldrop.errors import BackendNotAvailableError


@dataclass
class Comparison:
    """The backends side by side: statistics, edge cases and the verdict."""

    backends: list[str]
    impls: list[str]
    ps: list[float]
    size: int
    seed: int
    z: float
    alpha: float
    skipped: dict[str, str]
    stats: list[DropoutStats]
    edges: list[EdgeOutcome]
    #: Edge cases where the scratch implementations differ between backends.
    scratch_disagreements: list[str]
    #: Edge cases where a scratch implementation differs from SCRATCH_EXPECTED.
    scratch_unexpected: list[str]
    #: Builtin rows that differ from the scratch spec but are documented.
    documented_differences: list[str]
    #: Builtin rows whose outcome is not the documented one (not a gate failure).
    undocumented_differences: list[str]
    failures: list[str] = field(default_factory=list)
    #: name -> why, for the backends whose framework has no tensors of the statistics' dtype.
    unsupported: dict[str, str] = field(default_factory=dict)
    #: The dtype of the statistics at ``ps``.
    dtype: str = "float32"
    #: The further dtypes of the statistics and the p values each ran at.
    also: dict[str, list[float]] = field(default_factory=dict)
    #: Per dtype of ``also``, the backends of the run that have no tensors of it,
    #: each with the reason (their cells are n/a, never a failure).
    not_applicable: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def bounded_checks(self) -> int:
        """How many checks have a statistical bound (the family of the false-alarm bound)."""
        return sum(c.kind == "bound" for s in self.stats for c in s.checks.values())

    @property
    def passed(self) -> bool:
        """Whether the conformance gate passes (every check in bounds, scratch edge cases agree)."""
        return not self.failures

    def _repr_html_(self) -> str:  # the notebook's table
        return comparison_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (NaN and infinities as None)."""
        return json_safe({
            "backends": self.backends, "impls": self.impls, "ps": self.ps, "size": self.size,
            "seed": self.seed, "z": self.z, "alpha": self.alpha, "skipped": self.skipped,
            "unsupported": self.unsupported, "dtype": self.dtype, "also": self.also,
            "not_applicable": self.not_applicable,
            "passed": self.passed, "failures": self.failures,
            "bounded_checks": self.bounded_checks,
            "scratch_disagreements": self.scratch_disagreements,
            "scratch_unexpected": self.scratch_unexpected,
            "documented_differences": self.documented_differences,
            "undocumented_differences": self.undocumented_differences,
            "stats": [s.to_dict() for s in self.stats],
            "edges": [e.to_dict() for e in self.edges],
        })


#: The dtypes whose statistics ``compare`` adds to those of its ``dtype``.
ALSO_DTYPES: tuple[str, ...] = ("bfloat16",)
#: Where low precision shows: a drop probability rounded to bfloat16, or a
#: uniform on a coarse grid, moves the drop fraction by more than the bounds.
LOW_PRECISION_PS: tuple[float, ...] = (0.001, 0.01)


def also_ps(ps: Sequence[float], size: int) -> list[float]:
    """The p values of a further dtype's statistics: ``ps`` and those of
    :data:`LOW_PRECISION_PS` that ``size`` has enough expected drops for, sorted."""
    n = math.prod(grid_shape(int(size)))
    low = [p for p in LOW_PRECISION_PS if n * p >= MIN_EXPECTED]
    return sorted(set(ps) | set(low))


def _stat_failures(s: DropoutStats) -> list[str]:
    """One line per failed check of ``s`` (a builtin's documented ones are shown, not gated)."""
    lines = []
    documented = quirks_of(s.backend).stat_differences.get(s.dtype, {}) if (
        s.impl == "builtin") else {}
    for check in s.failures:
        if check in documented:
            continue
        c = s.checks[check]
        where = f"{s.backend} {s.impl}{'' if s.dtype == 'float32' else ' ' + s.dtype} p={s.p}"
        lines.append(
            f"{where}: {c.title} out of bound ({c.value:.6g} not in [{c.low:.6g}, {c.high:.6g}])"
            if c.kind == "bound"
            else f"{where}: {c.title} failed ({c.detail})"
        )
    return lines


@dataclass
class _EdgeVerdicts:
    disagreements: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    documented: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _judge_edges(edges: Sequence[EdgeOutcome]) -> _EdgeVerdicts:
    """Scratch rows must agree and be as specified; builtin rows are only sorted."""
    v = _EdgeVerdicts()
    for case in EDGE_CASE_IDS:
        # A backend without the case's dtype ("n/a") is left out of the agreement.
        rows = [e for e in edges if e.case == case and e.impl == "scratch" and e.kind != "n/a"]
        if len({e.signature for e in rows}) > 1:
            v.disagreements.append(case)
            v.failures.append(
                f"scratch edge case {case}: backends disagree ("
                + "; ".join(f"{e.backend}: {e.label} {e.message}".strip() for e in rows) + ")"
            )
        for e in rows:
            if not e.as_expected:
                v.unexpected.append(f"{e.backend}:{case}")
                v.failures.append(
                    f"scratch edge case {case} on {e.backend}: {e.label} "
                    f"(expected {e.expected}) {e.message}".strip()
                )
        for e in edges:
            if e.case != case or e.impl != "builtin" or e.kind == "n/a":
                continue
            if not e.as_expected:
                v.undocumented.append(f"{e.backend}:{case}")
            elif e.label != SCRATCH_EXPECTED[case]:
                v.documented.append(f"{e.backend}:{case}")
    return v


def compare(
    backends: Sequence[str] | None = None,
    impls: Sequence[str] = IMPLS,
    ps: Sequence[float] = DEFAULT_PS,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    z: float = Z,
    dtype: str = "float32",
    also: Sequence[str] = ALSO_DTYPES,
) -> Comparison:
    """Statistics and edge cases of every backend, and the conformance verdict.

    The statistics run on ``dtype`` input; a backend whose framework has no
    such tensors is recorded in ``unsupported`` (not a failure), and a builtin
    statistic its quirks document for ``dtype`` is shown, not gated. They run
    again in each dtype of ``also`` (bfloat16), at ``ps`` and the p values where
    low precision shows (``also_ps``); a backend without that dtype has n/a
    cells there (``not_applicable``), as in the edge cases of that dtype.

    ``backends`` None means every installed backend. Fails (``passed`` False,
    reasons in ``failures``) when a statistic is out of its bound, a scratch
    edge case disagrees between backends or with ``SCRATCH_EXPECTED``, or a
    requested backend does not load.
    Builtin edge cases are reported, never gated: where they differ from the
    scratch spec it is a framework difference (documented or not).

    Args:
        backends: names or aliases; None: every installed backend.
        impls: ``"scratch"`` (the chapter's ``dropout_layer``) and/or
            ``"builtin"`` (the framework's own dropout).
        ps: the dropout probabilities of the statistics, each in (0, 1).
        size: elements per draw (at least ``MIN_SIZE``).
        seed: the seed of the draws.
        z: the bounds' half-width in standard deviations (:data:`Z` = 5).
        dtype: the input dtype of the statistics at ``ps``.
        also: further dtypes of the statistics (``dtype`` itself is skipped).

    Returns:
        A :class:`Comparison`: ``passed``, ``failures``, every statistic and
        edge case; it prints as ``d2ldrop compare`` does (:func:`render_comparison`)
        and shows as HTML tables in a notebook.

    Raises:
        ValueError: an unknown impl, or a p, size, seed or z out of range.
        UnknownBackendError: a name that is no backend.

    Example:
        >>> from d2ldrop.conformance import compare
        >>> result = compare(["torch", "jax"])
        >>> result.passed, result.failures
        (True, [])
    """
    wanted = set(installed() if backends is None else (canonical_name(b) for b in backends))
    names = [b for b in BACKENDS if b in wanted]
    impl_list = [check_impl(i) for i in impls]
    p_list = [check_stats_args(p, size, seed, dtype, z) for p in ps]
    extra = {d: also_ps(p_list, size) for d in dict.fromkeys(also) if d != dtype}
    for d, d_ps in extra.items():
        for p in d_ps:
            check_stats_args(p, size, seed, d, z)
    not_applicable: dict[str, dict[str, str]] = {d: {} for d in extra}
    load_in_order(names, skip_unavailable=True)  # one that cannot load is skipped below
    unsupported: dict[str, str] = {}
    run: list[str] = []
    skipped: dict[str, str] = {}
    stats: list[DropoutStats] = []
    edges: list[EdgeOutcome] = []
    failures: list[str] = []
    for name in names:
        try:
            get_adapter(name)
        except BackendNotAvailableError as err:
            skipped[name] = str(err)
            failures.append(f"{name}: not available (see skipped), conformance not checked")
            continue
        try:
            get_adapter(name).check_dtype(dtype)
        except TypeError as err:
            unsupported[name] = str(err)
            continue
        run.append(name)
        runs = [(dtype, p_list)]
        for d, d_ps in extra.items():
            try:
                get_adapter(name).check_dtype(d)
                runs.append((d, d_ps))
            except TypeError as err:
                not_applicable[d][name] = str(err)
        for impl in impl_list:
            for d, d_ps in runs:
                for p in d_ps:
                    s = dropout_stats(name, impl, p, size=size, seed=seed, z=z, dtype=d)
                    stats.append(s)
                    failures += _stat_failures(s)
            edges.extend(edge_cases(name, impl, seed=seed))
    v = _judge_edges(edges)
    return Comparison(
        backends=run, impls=impl_list, ps=p_list, size=size, seed=seed, z=float(z),
        alpha=two_sided_alpha(z), skipped=skipped, stats=stats, edges=edges,
        scratch_disagreements=v.disagreements, scratch_unexpected=v.unexpected,
        documented_differences=v.documented, undocumented_differences=v.undocumented,
        failures=failures + v.failures, unsupported=unsupported, dtype=dtype, also=extra,
        not_applicable={d: why for d, why in not_applicable.items() if why},
    )


def comparison_html(result: Comparison) -> str:
    """The verdict, the statistics (one row per impl x dtype x statistic, a cell per
    p), the edge cases (a column per backend x impl) and the failures."""
    ps = " ".join(f"{p:g}" for p in result.ps)
    stat_rows = []
    names = list(dict.fromkeys(n for s in result.stats for n in s.checks))
    runs = [(result.dtype, result.ps), *result.also.items()]
    for impl in result.impls:
        for dtype, d_ps in runs:
            for name in names:
                cells = []
                title = name
                for b in result.backends:
                    if b in result.not_applicable.get(dtype, {}):
                        cells.append(Cell("n/a", result.not_applicable[dtype][b]))
                        continue
                    mine = [s.checks[name] for s in result.stats if s.backend == b
                            and s.impl == impl and s.dtype == dtype and name in s.checks]
                    title = mine[0].title if mine else title
                    parts = [check_cell(c) for c in mine]
                    cells.append(Cell(" ".join(str(p.text) for p in parts),
                                      "\n\n".join(f"p = {p:g}: {c.title}" for p, c in zip(
                                          d_ps, parts)),
                                      failed=any(p.failed for p in parts)))
                if all(set(str(c.text).split()) <= {"-", "n/a"} for c in cells):
                    continue  # not applicable to this implementation anywhere
                label = impl if dtype == result.dtype else f"{impl} {dtype}"
                stat_rows.append((label, title, *cells))
    edge_head = ["case", *(f"{b} {i}" for i in result.impls for b in result.backends)]
    edge_rows = []
    for case in dict.fromkeys(e.case for e in result.edges):
        outcomes = {(e.backend, e.impl): e for e in result.edges if e.case == case}
        first = next(iter(outcomes.values()))
        row: list[Any] = [first.title]
        for impl in result.impls:
            for b in result.backends:
                e = outcomes.get((b, impl))
                if e is None:
                    row.append("")
                    continue
                text = e.label.replace("; ", "\n") + (f"\n{e.message}" if e.message else "")
                if e.kind == "n/a":
                    row.append(Cell(text, e.detail))
                    continue
                row.append(Cell(text, f"expected: {e.expected}" if e.expected else "",
                                failed=impl == "scratch" and not e.as_expected))
        edge_rows.append(row)
    passed = result.passed
    verdict = (f"PASS: all {result.bounded_checks} bounded checks hold on "
               f"{', '.join(result.backends)}" if passed else
               f"FAIL: {len(result.failures)} failure(s)")
    return block(
        paragraph(f"Dropout conformance of {', '.join(result.backends) or 'no backend'}: "
                  f"{', '.join(result.impls)} at p = {ps}, {result.size} elements per draw, "
                  f"seed {result.seed}, z = {result.z:g} (false-alarm rate "
                  f"{result.alpha:.2g} per check)."),
        paragraph(verdict, failed=not passed),
        bullets(result.failures),
        table(("impl", "statistic", *result.backends), stat_rows,
              caption=f"Statistics (a cell per p: {ps}; the bound ratio, <= 1 holds)"),
        table(edge_head, edge_rows, caption="Edge cases (scratch must match the "
              "specification on every backend; builtin differences are reported, not gated)")
        if edge_rows else "",
        paragraph("documented builtin differences: "
                  + ", ".join(result.documented_differences))
        if result.documented_differences else "",
        bullets(f"skipped {name}: {why}" for name, why in result.skipped.items()),
    )
