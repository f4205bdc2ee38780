"""The pytest plugin: d2ldrop's conformance suite for anyone's dropout, as test items.

``pytest --d2ldrop-target package.module:function`` adds one test item per
check and p (``fraction[p=0.5]``, ``agreement[p=0.1]``, ...) and per edge case
(``edge[p=nan]``, ...) under ``d2ldrop[<target>]``, so a broken property shows
up as one failing test; checks the target does not support are skipped with
the reason. ``--d2ldrop-target-backend NAME`` names whose tensors it takes
(default: the Target's own, else numpy); ``--d2ldrop-p``, ``--d2ldrop-size`` and
``--d2ldrop-seed`` change the draws. The items carry the marker ``d2ldrop``.
A call of the target that does not return within ``--d2ldrop-target-timeout``
seconds (default 60) fails its item; the items after it are skipped as not run
(the hung call's thread is left behind; pytest still exits).

The fixture ``d2ldrop_conformance`` gives the same checks to a test:
``d2ldrop_conformance("pkg.mod:dropout", backend=NAME).assert_conforms()``, NAME one of
the registry's backends (or "numpy").

Installed as the ``pytest11`` entry point ``d2ldrop``: without
``--d2ldrop-target`` it only registers its options, marker and fixture, and
imports nothing beyond pytest (the suite is imported when it is used).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

_SUITE = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("d2ldrop", "d2ldrop dropout conformance")
    group.addoption(
        "--d2ldrop-target", default=None, metavar="MODULE:FUNCTION",
        help="check this dropout(x, p, *, training=True) (or d2ldrop.conformance.Target): "
        "one test item per statistic and edge case",
    )
    group.addoption(
        "--d2ldrop-target-backend", default=None, metavar="NAME",
        help="whose tensors the target takes: numpy or a d2ldrop backend "
        "(default: the Target's own, else numpy)",
    )
    group.addoption("--d2ldrop-p", default=None, metavar="P,P,...",
                    help="comma-separated dropout probabilities in (0, 1) (default: 0.1,0.5,0.9)")
    group.addoption("--d2ldrop-size", default=None, type=int, metavar="N",
                    help="elements per draw (default: 262144)")
    group.addoption("--d2ldrop-seed", default=0, type=int, metavar="S",
                    help="seed of every draw (default: 0)")
    group.addoption("--d2ldrop-target-timeout", default=None, type=float, metavar="SECONDS",
                    help="seconds a call of the target may take before its item fails and "
                    "the remaining items are not run (default: 60)")


def _settings(config: pytest.Config) -> dict[str, Any]:
    settings: dict[str, Any] = {"seed": config.getoption("d2ldrop_seed")}
    raw = config.getoption("d2ldrop_p")
    if raw is not None:
        try:
            settings["ps"] = [float(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            raise pytest.UsageError(f"--d2ldrop-p: expected numbers, got {raw!r}") from None
    size = config.getoption("d2ldrop_size")
    if size is not None:
        settings["size"] = size
    timeout = config.getoption("d2ldrop_target_timeout")
    if timeout is not None:
        settings["timeout"] = timeout
    return settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "d2ldrop: a d2ldrop conformance check of --d2ldrop-target")
    ref = config.getoption("d2ldrop_target")
    backend = config.getoption("d2ldrop_target_backend")
    if ref is None:
        if backend is not None:
            raise pytest.UsageError("--d2ldrop-target-backend needs --d2ldrop-target")
        return
    from d2ldrop.conformance.suite import conformance_suite
    from d2ldrop.errors import D2LDropError

    try:
        suite = conformance_suite(ref, backend=backend, **_settings(config))
        suite.target.check_available()
    except (D2LDropError, ValueError) as err:
        raise pytest.UsageError(f"d2ldrop conformance: {err}") from None
    config.stash[_SUITE] = suite


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    suite = config.stash.get(_SUITE, None)
    return None if suite is None else [suite.header()]


class ConformanceFailure(AssertionError):
    """A check or edge case of the target did not hold: ``(message, error)``, the
    error being what the target raised, if that is why."""


def _target_traceback(err: BaseException) -> str:
    """The traceback of what the target raised, without d2ldrop's frames (the
    target's own frames and those of the libraries it called)."""
    import os
    import threading
    import traceback

    import d2ldrop

    ours = os.path.dirname(d2ldrop.__file__) + os.sep
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not f.filename.startswith(ours) and f.filename != threading.__file__]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(err), err)
    return "".join(lines).rstrip()


class TargetCollector(pytest.Collector):
    """The items of one target: ``d2ldrop[<target>]``."""

    def __init__(self, *, suite: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite

    def collect(self) -> list[pytest.Item]:
        return [ConformanceItem.from_parent(self, name=item.id, spec=item)
                for item in self.suite.items()]


class ConformanceItem(pytest.Item):
    """One check at one p, or one edge case, of the target."""

    def __init__(self, *, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.add_marker("d2ldrop")

    def runtest(self) -> None:
        verdict = self.parent.suite.verdict(self.spec)
        if verdict.status == "n/a":
            pytest.skip(f"not applicable: {verdict.message}")
        if verdict.status == "not run":
            pytest.skip(verdict.message)
        if verdict.status == "failed":
            raise ConformanceFailure(verdict.message, verdict.error)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        err = excinfo.value
        if isinstance(err, ConformanceFailure):
            message, cause = err.args
            return message if cause is None else f"{message}\n{_target_traceback(cause)}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Add the target's items before -k, -m and --deselect select among all items."""
    suite = config.stash.get(_SUITE, None)
    if suite is None:
        return
    name = f"d2ldrop[{suite.target.title}]"
    collector = TargetCollector.from_parent(session, name=name, nodeid=name, suite=suite)
    new = collector.collect()
    # Reported like a collected module, so that "collected N items" counts them.
    config.hook.pytest_collectreport(
        report=pytest.CollectReport(collector.nodeid, "passed", None, new)
    )
    items.extend(new)


@pytest.fixture
def d2ldrop_conformance(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """A factory of :class:`~d2ldrop.conformance.suite.ConformanceSuite`.

    ``d2ldrop_conformance(target=None, *, backend=None, ps=..., size=..., seed=0)``:
    ``target`` is a ``"package.module:function"`` reference, a Target or a
    callable; None means ``--d2ldrop-target`` (the test is skipped without it).
    """
    from d2ldrop.conformance.suite import conformance_suite

    def make(target: Any = None, **settings: Any) -> Any:
        if target is None:
            suite = pytestconfig.stash.get(_SUITE, None)
            if suite is None:
                pytest.skip("no --d2ldrop-target given")
            return suite
        return conformance_suite(target, **settings)

    return make
