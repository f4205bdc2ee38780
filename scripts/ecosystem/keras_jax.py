"""Keras 3's ``keras.random.dropout`` (with a ``SeedGenerator``) and ``keras.layers.Dropout``
on the jax backend (KERAS_BACKEND=jax, set before keras is imported)."""

from __future__ import annotations

import os

import keras

from d2ldrop.conformance import Target
from ecosystem import Entry

ENV = "ecosystem"
#: Set before the module is imported (Keras reads it once, at import).
ENV_VARS = {"KERAS_BACKEND": "jax"}


def versions() -> dict[str, str]:
    return {"keras": keras.__version__, "keras backend": keras.backend.backend(),
            "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "")}


class _Seeds:
    """One SeedGenerator for the functional calls, and layer seeds; ``seed(s)``
    restarts both."""

    def __init__(self) -> None:
        self.seed(0)

    def seed(self, s: int) -> None:
        self.generator = keras.random.SeedGenerator(s)
        self.next = s * 7919 + 1

    def take(self) -> int:
        self.next += 1
        return self.next % (2**31)


SEEDS = _Seeds()


def _dropout(x, p: float, *, training: bool = True):
    return keras.random.dropout(x, p, seed=SEEDS.generator) if training else x


def _layer(p: float):
    obj = keras.layers.Dropout(p, seed=SEEDS.take())

    def call(x, *, training: bool):
        return obj(x, training=training)

    return call


def entries() -> list[Entry]:
    return [Entry("keras.random.dropout (jax)", "Keras 3 / JAX",
                  lambda **c: Target(_dropout, backend="jax", layer=_layer,
                                     seed=SEEDS.seed, **c))]
