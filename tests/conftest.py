"""Fixtures: ``backend`` is parametrized over the selected backends.

Which backends are selected, and the skip-or-fail policy for a missing
framework, are in :mod:`support` (shared helpers are imported from there, never
from this file).
"""

from __future__ import annotations

import os

# JAX's key-reuse checker on for the whole suite (it must be set before jax loads):
# a key used twice anywhere in a jax test is an error.
os.environ.setdefault("JAX_DEBUG_KEY_REUSE", "true")

import pytest  # noqa: E402
from support import IN_CI, SELECTED_BACKENDS, require_backend, require_backends

import d2ldrop


@pytest.fixture(params=SELECTED_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """A backend name whose framework imports; others are skipped with the fix."""
    require_backend(request.param)
    return request.param


@pytest.fixture
def adapter(backend: str):
    return d2ldrop.backends.get_adapter(backend)


@pytest.fixture
def selected_backends() -> list[str]:
    """Every selected backend, all of them importable (else skipped, or failed in CI)."""
    require_backends(SELECTED_BACKENDS)
    return list(SELECTED_BACKENDS)


@pytest.fixture(autouse=True)
def _clean_backend_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the default backend whatever the caller's environment."""
    monkeypatch.delenv(d2ldrop.backends.ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def real_data():
    """The real Fashion-MNIST arrays, found by the normal lookup (never downloaded).

    Skipped locally when absent (set D2LDROP_DATA_DIR or install Debian's
    dataset-fashion-mnist); a failure under CI, which installs the data.
    """
    from d2ldrop.data import load_fashion_mnist_arrays
    from d2ldrop.errors import DataError

    try:
        return load_fashion_mnist_arrays(download=False)
    except DataError as err:
        reason = (
            "real Fashion-MNIST not found locally: set D2LDROP_DATA_DIR to a directory "
            "with the four IDX files, or `apt-get install dataset-fashion-mnist`, or run "
            f"`d2ldrop data --download` once ({str(err).splitlines()[0]})"
        )
        if IN_CI:
            pytest.fail(f"CI must run the real-data tests, but {reason}")
        pytest.skip(reason)
