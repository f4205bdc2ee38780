"""Dropout conformance suite: the same statistics, bounds and edge cases on every backend.

Parametrized backend x implementation x p (ids like ``torch-scratch-p0.5``) with
fixed seeds and the bounds derived in ``d2ldrop.conformance`` (z = 5, never
widened). Where a framework's own dropout differs from the chapter's
``dropout_layer`` the difference is a documented expectation (the backend's
quirks, ``d2ldrop/backends/<name>/quirks.py``, and docs/conformance.md) and is
asserted here, so a framework change shows up.

The last parts check the statistics themselves on numpy masks (no framework),
the quirks loader, and the ``stats`` and ``compare`` commands.
"""

from __future__ import annotations

import functools
import json
import math
import sys

import numpy as np
import pytest
from support import SELECTED_BACKENDS, require_backend, require_backends, run_python

import d2ldrop
import d2ldrop.conformance as C
from d2ldrop._validate import SEED_LIMIT, seed_error
from d2ldrop.backends import registry
from d2ldrop.backends.quirks import DEFAULT_QUIRKS, Quirks, quirks_of
from d2ldrop.cli import main
from d2ldrop.conformance import gate
from d2ldrop.conformance.edges import error_message
from d2ldrop.conformance.stats import other_seed
from d2ldrop.errors import BackendNotAvailableError, UnknownBackendError

SIZE = 2**16  # a 256 x 256 grid per draw
SEED = 0
PS = C.DEFAULT_PS


@functools.cache
def _stats(backend: str, impl: str, p: float) -> C.DropoutStats:
    return C.dropout_stats(backend, impl, p, size=SIZE, seed=SEED)


@functools.cache
def _edges(backend: str, impl: str) -> dict[str, C.EdgeOutcome]:
    return {e.case: e for e in C.edge_cases(backend, impl, seed=SEED)}


STAT_PARAMS = [
    pytest.param((b, i, p), id=f"{b}-{i}-p{p:g}")
    for b in SELECTED_BACKENDS
    for i in C.IMPLS
    for p in PS
]
BUILTIN_PARAMS = [pytest.param((b, "builtin", p), id=f"{b}-builtin-p{p:g}")
                  for b in SELECTED_BACKENDS for p in PS]
EDGE_PARAMS = [
    pytest.param((b, i, c.id), id=f"{b}-{i}-{c.id}")
    for b in SELECTED_BACKENDS
    for i in C.IMPLS
    for c in C.EDGE_CASES
]


@pytest.fixture(params=STAT_PARAMS)
def run(request: pytest.FixtureRequest) -> C.DropoutStats:
    backend, impl, p = request.param
    require_backend(backend)
    return _stats(backend, impl, p)


@pytest.fixture(params=BUILTIN_PARAMS)
def builtin_run(request: pytest.FixtureRequest) -> C.DropoutStats:
    backend, impl, p = request.param
    require_backend(backend)
    return _stats(backend, impl, p)


def _assert_holds(result: C.DropoutStats, name: str) -> None:
    c = result.checks[name]
    where = f"{result.backend} {result.impl} p={result.p:g} (n={result.n}, seed={result.seed})"
    if c.kind == "bound":
        msg = (f"{where}: {c.title} = {c.value:.6g}, outside [{c.low:.6g}, {c.high:.6g}] "
               f"(expected {c.expected:.6g}; {c.bound}; {c.detail})")
    else:
        msg = f"{where}: {c.title}: {c.detail} ({c.bound})"
    assert c.passed, msg


# -- the statistics on every backend x implementation x p --------------------------------


def test_fraction_dropped(run: C.DropoutStats) -> None:
    _assert_holds(run, "fraction")


def test_expectation_preserved(run: C.DropoutStats) -> None:
    _assert_holds(run, "mean")


def test_variance(run: C.DropoutStats) -> None:
    _assert_holds(run, "variance")


def test_two_values(run: C.DropoutStats) -> None:
    _assert_holds(run, "values")


def test_gradient_is_mask_over_keep_probability(run: C.DropoutStats) -> None:
    _assert_holds(run, "gradient")


def test_two_calls_independent(run: C.DropoutStats) -> None:
    _assert_holds(run, "agreement")


def test_no_row_pattern(run: C.DropoutStats) -> None:
    _assert_holds(run, "rows")


def test_no_column_pattern(run: C.DropoutStats) -> None:
    _assert_holds(run, "columns")


