"""train_ch3 and `d2ldrop train` on every backend (small synthetic data; one real epoch)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from support import require_updater, synthetic

from d2ldrop.cli import main
from d2ldrop.data import Batches
from d2ldrop.history import EpochRecord
from d2ldrop.models import build_mlp
from d2ldrop.training import (
    SGD,
    CrossEntropyLoss,
    History,
    Run,
    TrainingDiverged,
    evaluate_accuracy,
    framework_sgd,
    sgd,
    train_ch3,
    train_epochs,
)

KINDS = ("scratch", "concise")


def iters(backend, n_train=1024, n_test=512, batch_size=128, seed=0):
    x, y = synthetic(n_train, seed=1)
    xt, yt = synthetic(n_test, seed=2)
    return (
        Batches(x, y, batch_size, shuffle=True, seed=seed, backend=backend),
        Batches(xt, yt, batch_size, shuffle=False, backend=backend),
    )


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.mark.parametrize("updater", [sgd(0.5), framework_sgd(0.5)], ids=["sgd", "framework"])
def test_train_ch3_learns(backend, kind, updater):
    require_updater(backend, updater.impl)
    net = build_mlp(kind, seed=0, backend=backend)
    train_iter, test_iter = iters(backend)
    # Six epochs: the loss stays near log(10) for two, falls through the third
    # and fourth (where accuracy still depends on the draws), converges after.
    history = train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), 6, updater,
                        progress=False)
    assert [r.epoch for r in history.epochs] == [1, 2, 3, 4, 5, 6]
    first, last = history.epochs[0], history.epochs[-1]
    assert last.train_loss < first.train_loss
    assert last.test_acc > 0.9  # chance is 0.1; the classes are separable
    assert last.train_seconds > 0 and last.eval_seconds > 0
    assert evaluate_accuracy(net, test_iter) == pytest.approx(last.test_acc)
    assert not history.interrupted and history.error is None


def test_same_seed_same_history(backend, kind):
    def run():
        net = build_mlp(kind, seed=7, backend=backend)
        train_iter, test_iter = iters(backend, seed=7)
        h = train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), 2, sgd(0.5),
                      progress=False)
        return [(r.train_loss, r.train_acc, r.test_acc) for r in h.epochs], net.get_params()

    (a, pa), (b, pb) = run(), run()
    assert a == b
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x, y)


def test_divergence_names_epoch_and_batch(backend):
    net = build_mlp("scratch", seed=0, backend=backend)
    train_iter, test_iter = iters(backend)
    saved = []
    with pytest.raises(TrainingDiverged) as info:
        train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), 5, sgd(1e8),
                  progress=False, on_epoch=lambda h: saved.append(len(h.epochs)))
    err = info.value
    assert f"epoch {err.epoch}, batch {err.batch}" in str(err)
    assert len(err.history.epochs) == err.epoch - 1 == len(saved)
    assert err.history.error == str(err)


def test_ctrl_c_keeps_finished_epochs(backend):
    net = build_mlp("scratch", seed=0, backend=backend)
    train_iter, test_iter = iters(backend)

    class Interrupting:
        """Raises KeyboardInterrupt in the middle of the second epoch."""

        def __init__(self):
            self.epoch = 0

        def __len__(self):
            return len(train_iter)

        def __iter__(self):
            self.epoch += 1
            for i, batch in enumerate(train_iter):
                if self.epoch == 2 and i == 3:
                    raise KeyboardInterrupt
                yield batch

    history = train_ch3(net, Interrupting(), test_iter, CrossEntropyLoss(), 5, sgd(0.5),
                        progress=False)
    assert history.interrupted and len(history.epochs) == 1


def test_history_round_trip(tmp_path, backend):
    require_updater(backend, "framework")
    net = build_mlp("concise", seed=0, backend=backend)
    train_iter, test_iter = iters(backend, n_train=256, n_test=128)
    h = train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), 2, framework_sgd(0.1),
                  progress=False)
    json_path, csv_path = h.save(tmp_path)
    assert History.from_dict(json.loads(json_path.read_text())) == h
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("backend,model,epoch,train_loss")
    assert len(lines) == 3
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_history_json_is_strict_and_reads_back_nan(tmp_path):
    """NaN (the test accuracy of an empty test set) is written as null and read as NaN."""
    h = History("b", "scratch", epochs=[EpochRecord(1, 0.5, 0.8, float("nan"), 1.0, 0.5)])
    json_path, _ = h.save(tmp_path)
    text = json_path.read_text()
    assert "NaN" not in text and '"test_acc": null' in text
    (r,) = History.from_dict(json.loads(text)).epochs
    assert np.isnan(r.test_acc) and (r.epoch, r.train_loss) == (1, 0.5)


def test_d2ldrop_exports_the_training_names():
    import d2ldrop
    import d2ldrop.history
    import d2ldrop.training

    assert d2ldrop.History is d2ldrop.training.History is d2ldrop.history.History
    assert d2ldrop.training.EpochRecord is EpochRecord
    for name in ("SGD", "sgd", "framework_sgd", "CrossEntropyLoss", "TrainingDiverged",
                 "train_ch3", "evaluate_accuracy"):
        assert getattr(d2ldrop, name) is getattr(d2ldrop.training, name)


class FakeBatches:
    """Four batches of labels (sizes 3, 3, 3, 1): what train_epochs counts examples by.

    Each takes ``delay`` seconds to draw (time that no run's step spends).
    """

    def __init__(self, delay=0.0):
        self.delay = delay

    def __len__(self):
        return 4

    def __iter__(self):
        for n in (3, 3, 3, 1):
            time.sleep(self.delay)
            yield None, np.zeros(n)


def fake_run(name, loss_per_example, correct_per_batch=1, test_acc=0.5, diverge_at=None):
    calls = []

    def step(X, y):
        calls.append(len(y))
        if diverge_at is not None and len(calls) == diverge_at:
            return float("nan"), 0
        return loss_per_example * len(y), correct_per_batch

    return Run(History(name, "scratch"), step, lambda: test_acc), calls


def test_train_epochs_accounts_for_each_run():
    """Several runs on the same batches (lockstep): each gets its own sums and records."""
    (a, calls_a), (b, calls_b) = fake_run("a", 2.0, 1, 0.25), fake_run("b", 0.5, 3, 0.75)
    ends = []
    interrupted = train_epochs([a, b], FakeBatches(), 2, label="test", progress=False,
                               on_epoch=lambda: ends.append(len(a.history.epochs)))
    assert not interrupted and ends == [1, 2]
    assert calls_a == calls_b == [3, 3, 3, 1] * 2
    for run, loss, acc, test in ((a, 2.0, 4 / 10, 0.25), (b, 0.5, 12 / 10, 0.75)):
        assert [r.epoch for r in run.history.epochs] == [1, 2]
        r = run.history.epochs[-1]
        assert (r.train_loss, r.train_acc, r.test_acc) == (pytest.approx(loss), acc, test)
        assert r.train_seconds > 0 and r.eval_seconds >= 0
        assert not run.history.interrupted


def test_train_epochs_shares_out_the_time_between_steps():
    """The time no step spends (here drawing batches: 4 x 20 ms) is split between the
    runs, so that their seconds add up to the epoch's wall time."""
    (a, _), (b, _) = fake_run("a", 1.0), fake_run("b", 1.0)
    start = time.perf_counter()
    train_epochs([a, b], FakeBatches(delay=0.02), 1, label="test", progress=False)
    wall = time.perf_counter() - start
    ra, rb = a.history.epochs[0], b.history.epochs[0]
    assert 0.04 <= ra.train_seconds and 0.04 <= rb.train_seconds
    assert ra.train_seconds + rb.train_seconds <= wall
    with pytest.raises(ValueError, match="one or more runs"):
        train_epochs([], FakeBatches(), 1, label="test", progress=False)


def test_train_epochs_divergence_and_interruption():
    (a, _), (b, _) = fake_run("a", 1.0), fake_run("b", 1.0, diverge_at=6)
    with pytest.raises(TrainingDiverged, match="epoch 2, batch 2") as info:
        train_epochs([a, b], FakeBatches(), 3, label="test", progress=False)
    assert info.value.history is b.history and b.history.error == str(info.value)
    assert a.history.error is None and len(a.history.epochs) == len(b.history.epochs) == 1

    def interrupt():
        raise KeyboardInterrupt

    (a, _), (b, _) = fake_run("a", 1.0), fake_run("b", 1.0)
    assert train_epochs([a, b], FakeBatches(), 3, label="test", progress=False,
                        on_epoch=interrupt)
    assert a.history.interrupted and b.history.interrupted


@pytest.mark.parametrize("bad", [dict(lr=0), dict(lr=float("nan")), dict(impl="adam")])
def test_bad_updater(bad):
    with pytest.raises(ValueError, match="Received"):
        SGD(**{"lr": 0.5, **bad})


def test_negative_epochs(backend):
    net = build_mlp("scratch", seed=0, backend=backend)
    train_iter, test_iter = iters(backend, n_train=128, n_test=128)
    with pytest.raises(ValueError, match="non-negative number of epochs"):
        train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), -1, sgd())


