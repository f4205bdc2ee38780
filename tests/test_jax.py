"""What is JAX's own: explicit keys, never reused, never frozen into a compiled step.

JAX has no global generator, so the jax backend keeps a host-side key stream
(seed -> base key, next_key -> fold_in(base, counter)) and gives each jitted
step a fresh key, from which every draw inside splits its own. Each test here
runs with JAX's key-reuse checker on, so a key used twice fails it.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from support import SELECTED_BACKENDS, require_backend

import d2ldrop
from d2ldrop.errors import BackendNotAvailableError

pytestmark = pytest.mark.skipif("jax" not in SELECTED_BACKENDS, reason="jax not selected")


@pytest.fixture(autouse=True)
def jax():
    """The jax module (skipped, or failed under CI, where it is missing), with the
    key-reuse checker on for the test."""
    require_backend("jax")
    import jax

    before = jax.config.jax_debug_key_reuse
    jax.config.update("jax_debug_key_reuse", True)
    yield jax
    jax.config.update("jax_debug_key_reuse", before)


@pytest.fixture
def adapter(jax):
    """The jax adapter (this module's tests are jax's only)."""
    return d2ldrop.backends.get_adapter("jax")


def ones(shape):
    return d2ldrop.from_numpy(np.ones(shape, np.float32), backend="jax")


def dropout(x, p):
    return d2ldrop.dropout_layer(x, p, backend="jax")


def drops(y) -> np.ndarray:
    return np.asarray(y) == 0


def test_key_reuse_checking_is_on(jax, adapter):
    """The checker the other tests rely on: a key used for two draws is an error."""
    key = adapter.next_key()
    jax.random.uniform(key, (4,))
    with pytest.raises(jax.errors.KeyReuseError):
        jax.random.uniform(key, (4,))


@pytest.mark.parametrize("impl, first, after_split", [
    ("rbg", [0.03096437, 0.39845943, 0.6417507, 0.14498043, 0.35861075],
     [0.60530114, 0.93571413, 0.01230884]),
    ("threefry2x32", [0.8423141, 0.18237865, 0.2271781, 0.12072563, 0.19181347],
     [0.09083593, 0.362208, 0.6216069]),
])
def test_the_stream_gives_the_same_bits_on_every_jax_version(jax, impl, first, after_split):
    """The first uniforms after seed 0, and after a split of the next key (how a
    compiled step derives its draws), on jax 0.4.30 and on jax 0.10: the same for
    the adapter's rbg keys (XLA's Philox on CPU) and for JAX's default threefry
    keys. Both derive keys with threefry, which depends on jax_threefry_partitionable
    (its default changed in jax 0.5; the adapter sets it)."""
    from d2ldrop.backends.jax.adapter import Adapter

    adapter = Adapter()  # a stream of its own: d2ldrop's adapter keeps its rbg keys
    adapter.prng_impl = impl
    adapter.seed(0)
    key = adapter.next_key()
    assert key.dtype == jax.random.key(0, impl=impl).dtype
    np.testing.assert_allclose(np.asarray(jax.random.uniform(key, (5,), dtype="float32")),
                               first, rtol=1e-6)
    _, sub = jax.random.split(adapter.next_key())
    np.testing.assert_allclose(np.asarray(jax.random.uniform(sub, (3,), dtype="float32")),
                               after_split, rtol=1e-6)


@pytest.mark.parametrize("impl", ["scratch", "builtin", "layer", "scratch model",
                                  "concise model"])
def test_two_calls_two_masks_and_the_same_seed_the_same_masks(adapter, impl):
    layer = adapter.make_dropout_layer(0.5)
    net = _same_shape_net(adapter, impl.split()[0]) if impl.endswith("model") else None
    fn = {
        "scratch": lambda x: dropout(x, 0.5),
        "builtin": lambda x: adapter.builtin_dropout(x, 0.5),
        "layer": lambda x: adapter.call_layer(layer, x, training=True),
    }.get(impl, lambda x: net.hidden(x[:, :16], training=True)[0])
    x = ones((64, 64))
    d2ldrop.seed(7, backend="jax")
    first, second = drops(fn(x)), drops(fn(x))
    assert not np.array_equal(first, second)
    d2ldrop.seed(7, backend="jax")
    np.testing.assert_array_equal(drops(fn(x)), first)
    np.testing.assert_array_equal(drops(fn(x)), second)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_keeps_where_the_uniform_exceeds_p(jax, adapter, p, dtype):
    """The chapter's direction, u > p, not jax.random.bernoulli's u < 1 - p: the
    same uniforms, computed in numpy, give the same mask and the same values."""
    shape = (32, 64)
    x_np = (1.0 + np.arange(np.prod(shape)).reshape(shape) % 7 / 8.0).astype(dtype)
    adapter.seed(11)
    u = np.asarray(jax.random.uniform(adapter.next_key(), shape, dtype="float32"))
    adapter.seed(11)
    y = np.asarray(dropout(adapter.from_numpy(x_np), p))
    compute = np.float64 if dtype == "float64" else np.float32
    expected = ((u > np.float32(p)) * x_np.astype(compute) / (1.0 - p)).astype(dtype)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y != 0, u > np.float32(p))
    # XLA turns x / c for a constant c into x * (1 / c), one rounding more than
    # numpy's division (jax 0.10 does it eagerly too): within the chapter's 4 ulps.
    np.testing.assert_allclose(y, expected, rtol=4 * np.finfo(dtype).eps, atol=0)
    # bernoulli(1 - p) keeps where u < 1 - p: other masks for the same key.
    assert not np.array_equal(y != 0, u < 1.0 - p)


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_the_gradient_is_the_mask_over_one_minus_p_with_one_draw(jax, adapter, p):
    x = adapter.from_numpy(np.random.default_rng(0).uniform(0.5, 2.0, (48, 48)).astype("f4"))
    adapter.seed(5)
    y, grad = adapter.value_and_grad(lambda t: dropout(t, p), x)
    kept = np.asarray(y) != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(np.asarray(grad), kept / np.float32(1.0 - p), rtol=1e-6)
    # One draw: the stream moved on by exactly one key.
    after = jax.random.key_data(adapter.next_key())
    adapter.seed(5)
    adapter.next_key()
    np.testing.assert_array_equal(np.asarray(after),
                                  np.asarray(jax.random.key_data(adapter.next_key())))
    # jax.grad of the same call draws once too, and agrees with the mask it drew.
    adapter.seed(5)
    g = jax.grad(lambda t: dropout(t, p).sum())(x)
    np.testing.assert_array_equal(np.asarray(g) != 0, kept)


def _same_shape_net(adapter, kind):
    """A model whose hidden layers have the same shape, and whose masks can be read
    off its hidden activations: every pre-activation is positive."""
    net = d2ldrop.build_mlp(kind, num_inputs=16, num_hiddens1=64, num_hiddens2=64,
                            dropout1=0.5, dropout2=0.5, seed=0, backend="jax")
    W1 = np.full((16, 64), 0.1, np.float32)
    W2, b2 = np.eye(64, dtype=np.float32), np.ones(64, np.float32)
    net.set_params([W1, np.zeros(64, np.float32), W2, b2,
                    np.zeros((64, 10), np.float32), np.zeros(10, np.float32)])
    return net


@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_both_hidden_layers_get_their_own_mask_in_a_jitted_step(jax, adapter, kind):
    """The book's JAX trap: one default key for both layers drops the same units."""
    net = _same_shape_net(adapter, kind)
    x = ones((32, 16))

    @jax.jit
    def hidden(params, key):
        return adapter.forward(net.net, params, x, training=True, key=key)[1]

    h1, h2 = hidden(net.net.params, adapter.next_key())
    m1, m2 = drops(h1), drops(h2)
    assert 0.3 < m1.mean() < 0.7 and 0.3 < m2.mean() < 0.7
    assert not np.array_equal(m1, m2)
    # Eagerly too (the model called outside a step).
    e1, e2 = (drops(h) for h in net.hidden(x, training=True))
    assert not np.array_equal(e1, e2)