def test_no_lag1_correlation(run: C.DropoutStats) -> None:
    _assert_holds(run, "lag1")


def test_same_seed_same_mask(run: C.DropoutStats) -> None:
    _assert_holds(run, "seed_same")


def test_new_seed_new_mask(run: C.DropoutStats) -> None:
    _assert_holds(run, "seed_different")


def test_layer_eval_is_identity(builtin_run: C.DropoutStats) -> None:
    _assert_holds(builtin_run, "layer_eval")


def test_layer_training_drops(builtin_run: C.DropoutStats) -> None:
    _assert_holds(builtin_run, "layer_train")


def test_layer_same_seed_same_mask(builtin_run: C.DropoutStats) -> None:
    # d2ldrop.seed(s) then a new layer: torch and MXNet layers draw from the
    # global generator; a Keras 3 layer has its own SeedGenerator, which the
    # TensorFlow adapter seeds from a generator that d2ldrop.seed reseeds.
    _assert_holds(builtin_run, "layer_seed")


def test_scratch_has_no_layer_checks() -> None:
    require_backend(SELECTED_BACKENDS[0])
    result = _stats(SELECTED_BACKENDS[0], "scratch", 0.5)
    for name in ("layer_eval", "layer_train", "layer_seed"):
        assert result.checks[name].passed is None


DTYPE_PARAMS = [
    pytest.param((b, i, d), id=f"{b}-{i}-{d}")
    for b in SELECTED_BACKENDS for i in C.IMPLS for d in ("float16", "float64")
]


@pytest.mark.parametrize("key", DTYPE_PARAMS)
def test_float16_and_float64_statistics(key: tuple[str, str, str]) -> None:
    # At p = 0.5 every statistic holds in float16 and float64 too, except where
    # documented: a Keras layer returns float32 (its dtype policy).
    backend, impl, dtype = key
    require_backend(backend)
    r = C.dropout_stats(backend, impl, 0.5, size=2**14, seed=SEED, dtype=dtype)
    quirks = quirks_of(backend)
    documented = quirks.stat_differences.get(dtype, {}) if impl == "builtin" else {}
    assert set(r.failures) == set(documented) - {"fraction"}, {
        n: r.checks[n].detail for n in r.failures
    }


@pytest.mark.parametrize("backend", SELECTED_BACKENDS)
def test_float16_drop_rate_at_small_p(backend: str) -> None:
    # p = 0.001 in float16: the chapter's dropout (float32 uniforms) and the torch
    # and MXNet builtins drop at rate p; tf.nn.dropout drops at 2/1024 (documented
    # by its quirks' builtin_drop_probability).
    require_backend(backend)
    p, size = 0.001, 2**18
    for impl in C.IMPLS:
        r = C.dropout_stats(backend, impl, p, size=size, seed=SEED, dtype="float16")
        frac = r.checks["fraction"]
        q = quirks_of(backend).builtin_drop_probability(p, "float16") if impl == "builtin" else p
        if backend == "tensorflow" and impl == "builtin":
            assert q == 2 / 1024
        if q != p:
            assert not frac.passed
            lo, hi = C.binomial_interval(r.n, q)
            assert lo <= round(frac.value * r.n) <= hi, (frac.value, q)
        else:
            assert frac.passed, (impl, frac.detail)


# -- edge cases -------------------------------------------------------------------------


@pytest.mark.parametrize("key", EDGE_PARAMS)
def test_edge_case_is_as_documented(key: tuple[str, str, str]) -> None:
    backend, impl, case = key
    require_backend(backend)
    e = _edges(backend, impl)[case]
    if e.kind == "n/a":  # the framework has no tensors of this dtype: its limit is named
        with pytest.raises(TypeError) as err:
            gate.get_adapter(backend).check_dtype(e.dtype_in)
        assert e.detail == str(err.value) and e.label == "n/a"
        return
    assert e.label == e.expected == C.expected_label(backend, impl, case), (
        f"{backend} {impl} {e.title}: got {e.label!r} {e.message!r}, documented "
        f"{e.expected!r} (update d2ldrop/backends/<name>/quirks.py{backend}.py and "
        "docs/conformance.md if a framework changed)"
    )
    if impl == "scratch" and e.kind == "value":
        assert e.dtype_out == e.dtype_in


