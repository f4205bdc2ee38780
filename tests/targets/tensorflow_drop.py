"""A dropout written with TensorFlow, as a user's package would have it (the
example of docs/conformance.md)."""

from __future__ import annotations

import keras
import tensorflow as tf

from d2ldrop.conformance import Target


def dropout(x: tf.Tensor, p: float, *, training: bool = True) -> tf.Tensor:
    if not 0.0 <= p <= 1.0:  # False for NaN too
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not x.dtype.is_floating:
        raise TypeError(f"dropout needs a floating-point tensor, got {x.dtype.name}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return tf.zeros_like(x)
    keep = tf.random.uniform(tf.shape(x)) >= p  # float32 uniforms for every dtype
    # tf.constant, not tf.cast: tf.cast(1.0 / (1.0 - p), tf.float64) rounds the
    # scale to float32 first (kept float64 values off by 5e-8: the suite sees it).
    scale = tf.constant(1.0 / (1.0 - p), dtype=x.dtype)
    return tf.where(keep, x * scale, tf.zeros_like(x))


def layer(p: float) -> keras.layers.Dropout:
    return keras.layers.Dropout(p)  # called as layer(x, training=...)


# keras.utils.set_random_seed seeds TensorFlow and Python's random, from which a
# Keras layer built without a seed takes its own.
target = Target(dropout, backend="tensorflow", layer=layer, seed=keras.utils.set_random_seed)
