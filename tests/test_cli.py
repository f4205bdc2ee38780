"""The ``d2ldrop`` command line (demo and argument errors)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from support import SELECTED_BACKENDS, python, require_backend

from d2ldrop.cli import main


def test_demo_prints_the_chapter_example(backend, capsys):
    assert main(["demo", "--backend", backend, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert f"== backend: {backend} ==" in out
    blocks = dict(re.findall(r"^(X|dropout_layer\(X, [\d.]+\)) =\n(.*?)(?=^\S[^\n]* =$|\Z)",
                             out, flags=re.S | re.M))
    x = np.arange(16.0)
    np.testing.assert_array_equal(_printed_values(blocks["X"]), x)
    np.testing.assert_array_equal(_printed_values(blocks["dropout_layer(X, 0.0)"]), x)
    np.testing.assert_array_equal(_printed_values(blocks["dropout_layer(X, 1.0)"]), 0 * x)
    half = _printed_values(blocks["dropout_layer(X, 0.5)"])
    assert half.shape == x.shape and np.all((half == 0) | (half == 2 * x)), half


def _printed_values(text: str) -> np.ndarray:
    """The floats a framework's repr of a tensor shows ("3.", "0.0", "14.") in order;
    shapes and dtypes (no decimal point) are left out."""
    return np.array([float(v) for v in re.findall(r"-?\d+\.\d*", text)])


def test_demo_alias(capsys):
    if "tensorflow" not in SELECTED_BACKENDS:
        pytest.skip("tensorflow not selected")
    require_backend("tensorflow")  # through the suite's loading, not a plain import
    assert main(["demo", "-b", "tf"]) == 0
    assert "== backend: tensorflow ==" in capsys.readouterr().out


def test_unknown_backend_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--backend", "theano"])
    assert info.value.code == 2
    assert "Unknown backend 'theano'" in capsys.readouterr().err


@pytest.mark.parametrize("seed", ["-1", str(2**32), "x"])
def test_bad_seed_exits_2(seed, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--seed", seed])
    assert info.value.code == 2
    assert "Expected an integer seed in [0, 2**32)" in capsys.readouterr().err


def test_python_dash_m(backend):
    result = python("-m", "d2ldrop", "demo", "--backend", backend)
    assert result.returncode == 0, result.stderr
    assert f"== backend: {backend} ==" in result.stdout
