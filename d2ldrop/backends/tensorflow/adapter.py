"""TensorFlow adapter."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

# TensorFlow prints C++ start-up chatter at import unless told otherwise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from d2ldrop.backends import kernels
from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import ArrayOps, Tensor

keras = tf.keras  # Keras 3 from TensorFlow 2.16 on


class Ops(ArrayOps):
    def dtype_name(self, x: Tensor) -> str:
        return x.dtype.name

    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return tf.reshape(x, shape)

    def astype(self, x: Tensor, dtype: str) -> Tensor:
        return tf.cast(x, dtype)  # the identity if already that dtype

    def zeros_like(self, x: Tensor) -> Tensor:
        return tf.zeros_like(x)

    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        return tf.matmul(x, W) + b

    def relu(self, x: Tensor) -> Tensor:
        return tf.nn.relu(x)

    def uniform_like(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
        # tf.shape, not x.shape: inside a tf.function the batch size is unknown.
        size = tf.shape(x) if shape is None else shape
        return tf.random.uniform(size, 0.0, 1.0, dtype=tf.float32)

    def normal_like(self, x: Tensor) -> Tensor:
        return tf.random.normal(tf.shape(x), dtype=x.dtype)


class Adapter(_Base):
    name = "tensorflow"
    channels_last = True  # Keras's default image layout
    label_dtype = "int32"
    ops = Ops()

    def __init__(self) -> None:
        # Keras 3 Dropout layers own a SeedGenerator whose default seed comes
        # from Python's global `random`; we seed them from this instead, so that
        # seed() governs them without touching global state.
        self._layer_seeds = random.Random()

    def is_tensor(self, x: object) -> bool:
        # tf.Variable is not a tf.Tensor subclass but behaves as one in ops.
        return isinstance(x, (tf.Tensor, tf.Variable))

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return np.array(x.numpy(), copy=True)

    def from_numpy(self, a: np.ndarray) -> Tensor:
        return tf.convert_to_tensor(a)

    def hold(self, a: np.ndarray) -> np.ndarray:
        # Eager TensorFlow spends more on dispatching a gather (and converting
        # its index) than numpy spends on the gather and the copy together.
        return a

    def take(self, data: tuple[np.ndarray, ...], index: np.ndarray) -> tuple[Tensor, ...]:
        return tuple(tf.convert_to_tensor(a[index]) for a in data)

    def seed(self, seed: int) -> None:
        # Sets the global seed and, in eager mode, resets the per-op counter, so
        # the same seed gives the same sequence of draws.
        tf.random.set_seed(seed)
        self._layer_seeds.seed(seed)

    def _layer_seed(self) -> int:
        return self._layer_seeds.randint(1, 10**9)

    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        # tf.nn.dropout refuses rate=1 (ValueError): that difference is real and
        # is reported by the conformance tables, not papered over here.
        return tf.nn.dropout(x, rate=p)

    structured_dropouts = {
        "SpatialDropout1D": lambda self, x, p: keras.layers.SpatialDropout1D(
            p, seed=self._layer_seed())(x, training=True),
        "tf.nn.dropout(noise_shape)": lambda self, x, p: tf.nn.dropout(
            x, rate=p, noise_shape=[x.shape[0], 1, x.shape[2]]),
    }

    def make_dropout_layer(self, p: float) -> Any:  # a keras.layers.Dropout
        return keras.layers.Dropout(p, seed=self._layer_seed())

    def call_layer(self, layer: Any, x: Tensor, *, training: bool) -> Tensor:
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

    # -- models ----------------------------------------------------------------
    def _new_scratch_params(self, sizes: tuple[int, ...], dtype: str) -> list[Any]:
        # The framework's default initialization: that of keras Dense.
        glorot = keras.initializers.GlorotUniform()
        params = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            params.append(tf.Variable(glorot((i, o), dtype=dtype), name="W"))
            params.append(tf.Variable(tf.zeros(o, dtype=dtype), name="b"))
        return params

    def _new_concise(self, sizes: tuple[int, ...], dropout: tuple[float, float],
                     dtype: str) -> Any:
        # Every layer gets the dtype: Keras casts a layer's inputs to its own
        # compute dtype, so a float32 Dropout would round float64 activations.
        return keras.Sequential(
            [
                keras.Input(shape=sizes[:1], dtype=dtype),
                keras.layers.Dense(sizes[1], activation="relu", dtype=dtype),
                keras.layers.Dropout(dropout[0], seed=self._layer_seed(), dtype=dtype),
                keras.layers.Dense(sizes[2], activation="relu", dtype=dtype),
                keras.layers.Dropout(dropout[1], seed=self._layer_seed(), dtype=dtype),
                keras.layers.Dense(sizes[3], dtype=dtype),
            ]
        )

    def _layers(self, net: Any) -> list[Any]:
        return list(net.layers)

    def _dropout_rate(self, layer: Any) -> float | None:
        return layer.rate if isinstance(layer, keras.layers.Dropout) else None

    def _concise_input(self, net: Any, x: Tensor) -> Tensor:
        # The Sequential is built on flat inputs (its first layer would be the
        # chapter's Flatten); reshape so that every image layout fits.
        return tf.reshape(x, (-1, net.input_shape[-1]))

    def _concise_parameters(self, net: Any) -> list[tuple[Any, bool]]:
        dense = [la for la in net.layers if isinstance(la, keras.layers.Dense)]
        return [(v, False) for la in dense for v in (la.kernel, la.bias)]

    def _read(self, param: Any) -> np.ndarray:
        return np.array(param.numpy(), copy=True)

    def _write(self, param: Any, value: np.ndarray) -> None:
        # Keras 3 variables give their dtype as a string, tf.Variable as a DType.
        param.assign(np.asarray(value, dtype=tf.as_dtype(param.dtype).as_numpy_dtype))

    def _model_dtype(self, net: Any) -> str:
        return tf.as_dtype(self.parameters(net)[0][0].dtype).name

    def _variables(self, net: Any) -> list[Any]:
        return [v for v, _ in self.parameters(net)]

    def make_train_step(
        self, net: Any, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        variables = self._variables(net)
        optimizer = None
        if updater == "framework":
            # Keras applies weight decay as v -= lr * wd * v before the gradient
            # step: for plain SGD, the same update as adding wd * v to the gradient.
            optimizer = keras.optimizers.SGD(learning_rate=lr, weight_decay=weight_decay or None)
            optimizer.build(variables)  # create its state outside tf.function

        # One compiled graph per step: eager TensorFlow spends more time
        # dispatching ops than multiplying matrices at this size. Not XLA
        # (jit_compile=True): XLA ignores the seeds of the stateful
        # tf.random.uniform the scratch model draws (the same seed gives other
        # masks), gives Keras's Dropout another stream than the graph's (its
        # stateless ops auto-select another generator), and on CPU ran neither
        # step nor evaluation measurably faster (scripts/bench_train.py).
        @tf.function
        def step(x: Tensor, y: Tensor, masks: list[Tensor] | None) -> Tensor:
            with tf.GradientTape() as tape:
                logits, _ = self.mlp_forward(net, x, training=True, masks=masks)
                losses = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
                loss = tf.reduce_mean(losses)
            grads = tape.gradient(loss, variables)
            # A variable cut off by dropout with p = 1 has no gradient (None): zero.
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
            if optimizer is not None:
                optimizer.apply_gradients(zip(grads, variables))
            else:
                for v, g in zip(variables, grads):
                    v.assign_sub(kernels.sgd_delta(v, g, lr, weight_decay))
            correct = tf.reduce_sum(
                tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=y.dtype), y), tf.float64)
            )
            # One tensor, one read-back: class counts are exact in float64.
            return tf.stack([tf.cast(tf.reduce_sum(losses), tf.float64), correct])

        compiled = _Compiled(step)

        def run(x: Tensor, y: Tensor, masks: list[Tensor] | None = None) -> tuple[float, int]:
            loss_sum, correct = compiled(x, y, masks).numpy().tolist()
            return loss_sum, int(correct)

        return run

    def make_eval_step(self, net: Any) -> Callable[[Tensor, Tensor], int]:
        @tf.function
        def evaluate(x: Tensor, y: Tensor) -> Tensor:
            logits, _ = self.mlp_forward(net, x, training=False)
            predicted = tf.argmax(logits, axis=1, output_type=y.dtype)
            return tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.int32))

        compiled = _Compiled(evaluate)
        return lambda x, y: int(compiled(x, y))


class _Compiled:
    """A tf.function called through concrete functions, one per input signature.

    Each is traced once for any batch size; calling a concrete function skips
    the tf.function's argument matching, which costs ~0.3 ms per call (as much
    as the update of a batch).
    """

    def __init__(self, fn: Any):
        self._fn = fn
        self._concrete: dict[Any, Any] = {}

    def __call__(self, *args: Any) -> Tensor:
        args = tuple(_tensors(a) for a in args)
        key = tuple(_signature(a) for a in args)
        concrete = self._concrete.get(key)
        if concrete is None:
            specs = [_spec(a) for a in args]
            concrete = self._concrete[key] = self._fn.get_concrete_function(*specs)
        return concrete(*args)


# Arguments of the compiled steps are tensors, lists of tensors (masks) or None;
# the leading dimension, the batch, is left free. (tf.nest costs ~0.1 ms a call.)
def _tensors(a: Any) -> Any:
    if a is None:
        return None
    return [tf.convert_to_tensor(t) for t in a] if isinstance(a, list) else tf.convert_to_tensor(a)


def _signature(a: Any) -> Any:
    if a is None or isinstance(a, list):
        return None if a is None else tuple(_signature(t) for t in a)
    return tuple(a.shape[1:]), a.dtype


def _spec(a: Any) -> Any:
    if a is None or isinstance(a, list):
        return None if a is None else [_spec(t) for t in a]
    return tf.TensorSpec([None, *a.shape[1:]], a.dtype)
