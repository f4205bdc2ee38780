"""The chapter's two MLPs, built on any backend (backend-neutral front)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._validate import check_probability
from d2ldrop.backends.base import Adapter
from d2ldrop.ops import guarded_dropout

Tensor = Any
Kind = Literal["scratch", "concise"]
Init = Literal["normal", "framework"]

Noise = Literal["dropout", "dropconnect", "gaussian-mult", "gaussian-add"]

KINDS: tuple[str, ...] = ("scratch", "concise")
NOISES: tuple[str, ...] = ("dropout", "dropconnect", "gaussian-mult", "gaussian-add")
INITS: tuple[str, ...] = ("normal", "framework")
DTYPES: tuple[str, ...] = ("float32", "float64")


def apply_mask(H: Tensor, mask: Tensor, p: float) -> Tensor:
    """Dropout with a given 0/1 keep-mask: H * mask / (1 - p) (zeros when p == 1)."""
    if p == 1.0:
        return H * 0.0
    if p == 0.0:
        return H
    return H * mask / (1.0 - p)


def hidden_noise(adapter: Adapter, H: Tensor, p: float, noise: Noise) -> Tensor:
    """The noise the scratch model injects into a hidden activation in training.

    'dropout' is the chapter's dropout_layer. The Gaussian variants have the
    variance dropout has: dropout multiplies h by m/(1-p), m ~ Bernoulli(1-p),
    whose variance is p/(1-p); 'gaussian-mult' multiplies by 1 + sigma*eps and
    'gaussian-add' adds sigma*eps (the variance dropout gives a unit h = 1),
    sigma^2 = p/(1-p), eps ~ N(0, 1).
    """
    if noise == "dropout":
        return guarded_dropout(adapter, H, p)
    if p == 0.0:
        return H
    sigma = math.sqrt(p / (1.0 - p))
    if noise == "gaussian-mult":
        return H * (1.0 + sigma * adapter.normal_like(H))
    return H + sigma * adapter.normal_like(H)  # gaussian-add


def scratch_forward(
    adapter: Adapter,
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
    X = adapter.reshape(x, (-1, adapter.fan_in(W1)))
    hidden = []
    H = X
    for i, (W, b) in enumerate(((W1, b1), (W2, b2))):
        if training and noise == "dropconnect" and masks is None:
            W = guarded_dropout(adapter, W, dropout[i])
        H = adapter.relu(adapter.affine(H, W, b))
        if training and masks is not None:
            H = apply_mask(H, masks[i], dropout[i])
        elif training and noise != "dropconnect":
            H = hidden_noise(adapter, H, dropout[i], noise)
        hidden.append(H)
    return adapter.affine(H, W3, b3), hidden


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


@dataclass
class MLP:
    """An MLP 784-256-256-10 with dropout after each hidden ReLU (training only).

    ``net`` is the framework's own object (an ``nn.Module``, a Keras model or
    ``tf.Module``, a Gluon block); calling the MLP needs an explicit ``training``.
    """

    kind: Kind
    backend: str
    dropout: tuple[float, float]
    sizes: tuple[int, int, int, int]
    net: Any = field(repr=False)
    noise: Noise = "dropout"
    dtype: str = "float32"

    @property
    def adapter(self) -> Adapter:
        return get_adapter(self.backend)

    def __call__(self, X: Tensor, *, training: bool) -> Tensor:
        """Logits for a batch; dropout is active only if ``training`` is True."""
        return self.adapter.mlp_forward(self.net, X, training=bool(training))[0]

    def hidden(self, X: Tensor, *, training: bool) -> list[Tensor]:
        """The two hidden activations after dropout (what the next layer sees)."""
        return self.adapter.mlp_forward(self.net, X, training=bool(training))[1]

    def get_params(self) -> list[np.ndarray]:
        """Parameters as numpy arrays [W1, b1, W2, b2, W3, b3], W as (in, out)."""
        return self.adapter.get_mlp_params(self.net)

    def set_params(self, params: list[np.ndarray]) -> None:
        self.adapter.set_mlp_params(self.net, params)


def build_mlp(
    kind: Kind = "scratch",
    *,
    dropout1: float = 0.2,
    dropout2: float = 0.5,
    num_inputs: int = 784,
    num_hiddens1: int = 256,
    num_hiddens2: int = 256,
    num_outputs: int = 10,
    init: Init = "normal",
    noise: Noise = "dropout",
    seed: int | None = None,
    backend: str | None = None,
    dtype: str = "float32",
) -> MLP:
    """The chapter's scratch (raw parameters) or concise (Sequential) MLP.

    ``init="normal"``: weights normal(0, 0.01), zero biases, the same numbers on
    every backend for a given ``seed``; ``init="framework"``: each framework's
    default initialization (what the chapter's TensorFlow code uses).
    ``noise`` (scratch model only) replaces dropout by another regularizer of the
    same strength, see :func:`scratch_forward`. ``dtype`` 'float64' holds the
    parameters and computes in double precision (inputs are cast to it), for
    lockstep runs; float32 is the chapter's.
    """
    if kind not in KINDS:
        raise ValueError(f"Expected kind in {KINDS}. Received: kind={kind!r}")
    if init not in INITS:
        raise ValueError(f"Expected init in {INITS}. Received: init={init!r}")
    if noise not in NOISES:
        raise ValueError(f"Expected noise in {NOISES}. Received: noise={noise!r}")
    if noise != "dropout" and kind != "scratch":
        raise ValueError(f"noise={noise!r} needs the scratch model. Received: kind={kind!r}")
    if dtype not in DTYPES:
        raise ValueError(f"Expected dtype in {DTYPES}. Received: dtype={dtype!r}")
    dropout = (check_probability(dropout1, "dropout1"), check_probability(dropout2, "dropout2"))
    if noise.startswith("gaussian") and max(dropout) == 1.0:
        raise ValueError(f"noise={noise!r} has infinite variance at p = 1. Received: {dropout}")
    sizes = (num_inputs, num_hiddens1, num_hiddens2, num_outputs)
    adapter = get_adapter(backend)
    if seed is not None:
        adapter.seed(seed)
    params = normal_init(sizes, 0.01, seed, dtype) if init == "normal" else None
    net = adapter.build_mlp(kind, sizes, dropout, params, noise=noise, dtype=dtype)
    return MLP(kind=kind, backend=adapter.name, dropout=dropout, sizes=sizes, net=net,
               noise=noise, dtype=dtype)


def scratch_mlp(**kwargs: Any) -> MLP:
    """``build_mlp("scratch", ...)``: the chapter's model from raw parameters."""
    return build_mlp("scratch", **kwargs)


def concise_mlp(**kwargs: Any) -> MLP:
    """``build_mlp("concise", ...)``: the framework's Sequential with its Dropout."""
    return build_mlp("concise", **kwargs)
