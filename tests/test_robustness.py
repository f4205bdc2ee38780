"""Issue 25: never crash, hang or lose a run. The output directory's lock, the
target timeout, the load order of the frameworks, memory, signals and the
one-line errors that a new user's fault probes found missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support import SELECTED_BACKENDS, require_backend

import d2ldrop
from d2ldrop import _outdir
from d2ldrop.conformance.edges import TARGET_EDGE_CASES
from d2ldrop.conformance.suite import TARGET_CHECKS

ROOT = Path(__file__).resolve().parent.parent

_HOLDER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from d2ldrop import _outdir
    from d2ldrop.errors import UsageError
    root, trials, t0 = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    for i in range(trials):
        start_at = t0 + 0.25 * i
        time.sleep(max(0.0, start_at - time.time() - 0.02))
        while time.time() < start_at:  # a busy wait: the processes start within microseconds
            pass
        try:
            with _outdir.claim(root / str(i), []):
                start = time.time()
                time.sleep(0.05)
                with open(root / str(i) / "holders", "a") as f:
                    f.write(f"{os.getpid()} {start} {time.time()}\\n")
        except UsageError:
            pass
""")


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.parametrize("stale", [False, True], ids=["free", "stale-lock"])
def test_two_writers_never_hold_one_out_at_once(tmp_path, stale):
    """Processes claiming one directory at the same instant: the lock's holders'
    intervals never overlap, free or with a dead owner's lock to take over."""
    trials, procs = 20, 4
    dead = _dead_pid()
    for i in range(trials):
        (tmp_path / str(i)).mkdir()
        if stale:
            (tmp_path / str(i) / _outdir.LOCK).write_text(f"{dead}\n")
    t0 = time.time() + 3.0  # every interpreter started before the first trial
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path), str(trials),
                                 str(t0)], env=env) for _ in range(procs)]
    for w in workers:
        assert w.wait(timeout=120) == 0
    overlaps, held = 0, 0
    for i in range(trials):
        f = tmp_path / str(i) / "holders"
        spans = sorted(tuple(map(float, line.split()[1:])) for line in
                       (f.read_text().splitlines() if f.exists() else []))
        held += bool(spans)
        overlaps += sum(b[0] < a[1] for a, b in zip(spans, spans[1:]))
        assert not (tmp_path / str(i) / _outdir.LOCK).exists()
    assert held == trials  # each directory was claimed by someone
    assert overlaps == 0, f"{overlaps} of {trials} trials had two holders at once"


def test_a_lock_of_a_reused_pid_is_taken_over_and_a_refusal_names_the_file(tmp_path):
    """A live pid with another start time is a dead owner's reused pid; a live owner's
    lock is refused with the lock file's path and how to remove it."""
    lock = tmp_path / _outdir.LOCK
    lock.write_text(f"{os.getppid()} 1 {os.uname().nodename}\n")  # started at tick 1: not it
    with _outdir.claim(tmp_path, []):
        assert lock.read_text().split()[0] == str(os.getpid())
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from d2ldrop import _outdir\n"
         f"with _outdir.claim({str(tmp_path)!r}, []):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(d2ldrop.UsageError) as info:
            with _outdir.claim(tmp_path, []):
                pass
        assert str(lock) in str(info.value) and f"remove {lock}" in str(info.value)
    finally:
        holder.kill()
        holder.wait()


def test_an_empty_out_is_refused(capsys):
    from d2ldrop.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--out", "", "--epochs", "1"])
    assert info.value.code == 2
    assert "--out: expected a directory" in capsys.readouterr().err


def _python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          cwd=ROOT)


def _selected(name: str) -> None:
    """Skip unless backend ``name`` is selected; then it must be installed (as in CI)."""
    if name not in SELECTED_BACKENDS:
        pytest.skip(f"{name} not selected")
    require_backend(name)


def _first() -> str:
    """The first selected backend, installed (the one a command-line test trains on)."""
    require_backend(SELECTED_BACKENDS[0])
    return SELECTED_BACKENDS[0]


def _needs(*frameworks: str) -> None:
    from d2ldrop.backends.registry import is_installed

    missing = [f for f in frameworks if not is_installed(f)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} in this environment")


