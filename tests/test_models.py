"""The chapter's two MLPs on every backend: structure, explicit training mode, dropout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import require_updater

from d2ldrop.models import build_mlp, normal_init

Z = 5.0  # two-sided normal quantile for the binomial checks (P = 5.7e-7 each)
KINDS = ("scratch", "concise")


def images(adapter, n=512, seed=0):
    """Random images in the backend's layout, float32 in [0, 1]."""
    x = np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32)
    x = x[..., None] if adapter.channels_last else x[:, None]
    return adapter.from_numpy(x)


def numpy_forward(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.maximum(x.reshape(len(x), -1) @ W1 + b1, 0)
    h2 = np.maximum(h1 @ W2 + b2, 0)
    return h2 @ W3 + b3


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


def test_normal_init_is_the_same_numbers_on_every_backend(adapter, kind):
    net = build_mlp(kind, seed=11, backend=adapter.name)
    expected = normal_init((784, 256, 256, 10), 0.01, seed=11)
    got = net.get_params()
    assert [p.shape for p in got] == [p.shape for p in expected]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    W1 = expected[0]
    assert abs(W1.std() - 0.01) < 0.0002 and all(not b.any() for b in expected[1::2])


def test_framework_init_differs_from_normal(adapter, kind):
    net = build_mlp(kind, init="framework", seed=0, backend=adapter.name)
    W1, b1 = net.get_params()[:2]
    assert W1.shape == (784, 256) and b1.shape == (256,)
    assert W1.std() > 0.02  # every framework's default is wider than N(0, 0.01)


def test_evaluation_matches_numpy_reference(adapter, kind):
    net = build_mlp(kind, seed=3, backend=adapter.name)
    rng = np.random.default_rng(4)
    params = [rng.normal(0, 0.05, p.shape).astype(np.float32) for p in net.get_params()]
    net.set_params(params)
    x = images(adapter, 64)
    x_np = adapter.to_numpy(x)
    logits = adapter.to_numpy(net(x, training=False))
    np.testing.assert_allclose(logits, numpy_forward(params, x_np), rtol=1e-4, atol=1e-5)


def test_evaluation_is_deterministic_and_drops_nothing(adapter, kind):
    net = build_mlp(kind, seed=0, backend=adapter.name)
    x = images(adapter)
    a = adapter.to_numpy(net(x, training=False))
    b = adapter.to_numpy(net(x, training=False))
    np.testing.assert_array_equal(a, b)
    params = net.get_params()
    np.testing.assert_allclose(a, numpy_forward(params, adapter.to_numpy(x)), rtol=1e-4,
                               atol=1e-6)


def test_dropout_fires_in_training(adapter, kind):
    p1, p2 = 0.2, 0.5
    net = build_mlp(kind, dropout1=p1, dropout2=p2, seed=5, backend=adapter.name)
    x = images(adapter)
    a = adapter.to_numpy(net(x, training=True))
    b = adapter.to_numpy(net(x, training=True))
    assert not np.array_equal(a, b)

    h1_eval = adapter.to_numpy(net.hidden(x, training=False)[0])
    h1, h2 = (adapter.to_numpy(h) for h in net.hidden(x, training=True))
    # Layer 1 sees the same pre-activations in both modes, so among the units
    # that ReLU left alive, the share zeroed by dropout is Binomial(n, p1) / n.
    alive = h1_eval != 0
    n = int(alive.sum())
    dropped = int(np.count_nonzero(h1[alive] == 0))
    assert abs(dropped - n * p1) <= Z * math.sqrt(n * p1 * (1 - p1))
    # Kept units are scaled by 1 / (1 - p1).
    kept = alive & (h1 != 0)
    np.testing.assert_allclose(h1[kept], h1_eval[kept] / (1 - p1), rtol=1e-5)
    # Layer 2: zeros include every dropped unit, Binomial(h2.size, p2).
    m = h2.size
    assert np.count_nonzero(h2 == 0) >= m * p2 - Z * math.sqrt(m * p2 * (1 - p2))


def test_training_requires_an_explicit_mode(adapter, kind):
    net = build_mlp(kind, seed=0, backend=adapter.name)
    with pytest.raises(TypeError):
        net(images(adapter, 4))  # training= is keyword-only and required


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_guard_probabilities_in_models(adapter, kind, p):
    net = build_mlp(kind, dropout1=p, dropout2=p, seed=0, backend=adapter.name)
    x = images(adapter, 32)
    h1, h2 = (adapter.to_numpy(h) for h in net.hidden(x, training=True))
    if p == 1.0 and kind == "concise" and adapter.name == "mxnet":
        # A real framework difference, kept visible: Gluon's Dropout(1.0) scales
        # by 1/(1-p) = inf and returns 0 * inf = NaN; torch and Keras return zeros.
        assert np.isnan(h1).all()
    elif p == 1.0:
        assert not h1.any() and not h2.any()
    else:
        np.testing.assert_array_equal(h1, adapter.to_numpy(net.hidden(x, training=False)[0]))


@pytest.mark.parametrize("bad", [{"dropout1": 1.5}, {"dropout2": -0.1}, {"kind": "cnn"},
                                 {"init": "xavier"}])
def test_bad_model_arguments(bad):
    kwargs = {"backend": "torch", **bad}
    kind = kwargs.pop("kind", "scratch")
    with pytest.raises(ValueError, match="Received"):
        build_mlp(kind, **kwargs)


def test_same_seed_same_parameters_across_backends(selected_backends):
    """The concise models of every selected backend start from the same numbers.

    With one backend selected there is nothing to compare: skipped, not passed
    (test_normal_init_is_the_same_numbers_on_every_backend covers one backend).
    """
    if len(selected_backends) < 2:
        pytest.skip("needs two selected backends to compare")
    params = [build_mlp("concise", seed=21, backend=b).get_params() for b in selected_backends]
    for name, other in zip(selected_backends[1:], params[1:]):
        assert len(other) == len(params[0]) == 6, name
        for a, b in zip(params[0], other):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_external_masks_replace_the_random_draws(adapter, kind):
    """With given keep-masks, a training pass is deterministic and equals numpy's."""
    p1, p2 = 0.2, 0.5
    net = build_mlp(kind, dropout1=p1, dropout2=p2, seed=2, backend=adapter.name)
    rng = np.random.default_rng(9)
    params = [rng.normal(0, 0.05, p.shape).astype(np.float32) for p in net.get_params()]
    net.set_params(params)
    x = images(adapter, 32)
    m1 = (rng.random((32, 256)) > p1).astype(np.float32)
    m2 = (rng.random((32, 256)) > p2).astype(np.float32)
    masks = [adapter.from_numpy(m1), adapter.from_numpy(m2)]
    logits, (h1, h2) = adapter.mlp_forward(net.net, x, training=True, masks=masks)
    W1, b1, W2, b2, W3, b3 = params
    xn = adapter.to_numpy(x).reshape(32, -1)
    e1 = np.maximum(xn @ W1 + b1, 0) * m1 / (1 - p1)
    e2 = np.maximum(e1 @ W2 + b2, 0) * m2 / (1 - p2)
    np.testing.assert_allclose(adapter.to_numpy(h1), e1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(adapter.to_numpy(h2), e2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(adapter.to_numpy(logits), e2 @ W3 + b3, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("updater", ["scratch", "framework"])
@pytest.mark.parametrize("which", ["dropout1", "dropout2"])
def test_a_training_step_with_p_one(adapter, kind, which, updater):
    """p = 1 is a valid rate: the layer's output is zero, so the parameters before
    it get a zero gradient (not a missing one) and a step still runs (issue 17.1)."""
    require_updater(adapter.name, updater)
    net = build_mlp(kind, seed=0, backend=adapter.name, **{which: 1.0})
    before = net.get_params()
    step = adapter.make_train_step(net.net, 0.5, updater)
    x = images(adapter, 64)
    y = adapter.from_numpy(np.arange(64).astype(adapter.label_dtype) % 10)
    loss_sum, correct = step(x, y)
    if kind == "concise" and not _layer_drops_everything_cleanly(adapter):
        # The concise model is the framework's own layers: a Dropout layer that
        # is wrong at p = 1 (documented in d2ldrop compare) shows in the loss or
        # in the parameters it updates.
        finite = all(np.isfinite(p).all() for p in net.get_params())
        assert not (math.isfinite(loss_sum) and finite)
        return
    assert math.isfinite(loss_sum) and 0 <= correct <= 64
    after = net.get_params()
    # W1 (and W2 when the second layer drops everything) get no gradient: unchanged.
    frozen = [0, 1] if which == "dropout1" else [0, 1, 2, 3]
    for i in frozen:
        np.testing.assert_array_equal(after[i], before[i])
    assert not np.array_equal(after[-1], before[-1])  # the output bias still learns


def _layer_drops_everything_cleanly(adapter) -> bool:
    """Whether the framework's own Dropout layer at p = 1 gives zeros."""
    ones = adapter.from_numpy(np.ones((4, 4), np.float32))
    out = adapter.to_numpy(adapter.call_layer(adapter.make_dropout_layer(1.0), ones,
                                              training=True))
    return bool(np.all(out == 0))
