"""Shared fixtures: ``backend`` is parametrized over the three frameworks.

``D2LDROP_TEST_BACKENDS=torch,mxnet`` narrows the set (aliases accepted); an
unknown name there is an error, not a silent skip. A backend whose framework is
not installed is skipped with the extra to install, except under CI (``CI=true``),
where every selected backend must run.
"""

from __future__ import annotations

import os

import numpy as np
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


def require_backend(name: str) -> None:
    """Skip (fail under CI) unless the framework of backend ``name`` imports."""
    try:
        d2ldrop.get_adapter(name)
    except BackendNotAvailableError as err:
        reason = f"{name} not installed ({install_hint(name)}): {err.__cause__}"
        if IN_CI:
            pytest.fail(f"CI must test every selected backend, but {reason}")
        pytest.skip(reason)


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable uint8 images: class k lights rows 2k+3..2k+6 on a noisy background."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 80, (n, 28, 28)).astype(np.uint8)
    for k in range(10):
        x[labels == k, 2 * k + 3 : 2 * k + 7, :] = 230
    return x, labels


@pytest.fixture(params=SELECTED_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """A backend name whose framework imports; others are skipped with the fix."""
    require_backend(request.param)
    return request.param


@pytest.fixture
def adapter(backend: str):
    return d2ldrop.get_adapter(backend)


@pytest.fixture(autouse=True)
def _clean_backend_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the default backend whatever the caller's environment."""
    monkeypatch.delenv(d2ldrop.ENV_VAR, raising=False)


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