@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_successive_jitted_steps_draw_new_masks_and_a_seed_repeats_them(adapter, kind):
    """With a learning rate too small to move a parameter, only the masks can make
    the loss of the same batch differ from step to step."""
    x = adapter.from_numpy(np.random.default_rng(1).random((64, 28, 28, 1), np.float32))
    y = adapter.from_numpy((np.arange(64) % 10).astype(adapter.label_dtype))

    def losses(masks=None):
        net = d2ldrop.build_mlp(kind, seed=3, backend="jax")
        step = adapter.make_train_step(net.net, 1e-30, "scratch")
        results = [step(x, y, masks) for _ in range(3)]
        assert all(isinstance(s, float) and isinstance(c, int) for s, c in results)
        return [s for s, _ in results]

    first = losses()
    assert len(set(first)) == 3
    assert losses() == first  # build_mlp(seed=3) reseeds the stream
    masks = [adapter.from_numpy((np.arange(64 * 256).reshape(64, 256) % 3 > 0).astype("f4"))
             for _ in range(2)]
    assert len(set(losses(masks))) == 1  # the control: fixed masks, fixed loss


def test_a_host_stream_draw_inside_jax_jit_is_an_error(jax, adapter):
    """Inside a caller's jax.jit the host key would become a constant of the compiled
    function (the same mask at every call): refused, with the way out."""
    net = d2ldrop.build_mlp("scratch", seed=0, backend="jax")
    x = ones((4, 784))
    for fn in (lambda t: dropout(t, 0.5),
               lambda t: adapter.builtin_dropout(t, 0.5),
               lambda t: net(t, training=True)):
        with pytest.raises(RuntimeError, match="jax.jit") as info:
            jax.jit(fn)(x)
        assert "keyed_dropout" in str(info.value)
    # Evaluation draws nothing, so it traces fine.
    assert jax.jit(lambda t: net(t, training=False))(x).shape == (4, 10)
    # The way out: the key as an argument, a new key a new mask.
    keyed = jax.jit(lambda t, k: adapter.keyed_dropout(t, 0.5, k))
    big = ones((64, 64))
    a, b = keyed(big, adapter.next_key()), keyed(big, adapter.next_key())
    assert not np.array_equal(drops(a), drops(b))


