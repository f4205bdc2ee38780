"""equinox's ``eqx.nn.Dropout``, called with a fresh key (``inference=not training``)."""

from __future__ import annotations

import equinox as eqx
import jax

from d2ldrop.conformance import Target
from ecosystem import Entry, KeyStream

ENV = "ecosystem"
KEYS = KeyStream()


def versions() -> dict[str, str]:
    return {"equinox": eqx.__version__, "jax": jax.__version__}


def _layer(p: float):
    module = eqx.nn.Dropout(p)

    def call(x: jax.Array, *, training: bool) -> jax.Array:
        return module(x, key=KEYS.next() if training else None, inference=not training)

    return call


def _dropout(x: jax.Array, p: float, *, training: bool = True) -> jax.Array:
    return _layer(p)(x, training=training)


def entries() -> list[Entry]:
    return [Entry("equinox.nn.Dropout", "equinox",
                  lambda **c: Target(_dropout, backend="jax", layer=_layer, seed=KEYS.seed,
                                     **c))]
