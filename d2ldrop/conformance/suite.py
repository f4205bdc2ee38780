"""One target's checks as named items, each with a verdict: what the pytest
plugin turns into test items, what its fixture returns, and what
``d2ldrop compare --target`` gates on.

Items are ``<check>[p=<p>]`` for each statistic of :func:`target_stats` and
``edge[<case>]`` for each case of :data:`TARGET_EDGE_CASES`; their ids are
known before anything runs. Results are computed on first use and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from d2ldrop._backend import get_adapter
from d2ldrop.conformance.bounds import Z, two_sided_alpha
from d2ldrop.conformance.edges import TARGET_EDGE_CASES, EdgeOutcome
from d2ldrop.conformance.guard import DEFAULT_TIMEOUT, TargetExited, TargetTimeout, Watch
from d2ldrop.conformance.spec import run_target_edge_case, specified
from d2ldrop.conformance.stats import (
    DEFAULT_PS,
    DEFAULT_SIZE,
    DropoutStats,
    check_stats_args,
    target_stats,
)
from d2ldrop.conformance.target import NUMPY, Target, TargetOutputError, load_target
from d2ldrop.errors import (
    BackendNotAvailableError,
    ConformanceFailure,
    InvalidArgumentError,
    UsageError,
)

#: The statistics of a target, in report order ("eval_call" is the target's own).
TARGET_CHECKS: tuple[str, ...] = (
    "fraction", "mean", "variance", "agreement", "rows", "columns", "lag1", "values",
    "gradient", "seed_same", "seed_different", "layer_eval", "layer_train", "layer_seed",
    "eval_call", "input_kept",
)
#: The check of a structured target (``Target(broadcast_axes=...)``) only.
STRUCTURE_CHECK = "structure"
#: The bounded ones (``layer_train`` only with a layer); the others are exact.
BOUNDED: frozenset[str] = frozenset(
    {"fraction", "mean", "variance", "agreement", "rows", "columns", "lag1", "layer_train"}
)


@dataclass(frozen=True)
class Item:
    """One check or edge case of a target, named before it runs."""

    id: str
    kind: str  # "check" or "edge"
    key: str  # the check name or the edge-case id
    p: float | None = None


@dataclass(frozen=True)
class Verdict:
    """An item's outcome: "passed", "failed", "n/a" or "not run" (after the target
    hung), and what to tell the user."""

    status: str
    message: str = ""
    #: The exception the target raised, if that is why the item failed.
    error: BaseException | None = None


def _number(v: float | None) -> str:
    return f"{v:.6g}"  # None shows as "None", as it always has


class ConformanceSuite:
    """The conformance checks of one target at the given p values, size and seed.

    Each statistics run and edge case runs where it can be abandoned
    (:mod:`d2ldrop.conformance.guard`): a call of the target that takes more than
    ``timeout`` seconds fails its item, and the items after it are not run.
    """

    def __init__(
        self, target: Target, *, ps: Sequence[float] = DEFAULT_PS, size: int = DEFAULT_SIZE,
        seed: int = 0, z: float = Z, dtype: str = "float32", timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        try:
            self.ps = [check_stats_args(p, size, seed, dtype, z) for p in ps]
        except ValueError as err:
            raise UsageError(str(err)) from None
        if not self.ps:
            raise UsageError("Expected at least one p")
        if dtype not in target.dtypes:
            raise UsageError(
                f"target {target.title!r} declares dtypes {', '.join(target.dtypes)}, "
                f"not {dtype}"
            )
        self.target, self.size, self.seed, self.z, self.dtype = target, size, seed, z, dtype
        try:
            self.watch = Watch(timeout, prepare=self._prepare_thread)
        except ValueError as err:
            raise UsageError(str(err)) from None
        self._timed = self.watch.guard(target)
        #: The item whose call did not return (the ones after it are not run).
        self.hung_item: str | None = None
        self._stats: dict[float, DropoutStats | BaseException] = {}
        self._edges: dict[str, EdgeOutcome] = {}

    def _prepare_thread(self) -> None:
        if self.target.backend != NUMPY:
            get_adapter(self.target.backend).prepare_thread()

    # -- what will run -----------------------------------------------------------------
    @property
    def check_names(self) -> tuple[str, ...]:
        """The statistics run at each p (a structured target adds "structure")."""
        extra = (STRUCTURE_CHECK,) if self.target.structured else ()
        return (*TARGET_CHECKS, *extra)

    @property
    def alpha(self) -> float:
        return two_sided_alpha(self.z)

    @property
    def bounded_checks(self) -> int:
        per_p = sum(name in BOUNDED for name in self.check_names)
        return len(self.ps) * (per_p - (self.target.layer is None))

    def header(self) -> str:
        """One line: the target, the draws and the family-wise false-alarm bound."""
        k = self.bounded_checks
        ps = " ".join(f"{p:g}" for p in self.ps)
        return (
            f"d2ldrop conformance of {self.target.title} ({self.target.backend}): p = {ps}, "
            f"n = {self.size}, seed {self.seed}; {k} bounded checks at z = {self.z:g}, "
            f"false-alarm rate {self.alpha:.2g} each, family-wise <= "
            f"{min(1.0, k * self.alpha):.2g}"
        )

    def items(self) -> list[Item]:
        """Every check at every p, then every edge case, with readable ids."""
        out = [Item(f"{name}[p={p:g}]", "check", name, p) for p in self.ps
               for name in self.check_names]
        out += [Item(f"edge[{c.id}]", "edge", c.id) for c in TARGET_EDGE_CASES]
        return out

    # -- running it --------------------------------------------------------------------
    def stats(self, p: float) -> DropoutStats:
        """The statistics at ``p`` (one of :attr:`ps`), computed once."""
        if p not in self._stats:
            try:
                self._stats[p] = self.watch.run(lambda: target_stats(
                    self._timed, p, size=self.size, seed=self.seed, dtype=self.dtype, z=self.z))
            except (UsageError, BackendNotAvailableError, TargetTimeout):
                raise
            except Exception as err:  # the target's own failure, reported per item
                self._stats[p] = err
        result = self._stats[p]
        if isinstance(result, BaseException):
            raise result
        return result

    def edge(self, case_id: str) -> EdgeOutcome:
        """The outcome of one edge case, computed once."""
        if case_id not in self._edges:
            case = next((c for c in TARGET_EDGE_CASES if c.id == case_id), None)
            if case is None:
                raise UsageError(f"Unknown edge case {case_id!r}")
            try:
                self._edges[case_id] = self.watch.run(
                    lambda: run_target_edge_case(self._timed, case, seed=self.seed))
            except TargetTimeout as err:
                self.hung_item = self.hung_item or f"edge[{case_id}]"
                hung = self.hung_item == f"edge[{case_id}]"
                return EdgeOutcome(
                    case=case.id, title=case.title, backend=self.target.backend, impl="target",
                    p=case.p, dtype_in=case.dtype, kind="error" if hung else "n/a",
                    label="timeout" if hung else "not run", message=str(err),
                    detail="" if hung else f"not run: {err}", as_expected=not hung,
                )
        return self._edges[case_id]

    def verdict(self, item: Item) -> Verdict:
        """Run ``item`` (cached) and say whether it holds."""
        if self.watch.hung is not None and self.hung_item != item.id:
            return Verdict("not run", f"not run: {self.watch.hung}")
        try:
            return self._verdict(item)
        except TargetTimeout as err:
            self.hung_item = self.hung_item or item.id
            return Verdict("failed", str(err))

    def _verdict(self, item: Item) -> Verdict:
        if item.kind == "edge":
            return self._edge_verdict(item.key)
        if item.p is None:
            raise InvalidArgumentError(f"a statistics item needs its p. Received: {item!r}")
        try:
            s = self.stats(item.p)
        except (UsageError, BackendNotAvailableError, TargetTimeout):
            raise
        except Exception as err:
            text = f"{type(err).__name__}: {err}".splitlines()[0][:200]
            if isinstance(err, TargetOutputError):  # not raised by the target: said as is
                return Verdict("failed", f"at p={item.p:g} {err}")
            if self.target.backend == NUMPY and not isinstance(err, TargetExited):
                text += (" (it was given numpy arrays: if it takes a backend's tensors, name "
                         "the backend with --target-backend)")
            return Verdict("failed", f"at p={item.p:g} the target raised {text}", err)
        c = s.checks[item.key]
        if c.passed is None:
            return Verdict("n/a", c.detail)
        if c.passed:
            return Verdict("passed")
        where = f"{c.title} at p={item.p:g}"
        if (c.kind == "bound" and c.low is not None and c.value is not None
                and c.high is not None and not c.low <= c.value <= c.high):
            notes = "; ".join(t for t in (f"expected {_number(c.expected)}", c.detail,
                                           f"bound: {c.bound}") if t)
            return Verdict("failed", f"{where}: {_number(c.value)} not in "
                           f"[{_number(c.low)}, {_number(c.high)}] ({notes})")
        return Verdict("failed", f"{where}: {c.detail} ({c.bound})")

    def _edge_verdict(self, case_id: str) -> Verdict:
        e = self.edge(case_id)
        if e.label == "timeout":
            raise TargetTimeout(e.message)
        if e.kind == "n/a":
            return Verdict("n/a", e.detail)
        if e.as_expected:
            return Verdict("passed")
        got = e.label + (f" ({e.message})" if e.message else "")
        spec = specified(self.target, next(c for c in TARGET_EDGE_CASES if c.id == case_id))
        wanted = " or ".join(spec.labels)
        more = f"; {e.detail}" if e.detail else ""
        return Verdict("failed", f"{e.title}: got {got}, specified {wanted}{more}")

    def verdicts(self, kinds: Sequence[str] = ("check", "edge")) -> list[tuple[Item, Verdict]]:
        """Every item of ``kinds`` and its verdict (runs them)."""
        return [(item, self.verdict(item)) for item in self.items() if item.kind in kinds]

    def failures(self, kinds: Sequence[str] = ("check", "edge")) -> list[str]:
        """One line per failed item: ``<id>: <what was observed>``, and one for the
        items not run after the target hung."""
        verdicts = self.verdicts(kinds)
        lines = [f"{item.id}: {v.message}" for item, v in verdicts if v.status == "failed"]
        skipped = [item.id for item, v in verdicts if v.status == "not run"]
        if skipped:
            lines.append(f"{len(skipped)} item(s) not run ({skipped[0]}, ...): the target "
                         f"hung in {self.hung_item}")
        return lines

    def assert_conforms(self) -> None:
        """Raise AssertionError listing every failed check and edge case."""
        failed = self.failures()
        if failed:
            raise ConformanceFailure(
                f"{self.target.title}: {len(failed)} conformance check(s) failed:\n"
                + "\n".join(f"- {f}" for f in failed)
            )


def conformance_suite(
    target: Any, *, backend: str | None = None, ps: Sequence[float] = DEFAULT_PS,
    size: int = DEFAULT_SIZE, seed: int = 0, z: float = Z, dtype: str = "float32",
    timeout: float = DEFAULT_TIMEOUT,
) -> ConformanceSuite:
    """A :class:`ConformanceSuite` of ``target``: a ``"package.module:function"``
    reference, a :class:`Target` or a callable (``backend`` names its backend).

    This is what the pytest fixture ``d2ldrop_conformance`` returns.

    Args:
        target: what :func:`load_target` accepts.
        backend: the target's framework (or ``"numpy"``); overrides the declared one.
        ps: the dropout probabilities of the statistics, each in (0, 1).
        size: elements per draw (at least ``MIN_SIZE``).
        seed: the seed of the draws.
        z: the bounds' half-width in standard deviations (:data:`Z` = 5).
        dtype: the input dtype of the statistics (one of :data:`STAT_DTYPES`).
        timeout: the seconds one call of the target may take; past it the call's
            item fails and the remaining items are not run.

    Returns:
        A :class:`ConformanceSuite`; its checks run when asked for, once each.

    Raises:
        UsageError: the reference or the target's declarations are malformed.

    Example:
        >>> suite = conformance_suite("mypkg.drop:dropout", backend="torch")
        >>> suite.assert_conforms()
    """
    return ConformanceSuite(load_target(target, backend), ps=ps, size=size, seed=seed, z=z,
                            dtype=dtype, timeout=timeout)
