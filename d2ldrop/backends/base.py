"""The interface every framework adapter implements.

Adapters do only what needs the framework: create and convert tensors, draw
random numbers, run an op, differentiate. Validation, guards (p == 0, p == 1),
statistics, data decoding and the CLI are backend-neutral and live elsewhere.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import numpy as np

Tensor = Any

FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})


class Adapter(abc.ABC):
    #: Canonical backend name.
    name: str
    #: Images are batched as (N, H, W, C) if True, else (N, C, H, W).
    channels_last: bool
    #: dtype of label tensors, as a numpy dtype name.
    label_dtype: str

    # -- tensors ---------------------------------------------------------------
    @abc.abstractmethod
    def is_tensor(self, x: object) -> bool:
        """True if ``x`` is a tensor of this framework."""

    @abc.abstractmethod
    def dtype_name(self, x: Tensor) -> str:
        """The element type of ``x`` as a numpy-style name ('float32', 'int64')."""

    def is_floating(self, x: Tensor) -> bool:
        return self.dtype_name(x) in FLOAT_DTYPES

    @abc.abstractmethod
    def to_numpy(self, x: Tensor) -> np.ndarray:
        """A numpy copy of ``x`` (detached from any autograd graph)."""

    @abc.abstractmethod
    def from_numpy(self, a: np.ndarray) -> Tensor:
        """A tensor with the values, shape and dtype of ``a`` (may share its memory)."""

    def hold(self, a: np.ndarray) -> Any:
        """A whole dataset array kept in memory for :meth:`take` (by default a tensor)."""
        return self.from_numpy(a)

    @abc.abstractmethod
    def take(self, data: tuple[Any, ...], index: np.ndarray) -> tuple[Tensor, ...]:
        """Tensors of the rows ``a[index]`` (copies) of each array held by :meth:`hold`."""

    @abc.abstractmethod
    def zeros_like(self, x: Tensor) -> Tensor:
        """Zeros with the shape and dtype of ``x``."""

    @abc.abstractmethod
    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor: ...

    @abc.abstractmethod
    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        """``x @ W + b`` for a weight held as :meth:`fan_in` says: a fused op where
        the framework has one."""

    def fan_in(self, W: Tensor) -> int:
        """The number of inputs of a scratch-model weight W as this adapter holds it.

        The chapter's layout (in, out) by default; an adapter whose fused affine op
        takes (out, in) may hold W that way (get/set_mlp_params still speak (in, out)).
        """
        return self.shape(W)[0]

    def shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(int(n) for n in x.shape)

    @abc.abstractmethod
    def relu(self, x: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def normal_like(self, x: Tensor) -> Tensor:
        """Standard normal samples with the shape and dtype of ``x``."""

    # -- randomness ------------------------------------------------------------
    @abc.abstractmethod
    def seed(self, seed: int) -> None:
        """Seed the framework's global random generator."""

    # -- ops -------------------------------------------------------------------
    @abc.abstractmethod
    def scratch_dropout(self, x: Tensor, p: float) -> Tensor:
        """The chapter's dropout for 0 < p < 1 (arguments already validated).

        Keep an element where a U[0, 1) sample exceeds ``p`` and scale the kept
        ones by 1 / (1 - p); dtype and shape of ``x`` are kept.

        Uniforms are float32 for every input dtype (float16 has too few values in
        [0, 1) to compare with p), and half-precision inputs are computed in
        float32 and rounded once at the end: frameworks differ in how they round
        ``float16 / python_float`` (TensorFlow casts the scalar to float16 first,
        PyTorch does not), and this way all three give the same bits.
        """

    @abc.abstractmethod
    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        """The framework's own functional dropout, in training mode, 0 <= p <= 1."""

    @abc.abstractmethod
    def make_dropout_layer(self, p: float) -> Any:
        """The framework's own dropout layer (nn.Dropout, keras Dropout, gluon Dropout)."""

    @abc.abstractmethod
    def call_layer(self, layer: Any, x: Tensor, *, training: bool) -> Tensor:
        """Apply a layer to ``x`` in training or evaluation mode (explicitly)."""

    @abc.abstractmethod
    def value_and_grad(
        self, fn: Callable[[Tensor], Tensor], x: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``fn(x)`` and the gradient of ``sum(fn(x))`` with respect to ``x``.

        A function whose output does not depend on ``x`` has a zero gradient.
        """

    # -- models and training (the chapter's MLPs) --------------------------------
    # Parameters cross the adapter boundary as numpy arrays in one canonical
    # layout, whatever the framework stores: [W1, b1, W2, b2, W3, b3] with each
    # W of shape (inputs, outputs).

    @abc.abstractmethod
    def build_mlp(
        self,
        kind: str,
        sizes: tuple[int, int, int, int],
        dropout: tuple[float, float],
        params: list[np.ndarray] | None,
        noise: str = "dropout",
        dtype: str = "float32",
    ) -> Any:
        """A ``kind`` ('scratch' or 'concise') MLP with layer ``sizes`` (in, h1, h2, out).

        'scratch' holds raw parameters and applies the chapter's dropout_layer
        after each hidden ReLU; 'concise' is the framework's Sequential with its
        own Dropout layers. ``params`` None keeps the framework's default
        initialization. ``noise`` (scratch only) is passed to scratch_forward.
        ``dtype`` ('float32' or 'float64') is that of the parameters and of the
        computation: mlp_forward casts inputs to it.
        """

    @abc.abstractmethod
    def mlp_forward(
        self, net: Any, x: Tensor, *, training: bool, masks: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """Logits and the two hidden activations after dropout, in the given mode.

        ``masks``: two 0/1 keep-masks applied (in training) instead of the model's
        own dropout draws, for both models (the lockstep runs).
        """

    @abc.abstractmethod
    def get_mlp_params(self, net: Any) -> list[np.ndarray]:
        """The parameters as numpy arrays, canonical layout."""

    @abc.abstractmethod
    def set_mlp_params(self, net: Any, params: list[np.ndarray]) -> None:
        """Load parameters given as numpy arrays in the canonical layout."""

    @abc.abstractmethod
    def make_train_step(
        self, net: Any, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        """A function ``step(x, y, masks=None)`` running one SGD step, in training mode.

        The loss is softmax cross-entropy averaged over the batch. ``updater``
        'scratch' updates each parameter as p -= lr * grad by hand; 'framework'
        uses the framework's SGD optimizer. ``weight_decay`` adds wd * p to every
        parameter's gradient (for plain SGD the coupled L2 form and the
        frameworks' decoupled forms are the same update). Returns (sum of the
        per-example losses, number of correct predictions) of the batch, as Python
        numbers.
        """

    @abc.abstractmethod
    def make_eval_step(self, net: Any) -> Callable[[Tensor, Tensor], int]:
        """A function returning the number of correct predictions (evaluation mode)."""