def test_the_framework_updater_without_optax_says_why(adapter, monkeypatch):
    net = d2ldrop.build_mlp("scratch", seed=0, backend="jax")
    monkeypatch.setitem(sys.modules, "optax", None)  # `import optax` raises ImportError
    with pytest.raises(BackendNotAvailableError, match="optax") as info:
        adapter.make_train_step(net.net, 0.5, "framework")
    assert "numpy" in str(info.value) and "updater='scratch'" in str(info.value)


@pytest.mark.parametrize("kind", ["scratch", "concise"])
def test_the_framework_updater_is_the_scratch_update(adapter, kind):
    """Where optax imports (d2ldrop[jax]), optax.sgd with weight decay takes the
    scratch updater's step."""
    try:
        import optax  # noqa: F401
    except Exception as err:  # noqa: BLE001 - optax installed but broken is "missing" too
        pytest.skip(f"optax does not import here ({type(err).__name__}); see the test above")
    x = adapter.from_numpy(np.random.default_rng(2).random((32, 784), np.float32))
    y = adapter.from_numpy((np.arange(32) % 10).astype(adapter.label_dtype))
    masks = [adapter.from_numpy(np.ones((32, 256), np.float32))] * 2
    params = []
    for updater in ("scratch", "framework"):
        net = d2ldrop.build_mlp(kind, seed=4, backend="jax")
        adapter.make_train_step(net.net, 0.1, updater, weight_decay=0.01)(x, y, masks)
        params.append(net.get_params())
    for a, b in zip(*params):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
