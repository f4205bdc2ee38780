"""A dropout written with JAX (and a flax layer), as a user's package would have it
(the example of docs/conformance.md). JAX has no global generator: the module
keeps a key and splits it at each call, and declares how to seed it."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from d2ldrop.conformance import Target

_state = {"key": jax.random.key(0)}


def seed(s: int) -> None:
    _state["key"] = jax.random.key(s)


def _next_key() -> jax.Array:
    _state["key"], key = jax.random.split(_state["key"])
    return key


def dropout(x: jax.Array, p: float, *, training: bool = True) -> jax.Array:
    if not 0.0 <= p <= 1.0:  # False for NaN too
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"dropout needs a floating-point array, got {x.dtype}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return jnp.zeros_like(x)
    keep = jax.random.uniform(_next_key(), x.shape) >= p  # a new key every call
    return jnp.where(keep, x * jnp.asarray(1.0 / (1.0 - p), x.dtype), jnp.zeros_like(x))


def layer(p: float):
    module = nn.Dropout(rate=p)

    def call(x: jax.Array, *, training: bool) -> jax.Array:
        rngs = {"dropout": _next_key()} if training else {}
        return module.apply({}, x, deterministic=not training, rngs=rngs)

    return call


target = Target(dropout, backend="jax", layer=layer, seed=seed)


def frozen_key(x: jax.Array, p: float, *, training: bool = True) -> jax.Array:
    """The d2l JAX bug: one fixed key, so the same mask at every call."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"dropout needs a floating-point array, got {x.dtype}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return jnp.zeros_like(x)
    keep = jax.random.uniform(jax.random.key(0), x.shape) >= p
    return jnp.where(keep, x * jnp.asarray(1.0 / (1.0 - p), x.dtype), jnp.zeros_like(x))