@pytest.mark.parametrize("case", C.EDGE_CASE_IDS)
def test_scratch_edge_case_same_on_every_backend(case: str) -> None:
    if len(SELECTED_BACKENDS) < 2:
        pytest.skip("needs two selected backends")
    require_backends(SELECTED_BACKENDS)
    outcomes = {b: _edges(b, "scratch")[case] for b in SELECTED_BACKENDS}
    # A backend without the case's dtype is n/a (test_edge_case_is_as_documented).
    signatures = {b: e.signature for b, e in outcomes.items() if e.kind != "n/a"}
    assert len(set(signatures.values())) == 1, signatures


def _outcome(backend: str, impl: str, case: str) -> C.EdgeOutcome:
    require_backend(backend)
    return _edges(backend, impl)[case]


@pytest.mark.parametrize("b", SELECTED_BACKENDS)
def test_scratch_p0_returns_input_and_p1_zeros(b: str) -> None:
    e = _outcome(b, "scratch", "p=0")
    assert e.label == "identity" and "returns its input object" in e.detail
    assert _outcome(b, "scratch", "p=1,nonfinite").label == "zeros"


@pytest.mark.parametrize("b", SELECTED_BACKENDS)
def test_scratch_rejects_bad_p_with_the_same_message(b: str) -> None:
    for case, shown in (("p<0", "p=-0.1"), ("p>1", "p=1.1"), ("p=nan", "p=nan")):
        e = _outcome(b, "scratch", case)
        assert e.label == "ValueError"
        assert e.message == f"Expected a float between 0 and 1. Received: {shown}"


def test_tensorflow_builtin_refuses_rate_one() -> None:
    if "tensorflow" not in SELECTED_BACKENDS:
        pytest.skip("tensorflow not selected")
    e = _outcome("tensorflow", "builtin", "p=1")
    assert e.label == "ValueError" and "[0, 1)" in e.message


def test_torch_builtin_p1_returns_zeros_but_nan_for_nonfinite() -> None:
    if "torch" not in SELECTED_BACKENDS:
        pytest.skip("torch not selected")
    assert _outcome("torch", "builtin", "p=1").label == "zeros"
    assert _outcome("torch", "builtin", "p=1,nonfinite").label.startswith("x: 0; nan: nan")


def test_mxnet_builtin_p1_is_nan_and_nan_p_passes_through() -> None:
    if "mxnet" not in SELECTED_BACKENDS:
        pytest.skip("mxnet not selected")
    assert _outcome("mxnet", "builtin", "p=1").label == "all NaN"
    assert _outcome("mxnet", "builtin", "p=nan").label == "identity"


def test_mxnet_builtin_scale_is_float32() -> None:
    # Not hidden by a tolerance: kept values are x / (1 - float32(p)).
    if "mxnet" not in SELECTED_BACKENDS:
        pytest.skip("mxnet not selected")
    require_backend("mxnet")
    adapter = d2ldrop.backends.get_adapter("mxnet")
    p = 1.0 - 1e-4
    x = np.ones(2**16, dtype=np.float32)
    d2ldrop.seed(0, backend="mxnet")
    y = adapter.to_numpy(adapter.builtin_dropout(adapter.from_numpy(x), p))
    kept = y[y != 0]
    assert kept.size > 0
    p32 = np.float32(p)
    scale32 = np.float32(1.0) / (np.float32(1.0) - p32)
    np.testing.assert_allclose(kept, scale32, rtol=C.rtol_of("float32"))
    assert abs(kept[0] * (1 - p) - 1) > 1e-4  # off x / (1 - p) by 1.7e-4


# -- the statistics themselves, on numpy masks (no framework) -------------------------------


def _binom_pmf(n: int, k: int, p: float) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


@pytest.mark.parametrize("n, p, z", [(200, 0.5, 2.0), (500, 0.1, 3.0), (1000, 0.02, 2.5)])
def test_binomial_interval_is_exact(n: int, p: float, z: float) -> None:
    lo, hi = C.binomial_interval(n, p, z)
    tail = 0.5 * C.two_sided_alpha(z)
    below = sum(_binom_pmf(n, k, p) for k in range(lo))
    above = sum(_binom_pmf(n, k, p) for k in range(hi + 1, n + 1))
    assert below <= tail < below + _binom_pmf(n, lo, p)
    assert above <= tail < above + _binom_pmf(n, hi, p)


