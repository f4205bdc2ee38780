"""The pytest plugin's suite: d2ldrop's conformance checks of anyone's dropout, as test items.

``pytest --d2ldrop-target package.module:function`` adds one test item per
check and p (``fraction[p=0.5]``, ``agreement[p=0.1]``, ...) and per edge case
(``edge[p=nan]``, ...) under ``d2ldrop[<target>]``, so a broken property shows
up as one failing test; checks the target does not support are skipped with
the reason. ``--d2ldrop-target-backend NAME`` names whose tensors it takes
(default: the Target's own, else numpy); ``--d2ldrop-p``, ``--d2ldrop-size``,
``--d2ldrop-seed`` and ``--d2ldrop-dtype`` change the draws. The items carry
the marker ``d2ldrop``.
A call of the target that does not return within ``--d2ldrop-target-timeout``
seconds (default 60) fails its item; the items after it are skipped as not run
(the hung call's thread is left behind; pytest still exits).

The options, the marker and the fixture ``d2ldrop_conformance``
(``d2ldrop_conformance("pkg.mod:dropout", backend=NAME).assert_conforms()``)
belong to ``_d2ldrop_pytestplugin``, the module the ``pytest11`` entry point
loads: it imports nothing of d2ldrop, and registers this module (and calls
:func:`start`) only when ``--d2ldrop-target`` is given.
"""

from __future__ import annotations

from typing import Any

import pytest

from _d2ldrop_pytestplugin import SUITE_KEY

_SUITE = SUITE_KEY


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
    dtype = config.getoption("d2ldrop_dtype")
    if dtype is not None:
        settings["dtype"] = dtype
    timeout = config.getoption("d2ldrop_target_timeout")
    if timeout is not None:
        settings["timeout"] = timeout
    return settings


def start(config: pytest.Config) -> None:
    """Build the suite of ``--d2ldrop-target`` (called by ``_d2ldrop_pytestplugin``)."""
    from d2ldrop.conformance.suite import conformance_suite
    from d2ldrop.errors import D2LDropError

    ref = config.getoption("d2ldrop_target")
    backend = config.getoption("d2ldrop_target_backend")
    try:
        suite = conformance_suite(ref, backend=backend, **_settings(config))
        suite.target.check_available()
    except (D2LDropError, ValueError) as err:
        raise pytest.UsageError(f"d2ldrop conformance: {err}") from None
    config.stash[_SUITE] = suite


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    suite = config.stash.get(_SUITE, None)
    return None if suite is None else [suite.header()]


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
        from d2ldrop.errors import ConformanceFailure

        verdict = self.parent.suite.verdict(self.spec)
        if verdict.status == "n/a":
            pytest.skip(f"not applicable: {verdict.message}")
        if verdict.status == "not run":
            pytest.skip(verdict.message)
        if verdict.status == "failed":
            raise ConformanceFailure(verdict.message, verdict.error)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        from d2ldrop.errors import ConformanceFailure

        err = excinfo.value
        if isinstance(err, ConformanceFailure):
            message, cause = (*err.args, None)[:2]
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
