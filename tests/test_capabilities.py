"""The suite's capabilities beyond elementwise float16/32/64 upscale dropout:
bfloat16 (and the low-precision specification), structured dropout
(``broadcast_axes``) and the downscale convention, on the API, the command line
and in the pytest plugin; each shown to pass a correct target and to fail a
broken one on the check that names its bug (tests/targets/bf16.py,
structured.py, downscale.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from support import SELECTED_BACKENDS, python, require_backend

import d2ldrop
import d2ldrop.conformance as C
from d2ldrop._dtypes import np_dtype, unit_roundoff
from d2ldrop.backends.quirks import quirks_of
from d2ldrop.cli import main
from d2ldrop.conformance.calls import eval_tolerance
from d2ldrop.conformance.edges import P0_LARGE, run_case
from d2ldrop.conformance.impls import impl_target
from d2ldrop.conformance.layout import SHARED, layout
from d2ldrop.errors import UsageError

pytest_plugins = ["pytester"]

BF16 = np_dtype("bfloat16")
SEED = 0


def _bf16_backends() -> list[str]:
    return [b for b in SELECTED_BACKENDS if b != "mxnet"]


# -- bfloat16 ---------------------------------------------------------------------------


def test_the_low_precision_tolerance_is_two_roundings() -> None:
    for dtype, u in (("float16", 2.0**-11), ("bfloat16", 2.0**-8)):
        assert unit_roundoff(dtype) == u
        assert C.rtol_of(dtype) == 2 * u + u * u == eval_tolerance(dtype)
    assert C.rtol_of("float32") == 4 * 2.0**-23  # unchanged: 4 ulps


@pytest.mark.parametrize("backend", SELECTED_BACKENDS)
def test_dropout_layer_in_bfloat16(backend: str) -> None:
    require_backend(backend)
    x = np.linspace(0.5, 1.5, 4096).astype(BF16).reshape(64, 64)
    if backend == "mxnet":
        with pytest.raises(TypeError, match="MXNet 1.9.1 has no bfloat16"):
            d2ldrop.from_numpy(x, backend=backend)
        with pytest.raises(TypeError, match="no bfloat16"):
            C.dropout_stats(backend, "scratch", 0.5, size=4096, dtype="bfloat16")
        return
    t = d2ldrop.from_numpy(x, backend=backend)
    back = d2ldrop.to_numpy(t, backend=backend)
    assert back.dtype == BF16 and back.tobytes() == x.tobytes()  # bit-exact round trip
    d2ldrop.seed(SEED, backend=backend)
    y = d2ldrop.to_numpy(d2ldrop.dropout_layer(t, 0.3, backend=backend), backend=backend)
    assert y.dtype == BF16
    # Computed in float32, rounded once: the same bits on every backend.
    want = (x.astype(np.float32) / np.float32(0.7)).astype(BF16)
    kept = y != 0
    assert 0 < kept.mean() < 1 and np.array_equal(y[kept], want[kept])


@pytest.mark.parametrize("backend", _bf16_backends())
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_the_chapters_dropout_conforms_in_low_precision(backend: str, dtype: str) -> None:
    # The p values where low precision shows: 0.001 and 0.01 (and 0.3).
    require_backend(backend)
    for p in (0.001, 0.01, 0.3):
        r = C.dropout_stats(backend, "scratch", p, size=2**18, seed=SEED, dtype=dtype)
        assert r.passed, {n: r.checks[n].detail for n in r.failures}


def test_tensorflow_bfloat16_drops_at_its_documented_rate() -> None:
    # tf.nn.dropout draws bfloat16 uniforms on k/128: it drops ceil(128 p)/128.
    if "tensorflow" not in SELECTED_BACKENDS:
        pytest.skip("tensorflow is not among the selected backends")
    require_backend("tensorflow")
    drop_probability = quirks_of("tensorflow").builtin_drop_probability
    documented = quirks_of("tensorflow").stat_differences["bfloat16"]
    for p, q in ((0.001, 1 / 128), (0.3, 39 / 128)):
        assert drop_probability(p, "bfloat16") == q
        r = C.dropout_stats("tensorflow", "builtin", p, size=2**18, seed=SEED, dtype="bfloat16")
        assert "fraction" in r.failures and set(r.failures) <= set(documented)
        lo, hi = C.binomial_interval(r.n, q)
        assert lo <= round(r.checks["fraction"].value * r.n) <= hi


def test_stats_bfloat16_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    if not _bf16_backends():
        pytest.skip("no selected backend has bfloat16")
    backend = _bf16_backends()[0]
    require_backend(backend)
    rc = main(["stats", "-b", backend, "--impl", "scratch", "--dtype", "bfloat16",
               "--p", "0.001", "0.3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "bfloat16" in out and out.count("PASS") == 2


def test_stats_bfloat16_in_a_fresh_process() -> None:
    """As a user types it: a new interpreter, where nothing has imported ml_dtypes
    yet (numpy alone does not know the name 'bfloat16')."""
    if not _bf16_backends():
        pytest.skip("no selected backend has bfloat16")
    backend = _bf16_backends()[0]
    require_backend(backend)
    done = python("-m", "d2ldrop", "stats", "-b", backend, "--impl", "scratch", "--dtype",
                  "bfloat16", "--p", "0.3", "--size", "16384")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bfloat16" in done.stdout and "PASS" in done.stdout


@pytest.mark.parametrize("backend", SELECTED_BACKENDS)
def test_p0_is_the_identity_on_2_20_elements_in_every_dtype(backend: str) -> None:
    # A dropout keeping where u > p drops where u == 0: with coarse uniforms
    # (bfloat16: 2^-7 apart) that is thousands of elements of 2^20.
    require_backend(backend)
    for impl in C.IMPLS:
        target = impl_target(backend, impl)
        for case in P0_LARGE:
            assert case.size >= 2**20
            if case.dtype not in target.dtypes:
                continue
            e = run_case(target, case, impl=impl, expected="identity",
                         accepts=lambda kind, label: label == "identity")
            assert e.as_expected, (impl, case.id, e.label, e.message)


BF16_PS = dict(dtype="bfloat16", ps=[0.001, 0.01, 0.3], size=2**18)


@pytest.mark.parametrize("ref, failing", [
    ("targets.bf16:correct", set()),
    ("targets.bf16:quantized", {"fraction[p=0.001]", "fraction[p=0.01]"}),
    ("targets.bf16:truncated", {"values[p=0.3]"}),
])
def test_bfloat16_targets(ref: str, failing: set[str]) -> None:
    suite = C.conformance_suite(ref, **BF16_PS)
    failed = {item.id for item, v in suite.verdicts(("check",)) if v.status == "failed"}
    assert failing <= failed and (failed == set()) == (failing == set()), failed


def test_a_target_must_declare_bfloat16() -> None:
    with pytest.raises(UsageError, match="declares dtypes float16, float32, float64, not bfloat16"):
        C.conformance_suite("targets.correct:dropout", dtype="bfloat16", size=4096)


def test_the_rounding_allowance_does_not_hide_a_wrong_scale() -> None:
    # A bfloat16 dropout whose scale is 1.2% too large (beyond the two roundings
    # a kept value may take, 0.79%) fails values and mean at p = 0.01; the same
    # draw correctly rounded passes both.
    rng = np.random.default_rng(SEED)
    p, n = 0.01, 2**18
    x = rng.uniform(0.5, 1.5, n).astype(BF16)
    keep = rng.random(n) >= p
    good = np.where(keep, x.astype(np.float32) / np.float32(1 - p), 0).astype(BF16)
    bad = np.where(keep, x.astype(np.float32) * np.float32(1.012 / (1 - p)), 0).astype(BF16)
    assert C.mean_check(x, good, p).passed and C.values_check([(x, good)], p).passed
    assert not C.mean_check(x, bad, p).passed and not C.values_check([(x, bad)], p).passed


def test_p0_dropping_where_u_is_zero_fails_in_bfloat16() -> None:
    # keep = u > p with uniforms on k/128 drops 1/128 of the elements at p = 0.
    def coarse(x, p, *, training=True):
        if not 0 <= p <= 1:
            raise ValueError(p)
        if not training or p == 1:
            return x if not training else np.zeros_like(x)
        u = np.floor(np.random.random_sample(x.shape) * 128) / 128
        return np.where(u > p, x.astype(np.float64) / (1 - p), 0).astype(x.dtype)

    t = C.Target(coarse, dtypes=("bfloat16", "float32"))
    case = next(c for c in P0_LARGE if c.dtype == "bfloat16")
    out = C.spec.run_target_edge_case(t, case)
    assert not out.as_expected and out.label == "0 or x", out.label


def test_compare_in_bfloat16_gates_the_chapter_and_shows_the_builtins() -> None:
    if "tensorflow" not in SELECTED_BACKENDS:
        pytest.skip("tensorflow is not among the selected backends")
    require_backend("tensorflow")
    r = C.compare(["tensorflow"], C.IMPLS, [0.001], size=2**18, dtype="bfloat16")
    builtin = next(s for s in r.stats if s.impl == "builtin")
    assert "fraction" in builtin.failures  # shown, documented, not gated
    assert r.passed, r.failures


# -- structured dropout -------------------------------------------------------------------


def test_the_layout_of_a_structured_target() -> None:
    lay = layout(4096, 3, (2,))
    assert lay.shape == (64, 64, SHARED) and lay.n == 4096 and lay.group == SHARED
    lay = layout(4096, 4, (1, 3))
    assert lay.shape == (64, SHARED, 64, SHARED) and lay.n == 4096
    a = np.arange(np.prod(lay.shape)).reshape(lay.shape)
    view = lay.unit_view(a)
    assert view.shape == (4096, SHARED * SHARED)
    assert set(view[0]) == {int(a[0, i, 0, j]) for i in range(SHARED) for j in range(SHARED)}


@pytest.mark.parametrize("backend", SELECTED_BACKENDS)
def test_dropout_layer_shares_the_mask_along_broadcast_axes(backend: str) -> None:
    require_backend(backend)
    x = d2ldrop.from_numpy(np.ones((128, 16, 5), np.float32), backend=backend)
    d2ldrop.seed(SEED, backend=backend)
    for axes, shared in ((2, (2,)), ((0, -1), (0, 2)), (None, ())):
        y = d2ldrop.to_numpy(d2ldrop.dropout_layer(x, 0.5, broadcast_axes=axes,
                                                   backend=backend), backend=backend)
        assert set(np.unique(y)) == {0.0, 2.0}
        for a in shared:
            assert np.array_equal(y, np.repeat(y.take([0], axis=a), y.shape[a], axis=a))
        if not shared:
            assert not np.array_equal(y[:, :, 0], y[:, :, 1])
    with pytest.raises(ValueError, match="out of range"):
        d2ldrop.dropout_layer(x, 0.5, broadcast_axes=3, backend=backend)
    with pytest.raises(ValueError, match="twice"):
        d2ldrop.dropout_layer(x, 0.5, broadcast_axes=(2, -1), backend=backend)
    with pytest.raises(TypeError):
        d2ldrop.dropout_layer(x, 0.5, broadcast_axes="2", backend=backend)


@pytest.mark.parametrize("backend", SELECTED_BACKENDS)
def test_the_chapters_structured_dropout_conforms(backend: str) -> None:
    require_backend(backend)

    def channels(x, p, *, training=True):
        return d2ldrop.dropout_layer(x, p, broadcast_axes=2, backend=backend) if training else x

    def wrong(x, p, *, training=True):  # shares along the channels instead
        return d2ldrop.dropout_layer(x, p, broadcast_axes=1, backend=backend) if training else x

    good = C.Target(channels, backend=backend, broadcast_axes=(2,), ndim=3)
    suite = C.ConformanceSuite(good, ps=[0.5], size=2**14)
    assert suite.failures() == []
    s = suite.stats(0.5)
    assert s.checks["structure"].passed and s.n == 2**14 and s.shape == (128, 128, SHARED)
    bad = C.ConformanceSuite(C.Target(wrong, backend=backend, broadcast_axes=(2,), ndim=3),
                             ps=[0.5], size=2**14)
    assert "structure" in bad.stats(0.5).failures


@pytest.mark.parametrize("ref, failing", [
    ("targets.structured:correct", set()),
    ("targets.structured:wrong_axis", {"structure[p=0.5]", "rows[p=0.5]",
                                       "layer_train[p=0.5]"}),
    ("targets.structured:elementwise", {"structure[p=0.5]"}),
])
def test_structured_targets(ref: str, failing: set[str]) -> None:
    suite = C.conformance_suite(ref, ps=[0.5], size=2**14)
    failed = {item.id for item, v in suite.verdicts() if v.status == "failed"}
    assert failing <= failed and (failed == set()) == (failing == set()), failed
    if ref.endswith("elementwise"):  # its units are still Bernoulli(p): only structure fails
        assert failed == failing


def test_the_frameworks_structured_dropouts_side_by_side(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    rc = main(["compare", "--structured", "-b", backend, "--p", "0.5", "--size", "16384"])
    out = capsys.readouterr().out
    assert rc == 0, out
    names = list(quirks_of(backend).structured)
    assert names and all(f"{backend} {n}" in out for n in names)
    assert "Their own axis conventions" in out


# -- the downscale convention ---------------------------------------------------------------


@pytest.mark.parametrize("ref, failing", [
    ("targets.downscale:correct", set()),
    ("targets.downscale:upscale_labelled_downscale",
     {"values[p=0.5]", "eval_call[p=0.5]", "layer_eval[p=0.5]", "layer_train[p=0.5]"}),
    ("targets.downscale:downscale_unlabelled",
     {"values[p=0.5]", "mean[p=0.5]", "eval_call[p=0.5]"}),
])
def test_downscale_targets(ref: str, failing: set[str]) -> None:
    suite = C.conformance_suite(ref, ps=[0.5], size=2**14)
    failed = {item.id for item, v in suite.verdicts() if v.status == "failed"}
    assert failing <= failed and (failed == set()) == (failing == set()), failed


def test_downscale_checks_say_what_they_check() -> None:
    s = C.conformance_suite("targets.downscale:correct", ps=[0.3], size=2**14).stats(0.3)
    assert s.checks["values"].title == "values 0 or x"
    assert s.checks["eval_call"].title == "training=False returns x(1-p)"
    assert s.checks["mean"].title == "mean matches evaluation"
    # Expected: the evaluation output's mean, (1 - p) mean(x) up to its rounding.
    assert abs(s.checks["mean"].expected - 0.7 * 1.0) < 0.01
    assert s.checks["variance"].expected == pytest.approx(1.5**2 * 0.3 * 0.7)


# -- the command line and the pytest plugin -----------------------------------------------


@pytest.mark.parametrize("args, rc", [
    (["targets.structured:correct"], 0),
    (["targets.structured:wrong_axis"], 1),
    (["targets.downscale:correct"], 0),
    (["targets.downscale:upscale_labelled_downscale"], 1),
    (["targets.bf16:correct", "--dtype", "bfloat16", "--p", "0.01", "--size", "65536"], 0),
    (["targets.bf16:quantized", "--dtype", "bfloat16", "--p", "0.01", "--size", "65536"], 1),
])
def test_compare_target_on_the_command_line(args: list[str], rc: int, monkeypatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from d2ldrop.backends import registry

    monkeypatch.setattr(registry, "is_installed", lambda b: False)  # the target alone
    extra = [] if "--p" in args else ["--p", "0.5", "--size", "16384"]
    got = main(["compare", "--target", *args, *extra])
    out = capsys.readouterr().out
    assert got == rc, out


@pytest.mark.parametrize("ref, extra, failed", [
    ("targets.structured:wrong_axis", [], "structure[p=0.5]"),
    ("targets.downscale:upscale_labelled_downscale", [], "eval_call[p=0.5]"),
    ("targets.bf16:quantized", ["--d2ldrop-dtype", "bfloat16", "--d2ldrop-p", "0.01",
                                "--d2ldrop-size", "65536"], "fraction[p=0.01]"),
])
def test_the_plugin_runs_each_capability(pytester: pytest.Pytester, monkeypatch, ref: str,
                                         extra: list[str], failed: str) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    size = [] if extra else ["--d2ldrop-p", "0.5", "--d2ldrop-size", "16384"]
    good = ref.split(":")[0] + ":correct"
    result = pytester.runpytest("-p", "_d2ldrop_pytestplugin", "--d2ldrop-target", good,
                                *extra, *size)
    assert result.ret == 0, result.stdout.str()
    reprec = pytester.inline_run("-p", "_d2ldrop_pytestplugin", "--d2ldrop-target", ref,
                                 *extra, *size)
    names = {r.nodeid.split("::")[-1] for r in reprec.listoutcomes()[2]}
    assert failed in names, names