@pytest.mark.parametrize("n, p", [(40, 0.1), (40, 0.5), (101, 0.7)])
def test_variance_of_sample_variance_formula_is_exact(n: int, p: float) -> None:
    # s^2 of a scaled Bernoulli sample is c^2 K (n - K) / (n (n - 1)), K kept:
    # enumerate K ~ Binomial(n, 1 - p) for the exact mean and variance.
    h, q = 1.5, 1 - p
    c = h / q
    ks = np.arange(n + 1)
    w = np.array([_binom_pmf(n, int(k), q) for k in ks])
    s2 = c * c * ks * (n - ks) / (n * (n - 1))
    mean = float(np.sum(w * s2))
    var = float(np.sum(w * (s2 - mean) ** 2))
    assert mean == pytest.approx(h * h * p / q, rel=1e-12)
    assert var == pytest.approx(C.sample_variance_variance(n, h, p), rel=1e-9)


@pytest.mark.parametrize("m, p", [(10, 0.1), (25, 0.5)])
def test_dispersion_moments_are_exact(m: int, p: float) -> None:
    # One term (k - m p)^2 / (m p q): mean 1, variance 2 + (1 - 6 p q) / (m p q).
    q = 1 - p
    ks = np.arange(m + 1)
    w = np.array([_binom_pmf(m, int(k), p) for k in ks])
    t = (ks - m * p) ** 2 / (m * p * q)
    mean = float(np.sum(w * t))
    var = float(np.sum(w * (t - mean) ** 2))
    assert mean == pytest.approx(1.0, rel=1e-12)
    assert var == pytest.approx(2 + (1 - 6 * p * q) / (m * p * q), rel=1e-9)


def _all_checks(d1: np.ndarray, d2: np.ndarray, x: np.ndarray, p: float, z: float):
    y1 = np.where(d1, 0.0, C.H / (1 - p))
    y2 = np.where(d2, 0.0, x / (1 - p))
    return [
        C.fraction_check(d1, p, z), C.mean_check(x, y2, p, z),
        C.variance_check(y1, C.H, p, z), C.agreement_check(d1, d2, p, z),
        C.dispersion_check(d1, p, 1, z), C.dispersion_check(d1, p, 0, z),
        C.lag1_check(d1, p, z),
    ]


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_false_alarm_rate_is_at_most_nominal(p: float) -> None:
    # At z = 2 (alpha = 4.6%) each bounded check on correct Bernoulli masks
    # fails about alpha of the time; at z = 5 it would be 5.7e-7.
    rng = np.random.default_rng(12345)
    z, reps, shape = 2.0, 400, (32, 32)
    x = rng.uniform(0.5, 1.5, shape)
    fails: dict[str, int] = {}
    for _ in range(reps):
        d1, d2 = rng.random(shape) < p, rng.random(shape) < p
        for c in _all_checks(d1, d2, x, p, z):
            fails[c.name] = fails.get(c.name, 0) + (not c.passed)
    alpha = C.two_sided_alpha(z)
    # Binomial(400, 0.046): mean 18, sd 4.2; allow 4 sd above nominal.
    cap = reps * alpha + 4 * math.sqrt(reps * alpha * (1 - alpha))
    assert all(v <= cap for v in fails.values()), (fails, cap)


def _failing(d1, d2, x, p, y1=None, y2=None) -> set[str]:
    checks = _all_checks(d1, d2, x, p, C.Z)
    if y1 is not None:
        checks[2] = C.variance_check(y1, C.H, p)
    if y2 is not None:
        checks[1] = C.mean_check(x, y2, p)
        checks.append(C.values_check([(x, y2)], p))
    return {c.name for c in checks if not c.passed}


