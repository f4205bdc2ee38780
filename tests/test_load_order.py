"""Issue 25, the load order of the frameworks: loading one backend imports its own
framework only; MXNet, which crashes when it loads after TensorFlow, is loaded
first by every entry point that runs several backends (``load_in_order``) and
refused in one line when it comes too late. Each check runs in a fresh process."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from support import python, run_python

from d2ldrop.backends.registry import BACKENDS, BY_NAME, is_installed

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = [BY_NAME[b].module for b in BACKENDS]
ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}


def _needs(*names: str) -> None:
    missing = [n for n in names if not is_installed(n)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} in this environment")


def _frameworks_after(code: str) -> list[str]:
    """The frameworks in sys.modules after ``code`` runs in a fresh interpreter."""
    done = run_python(f"{textwrap.dedent(code)}\nimport sys\n"
                      f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))",
                      env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_the_safe_order_puts_mxnet_before_tensorflow_and_keeps_the_rest():
    from d2ldrop.backends.registry import loads_before, safe_order

    assert safe_order(["tf", "torch", "mx", "jax"]) == ["mxnet", "tensorflow", "torch", "jax"]
    assert safe_order(["paddle", "mxnet", "tensorflow"]) == ["paddle", "mxnet", "tensorflow"]
    assert safe_order(["tensorflow"]) == ["tensorflow"]  # the others only if asked for
    assert loads_before("tensorflow", BACKENDS) == ["mxnet"]
    assert loads_before("tensorflow", ["torch", "tensorflow"]) == []
    assert loads_before("mxnet", BACKENDS) == []


@pytest.mark.parametrize("name", BACKENDS)
def test_one_backend_imports_no_other_framework(name):
    """After dropout_layer on one backend, sys.modules holds its framework and what
    that framework imports by itself (TensorFlow imports jax), nothing more."""
    _needs(name)
    module = BY_NAME[name].module
    alone = _frameworks_after(f"import {module}")
    loaded = _frameworks_after(f"""
        import numpy as np, d2ldrop
        x = d2ldrop.from_numpy(np.ones((2, 8), np.float32), backend={name!r})
        y = d2ldrop.to_numpy(d2ldrop.dropout_layer(x, 0.5, backend={name!r}),
                             backend={name!r})
        assert set(np.unique(y)) <= {{0.0, 2.0}}, y
        """)
    assert module in loaded
    assert set(loaded) <= set(alone), f"d2ldrop imported {sorted(set(loaded) - set(alone))}"


def test_mxnet_after_tensorflow_is_refused_in_one_line_saying_what_works():
    """TensorFlow imported first: tf (and the others) work; MXNet is refused, in one
    line naming the orders that work."""
    _needs("tensorflow", "mxnet")
    others = [b for b in ("torch", "jax", "paddle") if is_installed(b)]
    done = run_python(f"""
        import tensorflow as tf, numpy as np, d2ldrop
        y = d2ldrop.dropout_layer(tf.ones((2, 8)), 0.5, backend="tf")
        assert set(np.unique(y.numpy())) <= {{0.0, 2.0}}
        try:
            d2ldrop.backends.load_in_order(["mxnet"])
        except d2ldrop.BackendNotAvailableError as err:
            print("refused:", err, flush=True)
        for name in {others!r}:
            x = d2ldrop.from_numpy(np.ones(8, np.float32), backend=name)
            d2ldrop.dropout_layer(x, 0.5, backend=name)
        print("others ok")
        """, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    refusal, rest = done.stdout.split("refused:", 1)[1].split("others ok")
    refusal = refusal.strip()
    assert "\n" not in refusal
    assert "tensorflow is already imported" in refusal
    assert "d2ldrop.backends.load_in_order(['mxnet', 'tensorflow'])" in refusal
    assert "import mxnet before tensorflow" in refusal and "another process" in refusal


def _d2ldrop(*args: str, cwd: Path) -> str:
    done = python("-m", "d2ldrop", *args, env={**os.environ, **ENV}, cwd=cwd, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout + done.stderr


def test_commands_over_several_backends_load_mxnet_before_tensorflow(tmp_path):
    """``all`` lists TensorFlow before MXNet (the registry's order); both run."""
    _needs("tensorflow", "mxnet")
    out = _d2ldrop("demo", "--backend", "all", cwd=tmp_path)
    assert "== backend: tensorflow ==" in out and "== backend: mxnet ==" in out
    assert "skipped" not in out
    out = _d2ldrop("compare", "--backend", "tf", "--require", "tensorflow,mxnet",
                   "--impl", "builtin", "--p", "0.5", "--size", "16384", cwd=tmp_path)
    assert "skipped" not in out and "not available" not in out


LOADED = f"""
import sys

FRAMEWORKS = {FRAMEWORKS!r}


def frameworks(spec, data):
    return {{"metrics": {{}}, "loaded": [m for m in FRAMEWORKS if m in sys.modules]}}
"""


def test_a_sweep_over_tensorflow_then_mxnet(tmp_path):
    """A sweep whose TensorFlow task comes first, in one pool worker that runs both
    tasks and in this process: MXNet loads first, and no other framework."""
    _needs("tensorflow", "mxnet")
    (tmp_path / "loadorder_proc.py").write_text(LOADED)
    done = run_python(f"""
        import json
        from d2ldrop.sweep.driver import run_tasks
        from d2ldrop.sweep.executors import LocalPool
        from d2ldrop.sweep.spec import RunSpec
        from d2ldrop.sweep.store import RunStore
        from d2ldrop.sweep.worker import Task
        from loadorder_proc import frameworks

        tasks = [Task(RunSpec("loaded", b, 0, 1), frameworks) for b in ("tensorflow", "mxnet")]
        pool = LocalPool(1)
        try:
            pooled = run_tasks(tasks, RunStore({str(tmp_path / "pool")!r}), None, executor=pool)
        finally:
            pool.shutdown()
        here = run_tasks(tasks, RunStore({str(tmp_path / "here")!r}), None)
        print(json.dumps([[r["result"]["loaded"] for r in rs.values()] for rs in (pooled, here)]))
        """, env={"PYTHONPATH": os.pathsep.join([ENV["PYTHONPATH"], str(tmp_path)])},
        cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    pooled, here = json.loads(done.stdout.strip().splitlines()[-1])
    # The pool's one worker ran the tasks in order; tensorflow itself imports jax.
    assert [set(x) - {"jax"} for x in pooled] == [{"mxnet", "tensorflow"}] * 2
    assert [set(x) - {"jax"} for x in here] == [{"mxnet", "tensorflow"}] * 2


def test_a_lockstep_run_of_tensorflow_then_mxnet():
    _needs("tensorflow", "mxnet")
    done = run_python("""
        from support import small_data
        from d2ldrop.lockstep import run_lockstep

        result = run_lockstep("scratch", ["tensorflow", "mxnet"], small_data(64, 32),
                              num_epochs=1, batch_size=32, progress=False)
        print("lockstep ok")
        """, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "lockstep ok"


def test_the_suite_loads_the_selected_backends_in_order(tmp_path):
    """A test session whose first test uses TensorFlow: MXNet's tests still run."""
    _needs("tensorflow", "mxnet")
    (tmp_path / "test_order.py").write_text(textwrap.dedent("""
        import d2ldrop
        from support import require_backend

        def test_tensorflow_first():
            require_backend("tensorflow")
            d2ldrop.backends.get_adapter("tensorflow")

        def test_mxnet_second():
            require_backend("mxnet")
        """))
    done = python("-m", "pytest", "-q", "-p", "no:cacheprovider",
                  str(tmp_path / "test_order.py"), "--rootdir", str(tmp_path),
                  env={**os.environ, **ENV, "CI": "true",
                       "D2LDROP_TEST_BACKENDS": "tensorflow,mxnet"},
                  cwd=tmp_path, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "2 passed" in done.stdout
