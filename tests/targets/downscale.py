"""The other convention (the 2014 paper's): keep x unscaled in training and
multiply by (1 - p) in evaluation, as PaddlePaddle's
``mode='downscale_in_infer'`` does. On numpy arrays.

``correct`` declares ``Target(convention="downscale")`` and conforms (its
function and its layer). ``upscale_labelled_downscale`` is inverted dropout
declared as "downscale" (fails "values", "eval_call", "layer_eval" and
"layer_train"); ``downscale_unlabelled`` is ``correct``'s
function with the default convention, "upscale" (fails "values", "mean",
"eval_call").
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


def downscale(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    _check(x, p)
    if not training:
        return (x.astype(np.float64) * (1 - p)).astype(x.dtype)  # one rounding
    if p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x, x.dtype.type(0))


def upscale(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x * x.dtype.type(1 / (1 - p)), x.dtype.type(0))


def _layer(fn):
    """A layer factory: ``layer(p)(x, training=...)`` calls ``fn``."""
    return lambda p: (lambda x, *, training: fn(x, p, training=training))


correct = Target(downscale, convention="downscale", name="downscale.correct",
                 layer=_layer(downscale))
upscale_labelled_downscale = Target(upscale, convention="downscale", layer=_layer(upscale),
                                    name="downscale.upscale_labelled_downscale")
downscale_unlabelled = Target(downscale, name="downscale.downscale_unlabelled")
