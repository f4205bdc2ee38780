"""d2ldrop's pytest plugin as the ``pytest11`` entry point loads it: options only.

Installing d2ldrop makes every pytest run in that environment load this module.
It imports pytest and nothing of d2ldrop (the way hypothesis keeps its own
``_hypothesis_pytestplugin`` light): it registers the ``--d2ldrop-*`` options,
the ``d2ldrop`` marker and the ``d2ldrop_conformance`` fixture, and only when
``--d2ldrop-target`` is given does it import the suite
(:mod:`d2ldrop.conformance.plugin`, which adds the test items). It changes no
environment variable. Outside an installed d2ldrop, load it with
``-p _d2ldrop_pytestplugin``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

#: Where the suite of ``--d2ldrop-target`` is kept (set by d2ldrop.conformance.plugin).
SUITE_KEY = pytest.StashKey[Any]()


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
    group.addoption("--d2ldrop-dtype", default=None, metavar="DTYPE",
                    help="input dtype of the statistics: float16, bfloat16, float32 or "
                    "float64 (default: float32)")
    group.addoption("--d2ldrop-target-timeout", default=None, type=float, metavar="SECONDS",
                    help="seconds a call of the target may take before its item fails and "
                    "the remaining items are not run (default: 60)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "d2ldrop: a d2ldrop conformance check of --d2ldrop-target")
    if config.getoption("d2ldrop_target") is None:
        if config.getoption("d2ldrop_target_backend") is not None:
            raise pytest.UsageError("--d2ldrop-target-backend needs --d2ldrop-target")
        return
    from d2ldrop.conformance import plugin  # the suite: only now, when it is asked for

    config.pluginmanager.register(plugin, "d2ldrop-conformance")
    plugin.start(config)


@pytest.fixture
def d2ldrop_conformance(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """A factory of :class:`~d2ldrop.conformance.suite.ConformanceSuite`.

    ``d2ldrop_conformance(target=None, *, backend=None, ps=..., size=..., seed=0)``:
    ``target`` is a ``"package.module:function"`` reference, a Target or a
    callable; None means ``--d2ldrop-target`` (the test is skipped without it).
    """

    def make(target: Any = None, **settings: Any) -> Any:
        if target is None:
            suite = pytestconfig.stash.get(SUITE_KEY, None)
            if suite is None:
                pytest.skip("no --d2ldrop-target given")
            return suite
        from d2ldrop.conformance.suite import conformance_suite

        return conformance_suite(target, **settings)

    return make
