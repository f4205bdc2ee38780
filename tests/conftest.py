"""Shared fixtures: ``backend`` is parametrized over the three frameworks.

``D2LDROP_TEST_BACKENDS=torch,mxnet`` narrows the set (aliases accepted); an
unknown name there is an error, not a silent skip. A backend whose framework is
not installed is skipped with the extra to install, except under CI (``CI=true``),
where every selected backend must run.
"""

from __future__ import annotations

import os

import pytest

import d2ldrop
from d2ldrop._backend import BACKENDS, canonical_name, install_hint
from d2ldrop.errors import BackendNotAvailableError, UnknownBackendError


def _selected_backends() -> list[str]:
    raw = os.environ.get("D2LDROP_TEST_BACKENDS", "").strip()
    if not raw:
        return list(BACKENDS)
    names = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            names.append(canonical_name(part))
        except UnknownBackendError as err:
            raise pytest.UsageError(f"D2LDROP_TEST_BACKENDS: {err}") from None
    return list(dict.fromkeys(names))


SELECTED_BACKENDS = _selected_backends()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(params=SELECTED_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """A backend name whose framework imports; others are skipped with the fix."""
    name = request.param
    try:
        d2ldrop.get_adapter(name)
    except BackendNotAvailableError as err:
        reason = f"{name} not installed ({install_hint(name)}): {err.__cause__}"
        if IN_CI:
            pytest.fail(f"CI must test every selected backend, but {reason}")
        pytest.skip(reason)
    return name


@pytest.fixture
def adapter(backend: str):
    return d2ldrop.get_adapter(backend)


@pytest.fixture(autouse=True)
def _clean_backend_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the default backend whatever the caller's environment."""
    monkeypatch.delenv(d2ldrop.ENV_VAR, raising=False)
