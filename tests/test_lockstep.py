"""Lockstep runs: every backend computes the numpy reference's training run.

Short runs (320 synthetic images, batches of 32, 20 steps: long enough to leave
the plateau of the N(0, 0.01) start) for both models and both updaters. In
float64 a backend equals the reference to ~1e-16 (checked at 1e-12: anything but
rounding would be far larger); in float32 to float32 rounding (measured: 3e-7 on
a batch loss for torch and tensorflow, 3e-6 for mxnet; checked at 3e-5).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from support import (
    SELECTED_BACKENDS,
    require_backend,
    require_backends,
    require_updater,
    small_data,
    synthetic,
)

from d2ldrop import build_mlp, to_numpy
from d2ldrop.backends.registry import BACKENDS
from d2ldrop.cli import main
from d2ldrop.data import Batches
from d2ldrop.lockstep import (
    REFERENCE,
    draw_masks,
    format_lockstep,
    mask_generator,
    run_lockstep,
)
from d2ldrop.models import normal_init
from d2ldrop.reference import ReferenceMLP, forward, loss_and_grads

KINDS = ("scratch", "concise")
UPDATERS = ("scratch", "framework")
#: Largest allowed |backend - numpy| of a batch's mean loss, and of a parameter.
LOSS_TOL = {"float32": 3e-5, "float64": 1e-12}
PARAM_TOL = {"float32": 1e-5, "float64": 1e-12}


def short_run(backends, kind, updater="scratch", dtype="float32", data=None, **kw):
    kw = {"num_epochs": 2, "batch_size": 32, "seed": 0, **kw}
    return run_lockstep(kind, list(backends), data or small_data(), updater=updater,
                        dtype=dtype, progress=False, **kw)


@pytest.fixture(params=list(itertools.combinations(SELECTED_BACKENDS, 2)),
                ids=lambda pair: "-".join(pair))
def pair(request: pytest.FixtureRequest) -> tuple[str, str]:
    """Two backends whose frameworks import (skipped like conftest's ``backend``)."""
    require_backends(list(request.param))
    return request.param


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture(params=UPDATERS)
def updater(request):
    return request.param


def assert_matches_reference(result, backend: str, dtype: str) -> None:
    ref, got = (np.asarray(result.step_losses[r]) for r in (REFERENCE, backend))
    assert len(got) == len(ref) == 20
    np.testing.assert_allclose(got, ref, rtol=0, atol=LOSS_TOL[dtype])
    assert result.final_param_diffs[f"{backend}-{REFERENCE}"] < PARAM_TOL[dtype]
    # The run left the plateau: the check compares a real trajectory.
    assert ref[-1] < ref[0] - 0.1


# -- the numpy reference -----------------------------------------------------------------


@pytest.mark.parametrize("dropout", [(0.0, 0.0), (0.2, 0.5), (1.0, 0.5)])
def test_reference_gradients_match_finite_differences(dropout):
    rng = np.random.default_rng(0)
    sizes = (12, 7, 5, 4)
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0, 0.5, (i, o)), rng.normal(0, 0.1, o)]
    x, y = rng.random((9, 12)), rng.integers(0, 4, 9)
    masks = draw_masks(rng, 9, (7, 5), dropout, "float64")
    _, _, grads = loss_and_grads(params, x, y, dropout=dropout, masks=masks)

    def mean_loss() -> float:
        return loss_and_grads(params, x, y, dropout=dropout, masks=masks)[0].mean()

    eps = 1e-6
    for p, g in zip(params, grads):
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = mean_loss()
            p[idx] = old - eps
            down = mean_loss()
            p[idx] = old
            assert abs((up - down) / (2 * eps) - g[idx]) < 1e-8


