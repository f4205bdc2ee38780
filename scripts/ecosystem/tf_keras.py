"""TensorFlow's ``tf.nn.dropout`` and the Keras 3 layers ``Dropout`` and
``SpatialDropout1D`` on the TensorFlow backend (the `all` environment's TF 2.17)."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from d2ldrop.conformance import Target
from ecosystem import Entry

ENV = "all"
#: Set before the module is imported (Keras reads it once, at import).
ENV_VARS = {"KERAS_BACKEND": "tensorflow"}


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "keras": keras.__version__,
            "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "")}


def _tf_nn(x: tf.Tensor, p: float, *, training: bool = True) -> tf.Tensor:
    return tf.nn.dropout(x, rate=p) if training else x


class _Seeds:
    """Keras layers take an integer seed; ``seed(s)`` restarts the sequence."""

    def __init__(self) -> None:
        self.next = 1

    def seed(self, s: int) -> None:
        tf.random.set_seed(s)  # tf.nn.dropout's global seed
        self.next = s * 7919 + 1

    def take(self) -> int:
        self.next += 1
        return self.next % (2**31)


SEEDS = _Seeds()


def _keras(cls):
    def layer(p: float):
        obj = cls(p, seed=SEEDS.take())

        def call(x, *, training: bool):
            return obj(x, training=training)

        return call

    def dropout(x, p: float, *, training: bool = True):
        return layer(p)(x, training=training)

    return dropout, layer


def _layer_target(cls, **capabilities) -> Target:
    dropout, layer = _keras(cls)
    return Target(dropout, backend="tensorflow", layer=layer, seed=SEEDS.seed, **capabilities)


def entries() -> list[Entry]:
    return [
        Entry("tf.nn.dropout", "TensorFlow",
              lambda **c: Target(_tf_nn, backend="tensorflow", seed=SEEDS.seed,
                                 p_range="[0, 1)", **c)),
        Entry("keras.layers.Dropout (TF)", "Keras 3 / TensorFlow",
              lambda **c: _layer_target(keras.layers.Dropout, **c)),
        # (N, L, C): one mask value per (sample, channel), shared along L.
        Entry("keras.layers.SpatialDropout1D (TF)", "Keras 3 / TensorFlow",
              lambda **c: _layer_target(keras.layers.SpatialDropout1D, **c),
              capabilities={"broadcast_axes": (1,), "ndim": 3}),
    ]
