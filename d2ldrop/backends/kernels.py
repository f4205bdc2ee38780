"""The chapter's numerics, written once against :class:`~d2ldrop.backends.arrays.ArrayOps`.

Every backend runs these same functions on its own tensors (eagerly, or traced
into a graph: the ops object decides). They sit below the adapters: adapters
and the neutral front (``d2ldrop.ops``, ``d2ldrop.models``) import them, they
import nothing of d2ldrop but the ops protocol.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from d2ldrop.backends.arrays import ArrayOps, Tensor

Noise = Literal["dropout", "dropconnect", "gaussian-mult", "gaussian-add"]


def dropout(ops: ArrayOps, x: Tensor, p: float, broadcast_axes: tuple[int, ...] = ()) -> Tensor:
    """The chapter's dropout for 0 < p < 1 (arguments already validated).

    Keep an element where a U[0, 1) sample exceeds ``p`` and scale the kept
    ones by 1 / (1 - p); dtype and shape of ``x`` are kept. With
    ``broadcast_axes`` (non-negative, validated) one sample decides for all
    elements along those axes: the mask has length 1 there and is broadcast.

    Uniforms are float32 for every input dtype (float16 and bfloat16 have too
    few values in [0, 1) to compare with p), and half-precision inputs are
    computed in float32 and rounded once at the end: frameworks differ in how
    they round ``float16 / python_float`` (TensorFlow casts the scalar to
    float16 first, PyTorch does not), and this way every backend gives the same
    bits: each kept value is x / (1 - p) within one rounding to the dtype (after
    one in float32).
    """
    dtype = ops.dtype_name(x)
    compute = "float64" if dtype == "float64" else "float32"
    xc = x if dtype == compute else ops.astype(x, compute)
    shape = None
    if broadcast_axes:
        shape = tuple(1 if i in broadcast_axes else n for i, n in enumerate(ops.shape(x)))
    keep = ops.astype(ops.uniform_like(x, shape) > p, compute)
    out = ops.divide(keep * xc, 1.0 - p)
    return out if dtype == compute else ops.astype(out, dtype)


def guarded_dropout(ops: ArrayOps, x: Tensor, p: float,
                    broadcast_axes: tuple[int, ...] = ()) -> Tensor:
    """:func:`dropout` for any validated p: ``x`` itself at 0, zeros at 1."""
    if p == 0.0:
        return x
    if p == 1.0:
        return ops.zeros_like(x)
    return dropout(ops, x, p, broadcast_axes)


def apply_mask(H: Tensor, mask: Tensor, p: float) -> Tensor:
    """Dropout with a given 0/1 keep-mask: H * mask / (1 - p) (zeros when p == 1)."""
    if p == 1.0:
        return H * 0.0
    if p == 0.0:
        return H
    return H * mask / (1.0 - p)


def hidden_noise(ops: ArrayOps, H: Tensor, p: float, noise: Noise) -> Tensor:
    """The noise the scratch model injects into a hidden activation in training.

    'dropout' is the chapter's dropout_layer. The Gaussian variants have the
    variance dropout has: dropout multiplies h by m/(1-p), m ~ Bernoulli(1-p),
    whose variance is p/(1-p); 'gaussian-mult' multiplies by 1 + sigma*eps and
    'gaussian-add' adds sigma*eps (the variance dropout gives a unit h = 1),
    sigma^2 = p/(1-p), eps ~ N(0, 1).
    """
    if noise == "dropout":
        return guarded_dropout(ops, H, p)
    if p == 0.0:
        return H
    sigma = math.sqrt(p / (1.0 - p))
    if noise == "gaussian-mult":
        return H * (1.0 + sigma * ops.normal_like(H))
    return H + sigma * ops.normal_like(H)  # gaussian-add


def scratch_forward(
    ops: ArrayOps,
    params: list[Tensor],
    x: Tensor,
    *,
    training: bool,
    dropout: tuple[float, float],
    masks: list[Tensor] | None = None,
    noise: Noise = "dropout",
) -> tuple[Tensor, list[Tensor]]:
    """The chapter's scratch model, written once for every backend.

    relu(X W1 + b1) -> dropout(p1) -> relu(. W2 + b2) -> dropout(p2) -> . W3 + b3,
    dropout only when ``training``. With ``masks`` (two 0/1 keep-masks, for
    lockstep runs), they replace the random draws. ``noise`` swaps dropout for
    another regularizer (the chapter's exercises): 'dropconnect' drops weights
    of W1 and W2 (with p1, p2) instead of activations; 'gaussian-mult' and
    'gaussian-add' are described in :func:`hidden_noise`. Returns the logits and
    the two hidden activations after the noise.
    """
    W1, b1, W2, b2, W3, b3 = params
    H = ops.reshape(x, (-1, ops.fan_in(W1)))
    hidden = []
    for i, (W, b) in enumerate(((W1, b1), (W2, b2))):
        if training and noise == "dropconnect" and masks is None:
            W = guarded_dropout(ops, W, dropout[i])
        H = ops.relu(ops.affine(H, W, b))
        if training and masks is not None:
            H = apply_mask(H, masks[i], dropout[i])
        elif training and noise != "dropconnect":
            H = hidden_noise(ops, H, dropout[i], noise)
        hidden.append(H)
    return ops.affine(H, W3, b3), hidden


def sgd_delta(param: Tensor, grad: Tensor, lr: float, weight_decay: float) -> Tensor:
    """What minibatch SGD subtracts from ``param``: lr * (grad + weight_decay * param).

    For plain SGD the coupled L2 form and the frameworks' decoupled weight decay
    are the same update.
    """
    return lr * (grad + weight_decay * param) if weight_decay else lr * grad


def normal_init(
    sizes: tuple[int, ...],
    sigma: float = 0.01,
    seed: int | None = None,
    dtype: str = "float32",
) -> list[np.ndarray]:
    """Weights ~ normal(0, sigma) and zero biases, drawn in numpy from ``seed``.

    This is the chapter's MXNet/PyTorch choice; drawing it in numpy gives every
    backend the same initial parameters for the same seed. Layout: [W1, b1, ...],
    each W of shape (inputs, outputs). The draws are rounded to float32 before
    they are held in ``dtype``, so a float64 model starts from the same numbers.
    """
    rng = np.random.default_rng(seed)
    params: list[np.ndarray] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = rng.normal(0.0, sigma, size=(n_in, n_out)).astype(np.float32)
        params.append(W.astype(dtype, copy=False))
        params.append(np.zeros(n_out, dtype=dtype))
    return params
