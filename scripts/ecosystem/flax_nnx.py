"""flax.nnx's ``nnx.Dropout``: the module owns an ``nnx.Rngs`` stream made from a key of
the host-side stream (``seed(s)`` resets it) and advances it at each call."""

from __future__ import annotations

import flax
import jax
from flax import nnx

from d2ldrop.conformance import Target
from ecosystem import Entry, KeyStream

ENV = "ecosystem"
KEYS = KeyStream()


def versions() -> dict[str, str]:
    return {"flax": flax.__version__, "jax": jax.__version__}


def _layer(p: float):
    module = nnx.Dropout(rate=p, rngs=nnx.Rngs(dropout=KEYS.next()))

    def call(x: jax.Array, *, training: bool) -> jax.Array:
        return module(x, deterministic=not training)

    return call


def _dropout(x: jax.Array, p: float, *, training: bool = True) -> jax.Array:
    return _layer(p)(x, training=training)


def entries() -> list[Entry]:
    return [Entry("flax.nnx.Dropout", "flax (nnx)",
                  lambda **c: Target(_dropout, backend="jax", layer=_layer, seed=KEYS.seed,
                                     **c))]