# -- the command line --------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dropout1", "1.5"], "--dropout1: expected a float between 0 and 1"),
        (["--dropout2", "nan"], "--dropout2: expected a float between 0 and 1"),
        (["--epochs", "-1"], "--epochs: expected a non-negative integer"),
        (["--lr", "0"], "--lr: expected a positive number"),
        (["--batch-size", "0"], "--batch-size: expected a positive integer"),
        (["--backend", "theano"], "Unknown backend 'theano'"),
    ],
)
def test_train_bad_arguments_exit_2(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", str(tmp_path), *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_train_unwritable_output_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", str(blocker / "out")])
    assert info.value.code == 2
    assert "--out: cannot write to" in capsys.readouterr().err


@pytest.mark.realdata
def test_train_one_real_epoch_every_model(backend, tmp_path, real_data, capsys):
    """One full epoch on real Fashion-MNIST per backend and model, through the CLI."""
    code = main(["train", "--backend", backend, "--model", "all", "--epochs", "1",
                 "--seed", "0", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"{backend}" in out and "test acc" in out
    for kind in KINDS:
        h = History.from_dict(json.loads((tmp_path / f"history-{backend}-{kind}.json")
                                         .read_text()))
        (r,) = h.epochs
        # After one epoch the book's runs are at loss ~1.2, test accuracy ~0.75.
        assert r.train_loss < 1.5 and r.test_acc > 0.65
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {(s["backend"], s["model"]) for s in summary} == {(backend, k) for k in KINDS}


def test_diverging_cli_run_leaves_valid_files(backend, tmp_path, monkeypatch, capsys):
    import d2ldrop.commands.train as train_cmd
    from d2ldrop.data import FashionMNIST

    x, y = synthetic(512)
    xt, yt = synthetic(256, seed=3)
    monkeypatch.setattr("d2ldrop.data.load_fashion_mnist_arrays",
                        lambda **kw: FashionMNIST(x, y, xt, yt))
    assert train_cmd  # the command imports the loader lazily, after the patch
    code = main(["train", "--backend", backend, "--epochs", "3", "--lr", "1e8",
                 "--out", str(tmp_path), "--quiet", "--batch-size", "64"])
    assert code == 1
    assert "training diverged at epoch 1, batch" in capsys.readouterr().err
    h = History.from_dict(json.loads(Path(tmp_path / f"history-{backend}-scratch.json")
                                     .read_text()))
    assert h.error and h.epochs == []


@pytest.mark.parametrize("impl", ["scratch", "framework"])
def test_weight_decay_is_the_same_update_on_every_backend(backend, kind, impl):
    """One step with weight decay equals the step without it minus lr * wd * p."""
    require_updater(backend, impl)
    x, y = synthetic(64)
    results = []
    for wd in (0.0, 0.1):
        net = build_mlp(kind, seed=0, backend=backend)
        before = net.get_params()
        batches = Batches(x, y, 64, shuffle=False, backend=backend)
        step = net.adapter.make_train_step(net.net, 0.5, impl, wd)
        masks = [net.adapter.from_numpy(np.ones((64, 256), np.float32))] * 2
        for X, Y in batches:
            step(X, Y, masks)  # fixed masks: both runs see the same gradient
        results.append((before, net.get_params()))
    (p0, plain), (_, decayed) = results
    for b, a, d in zip(p0, plain, decayed):
        np.testing.assert_allclose(d, a - 0.5 * 0.1 * b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("noise", ["dropconnect", "gaussian-mult", "gaussian-add"])
def test_other_noises_train_and_vanish_in_evaluation(backend, noise):
    net = build_mlp("scratch", noise=noise, seed=0, backend=backend)
    train_iter, test_iter = iters(backend)
    x = next(iter(test_iter))[0]
    a, b = (net.adapter.to_numpy(net(x, training=True)) for _ in range(2))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(net.adapter.to_numpy(net(x, training=False)),
                                  net.adapter.to_numpy(net(x, training=False)))
    # lr 0.3: with multiplicative noise of variance p/(1-p) = 1 (p2 = 0.5), lr 0.5
    # is a knife edge on this tiny data set (a TF run diverged once under load).
    h = train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), 4, sgd(0.3), progress=False)
    assert h.epochs[-1].train_loss < h.epochs[0].train_loss
    # Better than chance: guessing gets Binomial(512, 0.1) right, 0.1 + 5 sd < 0.17.
    assert h.final.test_acc > 0.2 and h.config["noise"] == noise


def test_noise_needs_the_scratch_model():
    with pytest.raises(ValueError, match="needs the scratch model"):
        build_mlp("concise", noise="gaussian-add", backend="torch")


# -- bfloat16: pure bfloat16 models where the framework can, a refusal where it cannot ------


def _bf16_limit(backend):
    """The framework's reason it cannot train in bfloat16 here, or None."""
    from d2ldrop.backends import get_adapter

    try:
        get_adapter(backend).check_model_dtype("bfloat16")
    except TypeError as err:
        return str(err)
    return None


def test_bfloat16_training_stays_bfloat16_and_learns(backend, kind):
    if _bf16_limit(backend) is not None:
        pytest.skip(f"{backend} cannot train in bfloat16 (test_bfloat16_refusal)")
    from d2ldrop.training import default_updater

    net = build_mlp(kind, seed=0, backend=backend, dtype="bfloat16")
    train_iter, test_iter = iters(backend, n_train=2048)
    history = train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), 2,
                        SGD(0.5, default_updater(kind, [backend])), progress=False)
    first, last = history.epochs
    # A batch's mean loss is a bfloat16 (spacing 2^-6 near log 10): a fall of 4 spacings.
    assert last.train_loss < first.train_loss - 4 * 2**-6, (first, last)
    adapter = net.adapter
    assert [p.dtype.name for p in adapter.get_mlp_params(net.net)] == ["bfloat16"] * 6
    x, _ = next(iter(test_iter))
    logits, hidden = adapter.mlp_forward(net.net, x, training=True)
    assert [adapter.dtype_name(t) for t in (logits, *hidden)] == ["bfloat16"] * 3


