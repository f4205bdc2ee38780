"""What the departures of docs/ecosystem.md are (filled in from the observations).

Each :class:`Finding` matches departures by entry key, dtype and item (each a
prefix; "" matches all); :func:`match` gives the first that matches.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    id: str
    kind: str  # "bug", "difference" or "limit"
    title: str
    text: str
    keys: tuple[str, ...]
    items: tuple[str, ...]
    dtypes: tuple[str, ...] = ()
    reproducer: str = ""


_VALIDATION = ("edge[p<0]", "edge[p>1]", "edge[p=nan]")
_DTYPE_ITEMS = ("values", "eval_call", "gradient", "layer_eval", "layer_train", "edge[float",
                "edge[bfloat16]", "edge[p=0,large", "edge[p=1-")

FINDINGS: list[Finding] = [
    Finding(
        "tf-low-precision-uniforms", "bug",
        "tf.nn.dropout draws its uniforms in the input's dtype",
        "In bfloat16 the uniforms are multiples of 2^-7, so the drop rate is ceil(128 p) / "
        "128, not p: 1/128 = 0.0078 at p = 0.001, 2/128 at 0.01, 116/128 = 0.906 at 0.9 "
        "(and the expectation is biased by the same factor). In float16 they are "
        "multiples of 2^-10: the rate is off at p = 0.001 and nothing is ever kept for p "
        "above 1 - 2^-10. The low-precision drops are not independent either: two calls "
        "agree more often than chance, per-row and per-column drop counts are "
        "over-dispersed and neighbours are correlated (the agreement, rows, columns and "
        "lag-1 checks). The same bug class shipped in jwohlwend/boltz #553 (fixed in #554 "
        "by drawing in float32); tests/targets/shipped.py:uniforms_in_input_dtype "
        "reproduces the rate.",
        keys=("tf.nn.dropout",),
        items=("fraction", "mean", "variance", "agreement", "rows", "columns", "lag1",
               "edge[p="),
        dtypes=("bfloat16", "float16"),
        reproducer="""
import tensorflow as tf  # 2.17.1
tf.random.set_seed(0)
y = tf.nn.dropout(tf.ones([4_000_000], tf.bfloat16), rate=0.001)
print(float(tf.reduce_mean(tf.cast(y == 0, tf.float64))))  # 0.00787 = 1/128, not 0.001
""",
    ),
    Finding(
        "float32-scale-on-float64", "bug",
        "float64 inputs are scaled by a float32 1 / (1 - p)",
        "The kept values and the gradient of a float64 input carry float32 rounding "
        "(relative error 2.6e-8 at p = 0.1 where float64 allows 2e-16): p and the scale "
        "are float32 whatever the input's dtype. PaddlePaddle 3.3.1 (both the functional "
        "and the layer) and MXNet 1.9.1 (documented in d2ldrop/backends/mxnet/quirks.py). "
        "tests/targets/shipped.py:float64_scaled_in_float32 reproduces it.",
        keys=("paddle.nn.functional.dropout (upscale", "mxnet."),
        items=("values", "gradient", "layer_train", "edge[float64]", "mean"),
        dtypes=("float64",),
        reproducer="""
import numpy as np, paddle  # paddlepaddle 3.3.1
paddle.seed(0)
y = paddle.nn.functional.dropout(paddle.ones([100000], dtype="float64"), p=0.1).numpy()
print(np.unique(y[y != 0]), 1 / 0.9)  # [1.11111114] = float32(1/0.9), not 1.1111111111111112
""",
    ),
    Finding(
        "float32-p", "bug",
        "p is rounded to float32 before the scale is computed",
        "At p = 1 - 1e-4 the kept values are x / (1 - float32(p)), off by 2e-4 relative "
        "(1 - p is computed from a float32 p). Small, but the expectation is biased by "
        "the same amount. PaddlePaddle 3.3.1 and MXNet 1.9.1; in Paddle's "
        "downscale_in_infer mode the evaluation output x * (1 - p) carries the same "
        "rounding (2.4e-7 relative at p = 0.9 in float32, 1e-8 in float64).",
        keys=("paddle.", "mxnet."),
        items=("edge[p=1-1e-4,f32]", "eval_call", "layer_eval"),
        reproducer="""
import numpy as np, paddle  # paddlepaddle 3.3.1
paddle.seed(0)
y = paddle.nn.functional.dropout(paddle.ones([1_000_000]), p=1 - 1e-4).numpy()
print(y[y != 0][:1], 1 / 1e-4)  # ~10002 instead of 10000
""",
    ),
    Finding(
        "nan-at-p-one", "bug",
        "p = 1 returns NaN everywhere",
        "The kernel scales by 1 / (1 - p) = inf and 0 * inf = NaN, where every element "
        "should be dropped (the bug class of google/flax #2055). MXNet 1.9.1 "
        "(d2ldrop/backends/mxnet/quirks.py documents it).",
        keys=("mxnet.",), items=("edge[p=1]", "edge[p=1,nonfinite]"),
        reproducer="""
from mxnet import autograd, np, npx  # mxnet 1.9.1
npx.set_np()
with autograd.train_mode():
    print(npx.dropout(np.ones(4), p=1.0))  # [nan nan nan nan]
""",
    ),
    Finding(
        "rate-not-validated", "validation",
        "an invalid rate is accepted silently",
        "A rate below 0, above 1 or NaN raises nothing: the output is x, zeros, all NaN "
        "or x itself (NaN), depending on the library (each observation is above). Not a "
        "wrong result for a valid rate, but a typo in a config disables or saturates "
        "dropout without a word (google/flax #5497 reports it for "
        "flax.nnx.dot_product_attention).",
        keys=("",), items=_VALIDATION,
    ),
    Finding(
        "int-accepted", "validation",
        "an integer input is accepted and promoted",
        "int32 x comes back as a float array of dropped and scaled values instead of an "
        "error (the specification asks for a TypeError: dropout of integers is not "
        "defined).",
        keys=("",), items=("edge[int]",),
    ),
    Finding(
        "keras-dtype-policy", "difference",
        "Keras layers compute in their dtype policy's dtype (float32 by default)",
        "A Keras layer casts its input to the policy's compute dtype and returns that "
        "dtype: bfloat16, float16 and float64 inputs come back float32, in training and "
        "in evaluation (keras.mixed_precision / the layer's dtype= argument choose "
        "another). Documented Keras behaviour; the values themselves are right.",
        keys=("keras.",), items=_DTYPE_ITEMS, dtypes=("bfloat16", "float16", "float64"),
    ),
    Finding(
        "nonfinite-at-p-one", "difference",
        "p = 1 multiplies by a zero mask: NaN and inf inputs give NaN",
        "The specification asks for zeros at p = 1 whatever x is; x * 0 is NaN for NaN "
        "and inf inputs. Arithmetic, not an accident; PyTorch documents no special case.",
        keys=("torch.",), items=("edge[p=1,nonfinite]",),
    ),
    Finding(
        "p-one-refused", "difference",
        "p = 1 is refused",
        "The library documents rate in [0, 1) and raises at 1 (a declared "
        "Target(p_range='[0, 1)') would make this pass).",
        keys=("haiku.",), items=("edge[p=1]", "edge[p=1,nonfinite]"),
    ),
]


def match(key: str, dtype: str, item: str) -> Finding | None:
    for f in FINDINGS:
        if (any(key.startswith(k) for k in f.keys)
                and any(item.startswith(i) for i in f.items)
                and (not f.dtypes or dtype in f.dtypes)):
            return f
    return None
