"""MXNet adapter (MXNet 1.9.1, numpy interface: ``mxnet.np`` / ``npx``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from d2ldrop.backends import kernels
from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import ArrayOps, ScratchNet, Tensor
from d2ldrop.backends.mxnet.loader import import_mxnet
from d2ldrop.errors import UsageError, WrongTypeError

mx = import_mxnet()  # not a plain import: see loader.py
from mxnet import autograd, gluon, npx  # noqa: E402

# Gluon's numpy semantics (zero-size and 0-d arrays, numpy broadcasting): the
# chapter turns them on too. The switch is per thread in MXNet (thread-local
# flags): prepare_thread turns it on in another thread.
npx.set_np()

# Gluon Dense's default weight initializer (biases are zeros).
_DEFAULT_INIT = mx.init.Uniform(scale=0.07)


def _scratch_params(sizes: tuple[int, ...], dtype: str) -> list[Any]:
    """The scratch model's arrays, as gluon Parameters so that cached graphs
    (:class:`_Graph`) can bind them; the forward pass uses no layer.

    Each W is held as (out, in), the layout FullyConnected takes: held as
    (in, out), the graph transposed every W forward and every gradient backward,
    about 1 ms of a 10 ms step.
    """
    params = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params.append(gluon.Parameter(f"W{k}", shape=(o, i), init=_DEFAULT_INIT))
        params.append(gluon.Parameter(f"b{k}", shape=(o,), init=mx.init.Zero()))
    for p in params:
        p.initialize()
        # Cast after initializing: MXNet's uniform initializer fails on float64.
        p.cast(dtype)
    return params


def _affine(F: Any, x: Tensor, W: Tensor, b: Tensor, out: int) -> Tensor:
    # FullyConnected (oneDNN) takes W as (out, in). np.dot + b is slower, most of
    # all backward, where the bias gradient, a broadcast add's, takes ~1 ms.
    return F.npx.fully_connected(x, W, b, num_hidden=out, flatten=False)


def _loss_and_sums(F: Any, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy, and [sum of the losses, number correct] as one array.

    ``F`` is ``mx.nd`` eagerly and ``mx.sym`` when a hybridized block is traced.
    """
    losses = -F.npx.pick(F.npx.log_softmax(logits, axis=1), y, axis=1)
    sums = [losses.sum().astype("float64"), _correct(logits, y)]
    return losses.mean(), F.np.stack(sums)


def _correct(logits: Tensor, y: Tensor) -> Tensor:
    """The number of correct predictions, as a float64 scalar (traced or not)."""
    # Symbols have no dtype to cast to; class ids and counts are exact in float64.
    hits = logits.argmax(axis=1).astype("float64") == y.astype("float64")
    return hits.astype("float64").sum()


#: Measured on MXNet 1.9.1: mx.np.array(a) raises KeyError for an ml_dtypes
#: bfloat16 array, and astype("bfloat16") "data type 'bfloat16' not understood".
NO_BFLOAT16 = (
    "MXNet 1.9.1 has no bfloat16 tensors (its numpy interface knows float16, float32 "
    "and float64): use float16 or float32 on this backend"
)

