"""Structured dropouts (one mask value per channel) on numpy arrays, and
PyTorch's own, declared with ``Target(broadcast_axes=...)``.

``correct`` drops whole channels of (N, C, L) inputs: the mask has shape
(N, C, 1), so it is shared along axis 2 (``broadcast_axes=(2,)``), as a
channel-wise Dropout1d does. ``wrong_axis`` declares the same but shares its
mask along axis 1 (the axis mix-up users report with Dropout2d on 3-D input):
the suite's "structure" check fails (and its layer's "layer_train").
``elementwise`` declares channels but drops elements one by one (fails
"structure"). ``torch_dropout1d`` is
``torch.nn.functional.dropout1d`` (backend torch; torch is imported on use).
"""

from __future__ import annotations

import math

import numpy as np

from d2ldrop.conformance import Target


def _check(x: np.ndarray, p: float) -> None:
    if not isinstance(p, (int, float)) or math.isnan(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be floating, got {x.dtype}")


def _drop(x: np.ndarray, p: float, training: bool, mask_shape) -> np.ndarray:
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    keep = np.random.random_sample(mask_shape(x.shape)) >= p
    return np.where(keep, x * x.dtype.type(1 / (1 - p)), x.dtype.type(0))


def _channels(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[:2], *(1 for _ in shape[2:])) if len(shape) > 2 else shape


def _rows(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], 1, *shape[2:]) if len(shape) > 2 else shape


def _correct(x, p, *, training=True):
    return _drop(x, p, training, _channels)


def _wrong_axis(x, p, *, training=True):
    return _drop(x, p, training, _rows)


def _elementwise(x, p, *, training=True):
    return _drop(x, p, training, lambda s: s)


def _layer(fn):
    """A layer factory: ``layer(p)(x, training=...)`` calls ``fn``."""
    return lambda p: (lambda x, *, training: fn(x, p, training=training))


correct = Target(_correct, broadcast_axes=(2,), ndim=3, name="structured.correct",
                 layer=_layer(_correct))
wrong_axis = Target(_wrong_axis, broadcast_axes=(2,), ndim=3, name="structured.wrong_axis",
                    layer=_layer(_wrong_axis))
elementwise = Target(_elementwise, broadcast_axes=(2,), ndim=3, name="structured.elementwise")


def _torch_dropout1d(x, p, *, training=True):
    import torch

    if x.ndim != 3:  # dropout1d takes (N, C, L) or (C, L); the suite's edge inputs vary
        raise ValueError(f"dropout1d expects a 3-D input, got {x.ndim}-D")
    return torch.nn.functional.dropout1d(x, p, training=training)


torch_dropout1d = Target(_torch_dropout1d, backend="torch", broadcast_axes=(2,), ndim=3,
                         name="torch dropout1d")
