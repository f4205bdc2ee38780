"""The chapter's from-scratch dropout_layer on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import run_python

import d2ldrop
from d2ldrop import dropout_layer

# Two-sided normal quantile for the statistical checks: P(|Z| > 5) = 5.7e-7, so
# the dozen checks below give a false alarm about once in 100,000 runs; seeds
# are fixed anyway, so a run is reproducible.
Z = 5.0
N = 1_000_000


def tensor(adapter, values, dtype="float32"):
    return adapter.from_numpy(np.asarray(values, dtype=dtype))


def chapter_x(adapter):
    return tensor(adapter, np.arange(16).reshape(2, 8))


def test_p_zero_returns_input_unchanged(adapter):
    X = chapter_x(adapter)
    assert dropout_layer(X, 0, backend=adapter.name) is X
    assert dropout_layer(X, 0.0, backend=adapter.name) is X


def test_p_one_returns_zeros(adapter):
    X = chapter_x(adapter)
    out = adapter.to_numpy(dropout_layer(X, 1, backend=adapter.name))
    np.testing.assert_array_equal(out, np.zeros((2, 8), np.float32))


def test_kept_elements_are_scaled_and_dropped_are_zero(adapter):
    X = chapter_x(adapter)
    d2ldrop.seed(0, backend=adapter.name)
    out = adapter.to_numpy(dropout_layer(X, 0.5, backend=adapter.name))
    x = np.arange(16, dtype=np.float32).reshape(2, 8)
    assert np.all((out == 0) | (out == 2 * x))
    # An always-zero (or never-dropping) op passes the line above: count the kept
    # elements of a larger draw against the binomial's 5-sigma interval.
    n = 4096
    ones = adapter.from_numpy(np.ones(n, np.float32))
    kept = int(np.count_nonzero(adapter.to_numpy(dropout_layer(ones, 0.5, backend=adapter.name))))
    assert abs(kept - n / 2) <= 5 * math.sqrt(n / 4), kept


def test_uses_active_backend(adapter):
    with d2ldrop.use_backend(adapter.name):
        out = dropout_layer(chapter_x(adapter), 0.5)
    assert adapter.is_tensor(out)


@pytest.mark.parametrize(
    "p", [1.5, -0.1, math.nan, math.inf, True, False, "0.5", None, 1 + 1e-12],
    ids=repr,
)
def test_invalid_p_is_a_value_error_naming_the_value(adapter, p):
    with pytest.raises(ValueError) as info:
        dropout_layer(chapter_x(adapter), p, backend=adapter.name)
    assert str(info.value) == f"Expected a float between 0 and 1. Received: p={p!r}"


@pytest.mark.parametrize("p", [np.float32(0.5), np.float64(0.25), 0, 1])
def test_numpy_scalars_and_integers_are_valid_p(adapter, p):
    out = dropout_layer(chapter_x(adapter), p, backend=adapter.name)
    assert adapter.to_numpy(out).shape == (2, 8)


def test_validation_survives_python_O(backend):
    code = (
        "import numpy as np, d2ldrop\n"
        f"x = d2ldrop.from_numpy(np.ones(3, np.float32), backend={backend!r})\n"
        "try:\n"
        f"    d2ldrop.dropout_layer(x, 1.5, backend={backend!r})\n"
        "except ValueError as e:\n"
        "    print('ValueError', e)\n"
    )
    result = run_python(code, "-O")
    assert result.returncode == 0, result.stderr
    assert "ValueError Expected a float between 0 and 1. Received: p=1.5" in result.stdout


def test_numpy_array_is_a_type_error(adapter):
    with pytest.raises(TypeError, match=f"Expected X to be a {adapter.name} tensor"):
        dropout_layer(np.ones(3, np.float32), 0.5, backend=adapter.name)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_non_floating_tensor_is_a_type_error(adapter, dtype):
    X = tensor(adapter, [1, 0, 1], dtype)
    with pytest.raises(TypeError, match=f"floating-point tensor. Received: dtype={dtype}"):
        dropout_layer(X, 0.5, backend=adapter.name)


def test_tensor_of_another_framework_is_a_type_error(backend):
    others = [b for b in d2ldrop.available_backends() if b != backend]
    if not others:
        pytest.skip("needs a second framework installed")
    for other in others:
        X = d2ldrop.from_numpy(np.ones(3, np.float32), backend=other)
        with pytest.raises(TypeError, match=f"pass backend='{other}'"):
            dropout_layer(X, 0.5, backend=backend)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (7,), (3, 4, 5)], ids=str)
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_shape_and_dtype_are_kept(adapter, dtype, shape, p):
    X = tensor(adapter, np.full(shape, 2.0), dtype)
    out = dropout_layer(X, p, backend=adapter.name)
    assert adapter.dtype_name(out) == dtype
    values = adapter.to_numpy(out)
    assert values.shape == shape
    # Half precision is computed in float32 and rounded once (see scratch_dropout).
    compute = np.float64 if dtype == "float64" else np.float32
    kept = (compute(2.0) / compute(1.0 - p)).astype(dtype) if p < 1 else 0
    assert np.all((values == 0) | (values == kept))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_gradient_is_mask_over_keep_probability(adapter, p):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2.0, size=(64, 32)).astype(np.float32)  # no zeros: mask = out != 0
    out, grad = adapter.value_and_grad(
        lambda X: dropout_layer(X, p, backend=adapter.name), adapter.from_numpy(x)
    )
    out, grad = adapter.to_numpy(out), adapter.to_numpy(grad)
    mask = (out != 0).astype(np.float32)
    assert 0 < mask.mean() < 1
    np.testing.assert_allclose(grad, mask / (1 - p), rtol=1e-6)
    np.testing.assert_allclose(out, mask * x / (1 - p), rtol=1e-6)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_gradient_at_the_guards(adapter, p):
    x = adapter.from_numpy(np.ones((4, 4), np.float32))
    _, grad = adapter.value_and_grad(lambda X: dropout_layer(X, p, backend=adapter.name), x)
    np.testing.assert_array_equal(adapter.to_numpy(grad), np.full((4, 4), 1.0 - p))


def test_same_seed_same_mask(adapter):
    X = tensor(adapter, np.ones((100, 100)))
    masks = []
    for s in (7, 7, 8):
        d2ldrop.seed(s, backend=adapter.name)
        masks.append(adapter.to_numpy(dropout_layer(X, 0.5, backend=adapter.name)) != 0)
    np.testing.assert_array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], masks[2])


def test_seed_uses_active_backend(adapter):
    X = tensor(adapter, np.ones(1000))
    with d2ldrop.use_backend(adapter.name):
        d2ldrop.seed(3)
        a = adapter.to_numpy(dropout_layer(X, 0.5))
        d2ldrop.seed(3)
        b = adapter.to_numpy(dropout_layer(X, 0.5))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [-1, 2**32, 1.5, True, "1"])
def test_invalid_seed(n):
    with pytest.raises(ValueError, match="Received: n="):
        d2ldrop.seed(n)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_statistics(adapter, p):
    """Dropped count ~ Binomial(N, p); output mean of ones has mean 1, sd sqrt(p/((1-p)N))."""
    d2ldrop.seed(2024, backend=adapter.name)
    out = adapter.to_numpy(dropout_layer(tensor(adapter, np.ones(N)), p, backend=adapter.name))
    dropped = int(np.count_nonzero(out == 0))
    assert abs(dropped - N * p) <= Z * math.sqrt(N * p * (1 - p))
    assert abs(out.mean(dtype=np.float64) - 1.0) <= Z * math.sqrt(p / ((1 - p) * N))


def test_to_and_from_numpy_round_trip(adapter):
    for dtype in ("float16", "float32", "float64", "int32", "int64"):
        a = np.arange(12, dtype=dtype).reshape(3, 4)
        t = d2ldrop.from_numpy(a, backend=adapter.name)
        assert adapter.dtype_name(t) == dtype
        back = d2ldrop.to_numpy(t, backend=adapter.name)
        assert back.dtype == a.dtype
        np.testing.assert_array_equal(back, a)


def test_to_numpy_rejects_foreign_values(adapter):
    with pytest.raises(TypeError):
        d2ldrop.to_numpy([1, 2, 3], backend=adapter.name)


def test_a_tensor_as_p_says_to_pass_a_number(adapter):
    """A 0-d tensor is not a rate (issue 17, defect 8): the message says what to do."""
    p = adapter.from_numpy(np.array(0.5, np.float32))
    with pytest.raises(ValueError, match=r"not a number: pass float\(p\)\)$") as info:
        dropout_layer(chapter_x(adapter), p, backend=adapter.name)
    assert str(info.value).startswith("Expected a float between 0 and 1. Received: p=")