def test_reference_forward_is_the_chapters_model():
    rng = np.random.default_rng(1)
    params = normal_init((784, 256, 256, 10), 0.1, seed=3, dtype="float64")
    x = rng.random((8, 1, 28, 28))
    m1, m2 = draw_masks(rng, 8, (256, 256), (0.2, 0.5), "float64")
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.maximum(x.reshape(8, -1) @ W1 + b1, 0) * m1 / 0.8
    h2 = np.maximum(h1 @ W2 + b2, 0) * m2 / 0.5
    logits, cache = forward(params, x, dropout=(0.2, 0.5), masks=[m1, m2])
    np.testing.assert_allclose(logits, h2 @ W3 + b3, rtol=1e-12)
    np.testing.assert_allclose(cache.hidden[1], h2, rtol=1e-12)
    evaluation, _ = forward(params, x, dropout=(0.2, 0.5), masks=[m1, m2], training=False)
    h1 = np.maximum(x.reshape(8, -1) @ W1 + b1, 0)
    np.testing.assert_allclose(evaluation, np.maximum(h1 @ W2 + b2, 0) @ W3 + b3, rtol=1e-12)


def test_reference_step_is_plain_sgd():
    rng = np.random.default_rng(2)
    params = normal_init((784, 256, 256, 10), 0.05, seed=0, dtype="float64")
    x, y = rng.random((16, 784)), rng.integers(0, 10, 16)
    masks = draw_masks(rng, 16, (256, 256), (0.2, 0.5), "float64")
    losses, logits, grads = loss_and_grads(params, x, y, dropout=(0.2, 0.5), masks=masks)
    net = ReferenceMLP(params, (0.2, 0.5))
    loss_sum, correct = net.step(x, y, masks, 0.5)
    assert loss_sum == pytest.approx(losses.sum(), rel=1e-15)
    assert correct == int((logits.argmax(1) == y).sum())
    for new, old, g in zip(net.get_params(), params, grads):
        np.testing.assert_allclose(new, old - 0.5 * g, rtol=1e-15, atol=1e-18)
    with pytest.raises(ValueError, match="floating dtype"):
        ReferenceMLP(params, (0.2, 0.5), "int32")


# -- the masks ---------------------------------------------------------------------------


def test_masks_come_from_a_stream_of_the_seed():
    a = draw_masks(mask_generator(7), 300, (256, 128), (0.2, 0.5))
    b = draw_masks(mask_generator(7), 300, (256, 128), (0.2, 0.5))
    c = draw_masks(mask_generator(8), 300, (256, 128), (0.2, 0.5))
    assert [m.shape for m in a] == [(300, 256), (300, 128)]
    assert all(m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0} for m in a)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert abs(a[0].mean() - 0.8) < 0.01 and abs(a[1].mean() - 0.5) < 0.01
    # Not the stream that draws the initial parameters or the batch order.
    u = np.random.default_rng(7).random((300, 256), dtype=np.float32)
    assert not np.array_equal(a[0], (u > 0.2).astype(np.float32))


def test_mask_stream_does_not_depend_on_the_rates():
    a = draw_masks(mask_generator(0), 64, (256, 256), (0.0, 1.0))
    rng = mask_generator(0)
    draw_masks(rng, 64, (256, 256), (0.3, 0.3))
    after = draw_masks(rng, 64, (256, 256), (0.2, 0.5))
    rng = mask_generator(0)
    draw_masks(rng, 64, (256, 256), (0.9, 0.1))
    np.testing.assert_array_equal(draw_masks(rng, 64, (256, 256), (0.2, 0.5))[0], after[0])
    assert a[0].all() and not a[1].any()


# -- backends against the reference, and against each other ------------------------------


def test_float64_backend_equals_the_reference(backend, kind, updater):
    require_updater(backend, updater)
    result = short_run([backend], kind, updater, dtype="float64")
    assert_matches_reference(result, backend, "float64")
    assert result.config["dtype"] == "float64"
    ref, got = result.histories[REFERENCE].final, result.histories[backend].final
    assert (got.train_acc, got.test_acc) == (ref.train_acc, ref.test_acc)


