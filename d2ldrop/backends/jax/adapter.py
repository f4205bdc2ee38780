"""JAX adapter: pure functions, explicit random keys, flax.linen for the concise model.

JAX has no global random generator, so this adapter keeps the randomness
contract of :mod:`d2ldrop.backends.base` with a host-side key stream: ``seed(n)``
sets a base key ``jax.random.key(n)`` and a counter; :meth:`Adapter.next_key` is
``fold_in(base, counter)``, then the counter moves on. Eager draws (``ops``,
``builtin_dropout``, the layers) each take the next key. A compiled step is
given one fresh key as an argument, and each draw inside it splits off its own
key from it (:class:`KeyedOps`): nothing random is a constant of a compiled
function. A host-stream draw inside a caller's own ``jax.jit`` trace would be
exactly that, so it raises :class:`TracedDrawError`; :meth:`Adapter.keyed_dropout`
takes the key as an argument instead.

The keys are ``rbg`` keys: XLA's RngBitGenerator (Philox on CPU and GPU) draws
the bits, from keys derived with threefry. A step's masks cost 0.33 ms instead
of 1.41 with JAX's default threefry keys (jax 0.4.30; 0.83 and 0.95 on jax 0.10).
A seed gives the same bits on both versions on CPU (tests/test_jax.py pins
them); unlike threefry's, rbg's bits are not promised to match across platforms
(a TPU has its own generator). Runs stored with threefry keys are not reused.

Importing this module sets two process-wide JAX options:

- ``jax_enable_x64``: float64 models (the lockstep runs) need it. Every dtype
  here is given explicitly, so float32 code computes in float32 as before; a
  caller's own ``jnp.asarray(1.0)`` becomes float64 (and flax's Dropout draws
  float64 uniforms: its ``bernoulli`` takes the rate's dtype).
- ``jax_threefry_partitionable = True``, the default from jax 0.5 on, set so
  that a seed gives the same keys on jax 0.4.30 (the ``all`` environment) and on
  the newest jax: both kinds of key derive with threefry.
"""

from __future__ import annotations

import functools
import operator
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax.core import unfreeze

from d2ldrop._validate import check_probability
from d2ldrop.backends import kernels
from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import ArrayOps, ScratchNet, Tensor
from d2ldrop.errors import BackendNotAvailableError, MissingKeyError, TracedDrawError

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_threefry_partitionable", True)

Key = Any  # a typed key array, jax.random.key(...)


_TRACED_DRAW = (
    "The jax backend draws its masks from a host-side key stream (d2ldrop.seed), which "
    "cannot be used inside jax.jit or another staged trace: the key would become a "
    "constant of the compiled function, the same mask at every call. Call it outside "
    "the trace, or pass a key: d2ldrop.backends.get_adapter('jax').keyed_dropout(x, p, key)."
)


