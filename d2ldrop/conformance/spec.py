"""The specification a target is held to in each edge case.

It is what the chapter's ``dropout_layer`` does (:data:`SCRATCH_EXPECTED`),
read as a contract for anyone's dropout:

* where the chapter raises (p < 0, p > 1, p = NaN, an integer input) a
  target must raise, but any exception type will do (:data:`ERROR`);
* a target that declares ``p_range="[0, 1)"`` must raise at p = 1;
* with NaN and +-inf in the input, a dropped element may be NaN (the chapter's
  ``mask * x``: 0 * inf) or exactly 0 (``where(mask, x * scale, 0)``);
* a case in a dtype the target does not declare is not applicable;
* a documented difference (``Target.differences``) replaces the specification
  of its case by the documented outcome;
* a target of the "downscale" convention keeps x itself where the chapter
  keeps x/(1-p).
"""

from __future__ import annotations

from dataclasses import dataclass

from d2ldrop.conformance.edges import (
    SCRATCH_EXPECTED,
    TARGET_EDGE_CASES,
    EdgeCase,
    EdgeOutcome,
    run_case,
)
from d2ldrop.conformance.target import Target

#: The specified outcome "raises an exception, of any type".
ERROR = "an error"
#: Where the chapter raises, a target must raise too.
ERROR_CASES: tuple[str, ...] = ("p<0", "p>1", "p=nan", "int")
#: The nonfinite case when dropped elements are selected, not multiplied.
NONFINITE_WHERE = "x: 0 or x/(1-p); nan: 0 or nan; +inf: 0 or +inf; -inf: 0 or -inf"


@dataclass(frozen=True)
class Spec:
    """What a target must do in one edge case.

    ``labels``: the accepted outcome labels (:data:`ERROR` accepts any
    exception); empty when the case does not apply, ``not_applicable`` saying
    why. ``documented``: the reason, when a declared difference replaced the
    specification.
    """

    labels: tuple[str, ...]
    documented: str = ""
    not_applicable: str = ""

    def accepts(self, kind: str, label: str) -> bool:
        return label in self.labels or (kind == "error" and ERROR in self.labels)

    @property
    def text(self) -> str:
        return " | ".join(self.labels)


def specified(target: Target, case: EdgeCase) -> Spec:
    """The :class:`Spec` of ``case`` for ``target`` (its dtypes, p range, differences,
    convention)."""
    spec = _specified(target, case)
    if target.downscale and not spec.documented:
        labels = tuple(label.replace("x/(1-p)", "x") for label in spec.labels)
        if case.merge_dropout and labels == ("0 or x",):
            labels += ("identity",)  # one element (or all) kept unscaled is x itself
        return Spec(labels, not_applicable=spec.not_applicable)
    return spec


def _specified(target: Target, case: EdgeCase) -> Spec:
    if case.input != "int" and case.dtype not in target.dtypes:
        return Spec((), not_applicable=f"{case.dtype} is not among the target's dtypes")
    if case.id in target.differences:
        label, why = target.differences[case.id]
        return Spec((label,), documented=why)
    if case.id in ERROR_CASES or (case.p == 1.0 and target.p_range == "[0, 1)"):
        return Spec((ERROR,))
    if case.id == "nonfinite":
        return Spec((SCRATCH_EXPECTED[case.id], NONFINITE_WHERE))
    return Spec((SCRATCH_EXPECTED[case.id],))


def run_target_edge_case(target: Target, case: EdgeCase, *, seed: int = 0) -> EdgeOutcome:
    """Run one edge case on ``target`` and judge it against :func:`specified`.

    A case that does not apply has ``kind`` "n/a" (never run, never a failure).
    """
    spec = specified(target, case)
    if not spec.labels:
        return EdgeOutcome(
            case=case.id, title=case.title, backend=target.backend, impl="target", p=case.p,
            dtype_in=case.dtype, kind="n/a", label="-", detail=spec.not_applicable,
        )
    return run_case(target, case, impl="target", expected=spec.text, accepts=spec.accepts,
                    seed=seed)


def target_edge_cases(target: Target, *, seed: int = 0) -> list[EdgeOutcome]:
    """Every case of :data:`TARGET_EDGE_CASES` on ``target``."""
    return [run_target_edge_case(target, c, seed=seed) for c in TARGET_EDGE_CASES]
