"""A numpy reference of the chapter's MLP: forward, backward and the SGD step.

No framework is involved: this is the oracle that each backend's training steps
are checked against (tests) and that lockstep runs are compared with
(:mod:`d2ldrop.lockstep`). It computes the scratch model,

    relu(X W1 + b1) -> dropout(p1) -> relu(. W2 + b2) -> dropout(p2) -> . W3 + b3,

softmax cross-entropy averaged over the batch, its gradients by hand, and
p <- p - lr * grad. Dropout takes its 0/1 keep-masks from the caller, exactly as
:func:`d2ldrop.backends.kernels.apply_mask` applies them, so given the same masks the
concise model (Linear/Dense + ReLU + Dropout) computes the same function too.

Parameters are in the canonical layout ``[W1, b1, W2, b2, W3, b3]``, each W of
shape (inputs, outputs). Arithmetic is done in ``dtype`` (float64 by default:
the closest numpy gets to exact arithmetic; float32 to mimic the frameworks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from d2ldrop.errors import InvalidArgumentError


def _dropout(h: np.ndarray, mask: np.ndarray | None, p: float) -> np.ndarray:
    """``kernels.apply_mask`` in numpy, same operation order: h * mask / (1 - p)."""
    if p == 1.0:
        return h * 0.0
    if p == 0.0 or mask is None:
        return h
    return h * mask / (1.0 - p)


@dataclass
class Cache:
    """What the backward pass needs from the forward pass."""

    x: np.ndarray
    pre: list[np.ndarray]  # X W + b of the two hidden layers, before ReLU
    hidden: list[np.ndarray]  # the two hidden activations after dropout
    scales: list[np.ndarray | float]  # d(dropout output)/d(relu output), per layer


def forward(
    params: Sequence[np.ndarray],
    x: np.ndarray,
    *,
    dropout: tuple[float, float],
    masks: Sequence[np.ndarray] | None = None,
    training: bool = True,
) -> tuple[np.ndarray, Cache]:
    """Logits of a batch ``x`` (any shape (n, ...), flattened to (n, inputs)).

    In training, dropout multiplies by ``masks[i] / (1 - p_i)``; with
    ``masks=None`` (or ``training=False``) dropout is the identity (evaluation).
    """
    W1, b1, W2, b2, W3, b3 = params
    dtype = W1.dtype
    h = np.asarray(x, dtype=dtype).reshape(len(x), W1.shape[0])
    cache = Cache(x=h, pre=[], hidden=[], scales=[])
    for i, (W, b) in enumerate(((W1, b1), (W2, b2))):
        pre = h @ W + b
        h = np.maximum(pre, 0)
        p = dropout[i]
        mask = None if masks is None or not training else np.asarray(masks[i], dtype=dtype)
        scale: np.ndarray | float
        if mask is None or p == 0.0:
            scale = 1.0
        elif p == 1.0:
            scale = 0.0
        else:
            scale = mask / dtype.type(1.0 - p)
        h = _dropout(h, mask, p) if mask is not None else h
        cache.pre.append(pre)
        cache.hidden.append(h)
        cache.scales.append(scale)
    return h @ W3 + b3, cache


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example softmax cross-entropy and the softmax probabilities (stable)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    losses = np.log(s[:, 0]) - z[np.arange(len(y)), y]
    return losses, e / s


def loss_and_grads(
    params: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    dropout: tuple[float, float],
    masks: Sequence[np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per-example losses, logits, and the gradients of the batch-mean loss.

    Gradients are in the canonical layout; ReLU's derivative at 0 is 0, as in
    the three frameworks.
    """
    y = np.asarray(y).astype(np.intp)
    logits, cache = forward(params, x, dropout=dropout, masks=masks, training=True)
    losses, probs = cross_entropy(logits, y)
    n = len(y)
    dz = probs
    dz[np.arange(n), y] -= 1
    dz /= n
    W1, _, W2, _, W3, _ = params
    grads: list[np.ndarray] = [None] * 6  # type: ignore[list-item]
    grads[4] = cache.hidden[1].T @ dz
    grads[5] = dz.sum(axis=0)
    dh = dz @ W3.T
    for i in (1, 0):
        dpre = dh * cache.scales[i] * (cache.pre[i] > 0)
        inputs = cache.hidden[0] if i == 1 else cache.x
        grads[2 * i] = inputs.T @ dpre
        grads[2 * i + 1] = dpre.sum(axis=0)
        if i == 1:
            dh = dpre @ W2.T
    return losses, logits, grads


class ReferenceMLP:
    """The MLP as numpy arrays, trained by hand: the oracle of lockstep runs.

    ``step`` and ``evaluate`` mirror the adapters' ``make_train_step`` and
    ``make_eval_step``: a training step returns (sum of the per-example losses,
    number of correct predictions); masks are required in training.
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        dropout: tuple[float, float],
        dtype: str | np.dtype = "float64",
    ) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise InvalidArgumentError(f"Expected a floating dtype. Received: dtype={dtype!r}")
        self.params = [np.array(p, dtype=self.dtype) for p in params]
        if len(self.params) != 6:
            raise InvalidArgumentError(f"Expected 6 parameter arrays. Received: {len(self.params)}")
        self.dropout = (float(dropout[0]), float(dropout[1]))

    def get_params(self) -> list[np.ndarray]:
        """Copies of the parameters, canonical layout."""
        return [p.copy() for p in self.params]

    def step(
        self, x: np.ndarray, y: np.ndarray, masks: Sequence[np.ndarray], lr: float
    ) -> tuple[float, int]:
        """One SGD step on the batch (p -= lr * grad); returns (loss sum, correct)."""
        losses, logits, grads = loss_and_grads(
            self.params, x, y, dropout=self.dropout, masks=masks
        )
        step = self.dtype.type(lr)
        for p, g in zip(self.params, grads):
            p -= step * g
        correct = int((logits.argmax(axis=1) == np.asarray(y)).sum())
        return float(losses.sum()), correct

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> int:
        """Correct predictions in evaluation mode (no dropout)."""
        logits, _ = forward(self.params, x, dropout=self.dropout, training=False)
        return int((logits.argmax(axis=1) == np.asarray(y)).sum())