def test_tensorflow_imported_first_works_and_mxnet_is_refused_in_one_line():
    """The probe: TensorFlow imported before d2ldrop's tf backend loads once crashed
    (MXNet loaded after it). Now tf works, and MXNet is refused saying why."""
    _needs("tensorflow", "mxnet")
    done = _python(
        "import tensorflow as tf, numpy as np, d2ldrop\n"
        "y = d2ldrop.dropout_layer(tf.ones((2, 8)), 0.5, backend='tf')\n"
        "assert set(np.unique(y.numpy())) <= {0.0, 2.0}\n"
        "print('tf ok', flush=True)\n"
        "try:\n"
        "    d2ldrop.backends.get_adapter('mxnet')\n"
        "except d2ldrop.BackendNotAvailableError as err:\n"
        "    print('refused:', err)\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tf ok" in done.stdout
    refusal = done.stdout.split("refused:", 1)[1].strip()
    assert "\n" not in refusal and "tensorflow is already imported" in refusal
    assert "before tensorflow" in refusal


FAULTY = """
import threading


def hangs(x, p, *, training=True):
    threading.Event().wait()


def exits(x, p, *, training=True):
    raise SystemExit(3)
"""


def _d2ldrop(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{cwd}"}
    return subprocess.run([sys.executable, "-m", "d2ldrop", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=cwd)


def test_compare_target_gives_up_on_a_hanging_target_and_reports_an_exiting_one(tmp_path):
    """compare --target: a hang costs one --target-timeout and the process exits;
    a target raising SystemExit fails its checks instead of ending the run silently."""
    (tmp_path / "faulty.py").write_text(FAULTY)
    fast = ["--backend", _first(), "--p", "0.5", "--size", "16384"]
    start = time.monotonic()
    done = _d2ldrop("compare", "--target", "faulty:hangs", "--target-timeout", "1", *fast,
                    cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "did not return within 1 s" in done.stdout
    # every check at the one p and every edge case, but the one that hung
    items = len(TARGET_CHECKS) + len(TARGET_EDGE_CASES)
    assert f"{items - 1} item(s) not run" in done.stdout
    assert time.monotonic() - start < 120
    done = _d2ldrop("compare", "--target", "faulty:exits", *fast, cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "raised SystemExit(3) instead of returning" in done.stdout
    assert "FAIL" in done.stdout


def test_a_size_beyond_memory_is_refused_before_allocating(tmp_path):
    """The probes: --size 400000000 grew to all memory, 1e11 was a MemoryError
    traceback. Under an address-space limit the size is refused in one line."""
    from d2ldrop._memory import available_bytes

    if available_bytes() is None:
        pytest.skip("this system does not say how much memory a process may use")
    done = _d2ldrop("stats", "--size", "100000000000", cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "size=100000000000 (float32) needs about" in line and "GiB" in line
    limited = _python(
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "sys.path.insert(0, 'tests')\n"
        "from d2ldrop.conformance import target_stats, load_target\n"
        "try:\n"
        "    target_stats(load_target('targets.correct:dropout'), 0.5, size=40_000_000)\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)\n")
    assert limited.stdout.startswith("UsageError size=40000000"), limited.stdout + limited.stderr


def test_sigterm_is_handled_like_ctrl_c(real_data, tmp_path):
    """The probe: SIGTERM killed `train` at once (no summary.json, no figure, a stale
    lock). Now the finished epochs stay, summary.json says interrupted, the lock goes."""
    import signal

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(
        [sys.executable, "-m", "d2ldrop", "train", "--backend", _first(), "--model",
         "scratch", "--epochs", "50", "--batch-size", "256", "--seed", "0", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in run.stdout:
            if "epoch 1/50" in line:
                break
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, stderr[-2000:]
    assert "interrupted: kept" in stderr
    (row,) = json.loads((out / "summary.json").read_text())
    assert row["interrupted"] is True and row["epochs"] >= 1
    assert (out / "curves.png").exists()
    assert not (out / _outdir.LOCK).exists()


# -- one-line errors instead of tracebacks, and arguments refused -------------------------


def test_a_huge_p_is_a_value_error(backend):
    from support import synthetic

    x = d2ldrop.backends.get_adapter(backend).from_numpy(synthetic(4)[0].reshape(4, -1) / 255.0)
    with pytest.raises(ValueError, match=r"Expected a float between 0 and 1\. Received: "
                                         r"p=100000000000\.\.\. \(401 characters\)"):
        d2ldrop.dropout_layer(x, 10**400, backend=backend)


def test_model_sizes_and_epochs_are_checked(backend):
    with pytest.raises(ValueError, match="Expected a positive integer num_hiddens1. Received: 0"):
        d2ldrop.build_mlp("scratch", num_hiddens1=0, backend=backend)
    with pytest.raises(ValueError, match="num_outputs. Received: True"):
        d2ldrop.build_mlp("scratch", num_outputs=True, backend=backend)
    net = d2ldrop.build_mlp("scratch", seed=0, backend=backend)
    with pytest.raises(ValueError, match="number of epochs. Received: True"):
        d2ldrop.train_ch3(net, [], [], d2ldrop.CrossEntropyLoss(), True, d2ldrop.sgd(0.1))


def test_empty_or_numpy_batches_are_one_line_errors(backend):
    from support import synthetic

    x, y = synthetic(64)
    net = d2ldrop.build_mlp("scratch", seed=0, backend=backend)
    loss, updater = d2ldrop.CrossEntropyLoss(), d2ldrop.sgd(0.1)
    with pytest.raises(d2ldrop.UsageError, match="the training batches are empty: epoch 1"):
        d2ldrop.train_ch3(net, [], [], loss, 1, updater, progress=False)
    numpy_batches = [(x[:32], y[:32])]
    with pytest.raises(d2ldrop.UsageError, match=f"train_iter gives images as numpy.ndarray, "
                                                 f"not {backend} tensors"):
        d2ldrop.train_ch3(net, numpy_batches, numpy_batches, loss, 1, updater, progress=False)


def test_a_torch_bfloat16_tensor_reads_back_exactly():
    _selected("torch")
    import torch

    t = torch.tensor([1.0, 3.140625, -2.5e-3, 65280.0], dtype=torch.bfloat16)
    a = d2ldrop.backends.get_adapter("torch").to_numpy(t)
    assert a.dtype.name == "bfloat16"  # ml_dtypes' bfloat16: the same 16 bits
    assert a.astype("float32").tolist() == t.float().tolist()


def test_mxnet_complex_and_legacy_arrays_are_explained():
    _selected("mxnet")
    import mxnet as mx
    import numpy as np

    with pytest.raises(d2ldrop.UsageError, match="MXNet has no arrays of dtype complex64"):
        d2ldrop.backends.get_adapter("mxnet").from_numpy(np.ones(3, np.complex64))
    legacy = mx.nd.ones((2, 3))
    others = [b for b in SELECTED_BACKENDS if b != "mxnet"][:1]
    for backend in others:
        require_backend(backend)
    for backend, advice in [("mxnet", "x.as_np_ndarray()"),
                            *((b, "then pass backend='mxnet'") for b in others)]:
        with pytest.raises(TypeError) as info:
            d2ldrop.dropout_layer(legacy, 0.5, backend=backend)
        assert "legacy mx.nd.NDArray" in str(info.value) and advice in str(info.value)


def test_a_malformed_ray_address_is_an_argument_error(tmp_path, capsys):
    from d2ldrop.cli import main

    with pytest.raises(SystemExit) as info:
        main(["experiment", "epochs", "--quick", "--executor", "ray", "--address",
              "localhost:notaport", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "--address: expected auto, local, HOST:PORT" in capsys.readouterr().err


def test_an_experiment_on_a_full_disk_is_one_line(real_data, tmp_path, monkeypatch, capsys):
    import errno

    import d2ldrop.sweep.store as store
    from d2ldrop.cli import main

    backend = _first()

    def full(path, obj):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(store, "write_json", full)
    assert main(["experiment", "epochs", "--quick", "--backend", backend, "--quiet",
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert "cannot write" in line and "No space left on device" in line


def test_the_readme_pattern_for_a_tensorflow_target_runs_in_pytest(tmp_path):
    """A target module that imports tensorflow, checked by the pytest plugin: it crashed
    while the tf backend loaded MXNet after TensorFlow."""
    _needs("tensorflow", "mxnet")
    # A user's module that runs a TensorFlow op when imported (a constant, say).
    (tmp_path / "tfdrop.py").write_text(
        "import tensorflow as tf\n"
        "from targets.tensorflow_drop import target\n"
        "SCALE = tf.ones(1)\n")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(tmp_path)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "_d2ldrop_pytestplugin", "-q",
         "-p", "no:cacheprovider", "--d2ldrop-target", "tfdrop:target",
         "--d2ldrop-p", "0.5", "--d2ldrop-size", "16384"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "failed" not in done.stdout.splitlines()[-1]
    # The README's other command: every installed framework beside the target.
    done = subprocess.run([sys.executable, "-m", "d2ldrop", "compare", "--target",
                           "tfdrop:target", "--p", "0.5", "--size", "16384"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "PASS: target tfdrop:target" in done.stdout
