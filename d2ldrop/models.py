"""The chapter's two MLPs, built on any backend (backend-neutral front)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._dtypes import np_dtype
from d2ldrop._validate import check_probability, check_seed
from d2ldrop.backends.arrays import Tensor
from d2ldrop.backends.base import Adapter
from d2ldrop.backends.kernels import Noise, normal_init
from d2ldrop.errors import InvalidArgumentError

Kind = Literal["scratch", "concise"]
Init = Literal["normal", "framework"]

KINDS: tuple[str, ...] = ("scratch", "concise")
NOISES: tuple[str, ...] = ("dropout", "dropconnect", "gaussian-mult", "gaussian-add")
INITS: tuple[str, ...] = ("normal", "framework")
DTYPES: tuple[str, ...] = ("float32", "float64", "bfloat16")


@dataclass
class MLP:
    """An MLP 784-256-256-10 with dropout after each hidden ReLU (training only).

    ``net`` is the framework's own object (an ``nn.Module``, a Keras model or
    ``tf.Module``, a Gluon block); calling the MLP needs an explicit ``training``.
    Made by :func:`build_mlp`, not directly.

    Attributes:
        kind: ``"scratch"`` (raw parameters) or ``"concise"`` (the framework's
            Sequential with its Dropout layers).
        backend: the canonical name of the backend it was built on.
        dropout: the dropout probabilities after the first and second hidden layer.
        sizes: inputs, the two hidden widths, outputs.
        net: the framework's own model object.
        noise: the regularizer of the scratch model (``"dropout"`` by default).
        dtype: ``"float32"``, ``"float64"`` or ``"bfloat16"``.

    Example:
        >>> net = d2ldrop.build_mlp("concise", seed=0)  # on the active backend
        >>> logits = net(X, training=False)  # X: a (batch, 1, 28, 28) float32 tensor
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
        """Parameters as numpy arrays [W1, b1, W2, b2, W3, b3], W as (in, out).

        Returns:
            Six numpy arrays, copies: changing them leaves the model unchanged.
        """
        return self.adapter.get_mlp_params(self.net)

    def set_params(self, params: list[np.ndarray]) -> None:
        """Load parameters given as :meth:`get_params` returns them.

        Args:
            params: numpy arrays [W1, b1, W2, b2, W3, b3], W as (in, out).
        """
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
    same strength, see :func:`d2ldrop.backends.kernels.scratch_forward`. ``dtype``
    'float64' holds the parameters and computes in double precision (inputs are
    cast to it), for lockstep runs; 'bfloat16' holds and computes in bfloat16
    (the loss too) where the framework can; float32 is the chapter's.

    Args:
        kind: ``"scratch"``: raw parameters, ``relu(X W1 + b1)``, dropout, ...;
            ``"concise"``: the framework's ``Sequential`` with its ``Dropout``.
        dropout1: dropout probability after the first hidden layer, in [0, 1].
        dropout2: dropout probability after the second hidden layer, in [0, 1].
        num_inputs: input features (a 28 x 28 image is flattened to 784).
        num_hiddens1: width of the first hidden layer.
        num_hiddens2: width of the second hidden layer.
        num_outputs: classes.
        init: ``"normal"`` (numpy-drawn, the same on every backend) or
            ``"framework"`` (each framework's default).
        noise: ``"dropout"``, ``"dropconnect"``, ``"gaussian-mult"`` or
            ``"gaussian-add"``; anything but dropout needs the scratch model.
        seed: seeds the initial weights and the backend's generator; None
            leaves the generator as it is and draws fresh weights.
        backend: the backend's name or alias; None: the active one.
        dtype: ``"float32"`` (the chapter's), ``"float64"`` or ``"bfloat16"``.

    Returns:
        An :class:`MLP`; call it as ``net(X, training=True)``.

    Raises:
        ValueError: an unknown ``kind``, ``init``, ``noise`` or ``dtype``, a
            probability outside [0, 1], Gaussian noise at p = 1, or a bad seed.
        BackendNotAvailableError: the backend's framework is not installed.
        TypeError: the framework cannot build or train the model in ``dtype``
            on this device (bfloat16 where it lacks a kernel), naming its limit.

    Example:
        >>> net = d2ldrop.build_mlp("scratch", dropout1=0.2, dropout2=0.5, seed=0)
        >>> net.kind, net.dropout
        ('scratch', (0.2, 0.5))
    """
    if kind not in KINDS:
        raise InvalidArgumentError(f"Expected kind in {KINDS}. Received: kind={kind!r}")
    if init not in INITS:
        raise InvalidArgumentError(f"Expected init in {INITS}. Received: init={init!r}")
    if noise not in NOISES:
        raise InvalidArgumentError(f"Expected noise in {NOISES}. Received: noise={noise!r}")
    if noise != "dropout" and kind != "scratch":
        raise InvalidArgumentError(
            f"noise={noise!r} needs the scratch model. Received: kind={kind!r}"
        )
    if dtype not in DTYPES:
        raise InvalidArgumentError(f"Expected dtype in {DTYPES}. Received: dtype={dtype!r}")
    dropout = (check_probability(dropout1, "dropout1"), check_probability(dropout2, "dropout2"))
    if noise.startswith("gaussian") and max(dropout) == 1.0:
        raise InvalidArgumentError(
            f"noise={noise!r} has infinite variance at p = 1. Received: {dropout}"
        )
    if seed is not None:
        seed = check_seed(seed)
    given = (num_inputs, num_hiddens1, num_hiddens2, num_outputs)
    for name, size in zip(("num_inputs", "num_hiddens1", "num_hiddens2", "num_outputs"), given):
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
            raise InvalidArgumentError(f"Expected a positive integer {name}. Received: {size!r}")
    sizes = (int(num_inputs), int(num_hiddens1), int(num_hiddens2), int(num_outputs))
    adapter = get_adapter(backend)
    adapter.check_model_dtype(dtype)
    if seed is not None:
        adapter.seed(seed)
    # Drawn in float32 and rounded once to ``dtype`` (numpy has bfloat16 only through ml_dtypes).
    params = ([a.astype(np_dtype(dtype)) for a in normal_init(sizes, 0.01, seed)]
              if init == "normal" else None)
    net = adapter.build_mlp(kind, sizes, dropout, params, noise=noise, dtype=dtype)
    return MLP(kind=kind, backend=adapter.name, dropout=dropout, sizes=sizes, net=net,
               noise=noise, dtype=dtype)


def scratch_mlp(**kwargs: Any) -> MLP:
    """``build_mlp("scratch", ...)``: the chapter's model from raw parameters.

    Args:
        **kwargs: the keyword arguments of :func:`build_mlp`.

    Returns:
        An :class:`MLP` of kind ``"scratch"``.
    """
    return build_mlp("scratch", **kwargs)


def concise_mlp(**kwargs: Any) -> MLP:
    """``build_mlp("concise", ...)``: the framework's Sequential with its Dropout.

    Args:
        **kwargs: the keyword arguments of :func:`build_mlp`.

    Returns:
        An :class:`MLP` of kind ``"concise"``.
    """
    return build_mlp("concise", **kwargs)