def test_checks_catch_broken_dropouts() -> None:
    rng = np.random.default_rng(7)
    shape, p = (256, 256), 0.5
    x = rng.uniform(0.5, 1.5, shape)
    good1, good2 = rng.random(shape) < p, rng.random(shape) < p
    assert _failing(good1, good2, x, p) == set()

    # Forgets to rescale: the mean halves, the variance and the values are wrong.
    unscaled = np.where(good2, 0.0, x)
    assert {"mean", "values"} <= _failing(good1, good2, x, p, y2=unscaled)
    assert "variance" in _failing(good1, good2, x, p, y1=np.where(good1, 0.0, C.H))
    # Drops at the wrong rate.
    assert "fraction" in _failing(rng.random(shape) < 0.52, good2, x, p)
    # Reuses one mask for every call.
    assert "agreement" in _failing(good1, good1.copy(), x, p)
    # Stratified: every row drops exactly half (too regular).
    strat = np.array([rng.permutation(shape[1]) < shape[1] // 2 for _ in range(shape[0])])
    assert "rows" in _failing(strat, good2, x, p)
    # Half of the columns drop more often than the others.
    cols = rng.random(shape) < np.where(np.arange(shape[1]) % 2 == 0, 0.46, 0.54)
    assert "columns" in _failing(cols, good2, x, p)
    # Neighbours copy each other one time in ten (runs in memory order).
    flat = good1.ravel().copy()
    copy = rng.random(flat.size) < 0.1
    for i in np.flatnonzero(copy[1:]) + 1:
        flat[i] = flat[i - 1]
    assert "lag1" in _failing(flat.reshape(shape), good2, x, p)


def test_gradient_check_catches_wrong_scale() -> None:
    y = np.array([0.0, 2.0, 0.0, 4.0], np.float32)
    assert C.gradient_check(y, np.array([0, 2, 0, 2], np.float32), 0.5).passed
    assert not C.gradient_check(y, np.array([0, 1, 0, 1], np.float32), 0.5).passed
    assert not C.gradient_check(y, np.array([2, 2, 0, 2], np.float32), 0.5).passed


def test_describe_output_labels() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    assert C.describe_output(x, x.copy(), 0.0) == "identity"
    assert C.describe_output(x, np.zeros_like(x), 1.0) == "zeros"
    assert C.describe_output(x, np.array([0, 4, 0, 8], np.float32), 0.5) == "0 or x/(1-p)"
    assert C.describe_output(x, np.array([0, 2, 0, 4], np.float32), 0.5) == "0 or x"
    off = np.array([0, 4, 0, 8], np.float32) * np.float32(1 + 1e-4)
    assert C.describe_output(x, off, 0.5) == "0 or x/(1-p) [rel. err. 1e-04]"
    assert C.describe_output(x, np.zeros_like(x), 0.5) == "zeros"
    assert C.describe_output(x, np.zeros_like(x), 0.5, merge_dropout=True) == "0 or x/(1-p)"
    assert C.describe_output(x, np.array([0, 4, 0, 8]), 0.5).endswith(
        "[dtype float32 -> int64]"
    )
    s = np.array([np.nan, np.inf, 1.0], np.float32)
    assert C.describe_output(s, np.array([0, np.nan, 2], np.float32), 0.5) == (
        "x: x/(1-p); nan: 0; +inf: nan"
    )


def test_stats_argument_checks() -> None:
    for bad in (dict(p=0.0), dict(p=1.0), dict(p=float("nan")), dict(size=100),
                dict(size=1000, p=0.01), dict(seed=-1), dict(seed=SEED_LIMIT),
                dict(seed=True), dict(dtype="int32"), dict(z=0)):
        kwargs = dict(p=0.5, size=4096, seed=0, dtype="float32", z=5.0) | bad
        with pytest.raises(ValueError):
            C.check_stats_args(**kwargs)
    with pytest.raises(ValueError, match="impl"):
        C.dropout_stats("torch", "keras", 0.5)


def test_stats_seed_rule_is_the_package_one() -> None:
    # One range, [0, 2**32), and its one message; the "new seed" draw wraps
    # around, so the largest seed is usable too.
    for seed in (-1, SEED_LIMIT):
        with pytest.raises(ValueError) as err:
            C.check_stats_args(0.5, 4096, seed, "float32", 5.0)
        assert str(err.value) == seed_error(seed, "seed")
    assert C.check_stats_args(0.5, 4096, SEED_LIMIT - 1, "float32", 5.0) == 0.5
    assert other_seed(0) == 1 and other_seed(SEED_LIMIT - 1) == 0


def test_largest_seed_gives_a_new_mask_with_the_next_seed() -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    r = C.dropout_stats(backend, "scratch", 0.5, size=4096, seed=SEED_LIMIT - 1)
    assert r.passed, {n: r.checks[n].detail for n in r.failures}
    assert r.seed == SEED_LIMIT - 1


# -- the quirks of each backend (data, no framework) -------------------------------------


def test_quirks_of_every_backend_name_real_cases_and_checks() -> None:
    checks = {name for name, _ in C.CHECK_COLUMNS}
    total = 0
    for name in d2ldrop.BACKENDS:
        q = quirks_of(name)
        assert isinstance(q, Quirks)
        assert set(q.builtin_differences) <= set(C.EDGE_CASE_IDS), name
        for label, why in q.builtin_differences.values():
            assert label != "" and why != ""
        assert set(q.stat_differences) <= set(C.STAT_DTYPES), name
        for documented in q.stat_differences.values():
            assert set(documented) <= checks, name
        total += len(q.builtin_differences)
    if set(d2ldrop.BACKENDS) == {"torch", "tensorflow", "mxnet"}:
        assert total == 18  # the documented builtin differences of docs/conformance.md
    assert quirks_of("tf") is quirks_of("tensorflow")  # aliases accepted
    with pytest.raises(UnknownBackendError):
        quirks_of("theano")


def test_quirks_default_when_a_backend_has_no_module(monkeypatch: pytest.MonkeyPatch) -> None:
    name = d2ldrop.BACKENDS[0]
    # A None entry in sys.modules makes the import fail as a missing module would.
    monkeypatch.setitem(sys.modules, f"d2ldrop.backends.{name}.quirks", None)
    q = quirks_of(name)
    assert q is DEFAULT_QUIRKS and q == Quirks()
    assert dict(q.builtin_differences) == {} and dict(q.stat_differences) == {}
    assert q.builtin_drop_probability(0.3, "float16") == 0.3
    assert q.normalize_message("first\nsecond") == "first\nsecond"
    # No documented difference: every builtin row is expected to be the chapter's.
    for case in C.EDGE_CASE_IDS:
        assert C.expected_label(name, "builtin", case) == C.SCRATCH_EXPECTED[case]
    assert error_message(name, RuntimeError("\n  first line \nsecond")) == "first line"


def test_quirks_message_hook_strips_a_native_stack() -> None:
    text = "Traceback (most recent call last):\n  File \"op.cc\", line 1\nMXNetError: Invalid p"
    assert quirks_of("mxnet").normalize_message(text) == "Invalid p"
    assert error_message("mxnet", RuntimeError(text)) == "Invalid p"
    assert error_message("torch", RuntimeError(text)) == "Traceback (most recent call last):"


def test_quirks_modules_import_no_framework() -> None:
    names = ", ".join(repr(b) for b in d2ldrop.BACKENDS)
    code = (
        "import sys\n"
        "from d2ldrop.backends import registry\n"
        "from d2ldrop.backends.quirks import quirks_of\n"
        f"for name in ({names},):\n"
        "    quirks_of(name)\n"
        "roots = {registry.BY_NAME[n].module for n in registry.BACKENDS}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in roots))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.strip() == "[]"


# -- the commands ----------------------------------------------------------------------


def _strict_json(text: str) -> object:
    """``json.loads`` that refuses NaN and the infinities (not JSON)."""
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_stats_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    rc = main(["stats", "-b", backend, "--impl", "scratch", "--p", "0.5",
               "--size", "4096", "--json"])
    doc = _strict_json(capsys.readouterr().out)
    assert rc == 0 and doc["passed"] and doc["z"] == C.Z
    assert doc["alpha"] == C.two_sided_alpha(C.Z) and doc["skipped"] == {}
    (row,) = doc["results"]
    assert row["backend"] == backend and row["p"] == 0.5 and row["n"] == 4096
    assert row["checks"]["fraction"]["low"] < 0.5 < row["checks"]["fraction"]["high"]
    assert row["checks"]["layer_eval"]["passed"] is None  # n/a for scratch: null


def test_stats_command_table(capsys: pytest.CaptureFixture[str]) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    rc = main(["stats", "-b", backend, "--p", "0.3", "--size", "4096"])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"z = {C.Z:g}" in out and "Bounds" in out
    assert f"{backend}" in out and "builtin  0.3" in out and "PASS" in out


def test_stats_command_rejects_p_outside_open_interval(capsys) -> None:
    assert main(["stats", "-b", SELECTED_BACKENDS[0], "--p", "1.0"]) == 2
    assert "0 < p < 1" in capsys.readouterr().err


def test_stats_command_rejects_a_seed_out_of_range(capsys) -> None:
    with pytest.raises(SystemExit) as err:
        main(["stats", "-b", SELECTED_BACKENDS[0], "--seed", str(SEED_LIMIT)])
    assert err.value.code == 2
    assert "[0, 2**32)" in capsys.readouterr().err


def _only_installed(monkeypatch: pytest.MonkeyPatch, names: set[str]) -> None:
    """Pretend that only the frameworks of ``names`` are installed."""
    monkeypatch.setattr(registry, "is_installed", lambda name: name in names)


def test_all_means_every_installed_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    _only_installed(monkeypatch, {backend})
    args = ["--impl", "scratch", "--p", "0.5", "--size", "4096", "--json"]
    # compare runs on all installed backends by default; a missing one is not a failure.
    for argv in (["compare", *args], ["compare", "-b", "all", *args]):
        assert main(argv) == 0
        doc = _strict_json(capsys.readouterr().out)
        assert doc["backends"] == [backend] and doc["skipped"] == {} and doc["passed"]
    assert main(["stats", "-b", "all", *args]) == 0
    doc = _strict_json(capsys.readouterr().out)
    assert [r["backend"] for r in doc["results"]] == [backend] and doc["skipped"] == {}
    assert C.compare(None, ["scratch"], [0.5], size=4096).backends == [backend]


def test_all_with_nothing_installed_names_the_extras(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _only_installed(monkeypatch, set())
    assert main(["compare"]) == 1
    err = capsys.readouterr().err
    for name in d2ldrop.BACKENDS:
        assert registry.install_hint(name) in err


def test_compare_require_fails_naming_the_missing_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = SELECTED_BACKENDS[0]
    missing = next(b for b in d2ldrop.BACKENDS if b != backend)
    _only_installed(monkeypatch, set(d2ldrop.BACKENDS) - {missing})
    rc = main(["compare", "--require", f"{backend},{missing}", "--impl", "scratch",
               "--p", "0.5", "--size", "4096"])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""  # refused before running anything
    assert err.startswith("d2ldrop compare: error: ")
    assert missing in err and registry.install_hint(missing) in err
    assert f"{backend}:" not in err  # only the missing one is named


def test_compare_require_passes_when_installed(capsys: pytest.CaptureFixture[str]) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    alias = next((a for a, b in registry.ALIASES.items() if b == backend), backend)
    rc = main(["compare", "-b", backend, "--require", alias, "--impl", "scratch",
               "--p", "0.5", "--size", "4096", "--json"])
    assert rc == 0
    assert _strict_json(capsys.readouterr().out)["backends"] == [backend]


def test_compare_require_adds_its_backends_to_the_run(capsys) -> None:
    if len(SELECTED_BACKENDS) < 2:
        pytest.skip("needs two selected backends")
    first, second = SELECTED_BACKENDS[:2]
    require_backends([first, second])
    rc = main(["compare", "-b", first, "--require", second, "--impl", "scratch",
               "--p", "0.5", "--size", "4096", "--json"])
    doc = _strict_json(capsys.readouterr().out)
    assert rc == 0 and doc["backends"] == [b for b in d2ldrop.BACKENDS if b in (first, second)]


def test_compare_require_rejects_an_unknown_name(capsys) -> None:
    with pytest.raises(SystemExit) as err:
        main(["compare", "--require", "theano"])
    assert err.value.code == 2
    assert "Unknown backend 'theano'" in capsys.readouterr().err


def test_compare_command_passes(capsys: pytest.CaptureFixture[str]) -> None:
    require_backends(SELECTED_BACKENDS)
    which = "all" if set(SELECTED_BACKENDS) == set(d2ldrop.BACKENDS) else SELECTED_BACKENDS[0]
    rc = main(["compare", "-b", which, "--size", "4096"])
    out = capsys.readouterr().out
    assert rc == 0, out
    text = " ".join(out.split())
    assert "PASS:" in text and "dropout_layer behaves the same on every backend" in text


def test_compare_fails_on_a_bound(capsys: pytest.CaptureFixture[str]) -> None:
    # z = 0.01 makes every bound a hair wide: the gate must fail, not pass.
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    rc = main(["compare", "-b", backend, "--impl", "scratch", "--p", "0.5",
               "--size", "4096", "--z", "0.01"])
    assert rc == 1
    assert "FAIL:" in capsys.readouterr().out


def test_compare_fails_when_scratch_is_not_as_specified(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    monkeypatch.setitem(C.SCRATCH_EXPECTED, "p=1", "identity")
    result = C.compare([backend], ["scratch"], [0.5], size=4096)
    assert not result.passed
    assert result.scratch_unexpected == [f"{backend}:p=1"]


def test_compare_fails_when_a_backend_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A backend named explicitly (required) that does not load fails the gate.
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    missing = next(b for b in d2ldrop.BACKENDS if b != backend)
    real = gate.get_adapter

    def fake(name: str | None = None):
        if name == missing:
            raise BackendNotAvailableError("not installed")
        return real(name)

    monkeypatch.setattr(gate, "get_adapter", fake)
    result = C.compare([backend, missing], ["scratch"], [0.5], size=4096)
    assert not result.passed and missing in result.skipped
    assert result.backends == [backend]


def test_compare_json_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    main(["compare", "-b", backend, "--p", "0.5", "--size", "4096", "--json"])
    doc = _strict_json(capsys.readouterr().out)
    assert doc["passed"] is True and doc["backends"] == [backend]
    assert {e["case"] for e in doc["edges"]} == set(C.EDGE_CASE_IDS)
    nan_row = next(e for e in doc["edges"] if e["case"] == "p=nan")
    assert nan_row["p"] is None  # JSON has no NaN: null
    assert nan_row["label"] == "ValueError"


# -- bfloat16 in plain `compare`: n/a where a framework lacks it, documented departures ------

BF16_BACKENDS = [b for b in SELECTED_BACKENDS if b != "mxnet"]


def _bf16_and_mxnet() -> list[str]:
    if "mxnet" not in SELECTED_BACKENDS or not BF16_BACKENDS:
        pytest.skip("needs mxnet and a backend with bfloat16")
    pair = [BF16_BACKENDS[0], "mxnet"]
    require_backends(pair)
    return pair


def test_compare_adds_bfloat16_and_marks_it_na_where_the_framework_lacks_it() -> None:
    pair = _bf16_and_mxnet()
    result = C.compare(pair, ["scratch"], [0.5], size=2**16)
    assert result.passed, result.failures
    # 2^16 draws have >= 100 expected drops at p = 0.01, not at 0.001.
    assert result.also == {"bfloat16": [0.01, 0.5]}
    assert {(s.backend, s.dtype, s.p) for s in result.stats} == {
        (pair[0], "float32", 0.5), (pair[0], "bfloat16", 0.01), (pair[0], "bfloat16", 0.5),
        ("mxnet", "float32", 0.5)}
    assert "MXNet" in result.not_applicable["bfloat16"]["mxnet"]
    bf16 = [e for e in result.edges if e.dtype_in == "bfloat16"]
    assert {e.case for e in bf16} == {"bfloat16", "p=0,large,bf16"}
    assert {(e.backend, e.kind) for e in bf16} == {(pair[0], "value"), ("mxnet", "n/a")}
    text = C.render_comparison(result)
    assert "n/a" in text and "bfloat16 n/a on mxnet" in " ".join(text.split())
    assert result.to_dict()["not_applicable"] == result.not_applicable
    assert "n/a" in gate.comparison_html(result)


def test_compare_still_fails_a_bfloat16_scratch_case_beside_an_na_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = _bf16_and_mxnet()
    monkeypatch.setitem(C.SCRATCH_EXPECTED, "bfloat16", "identity")
    result = C.compare(pair, ["scratch"], [0.5], size=4096, also=())
    assert not result.passed
    assert result.scratch_unexpected == [f"{pair[0]}:bfloat16"]  # the n/a row is not judged


def test_tensorflow_bfloat16_departure_is_documented_not_gated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "tensorflow" not in SELECTED_BACKENDS:
        pytest.skip("tensorflow not selected")
    require_backend("tensorflow")
    result = C.compare(["tensorflow"], ["builtin"], [0.5], size=2**16)
    assert result.passed, result.failures
    s = next(s for s in result.stats if s.dtype == "bfloat16" and s.p == 0.01)
    frac = s.checks["fraction"]
    assert not frac.passed  # it drops 2/128, not 0.01: its quirk says so
    q = quirks_of("tensorflow").builtin_drop_probability(0.01, "bfloat16")
    assert q == 2 / 128
    lo, hi = C.binomial_interval(s.n, q)
    assert lo <= round(frac.value * s.n) <= hi, frac.value
    text = " ".join(C.render_comparison(result).split())
    assert "tensorflow builtin bfloat16 p=0.01, fraction: tf.nn.dropout draws bfloat16" in text
    # Undocumented, the same departure fails the gate.
    bare = Quirks(stat_differences={})
    monkeypatch.setattr(gate, "quirks_of", lambda name: bare)
    failed = C.compare(["tensorflow"], ["builtin"], [0.5], size=2**16)
    assert not failed.passed
    assert any(f.startswith("tensorflow builtin bfloat16 p=0.01: fraction dropped out of bound")
               for f in failed.failures), failed.failures
