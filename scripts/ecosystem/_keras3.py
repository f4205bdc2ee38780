"""Keras 3's ``keras.random.dropout`` (with a ``SeedGenerator``) and ``keras.layers.Dropout``,
as one target per Keras backend. Keras reads ``KERAS_BACKEND`` once, at import, so each
backend is a module of its own (``keras_jax``, ``keras_torch``) declaring it in
``ENV_VARS``; this module, which declares no ``ENV``, is what they share."""

from __future__ import annotations

import os

import keras

from d2ldrop.conformance import Target
from ecosystem import Entry


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


def entries(backend: str, library: str) -> list[Entry]:
    """The target of ``keras.random.dropout`` on Keras's ``backend`` (d2ldrop's name)."""
    return [Entry(f"keras.random.dropout ({backend})", library,
                  lambda **c: Target(_dropout, backend=backend, layer=_layer,
                                     seed=SEEDS.seed, **c))]
