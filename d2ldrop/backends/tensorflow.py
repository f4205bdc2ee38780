"""TensorFlow adapter."""

from __future__ import annotations

import os
from collections.abc import Callable

# TensorFlow prints C++ start-up chatter at import unless told otherwise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from d2ldrop.backends.base import Adapter as _Base  # noqa: E402
from d2ldrop.backends.base import Tensor  # noqa: E402


class Adapter(_Base):
    name = "tensorflow"
    channels_last = True  # Keras's default image layout
    label_dtype = "int32"

    def is_tensor(self, x: object) -> bool:
        # tf.Variable is not a tf.Tensor subclass but behaves as one in ops.
        return isinstance(x, (tf.Tensor, tf.Variable))

    def dtype_name(self, x: Tensor) -> str:
        return x.dtype.name

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return np.array(x.numpy(), copy=True)

    def from_numpy(self, a: np.ndarray) -> Tensor:
        return tf.convert_to_tensor(a)

    def zeros_like(self, x: Tensor) -> Tensor:
        return tf.zeros_like(x)

    def seed(self, seed: int) -> None:
        # Sets the global seed and, in eager mode, resets the per-op counter, so
        # the same seed gives the same sequence of draws.
        tf.random.set_seed(seed)

    def scratch_dropout(self, x: Tensor, p: float) -> Tensor:
        # See Adapter.scratch_dropout for why float32 uniforms and arithmetic.
        xc = x if x.dtype == tf.float64 else tf.cast(x, tf.float32)
        mask = tf.random.uniform(tf.shape(x), 0.0, 1.0, dtype=tf.float32) > p
        return tf.cast(tf.cast(mask, xc.dtype) * xc / (1.0 - p), x.dtype)

    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        # tf.nn.dropout refuses rate=1 (ValueError): that difference is real and
        # is reported by the conformance tables, not papered over here.
        return tf.nn.dropout(x, rate=p)

    def make_dropout_layer(self, p: float) -> tf.keras.layers.Layer:
        return tf.keras.layers.Dropout(p)

    def call_layer(self, layer: tf.keras.layers.Layer, x: Tensor, *, training: bool) -> Tensor:
        return layer(x, training=training)

    def value_and_grad(
        self, fn: Callable[[Tensor], Tensor], x: Tensor
    ) -> tuple[Tensor, Tensor]:
        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            total = tf.reduce_sum(y)
        grad = tape.gradient(total, x)
        return y, tf.zeros_like(x) if grad is None else grad