def test_the_fast_path_computes_the_reference(backend, kind, updater):
    require_updater(backend, updater)
    """The step training uses, without masks (a tf.function, MXNet's cached graphs
    with the framework's Dropout or the scratch uniforms, torch's fused addmm),
    equals the numpy reference in float64. Dropout is off (p = 0: nothing is
    drawn, so the two see the same model); the batches of 48, 48 and 24 give
    the per-shape graphs a second shape."""
    x, y = synthetic(120, 3)
    net = build_mlp(kind, dropout1=0.0, dropout2=0.0, seed=0, backend=backend,
                    dtype="float64")
    reference = ReferenceMLP(net.get_params(), (0.0, 0.0))
    step = net.adapter.make_train_step(net.net, 0.5, updater)
    for X, Y in Batches(x, y, 48, shuffle=True, seed=0, backend=backend):
        xr, yr = to_numpy(X, backend=backend), to_numpy(Y, backend=backend)
        ones = [np.ones((len(yr), 256))] * 2
        loss, correct = step(X, Y)
        ref_loss, ref_correct = reference.step(xr.astype(np.float64), yr, ones, 0.5)
        assert loss == pytest.approx(ref_loss, rel=0, abs=LOSS_TOL["float64"] * len(yr))
        assert correct == ref_correct
    for got, want in zip(net.get_params(), reference.get_params()):
        np.testing.assert_allclose(got, want, rtol=0, atol=PARAM_TOL["float64"])


def test_pair_of_backends_runs_in_lockstep(pair, kind, updater):
    for name in pair:
        require_updater(name, updater)
    result = short_run(pair, kind, updater)
    for name in pair:
        assert_matches_reference(result, name, "float32")
    a, b = (np.asarray(result.step_losses[name]) for name in pair)
    np.testing.assert_allclose(a, b, rtol=0, atol=2 * LOSS_TOL["float32"])
    assert result.final_param_diffs["-".join(pair)] < 2 * PARAM_TOL["float32"]
    assert [d.epoch for d in result.diffs] == [1, 2]
    assert result.agrees and result.max_train_loss_diff < 1e-4
    ha, hb = (result.histories[name] for name in pair)
    assert [r.epoch for r in ha.epochs] == [r.epoch for r in hb.epochs] == [1, 2]


@pytest.mark.realdata
def test_lockstep_on_the_first_real_images(kind, real_data, selected_backends):
    """Every selected backend, 320 real images, compared with numpy and each other."""
    data = SimpleNamespace(
        train_images=real_data.train_images[:320], train_labels=real_data.train_labels[:320],
        test_images=real_data.test_images[:256], test_labels=real_data.test_labels[:256],
    )
    result = short_run(selected_backends, kind, data=data, num_epochs=2)
    for name in selected_backends:
        assert_matches_reference(result, name, "float32")
    assert result.agrees
    table = format_lockstep([result])
    assert table.count(f"{kind}  ") >= 2 + len(selected_backends) and "agree" in table


def test_dropout_matters_at_these_tolerances():
    """The masks change each batch loss by far more than the tolerances: agreeing with
    the reference means the backend applied them, not its own generator."""
    name = SELECTED_BACKENDS[0]
    require_backend(name)
    with_masks = short_run([name], "scratch", reference=False)
    without = short_run([name], "scratch", reference=False, dropout=(0.0, 0.0))
    a, b = (np.asarray(r.step_losses[name]) for r in (with_masks, without))
    # Small on the plateau of the start (logits near 0), 1000x the tolerance by step 20.
    assert np.abs(a - b).max() > 100 * LOSS_TOL["float32"]


def test_bad_arguments(backend):
    with pytest.raises(ValueError, match="kind"):
        run_lockstep("wide", [backend], small_data())
    with pytest.raises(ValueError, match="distinct backends"):
        run_lockstep("scratch", [backend, backend.upper()], small_data())
    # The one seed rule of every command and function (d2ldrop._validate.check_seed).
    for seed in (None, -1, 2**32, True):
        with pytest.raises(ValueError, match=r"Expected an integer seed in \[0, 2\*\*32\)"):
            run_lockstep("scratch", [backend], small_data(), seed=seed)


