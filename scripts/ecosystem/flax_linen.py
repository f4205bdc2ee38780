"""flax.linen's ``nn.Dropout`` module, applied with a fresh ``dropout`` key per call."""

from __future__ import annotations

import flax
import flax.linen as nn
import jax

from d2ldrop.conformance import Target
from ecosystem import Entry, KeyStream

ENV = "ecosystem"
KEYS = KeyStream()


def versions() -> dict[str, str]:
    return {"flax": flax.__version__, "jax": jax.__version__}


def _layer(p: float):
    module = nn.Dropout(rate=p)

    def call(x: jax.Array, *, training: bool) -> jax.Array:
        rngs = {"dropout": KEYS.next()} if training else {}
        return module.apply({}, x, deterministic=not training, rngs=rngs)

    return call


def _dropout(x: jax.Array, p: float, *, training: bool = True) -> jax.Array:
    return _layer(p)(x, training=training)


def entries() -> list[Entry]:
    return [Entry("flax.linen.Dropout", "flax (linen)",
                  lambda **c: Target(_dropout, backend="jax", layer=_layer, seed=KEYS.seed,
                                     **c))]
