"""Helpers the test modules share (fixtures live in conftest.py).

``D2LDROP_TEST_BACKENDS=torch,mxnet`` narrows the backends under test (aliases
accepted); an unknown name there is an error, not a silent skip. A selected
backend whose framework does not import is skipped with the extra to install,
except under CI (``CI=true``), where every selected backend must run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import d2ldrop
from d2ldrop.backends.registry import BACKENDS, canonical_name, install_hint
from d2ldrop.data import FashionMNIST
from d2ldrop.errors import BackendNotAvailableError, UnknownBackendError

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


SELECTED_BACKENDS: list[str] = _selected_backends()
_loaded_in_order: list[bool] = []


def load_selected() -> None:
    """Load the selected backends once, in an order that works (MXNet before
    TensorFlow), at the first test that needs one, so that the order of the tests
    never decides which can load; one that cannot is skipped by its tests."""
    if not _loaded_in_order:
        _loaded_in_order.append(True)
        d2ldrop.backends.load_in_order(SELECTED_BACKENDS, skip_unavailable=True)


def require_backend(name: str) -> None:
    """Skip (fail under CI) unless the framework of backend ``name`` imports."""
    load_selected()
    try:
        d2ldrop.backends.get_adapter(name)
    except BackendNotAvailableError as err:
        reason = f"{name} not installed ({install_hint(name)}): {err.__cause__ or err}"
        if IN_CI:
            pytest.fail(f"CI must test every selected backend, but {reason}")
        pytest.skip(reason)


def require_backends(names: list[str]) -> None:
    """:func:`require_backend` for each name, all checked before the test skips.

    A test over several backends is skipped only if one of *its* backends is
    missing, naming every missing one (never after testing some of them).
    """
    load_selected()
    missing = []
    for name in names:
        try:
            d2ldrop.backends.get_adapter(name)
        except BackendNotAvailableError as err:
            missing.append(f"{name} ({install_hint(name)}): {err.__cause__ or err}")
    if missing:
        reason = "not installed: " + "; ".join(missing)
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


def small_data(n_train: int = 320, n_test: int = 128, *,
               seeds: tuple[int, int] = (1, 2)) -> FashionMNIST:
    """A small learnable data set of :func:`synthetic` images, in Fashion-MNIST's shape
    (``seeds``: of the training and the test images)."""
    train, test = synthetic(n_train, seeds[0]), synthetic(n_test, seeds[1])
    return FashionMNIST(train[0], train[1], test[0], test[1])


def python(*args: str, env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python args...`` in a fresh interpreter (this one's executable), its output
    captured as text. ``env`` is the child's whole environment (None: this process's)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def run_python(code: str, *args: str, env: dict[str, str] | None = None,
               cwd: str | os.PathLike[str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python args... -c code`` (``code`` dedented) in a fresh interpreter; ``env``
    is merged into this process's environment."""
    return python(*args, "-c", textwrap.dedent(code), env={**os.environ, **(env or {})},
                  cwd=cwd, timeout=timeout)


def require_updater(backend: str, updater: str) -> None:
    """Skip ``updater='framework'`` where the backend's optimizer cannot run in this
    environment (JAX without optax beside numpy 1.23.5): a property of the
    environment, documented, so a skip even under CI (the backend's own tox env,
    which has the optimizer, runs these tests)."""
    if updater != "framework":
        return
    reason = d2ldrop.backends.get_adapter(backend).framework_updater_error()
    if reason is not None:
        pytest.skip(f"{backend}: updater='framework' cannot run here: {reason}")
