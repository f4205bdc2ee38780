"""The zoo of shipped bugs: each broken target of ``tests/targets/shipped.py``
reproduces a bug class that shipped in a real library, cites where it was reported,
and fails exactly the suite items :data:`targets.shipped.SHIPPED` names, in the run
that shows it; the correct targets pass the same runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import re

import pytest
from targets import shipped

import d2ldrop.conformance as C
from d2ldrop.conformance import target as target_module

SIZE = 2**16
#: "owner/repository #number", as the docstrings cite upstream reports.
CITATION = re.compile(r"\b[\w.-]+/[\w.-]+ #\d+\b")
CORRECT = ("targets.correct:dropout", "targets.correct:target", "targets.shipped:correct")
#: Controls declaring what part A's capabilities check: they must pass.
CONTROLS = {"targets.shipped_state:channel_dropout": "broadcast_axes",
            "targets.shipped:downscale_declared": "convention"}


def _failed(suite: C.ConformanceSuite) -> set[str]:
    return {item.id for item, v in suite.verdicts() if v.status == "failed"}


def _require(needs: str) -> None:
    capabilities = {f.name for f in dataclasses.fields(C.Target)}
    if needs and needs not in target_module.TARGET_DTYPES and needs not in capabilities:
        pytest.skip(f"this d2ldrop's suite has no {needs!r} for targets")


def _docs(obj: object) -> list[str]:
    """The docstrings that may carry a citation: a function's, or those of the
    capabilities a Target declares (the bug may live in its gradient, layer or seed)."""
    parts = [obj]
    if isinstance(obj, C.Target):
        parts = [obj.dropout, obj.gradient, obj.layer, obj.seed]
    return [p.__doc__ for p in parts if callable(p) and p.__doc__]


def test_the_zoo_has_at_least_twelve_shipped_bugs() -> None:
    assert len(shipped.SHIPPED) >= 12
    assert all(entry.fails for entry in shipped.SHIPPED.values())


@pytest.mark.parametrize("name", sorted(shipped.SHIPPED))
def test_each_shipped_bug_cites_its_upstream_report(name: str) -> None:
    _require(shipped.SHIPPED[name].needs)
    module = importlib.import_module(shipped.SHIPPED[name].module)
    docs = _docs(getattr(module, name))
    assert any(CITATION.search(d) for d in docs), f"{name}: no owner/repo #N in {docs}"


@pytest.mark.parametrize("name", sorted(shipped.SHIPPED))
def test_each_shipped_bug_fails_exactly_its_named_checks(name: str) -> None:
    entry = shipped.SHIPPED[name]
    _require(entry.needs)
    suite = C.conformance_suite(f"{entry.module}:{name}", ps=entry.ps, size=SIZE,
                                dtype=entry.dtype)
    failed = _failed(suite)
    assert failed == set(entry.fails), (
        f"missing {sorted(set(entry.fails) - failed)}, unexpected "
        f"{sorted(failed - set(entry.fails))}"
    )
    with pytest.raises(AssertionError) as err:
        suite.assert_conforms()
    assert all(f"- {item}: " in str(err.value) for item in entry.fails)


RUNS = sorted({(e.dtype, e.ps, e.needs) for e in shipped.SHIPPED.values()})


@pytest.mark.parametrize("ref", CORRECT)
@pytest.mark.parametrize("dtype, ps, needs", RUNS)
def test_the_correct_targets_pass_the_same_runs(ref: str, dtype: str, ps: tuple,
                                                needs: str) -> None:
    _require(needs)
    if dtype not in C.load_target(ref).dtypes:
        pytest.skip(f"{ref} does not declare {dtype}")
    suite = C.conformance_suite(ref, ps=ps, size=SIZE, dtype=dtype)
    assert _failed(suite) == set()


@pytest.mark.parametrize("ref, needs", sorted(CONTROLS.items()))
def test_the_declared_controls_pass(ref: str, needs: str) -> None:
    _require(needs)
    assert _failed(C.conformance_suite(ref, size=SIZE)) == set()