def test_bfloat16_refusal_names_the_framework_limit(backend, tmp_path, monkeypatch, capsys):
    limit = _bf16_limit(backend)
    if limit is None:
        pytest.skip(f"{backend} trains in bfloat16")
    with pytest.raises(TypeError, match="bfloat16") as err:
        build_mlp("scratch", seed=0, backend=backend, dtype="bfloat16")
    assert str(err.value) == limit
    assert {"mxnet": "MXNet", "paddle": "Paddle"}.get(backend, "") in limit

    def no_data(**kw):
        raise AssertionError("the refusal must come before the data is read")

    monkeypatch.setattr("d2ldrop.data.load_fashion_mnist_arrays", no_data)
    code = main(["train", "-b", backend, "--dtype", "bfloat16", "--out", str(tmp_path)])
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err_lines == [f"d2ldrop train: error: {limit}"]


def test_train_cli_bfloat16_records_the_dtype(backend, tmp_path, monkeypatch, capsys):
    if _bf16_limit(backend) is not None:
        pytest.skip(f"{backend} cannot train in bfloat16")
    from d2ldrop.data import FashionMNIST

    x, y = synthetic(512)
    xt, yt = synthetic(256, seed=3)
    monkeypatch.setattr("d2ldrop.data.load_fashion_mnist_arrays",
                        lambda **kw: FashionMNIST(x, y, xt, yt))
    code = main(["train", "-b", backend, "--dtype", "bfloat16", "--epochs", "1", "--seed", "0",
                 "--quiet", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    (row,) = json.loads((tmp_path / "summary.json").read_text())
    assert row["dtype"] == "bfloat16" and row["epochs"] == 1
    h = json.loads((tmp_path / f"history-{backend}-scratch.json").read_text())
    assert h["config"]["dtype"] == "bfloat16"


def test_lockstep_refuses_bfloat16(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--lockstep", "--dtype", "bfloat16", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "--lockstep compares the backends and numpy in float32 or float64" in (
        capsys.readouterr().err)
