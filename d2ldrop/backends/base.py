"""The seam between the neutral code and a framework.

Two layers, for two kinds of callers:

- :class:`ArrayOps`: the array primitives that the kernels in
  :mod:`d2ldrop.backends.kernels` (the chapter's dropout, the scratch model's
  forward pass) are written against. An adapter has one for eager use
  (``adapter.ops``); a framework that traces graphs may build others bound to a
  graph being traced (MXNet's symbols) or to a random key (JAX).
- :class:`Adapter`: everything else a backend does (tensors in and out, the
  framework's own dropout under test, the data layout, the two models and their
  training steps). What is the same on every framework is written here once, as
  template methods over small hooks (``_new_scratch_params``, ``_new_concise``,
  ``_layers``, ``_dropout_rate``, ``_concise_parameters``, ``_read``, ``_write``,
  ``_model_dtype``); an adapter overrides only what differs, and says why.

Randomness contract (see docs/architecture.md):

1. The adapter owns its random state. :meth:`Adapter.seed` resets it: the same
   seed gives the same draws (masks, noise, framework-initialized weights), and
   two draws after one seed differ.
2. Every draw goes through an ``ArrayOps`` (``uniform_like``, ``normal_like``) or
   the adapter's own dropout (``builtin_dropout``, the concise model's layers).
   For a framework with a global generator (torch, TensorFlow, MXNet) that
   generator *is* the state: their built-in dropout layers cannot draw from
   anything else.
3. A framework with explicit keys keeps a host-side stream (a base key from
   ``seed`` and a counter) and hands a fresh key to each compiled step as an
   argument (:meth:`Adapter.next_key`); draws inside the step derive their own
   keys from it. Nothing random is captured as a constant inside a compiled
   function.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from d2ldrop.backends import kernels
from d2ldrop.backends.arrays import ArrayOps, Tensor
from d2ldrop.errors import NotFoundError, WrongTypeError


@dataclass(eq=False)
class ScratchNet:
    """The chapter's scratch model: six raw parameters of the framework, in order
    [W1, b1, W2, b2, W3, b3], and what its forward pass needs to know."""

    params: list[Any]
    dropout: tuple[float, float]
    noise: kernels.Noise = "dropout"


class Adapter(abc.ABC):
    """One framework behind the neutral code (see the module docstring)."""

    #: Canonical backend name (the registry's).
    name: str
    #: Images are batched as (N, H, W, C) if True, else (N, C, H, W).
    channels_last: bool = False
    #: dtype of label tensors, as a numpy dtype name.
    label_dtype: str = "int32"
    #: The scratch model holds each W as (out, in) (its affine op's layout).
    scratch_weights_transposed: bool = False
    #: Eager array primitives, drawing from this adapter's random state.
    ops: ArrayOps
    #: The floating dtypes the framework has tensors of.
    float_dtypes: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")

    # -- tensors ---------------------------------------------------------------
    @abc.abstractmethod
    def is_tensor(self, x: object) -> bool:
        """True if ``x`` is a tensor of this framework."""

    def dtype_name(self, x: Tensor) -> str:
        return self.ops.dtype_name(x)

    def check_dtype(self, dtype: str) -> None:
        """Raise TypeError, naming the framework's limit, unless it has ``dtype`` tensors."""
        if dtype not in self.float_dtypes:
            raise WrongTypeError(f"backend {self.name!r} has no {dtype} tensors "
                            f"(it has {', '.join(self.float_dtypes)})")

    def check_model_dtype(self, dtype: str) -> None:
        """Raise TypeError, naming the framework's limit, unless the MLPs can be built
        and trained in ``dtype`` (parameters, activations and loss) on this device."""
        self.check_dtype(dtype)

    def is_floating(self, x: Tensor) -> bool:
        return self.dtype_name(x) in self.float_dtypes

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

    def zeros_like(self, x: Tensor) -> Tensor:
        return self.ops.zeros_like(x)

    def tensor_hint(self, x: object) -> str | None:
        """Why ``x``, of this framework but not a tensor :meth:`is_tensor` accepts,
        is refused, and how to convert it (None: nothing to add)."""
        return None

    def prepare_thread(self) -> None:
        """Give the calling thread the framework settings the adapter made on the
        importing thread (for work run on a thread of its own; nothing by default)."""
        return None

    # -- randomness ------------------------------------------------------------
    @abc.abstractmethod
    def seed(self, seed: int) -> None:
        """Reset this adapter's random state (see the randomness contract)."""

    def next_key(self) -> Any:
        """The randomness a compiled step receives as an argument.

        None for frameworks whose generator is their own state (rule 2 of the
        contract); a fresh key from the host-side stream for keyed frameworks.
        """
        return None

    # -- the framework's own dropout (the conformance suite's subject) ----------
    @abc.abstractmethod
    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        """The framework's own functional dropout, in training mode, 0 <= p <= 1."""

    #: The framework's structured dropouts, by the names of its quirks' ``structured``:
    #: name -> fn(adapter, x, p), in training mode.
    structured_dropouts: dict[str, Callable[..., Tensor]] = {}

    def structured_dropout(self, name: str, x: Tensor, p: float) -> Tensor:
        """The framework's structured dropout ``name`` on ``x``, in training mode."""
        fn = self.structured_dropouts.get(name)
        if fn is None:
            raise NotFoundError(f"backend {self.name!r} has no structured dropout {name!r}")
        return fn(self, x, p)

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

    # -- models: hooks ---------------------------------------------------------
    # Parameters cross the adapter boundary as numpy arrays in one canonical
    # layout, whatever the framework stores: [W1, b1, W2, b2, W3, b3] with each
    # W of shape (inputs, outputs).

    @abc.abstractmethod
    def _new_scratch_params(self, sizes: tuple[int, ...], dtype: str) -> list[Any]:
        """Six raw parameters with the framework's default initialization."""

    @abc.abstractmethod
    def _new_concise(self, sizes: tuple[int, ...], dropout: tuple[float, float],
                     dtype: str) -> Any:
        """The framework's Sequential: Dense/ReLU, Dropout, Dense/ReLU, Dropout, Dense."""

    @abc.abstractmethod
    def _layers(self, net: Any) -> list[Any]:
        """The concise model's layers, in order."""

    @abc.abstractmethod
    def _dropout_rate(self, layer: Any) -> float | None:
        """A concise layer's dropout rate, or None if it is not a Dropout layer."""

    @abc.abstractmethod
    def _concise_parameters(self, net: Any) -> list[tuple[Any, bool]]:
        """The concise model's parameters in canonical order, each with whether
        the framework stores it transposed."""

    @abc.abstractmethod
    def _read(self, param: Any) -> np.ndarray:
        """A numpy copy of a parameter's value, as the framework stores it."""

    @abc.abstractmethod
    def _write(self, param: Any, value: np.ndarray) -> None:
        """Set a parameter's value (given as the framework stores it)."""

    @abc.abstractmethod
    def _model_dtype(self, net: Any) -> str:
        """The dtype of a model's parameters (inputs are cast to it)."""

    def _concise_input(self, net: Any, x: Tensor) -> Tensor:
        """The input as the concise model's first layer takes it."""
        return x

    # -- models: written once --------------------------------------------------
    def build_mlp(
        self,
        kind: str,
        sizes: tuple[int, int, int, int],
        dropout: tuple[float, float],
        params: list[np.ndarray] | None,
        noise: kernels.Noise = "dropout",
        dtype: str = "float32",
    ) -> Any:
        """A ``kind`` ('scratch' or 'concise') MLP with layer ``sizes`` (in, h1, h2, out).

        'scratch' holds raw parameters and applies the chapter's dropout_layer
        after each hidden ReLU; 'concise' is the framework's Sequential with its
        own Dropout layers. ``params`` None keeps the framework's default
        initialization. ``noise`` (scratch only) is passed to scratch_forward.
        ``dtype`` ('float32', 'float64' or 'bfloat16') is that of the parameters
        and of the computation: mlp_forward casts inputs to it.
        """
        if kind == "scratch":
            net = ScratchNet(self._new_scratch_params(sizes, dtype), dropout, noise)
        else:
            net = self._new_concise(sizes, dropout, dtype)
        if params is not None:
            self.set_mlp_params(net, params)
        return net

    def mlp_forward(
        self, net: Any, x: Tensor, *, training: bool, masks: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """Logits and the two hidden activations after dropout, in the given mode.

        ``masks``: two 0/1 keep-masks applied (in training) instead of the model's
        own dropout draws, for both models (the lockstep runs).
        """
        x = self.ops.astype(x, self._model_dtype(net))
        if isinstance(net, ScratchNet):
            return self._scratch_forward(net, x, training=training, masks=masks)
        return self._concise_forward(net, x, training=training, masks=masks)

    def _scratch_forward(self, net: ScratchNet, x: Tensor, *, training: bool,
                         masks: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        return kernels.scratch_forward(self.ops, net.params, x, training=training,
                                       dropout=net.dropout, masks=masks, noise=net.noise)

    def _concise_forward(self, net: Any, x: Tensor, *, training: bool,
                         masks: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        x = self._concise_input(net, x)
        hidden: list[Tensor] = []
        with self._mode(net, training):
            for layer in self._layers(net):
                rate = self._dropout_rate(layer)
                if rate is not None and training and masks is not None:
                    x = kernels.apply_mask(x, masks[len(hidden)], rate)
                else:
                    x = self._call(layer, x, training)
                if rate is not None:
                    hidden.append(x)
        return x, hidden

    @contextlib.contextmanager
    def _mode(self, net: Any, training: bool) -> Iterator[None]:
        """Where the framework keeps the mode as state, set it from the argument."""
        yield

    def _call(self, layer: Any, x: Tensor, training: bool) -> Tensor:
        """One concise layer inside :meth:`_mode` (by default the mode is an argument)."""
        return layer(x, training=training)

    def parameters(self, net: Any) -> list[tuple[Any, bool]]:
        """The model's parameters in canonical order, each with whether it is stored
        transposed relative to the canonical (in, out) layout."""
        if isinstance(net, ScratchNet):
            t = self.scratch_weights_transposed
            return [(p, t and k % 2 == 0) for k, p in enumerate(net.params)]
        return self._concise_parameters(net)

    def get_mlp_params(self, net: Any) -> list[np.ndarray]:
        """The parameters as numpy arrays, canonical layout."""
        return [np.ascontiguousarray(self._read(p).T) if transposed else self._read(p)
                for p, transposed in self.parameters(net)]

    def set_mlp_params(self, net: Any, params: list[np.ndarray]) -> None:
        """Load parameters given as numpy arrays in the canonical layout."""
        for (p, transposed), value in zip(self.parameters(net), params):
            self._write(p, value.T if transposed else value)

    # -- training (framework-specific: eager, tf.function, cached graphs...) ----
    def framework_updater_error(self) -> str | None:
        """Why ``updater='framework'`` cannot run in this environment, or None."""
        return None

    @abc.abstractmethod
    def make_train_step(
        self, net: Any, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        """A function ``step(x, y, masks=None)`` running one SGD step, in training mode.

        The loss is softmax cross-entropy averaged over the batch. ``updater``
        'scratch' updates each parameter by :func:`kernels.sgd_delta` by hand;
        'framework' uses the framework's SGD optimizer. ``weight_decay`` adds
        wd * p to every parameter's gradient. Returns (sum of the per-example
        losses, number of correct predictions) of the batch, as Python numbers.
        """

    @abc.abstractmethod
    def make_eval_step(self, net: Any) -> Callable[[Tensor, Tensor], int]:
        """A function returning the number of correct predictions (evaluation mode)."""
