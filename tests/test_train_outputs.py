"""What `d2ldrop train` and train_ch3 do with their outputs and odd inputs (issue 17:
defects 3, 5, 6 and parts of 8). Small synthetic data, patched in for the real set."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import support
from support import synthetic

import d2ldrop
from d2ldrop import _outdir
from d2ldrop.cli import main
from d2ldrop.data import Batches


@pytest.fixture
def small_data(monkeypatch):
    data = support.small_data(256, 128, seeds=(0, 3))
    monkeypatch.setattr("d2ldrop.data.load_fashion_mnist_arrays", lambda **kw: data)


def train(backend: str, out, *extra: str) -> int:
    return main(["train", "--backend", backend, "--epochs", "1", "--batch-size", "64",
                 "--seed", "0", "--quiet", "--out", str(out), *extra])


def test_a_finished_run_is_not_replaced_without_overwrite(backend, small_data, tmp_path,
                                                          capsys):
    assert train(backend, tmp_path) == 0
    summary = (tmp_path / "summary.json").read_text()
    assert train(backend, tmp_path, "--lr", "0.1") == 2
    err = capsys.readouterr().err
    assert "already holds results" in err and "--overwrite" in err
    assert (tmp_path / "summary.json").read_text() == summary
    assert train(backend, tmp_path, "--lr", "0.1", "--overwrite") == 0
    assert json.loads((tmp_path / "summary.json").read_text())[0]["epochs"] == 1
    assert not (tmp_path / _outdir.LOCK).exists()


def test_overwrite_removes_the_old_results_first(backend, small_data, tmp_path, monkeypatch):
    """An interrupted re-run must not leave a new partial history beside the old
    summary: --overwrite removes the old files before training."""
    assert train(backend, tmp_path, "--model", "all") == 0
    import d2ldrop.training as training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_epochs", interrupted)
    train(backend, tmp_path, "--overwrite")
    assert not (tmp_path / "summary.json").exists() or json.loads(
        (tmp_path / "summary.json").read_text())[0]["epochs"] == 0
    assert not (tmp_path / f"history-{backend}-concise.json").exists()


def test_a_directory_in_use_is_refused(tmp_path):
    """A second process writing into the same --out is refused while the first lives."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from d2ldrop import _outdir\n"
         f"with _outdir.claim({str(tmp_path)!r}, ['x']):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(d2ldrop.UsageError, match=f"process {holder.pid}"):
            with _outdir.claim(tmp_path, ["x"]):
                pass
    finally:
        holder.kill()
        holder.wait()
    with _outdir.claim(tmp_path, ["x"]):  # a lock left by a dead process is taken over
        assert (tmp_path / _outdir.LOCK).read_text().split()[0] == str(os.getpid())


def test_a_full_disk_is_a_message_and_the_summary_comes_first(backend, small_data, tmp_path,
                                                             monkeypatch, capsys):
    import d2ldrop.history as plotting

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "curves.png"))

    monkeypatch.setattr(plotting, "plot_histories", no_space)
    assert train(backend, tmp_path) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "No space left on device" in err
    assert "Traceback" not in err
    assert json.loads((tmp_path / "summary.json").read_text())[0]["epochs"] == 1


def test_a_diverged_run_has_its_error_in_the_summary(backend, small_data, tmp_path):
    assert train(backend, tmp_path, "--lr", "1e8") == 1
    (row,) = json.loads((tmp_path / "summary.json").read_text())
    assert row["epochs"] == 0 and "training diverged at epoch 1" in row["error"]


def test_sgd_takes_numpy_numbers():
    u = d2ldrop.sgd(np.float32(0.5))
    assert u.lr == 0.5 and type(u.lr) is float
    assert d2ldrop.SGD(np.float64(0.1), weight_decay=np.float32(0.0)).lr == 0.1
    for bad in (True, 0, -1.0, float("nan"), "0.5"):
        with pytest.raises(ValueError, match="Expected a positive learning rate"):
            d2ldrop.sgd(bad)


def test_mixed_backends_are_refused_with_a_message(selected_backends):
    if len(selected_backends) < 2:
        pytest.skip("needs two selected backends")
    a, b = selected_backends[:2]
    x, y = synthetic(64)
    net = d2ldrop.build_mlp("scratch", seed=0, backend=a)
    data = Batches(x, y, 32, shuffle=False, backend=b)
    with pytest.raises(ValueError, match=f"train_iter gives {b} tensors but the model is on {a}"):
        d2ldrop.train_ch3(net, data, data, d2ldrop.CrossEntropyLoss(), 1, d2ldrop.sgd(0.5))
