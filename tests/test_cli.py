"""The ``d2ldrop`` command line (demo and argument errors)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from d2ldrop.cli import main


def test_demo_prints_the_chapter_example(backend, capsys):
    assert main(["demo", "--backend", backend, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert f"== backend: {backend} ==" in out
    for p in ("0.0", "0.5", "1.0"):
        assert f"dropout_layer(X, {p}) =" in out
    assert "15" in out


def test_demo_alias(capsys):
    pytest.importorskip("tensorflow")
    assert main(["demo", "-b", "tf"]) == 0
    assert "== backend: tensorflow ==" in capsys.readouterr().out


def test_unknown_backend_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--backend", "jax"])
    assert info.value.code == 2
    assert "Unknown backend 'jax'" in capsys.readouterr().err


def test_python_dash_m(backend):
    result = subprocess.run(
        [sys.executable, "-m", "d2ldrop", "demo", "--backend", backend],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"== backend: {backend} ==" in result.stdout