class _Graph(gluon.HybridBlock):
    """A model's forward pass, with its loss or correct count, as one cached graph.

    Gluon's hybridize traces ``hybrid_forward`` once with symbols and then runs
    the graph from C++: eager MXNet spends about 0.1 ms dispatching each op.
    The scratch model is traced through ``kernels.scratch_forward`` on :class:`_GraphOps`,
    for one input shape (its uniforms need a size), in one mode: ``output`` is
    'forward' (logits and hidden activations), 'loss' or 'correct'.
    """

    def __init__(
        self,
        net: Any,
        *,
        output: str,
        training: bool,
        x_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self._output, self._training, self._x_shape = output, training, x_shape
        self._scratch = net if isinstance(net, ScratchNet) else None
        if self._scratch is not None:
            # Block.__setattr__ registers a Parameter for hybrid_forward; the
            # cached graph binds those of collect_params(), i.e. of self.params.
            for i, p in enumerate(net.params):
                setattr(self, f"p{i}", p)
            self.params.update({p.name: p for p in net.params})
        else:
            self.net = net
        self.hybridize(static_alloc=True, static_shape=x_shape is not None)

    def hybrid_forward(self, F: Any, x: Tensor, *args: Tensor, **params: Tensor) -> Any:
        y, masks = (None, args) if self._output == "forward" else (args[0], args[1:])
        net = self._scratch
        hidden: list[Tensor]
        if net is None:
            logits, hidden = self.net(x), []
        else:
            ops = _GraphOps(F, np.dtype(net.params[0].dtype).name, x, self._x_shape)
            W = [params[f"p{i}"] for i in range(len(net.params))]
            logits, hidden = kernels.scratch_forward(
                ops, W, x, training=self._training, dropout=net.dropout,
                masks=list(masks) or None, noise=net.noise)
        if self._output == "forward":
            return (logits, *hidden)
        return _loss_and_sums(F, logits, y) if self._output == "loss" else _correct(logits, y)


def _graph(net: Any, output: str, training: bool, x: Tensor, masks: list[Tensor] | None
           ) -> _Graph:
    """The cached graph of ``net`` for this computation, built at its first use.

    Only the scratch model's own draws (training without masks) need the input
    shape: those graphs are per shape, the others serve every batch size.
    """
    draws = isinstance(net, ScratchNet) and training and masks is None
    key = (output, training, x.shape if draws else None, 0 if masks is None else len(masks))
    # Kept on the model, to live as long as it: set in its __dict__, not through
    # Block.__setattr__, and in an object of our own, not a dict (a dict of
    # Blocks on a Block makes Gluon warn at every collect_params).
    cache = vars(net).get("_d2ldrop_graphs")
    if cache is None:
        cache = vars(net)["_d2ldrop_graphs"] = _Graphs()
    graphs = cache.by_key
    if key not in graphs:
        graphs[key] = _Graph(net, output=output, training=training, x_shape=key[2])
    return graphs[key]


class _Graphs:
    def __init__(self) -> None:
        self.by_key: dict[tuple[Any, ...], _Graph] = {}


class Ops(ArrayOps):
    def dtype_name(self, x: Tensor) -> str:
        return np.dtype(x.dtype).name

    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return x.reshape(shape)

    def astype(self, x: Tensor, dtype: str) -> Tensor:
        return x.astype(dtype, copy=False)  # astype copies unless told not to

    def zeros_like(self, x: Tensor) -> Tensor:
        return mx.np.zeros_like(x)

    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        return _affine(mx.nd, x, W, b, W.shape[0])

    def fan_in(self, W: Tensor) -> int:
        return self.shape(W)[1]  # the scratch model holds W as (out, in)

    def relu(self, x: Tensor) -> Tensor:
        return npx.relu(x)

    def uniform_like(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
        size = x.shape if shape is None else shape
        return mx.np.random.uniform(0.0, 1.0, size=size, dtype="float32", ctx=x.ctx)

    def normal_like(self, x: Tensor) -> Tensor:
        return mx.np.random.normal(0.0, 1.0, size=x.shape, dtype=x.dtype, ctx=x.ctx)


class _GraphOps(Ops):
    """The ops on the symbols of a graph being traced.

    Symbols have neither shape nor dtype: shapes are inferred from the input's
    and the parameters', the dtype is the model's.
    """

    def __init__(self, F: Any, dtype: str, x: Tensor, x_shape: tuple[int, ...] | None):
        self._F, self._dtype_name = F, dtype
        self._known = {x.name: x_shape} if x_shape is not None else {}

    def dtype_name(self, x: Tensor) -> str:
        return self._dtype_name

    def shape(self, x: Tensor) -> tuple[int, ...]:
        known = {k: v for k, v in self._known.items() if k in x.list_arguments()}
        _, (shape,), _ = x.infer_shape_partial(**known)
        return tuple(shape)

    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        return _affine(self._F, x, W, b, self.shape(W)[0])

    def astype(self, x: Tensor, dtype: str) -> Tensor:
        return x.astype(dtype)  # a symbol has no dtype to compare with

    def relu(self, x: Tensor) -> Tensor:
        return self._F.npx.relu(x)

    def zeros_like(self, x: Tensor) -> Tensor:
        return self._F.np.zeros_like(x)

    def uniform_like(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
        size = self.shape(x) if shape is None else shape
        return self._F.np.random.uniform(0.0, 1.0, size=size, dtype="float32")

    def normal_like(self, x: Tensor) -> Tensor:
        return self._F.np.random.normal(0.0, 1.0, size=self.shape(x), dtype=self._dtype_name)


class Adapter(_Base):
    name = "mxnet"
    channels_last = False
    label_dtype = "int32"
    scratch_weights_transposed = True  # FullyConnected's (out, in)
    float_dtypes = ("float16", "float32", "float64")  # NO_BFLOAT16
    ops = Ops()

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, mx.np.ndarray)

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return x.asnumpy().copy()

    def from_numpy(self, a: np.ndarray) -> Tensor:
        if a.dtype.name == "bfloat16":
            self.check_dtype("bfloat16")
        try:
            return mx.np.array(a, dtype=a.dtype)
        except KeyError:  # MXNet's dtype table lacks it (complex, for one)
            raise UsageError(f"MXNet has no arrays of dtype {a.dtype}") from None

    def tensor_hint(self, x: object) -> str | None:
        if isinstance(x, mx.nd.NDArray):
            return ("a legacy mx.nd.NDArray: the chapter uses MXNet's numpy interface "
                    "(mx.np.ndarray); convert it with x.as_np_ndarray()")
        return None

    def check_dtype(self, dtype: str) -> None:
        if dtype == "bfloat16":
            raise WrongTypeError(NO_BFLOAT16)
        super().check_dtype(dtype)

    def take(self, data: tuple[Tensor, ...], index: np.ndarray) -> tuple[Tensor, ...]:
        i = mx.np.array(index, dtype=index.dtype)
        return tuple(mx.np.take(a, i, axis=0) for a in data)

    def prepare_thread(self) -> None:
        npx.set_np()

    def seed(self, seed: int) -> None:
        mx.random.seed(seed)

    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        # mode="always" drops whatever autograd's global training flag says.
        return npx.dropout(x, p=p, mode="always")

    structured_dropouts = {
        "npx.dropout(axes=(2,))": lambda self, x, p: npx.dropout(x, p=p, axes=(2,),
                                                                 mode="always"),
    }

    def make_dropout_layer(self, p: float) -> gluon.nn.Dropout:
        return gluon.nn.Dropout(p)

    def call_layer(self, layer: gluon.Block, x: Tensor, *, training: bool) -> Tensor:
        with self._mode(layer, training):
            return layer(x)

    def value_and_grad(
        self, fn: Callable[[Tensor], Tensor], x: Tensor
    ) -> tuple[Tensor, Tensor]:
        x = x.copy()
        x.attach_grad()
        with autograd.record():
            y = fn(x)
        if y.size == 0:
            return y, mx.np.zeros_like(x)
        try:
            # backward() of a non-scalar output uses a head gradient of ones,
            # i.e. the gradient of sum(y).
            y.backward()
        except mx.base.MXNetError:
            # y was not recorded from x (e.g. zeros_like): the gradient is zero.
            return y, mx.np.zeros_like(x)
        return y, x.grad

    # -- models ----------------------------------------------------------------
    def _new_scratch_params(self, sizes: tuple[int, ...], dtype: str) -> list[Any]:
        return _scratch_params(sizes, dtype)

    def _new_concise(self, sizes: tuple[int, ...], dropout: tuple[float, float],
                     dtype: str) -> Any:
        net = gluon.nn.HybridSequential()
        net.add(
            gluon.nn.Dense(sizes[1], activation="relu", in_units=sizes[0]),
            gluon.nn.Dropout(dropout[0]),
            gluon.nn.Dense(sizes[2], activation="relu", in_units=sizes[1]),
            gluon.nn.Dropout(dropout[1]),
            gluon.nn.Dense(sizes[3], in_units=sizes[2]),
        )
        net.initialize(_DEFAULT_INIT)
        net.cast(dtype)
        # One cached graph for the whole model instead of op-by-op dispatch.
        net.hybridize(static_alloc=True, static_shape=False)
        return net

    def _layers(self, net: Any) -> list[Any]:
        return list(net)  # Dense flattens its input (flatten=True)

    def _dropout_rate(self, layer: Any) -> float | None:
        # Gluon keeps the rate only as the private `_rate`.
        return layer._rate if isinstance(layer, gluon.nn.Dropout) else None

    def _concise_parameters(self, net: Any) -> list[tuple[Any, bool]]:
        dense = [la for la in net if isinstance(la, gluon.nn.Dense)]
        return [t for la in dense for t in ((la.weight, True), (la.bias, False))]

    def _read(self, param: Any) -> np.ndarray:
        return param.data().asnumpy().copy()

    def _write(self, param: Any, value: np.ndarray) -> None:
        param.set_data(mx.np.array(np.asarray(value, dtype=param.dtype), dtype=param.dtype))

    def _model_dtype(self, net: Any) -> str:
        return np.dtype(self.parameters(net)[0][0].dtype).name

    @contextlib.contextmanager
    def _mode(self, net: Any, training: bool) -> Iterator[None]:
        # Gluon's Dropout reads the mode from autograd's global flag; scope it
        # from the explicit argument.
        with autograd.train_mode() if training else autograd.predict_mode():
            yield

    def _call(self, layer: Any, x: Tensor, training: bool) -> Tensor:
        return layer(x)

    def _scratch_forward(self, net: ScratchNet, x: Tensor, *, training: bool,
                         masks: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        logits, *hidden = _graph(net, "forward", training, x, masks)(x, *(masks or ()))
        return logits, hidden

    def make_train_step(
        self, net: Any, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        params = [p for p, _ in self.parameters(net)]
        # The model and the loss run as one cached graph; the concise model with
        # external masks in place of Gluon's Dropout runs layer by layer.
        concise = not isinstance(net, ScratchNet)
        dtype = self._model_dtype(net)

        def step(x: Tensor, y: Tensor, masks: list[Tensor] | None = None) -> tuple[float, int]:
            x = x.astype(dtype, copy=False)
            with autograd.record(train_mode=True):
                if concise and masks is not None:
                    logits, _ = self.mlp_forward(net, x, training=True, masks=masks)
                    loss, sums = _loss_and_sums(mx.nd, logits, y)
                else:
                    loss, sums = _graph(net, "loss", True, x, masks)(x, y, *(masks or ()))
            loss.backward()
            if updater == "framework":
                # The fused kernel gluon.Trainer's SGD calls (the loss is already
                # a batch mean, so no rescaling); the Trainer's own Python
                # bookkeeping costs more per step than the update itself.
                for p in params:
                    w = p.data().as_nd_ndarray()  # a legacy op: shares the memory
                    mx.nd.sgd_update(w, p.grad().as_nd_ndarray(), lr=lr, wd=weight_decay,
                                     out=w)
            else:
                for p in params:
                    w = p.data()
                    w -= kernels.sgd_delta(w, p.grad(), lr, weight_decay)
            # One read-back per step: every other op is queued on MXNet's engine.
            loss_sum, correct = sums.asnumpy().tolist()
            return loss_sum, int(correct)

        return step

    def make_eval_step(self, net: Any) -> Callable[[Tensor, Tensor], int]:
        dtype = self._model_dtype(net)

        def evaluate(x: Tensor, y: Tensor) -> int:
            x = x.astype(dtype, copy=False)
            with autograd.predict_mode():
                return int(_graph(net, "correct", False, x, None)(x, y).item())

        return evaluate