def test_plot_styles_follow_the_order_of_the_backends(tmp_path):
    """Curves are told apart by position, not by framework name: any backend list works."""
    from d2ldrop.history import EpochRecord, History
    from d2ldrop.lockstep import LockstepResult, plot_lockstep
    from d2ldrop.lockstep.plot import _style

    names = ["b1", "b2", "b3", "b4", "b5"]
    result = LockstepResult(kind="scratch", backends=names, config={})
    styles = [_style(result, n) for n in names]
    assert len(set(styles[:4])) == 4 and _style(result, REFERENCE) not in styles
    for run in [*names, REFERENCE]:
        result.histories[run] = History(run, "scratch", epochs=[
            EpochRecord(e, 1.0 / e, 0.5, 0.5, 1.0, 1.0) for e in (1, 2)])
        result.step_losses[run] = [1.0, 0.9, 0.8]
    assert plot_lockstep([result], tmp_path / "p.png").stat().st_size > 10_000


def test_lockstep_modules_name_no_framework():
    """Lockstep, the training loop and the reference reach frameworks only through
    their adapters: no framework's name appears in their source."""
    import d2ldrop.lockstep

    package = Path(d2ldrop.lockstep.__file__).parent
    others = [Path(d2ldrop.__file__).parent / f"{m}.py"
              for m in ("training", "history", "reference", "display/figure",
                        "display/progress")]
    for path in [*package.glob("*.py"), *others]:
        text = path.read_text(encoding="utf-8").lower()
        for word in ("torch", "tensorflow", "mxnet", "keras", "jax"):
            assert word not in text, f"{path.name} names {word}"


# -- the command line --------------------------------------------------------------------


def test_lockstep_needs_the_shared_initialization(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--lockstep", "--init", "framework", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "--lockstep" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["all", "one"])
def test_lockstep_cli_writes_table_figure_and_histories(spec, tmp_path, monkeypatch, capsys):
    """`--backend all` compares the three and numpy (in float64, the default under
    --lockstep); one backend (here in float32) is compared with numpy."""
    from d2ldrop.data import FashionMNIST

    if spec == "all" and len(SELECTED_BACKENDS) < len(BACKENDS):
        pytest.skip("--backend all needs every backend selected")
    backends = list(SELECTED_BACKENDS) if spec == "all" else SELECTED_BACKENDS[:1]
    require_backends(backends)
    data = small_data()
    monkeypatch.setattr(
        "d2ldrop.data.load_fashion_mnist_arrays",
        lambda **kw: FashionMNIST(data.train_images, data.train_labels, data.test_images,
                                  data.test_labels),
    )
    dtype = "float64" if spec == "all" else "float32"
    code = main(["train", "--lockstep", "--backend", "all" if spec == "all" else backends[0],
                 "--model", "all", "--epochs", "2", "--batch-size", "32", "--seed", "0",
                 "--out", str(tmp_path), "--quiet", *(["--dtype", dtype] if spec == "one" else [])])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "vs numpy" in out and f"scratch ({dtype}), " in out and f"concise ({dtype}), " in out
    assert (tmp_path / "lockstep.txt").read_text().strip() in out
    assert (tmp_path / "lockstep.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "lockstep.json").read_text())
    assert [r["kind"] for r in saved] == ["scratch", "concise"]
    assert all(r["agrees"] and len(r["diffs"]) == 2 for r in saved)
    for name in [*backends, REFERENCE]:
        for kind in KINDS:
            h = json.loads((tmp_path / f"lockstep-{name}-{kind}.json").read_text())
            assert len(h["epochs"]) == 2 and h["config"]["lockstep"] is True
            assert h["config"]["dtype"] == dtype
    if spec == "one":
        assert saved[0]["diffs"][0]["train_loss"] is None  # no pair: numpy only
        assert saved[0]["diffs"][0]["ref_train_loss"] < 1e-4
