"""A dropout written with MXNet's numpy interface, as a user's package would have
it (the example of docs/conformance.md)."""

from __future__ import annotations

from mxnet import autograd, gluon, np

from d2ldrop.conformance import Target


def dropout(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    if not 0.0 <= p <= 1.0:  # False for NaN too
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if x.dtype.kind != "f":
        raise TypeError(f"dropout needs a floating-point array, got {x.dtype}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return np.zeros_like(x)
    keep = np.random.uniform(0, 1, size=x.shape) >= p  # float32 uniforms
    return x * keep.astype(x.dtype) * (1.0 / (1.0 - p))


def layer(p: float):
    block = gluon.nn.Dropout(p)

    def call(x: np.ndarray, *, training: bool) -> np.ndarray:
        with autograd.train_mode() if training else autograd.predict_mode():
            return block(x)

    return call


target = Target(dropout, backend="mxnet", layer=layer)
