"""TensorFlow's ``tf.nn.dropout`` and Keras ``Dropout`` where they differ from the
chapter's (docs/conformance.md)."""

from __future__ import annotations

import math

import numpy as np

from d2ldrop._dtypes import np_dtype
from d2ldrop.backends.quirks import Quirks, Structured

_KERAS_DTYPE = (
    "a Keras layer computes in its dtype policy, float32 by default: it casts a "
    "float16, bfloat16 or float64 input to float32, in evaluation and in training"
)


_BF16_RATE = (
    "tf.nn.dropout draws bfloat16 uniforms, whose 7 fraction bits put them on the grid "
    "k/128, and keeps u >= rate (rate rounded to bfloat16): it drops with probability "
    "ceil(128 bfloat16(p)) / 128, not p (p = 0.001 drops 0.78%, p = 0.01 1.56%, p = 0.3 "
    "30.47%)"
)


def drop_probability(p: float, dtype: str) -> float:
    """The probability with which ``tf.nn.dropout(x, rate=p)`` drops on ``dtype`` input.

    It draws uniforms in the input's dtype and keeps u >= rate. Float16 uniforms
    lie on the grid k/1024 (k = 0..1023) and the rate is rounded to float16, so
    it drops with probability ceil(1024 float16(p)) / 1024; bfloat16 uniforms
    (7 fraction bits) lie on k/128 and the rate is rounded to bfloat16:
    ceil(128 bfloat16(p)) / 128 (p = 0.001 drops 1/128 = 0.78%, p = 0.3 drops
    39/128 = 0.3047). In float32 and float64 the grid is fine enough that the
    rate is p.
    """
    if dtype == "float16":
        return math.ceil(1024 * float(np.float16(p))) / 1024
    if dtype == "bfloat16":
        return math.ceil(128 * float(np.asarray(p).astype(np_dtype("bfloat16")))) / 128
    return p


QUIRKS = Quirks(
    builtin_differences={
        "p=1": ("ValueError", "tf.nn.dropout requires rate in [0, 1)"),
        "p=1,nonfinite": ("ValueError", "tf.nn.dropout requires rate in [0, 1)"),
        "p=1-2^-11,f16": (
            "zeros",
            "uniforms are drawn in the input dtype; float16 ones are multiples of 2^-10 "
            "below 1, none >= rate, so everything is dropped",
        ),
        "p=1-1e-4,f16": (
            "zeros",
            "rate is compared in float16, where 1 - 1e-4 rounds to 1: nothing is kept",
        ),
        "p=nan": (
            "zeros",
            "rate < 0 or rate >= 1 is False for NaN; uniform >= NaN keeps nothing",
        ),
        "int": ("ValueError", "tf.nn.dropout requires a floating input"),
        "nonfinite": (
            "x: 0 or x/(1-p); nan: 0 or nan; +inf: 0 or +inf; -inf: 0 or -inf",
            "dropped elements are selected with where(mask, x * scale, 0): exactly 0, "
            "even for NaN and inf",
        ),
    },
    # Only float32 is gated by ``d2ldrop compare``; ``d2ldrop stats --dtype`` shows these.
    stat_differences={
        "float16": {
            "fraction": (
                "tf.nn.dropout draws float16 uniforms on the grid k/1024 and keeps u >= rate, "
                "so it drops with probability ceil(1024 float16(p)) / 1024, not p: the bias "
                "is up to 2^-10 (p = 0.001 drops 0.2%); mean, variance, agreement and "
                "rows/columns follow it"
            ),
            "layer_eval": _KERAS_DTYPE,
            "layer_train": _KERAS_DTYPE,
        },
        "bfloat16": {
            "fraction": _BF16_RATE,
            # Each of these is computed for rate p and follows the drop probability.
            **{name: "computed for rate p, it follows the drop probability (see fraction)"
               for name in ("mean", "variance", "agreement", "rows", "columns", "lag1")},
            "layer_eval": _KERAS_DTYPE,
            "layer_train": _KERAS_DTYPE,
        },
        "float64": {"layer_eval": _KERAS_DTYPE, "layer_train": _KERAS_DTYPE},
    },
    builtin_drop_probability=drop_probability,
    structured={
        "SpatialDropout1D": Structured((1,), 3, (
            "channels last, (N, L, C): one mask value per (n, c), shared along the "
            "steps (axis 1); Keras names neither axis, the layout decides"
        )),
        "tf.nn.dropout(noise_shape)": Structured((1,), 3, (
            "noise_shape is the mask's shape, 1 on the shared axes: [N, 1, C] on "
            "(N, L, C) shares along axis 1"
        )),
    },
)