class Ops(ArrayOps):
    """Array primitives on ``jax.Array``; each draw asks ``next_key`` for its key."""

    def __init__(self, next_key: Callable[[], Key]):
        self._next_key = next_key

    def dtype_name(self, x: Tensor) -> str:
        return np.dtype(x.dtype).name

    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return jnp.reshape(x, shape)

    def astype(self, x: Tensor, dtype: str) -> Tensor:
        return x if self.dtype_name(x) == dtype else x.astype(dtype)

    def zeros_like(self, x: Tensor) -> Tensor:
        return jnp.zeros_like(x)

    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        return jnp.matmul(x, W) + b

    def relu(self, x: Tensor) -> Tensor:
        return jax.nn.relu(x)

    def uniform_like(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
        return jax.random.uniform(self._next_key(), shape or jnp.shape(x), dtype=jnp.float32)

    def normal_like(self, x: Tensor) -> Tensor:
        return jax.random.normal(self._next_key(), jnp.shape(x), dtype=x.dtype)


class KeyedOps(Ops):
    """Ops bound to one key: each draw splits off a key of its own (pure, traceable)."""

    def __init__(self, key: Key | None):
        super().__init__(self._split)
        self._key = key

    def _split(self) -> Key:
        if self._key is None:  # a computation that was planned to draw nothing
            raise MissingKeyError("this computation was given no random key")
        self._key, sub = jax.random.split(self._key)
        return sub


class Sequential(nn.Module):
    """flax.linen's ``Sequential``, passing the mode (and lockstep masks) to Dropout
    (``nn.Sequential`` passes keyword arguments to its first layer only). Returns
    the logits and the activations after each Dropout layer."""

    layers: Sequence[Callable[..., Any]]

    def __call__(
        self, x: Tensor, *, training: bool, masks: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        hidden: list[Tensor] = []
        for layer in self.layers:
            if isinstance(layer, nn.Dropout):
                if training and masks is not None:
                    x = kernels.apply_mask(x, masks[len(hidden)], layer.rate)
                else:
                    x = layer(x, deterministic=not training)
                hidden.append(x)
            else:
                x = layer(x)
        return x, hidden


@dataclass(eq=False)
class ConciseNet:
    """The concise model: a flax module and its parameters (a mutable holder,
    since JAX arrays are immutable: a training step replaces ``params``)."""

    module: Sequential
    params: dict[str, Any]
    in_features: int


@dataclass(frozen=True)
class _Slot:
    """One parameter of a model, by place: JAX arrays cannot be written in place."""

    net: Any
    path: tuple[Any, ...]

    def _parent(self) -> Any:
        return functools.reduce(operator.getitem, self.path[:-1], self.net.params)

    def get(self) -> Tensor:
        return self._parent()[self.path[-1]]

    def set(self, value: Tensor) -> None:
        self._parent()[self.path[-1]] = value


def _replace_params(net: Any, params: Any) -> None:
    if isinstance(net, ScratchNet):
        net.params[:] = params  # the neutral ScratchNet keeps its list object
    else:
        net.params = params


def _cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Per-example softmax cross-entropy of integer labels."""
    logp = jax.nn.log_softmax(logits, axis=1)
    return -jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=1)[:, 0]


def _correct(logits: Tensor, y: Tensor) -> Tensor:
    return jnp.sum(jnp.argmax(logits, axis=1) == y)


# Compiled once: eager jax.random.fold_in spends ~0.2 ms in Python per key.
_fold_in = jax.jit(jax.random.fold_in)


@jax.jit
def _gather(arrays: tuple[Tensor, ...], index: Tensor) -> tuple[Tensor, ...]:
    return tuple(jnp.take(a, index, axis=0) for a in arrays)


def _optax() -> Any:
    """optax, or BackendNotAvailableError saying why it is missing."""
    try:
        import optax
    except Exception as err:  # noqa: BLE001 - an installed optax may fail to import too
        raise BackendNotAvailableError(
            "updater='framework' on the jax backend is optax.sgd, and optax does not import "
            f"here ({type(err).__name__}: {err}). optax needs chex, and every chex release "
            "that works with jax 0.4.30 needs numpy >= 1.24.1: optax cannot join d2ldrop[all]'s "
            "numpy 1.23.5 (MXNet's). Use updater='scratch', or d2ldrop[jax] alone (numpy 2)."
        ) from err
    return optax


class Adapter(_Base):
    name = "jax"
    channels_last = True  # flax's convention, NHWC
    label_dtype = "int32"
    prng_impl = "rbg"  # the keys' generator (see the module docstring)

    def __init__(self) -> None:
        # Unseeded, the stream starts from fresh entropy (as numpy's default_rng()).
        self.seed(secrets.randbits(32))
        self.ops = Ops(self.next_key)

    def framework_updater_error(self) -> str | None:
        try:
            _optax()
        except BackendNotAvailableError as err:
            return str(err)
        return None

    # -- tensors ---------------------------------------------------------------
    def is_tensor(self, x: object) -> bool:
        return isinstance(x, jax.Array)  # tracers included

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return np.array(x, copy=True)

    def from_numpy(self, a: np.ndarray) -> Tensor:
        return jnp.asarray(a, dtype=a.dtype)  # dtype explicit: jnp would canonicalize

    def take(self, data: tuple[Tensor, ...], index: np.ndarray) -> tuple[Tensor, ...]:
        # One compiled gather for all arrays: eager indexing dispatches op by op.
        return _gather(tuple(data), jnp.asarray(index))

    # -- randomness ------------------------------------------------------------
    def seed(self, seed: int) -> None:
        self._base = jax.random.key(seed, impl=self.prng_impl)
        self._count = 0

    def next_key(self) -> Key:
        """A fresh key from the host stream, ``fold_in(base, counter)`` (32-bit counter)."""
        key = _fold_in(self._base, np.uint32(self._count & 0xFFFFFFFF))
        if isinstance(key, jax.core.Tracer):  # we are inside jax.jit (or another staging)
            raise TracedDrawError(_TRACED_DRAW)
        self._count += 1
        return key

    def keyed_ops(self, key: Key) -> KeyedOps:
        """Array ops whose draws derive from ``key`` (pure: usable inside ``jax.jit``)."""
        return KeyedOps(key)

    def keyed_dropout(self, x: Tensor, p: float, key: Key) -> Tensor:
        """The chapter's ``dropout_layer`` drawing from ``key`` (usable inside ``jax.jit``)."""
        return kernels.guarded_dropout(KeyedOps(key), x, check_probability(p, "p"))

    # -- the framework's own dropout -------------------------------------------
    structured_dropouts = {"nn.Dropout(broadcast_dims=(1,))":
                           lambda self, x, p: self.builtin_dropout(x, p, (1,))}

    def builtin_dropout(self, x: Tensor, p: float, dims: tuple[int, ...] = ()) -> Tensor:
        # flax's Dropout keeps where bernoulli(1 - p), i.e. u < 1 - p (jax/quirks.py).
        return nn.Dropout(rate=p, broadcast_dims=dims).apply(
            {}, x, deterministic=False, rngs={"dropout": self.next_key()})

    def make_dropout_layer(self, p: float) -> nn.Dropout:
        return nn.Dropout(rate=p)

    def call_layer(self, layer: nn.Module, x: Tensor, *, training: bool) -> Tensor:
        rngs = {"dropout": self.next_key()} if training else {}
        return layer.apply({}, x, deterministic=not training, rngs=rngs)

    def value_and_grad(self, fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
        # fn is traced once (one draw); its vjp with ones is the gradient of sum(fn(x)).
        y, vjp = jax.vjp(fn, x)
        (grad,) = vjp(jnp.ones_like(y))
        return y, grad

    # -- models: hooks ---------------------------------------------------------
    def _new_scratch_params(self, sizes: tuple[int, ...], dtype: str) -> list[Any]:
        # The framework's default initialization: flax Dense's (LeCun normal, zeros).
        init = nn.initializers.lecun_normal()
        params = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            params.append(init(self.next_key(), (i, o), dtype))
            params.append(jnp.zeros((o,), dtype=dtype))
        return params

    def _new_concise(self, sizes: tuple[int, ...], dropout: tuple[float, float],
                     dtype: str) -> ConciseNet:
        def dense(n: int) -> nn.Dense:
            return nn.Dense(n, dtype=dtype, param_dtype=dtype)

        module = Sequential(layers=(
            dense(sizes[1]), nn.relu, nn.Dropout(dropout[0]),
            dense(sizes[2]), nn.relu, nn.Dropout(dropout[1]),
            dense(sizes[3]),
        ))
        x = jnp.zeros((1, sizes[0]), dtype=dtype)
        variables = module.init(self.next_key(), x, training=False)
        # Plain nested dicts, so that set_mlp_params can replace a leaf.
        return ConciseNet(module, unfreeze(variables["params"]), sizes[0])

    def _layers(self, net: ConciseNet) -> list[Any]:
        return list(net.module.layers)

    def _dropout_rate(self, layer: Any) -> float | None:
        return layer.rate if isinstance(layer, nn.Dropout) else None

    def _concise_parameters(self, net: ConciseNet) -> list[tuple[Any, bool]]:
        names = [f"layers_{i}" for i, la in enumerate(net.module.layers)
                 if isinstance(la, nn.Dense)]
        # Dense's kernel is (in, out): the canonical layout.
        return [(_Slot(net, (n, leaf)), False) for n in names for leaf in ("kernel", "bias")]

    def parameters(self, net: Any) -> list[tuple[Any, bool]]:
        # Slots, not arrays: a JAX array cannot be written, only replaced in its model.
        if isinstance(net, ScratchNet):
            return [(_Slot(net, (k,)), False) for k in range(len(net.params))]
        return self._concise_parameters(net)

    def _read(self, param: _Slot) -> np.ndarray:
        return np.array(param.get(), copy=True)

    def _write(self, param: _Slot, value: np.ndarray) -> None:
        param.set(jnp.asarray(value, dtype=param.get().dtype))

    def _model_dtype(self, net: Any) -> str:
        return self.dtype_name(self.parameters(net)[0][0].get())

    # -- models: the forward pass, pure given a key ------------------------------
    def forward(
        self, net: Any, params: Any, x: Tensor, *, training: bool,
        masks: list[Tensor] | None = None, key: Key | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """Logits and hidden activations of ``net``'s structure with ``params``; pure (the
        draws derive from ``key``, needed in training without ``masks``), so traceable."""
        return _forward(_structure(net), params, x, training=training, masks=masks, key=key)

    def _draw_key(self, training: bool, masks: list[Tensor] | None) -> Key | None:
        return self.next_key() if training and masks is None else None

    def _scratch_forward(self, net: Any, x: Tensor, *, training: bool,
                         masks: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        return self.forward(net, net.params, x, training=training, masks=masks,
                            key=self._draw_key(training, masks))

    _concise_forward = _scratch_forward  # one pure forward pass for both models

    # -- training: jitted steps ------------------------------------------------
    def make_train_step(
        self, net: Any, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        tx, update = _compiled_update(_structure(net), float(lr), float(weight_decay),
                                      updater == "framework")
        state = {"opt": None if tx is None else tx.init(net.params)}

        def step(x: Tensor, y: Tensor, masks: list[Tensor] | None = None) -> tuple[float, int]:
            key = self._draw_key(True, masks)
            params, state["opt"], sums = update(net.params, state["opt"], x, y, key, masks)
            _replace_params(net, params)
            loss_sum, correct = np.asarray(sums).tolist()  # one read-back
            return loss_sum, int(correct)

        return step

    def make_eval_step(self, net: Any) -> Callable[[Tensor, Tensor], int]:
        correct = _compiled_correct(_structure(net))
        return lambda x, y: int(correct(net.params, x, y))


# -- the forward pass and the compiled steps, per model structure ---------------
@dataclass(frozen=True)
class _Structure:
    """What a forward pass needs besides the parameters. Hashable and compared by
    value, so that models of one structure share their compiled steps (a compile
    costs about a second, a new model in every run of an experiment)."""

    dropout: tuple[float, float] = (0.0, 0.0)  # the scratch model's (the module has its own)
    noise: kernels.Noise = "dropout"
    module: Sequential | None = None  # the concise model's, None for the scratch one
    in_features: int = 0


def _structure(net: Any) -> _Structure:
    if isinstance(net, ScratchNet):
        return _Structure(net.dropout, net.noise)
    return _Structure(module=net.module, in_features=net.in_features)


def _forward(s: _Structure, params: Any, x: Tensor, *, training: bool,
             masks: list[Tensor] | None, key: Key | None) -> tuple[Tensor, list[Tensor]]:
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    x = x if x.dtype == dtype else x.astype(dtype)
    if s.module is None:
        return kernels.scratch_forward(KeyedOps(key), params, x, training=training,
                                       dropout=s.dropout, masks=masks, noise=s.noise)
    rngs = {"dropout": key} if key is not None else {}
    return s.module.apply({"params": params}, jnp.reshape(x, (-1, s.in_features)),
                          training=training, masks=masks, rngs=rngs)


@functools.lru_cache(maxsize=64)
def _compiled_update(s: _Structure, lr: float, weight_decay: float,
                     framework: bool) -> tuple[Any, Callable[..., Any]]:
    """The optax transformation (or None) and the jitted SGD step of structure ``s``."""
    tx = None
    if framework:
        optax = _optax()
        # add_decayed_weights then sgd: -lr * (grad + wd * p), the scratch update.
        tx = optax.sgd(lr)
        if weight_decay:
            tx = optax.chain(optax.add_decayed_weights(weight_decay), tx)

    def loss(params: Any, x: Tensor, y: Tensor, key: Key | None,
             masks: list[Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        logits, _ = _forward(s, params, x, training=True, masks=masks, key=key)
        losses = _cross_entropy(logits, y)
        return jnp.mean(losses), (losses, logits)

    @jax.jit
    def update(params: Any, opt_state: Any, x: Tensor, y: Tensor, key: Key | None,
               masks: list[Tensor] | None) -> tuple[Any, Any, Tensor]:
        grads, (losses, logits) = jax.grad(loss, has_aux=True)(params, x, y, key, masks)
        if tx is None:
            params = jax.tree_util.tree_map(
                lambda p, g: p - kernels.sgd_delta(p, g, lr, weight_decay), params, grads)
        else:
            updates, opt_state = tx.update(grads, opt_state, params)
            params = jax.tree_util.tree_map(lambda p, u: p + u, params, updates)
        # One array: class counts are exact in float64.
        sums = jnp.stack([jnp.sum(losses).astype(jnp.float64),
                          _correct(logits, y).astype(jnp.float64)])
        return params, opt_state, sums

    return tx, update


@functools.lru_cache(maxsize=64)
def _compiled_correct(s: _Structure) -> Callable[..., Tensor]:
    """The jitted count of correct predictions (evaluation mode) of structure ``s``."""

    @jax.jit
    def correct(params: Any, x: Tensor, y: Tensor) -> Tensor:
        logits, _ = _forward(s, params, x, training=False, masks=None, key=None)
        return _correct(logits, y)

    return correct
