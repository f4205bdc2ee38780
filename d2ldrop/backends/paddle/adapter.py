"""PaddlePaddle adapter (Paddle 3.x, dynamic graph: eager, one global generator)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from d2ldrop._dtypes import np_dtype
from d2ldrop.backends import kernels
from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import ArrayOps, ScratchNet, Tensor
from d2ldrop.backends.paddle.loader import import_paddle
from d2ldrop.errors import WrongTypeError

paddle = import_paddle()  # not a plain import: see loader.py
from paddle import _C_ops, nn  # noqa: E402
from paddle.nn import functional as F  # noqa: E402


class Ops(ArrayOps):
    def dtype_name(self, x: Tensor) -> str:
        return str(x.dtype).removeprefix("paddle.")

    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        if _same_shape(x, shape):
            # Traced, even a reshape to the same shape is a copy (see _flat).
            return x
        return paddle.reshape(x, list(shape))

    def astype(self, x: Tensor, dtype: str) -> Tensor:
        return x if self.dtype_name(x) == dtype else x.astype(dtype)

    def zeros_like(self, x: Tensor) -> Tensor:
        return paddle.zeros_like(x)

    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        # F.linear takes its weight as (in, out), the chapter's layout: x @ W + b, fused.
        return F.linear(x, W, b)

    def relu(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def divide(self, x: Tensor, c: float) -> Tensor:
        # Traced by paddle.jit.to_static, ``x / c`` becomes scale(x, 1 / c), a
        # multiplication that rounds differently (3.3.1, pir/math_op_patch.py); a
        # tensor divisor stays a division, the same bits as the eager ``x / c``.
        return x / paddle.full([], c, dtype=x.dtype)

    def uniform_like(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
        # paddle.rand is U[0, 1) in every release; d2l-zh's paddle.uniform had the
        # default range [-1, 1) in Paddle 2.x ([0, 1) in 3.3.1).
        return paddle.rand(list(x.shape if shape is None else shape), dtype="float32")

    def normal_like(self, x: Tensor) -> Tensor:
        return paddle.randn(list(x.shape), dtype=x.dtype)


def _same_shape(x: Tensor, shape: tuple[int, ...]) -> bool:
    """Whether reshaping ``x`` to ``shape`` (at most one -1) leaves it as it is."""
    return len(x.shape) == len(shape) and all(s in (-1, n) for s, n in zip(shape, x.shape))


def _flat(x: Tensor) -> Tensor:
    """A batch of images as the rows the models' first layer takes, for a program.

    Eager Paddle reshapes and flattens as views (3 us); traced into a static
    program the same op copies the batch (3.3.1, Paddle's profiler: pd_op.flatten
    0.30 ms, pd_op.reshape 0.09 ms a step). Flattened here, the programs see rows
    already, and the scratch model's reshape and the concise model's Flatten,
    the identity on rows, are left out of them.
    """
    return x.reshape([x.shape[0], -1]) if len(x.shape) > 2 else x


#: UserWarnings of paddle.jit.to_static's tracing that do not apply here (3.3.1).
_TRACE_WARNINGS = (
    "Dy2Static : A context manager decorator is used",
    "Tensor do not have 'place' interface for pir graph mode",
)


def _cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y, reduction="mean")


def _correct(logits: Tensor, y: Tensor) -> Tensor:
    """The number of correct predictions (computed in the program: four eager ops fewer)."""
    return (logits.argmax(axis=1) == y).astype("int64").sum()


def _no_bfloat16_training() -> str:
    return (f"Paddle {paddle.__version__} cannot train in bfloat16 on the CPU: the loss, "
            "F.cross_entropy (its cross_entropy_with_softmax kernel), takes float32 and "
            "float64 only; use --dtype float32")


def _static(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` traced by paddle.jit.to_static (once per input shape and dtype)."""
    program = paddle.jit.to_static(fn, full_graph=True)

    def run(*args: Any) -> Any:
        with warnings.catch_warnings():
            # Tracing warns about _mode (a context manager) and about reading a
            # tensor's place; neither applies to the programs traced here.
            for message in _TRACE_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            return program(*args)

    return run


class Adapter(_Base):
    name = "paddle"
    channels_last = False
    label_dtype = "int64"  # F.cross_entropy's hard labels
    ops = Ops()

    def __init__(self) -> None:
        #: The scratch model's static programs, by structure (see _compiled).
        self._programs: dict[tuple[Any, ...], Callable[..., Any]] = {}

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, paddle.Tensor)

    def to_numpy(self, x: Tensor) -> np.ndarray:
        a = np.array(x.numpy(), copy=True)
        if x.dtype == paddle.bfloat16:
            # Paddle 3.3.1 hands out a bfloat16 tensor's bits as uint16: the same
            # 16 bits, read as ml_dtypes' bfloat16.
            return a.view(np_dtype("bfloat16"))
        return a

    def from_numpy(self, a: np.ndarray) -> Tensor:
        a = np.asarray(a)
        if a.dtype.name == "bfloat16":
            # paddle.to_tensor refuses ml_dtypes' bfloat16 (3.3.1); it takes the
            # bits as uint16, and view reinterprets them without a copy.
            return paddle.to_tensor(a.view(np.uint16)).view(paddle.bfloat16)
        return paddle.to_tensor(a)

    def take(self, data: tuple[Tensor, ...], index: np.ndarray) -> tuple[Tensor, ...]:
        i = paddle.to_tensor(index)
        return tuple(paddle.index_select(a, i, axis=0) for a in data)

    def seed(self, seed: int) -> None:
        # The global generator: Paddle's dropout and initializers draw from it.
        paddle.seed(seed)

    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        return F.dropout(x, p, training=True)

    structured_dropouts = {
        # axis names the axes the mask varies along (one value per (n, c)); the
        # others share it: on (N, C, L), axis=[0, 1] drops whole channels.
        "F.dropout(axis=[0, 1])": lambda self, x, p: F.dropout(x, p, axis=[0, 1],
                                                               training=True),
    }

    def make_dropout_layer(self, p: float) -> nn.Layer:
        return nn.Dropout(p)

    def call_layer(self, layer: nn.Layer, x: Tensor, *, training: bool) -> Tensor:
        layer.train() if training else layer.eval()
        return layer(x)

    def value_and_grad(
        self, fn: Callable[[Tensor], Tensor], x: Tensor
    ) -> tuple[Tensor, Tensor]:
        x = x.detach().clone()
        x.stop_gradient = False
        y = fn(x)
        if y.stop_gradient:
            return y.detach(), paddle.zeros_like(x)
        (grad,) = paddle.grad(y.sum(), x, allow_unused=True)
        return y.detach(), paddle.zeros_like(x) if grad is None else grad

    # -- models ----------------------------------------------------------------
    def _new_scratch_params(self, sizes: tuple[int, ...], dtype: str) -> list[Any]:
        # The framework's default initialization, that of nn.Linear (Xavier
        # uniform weights, zero biases); Paddle stores W as (in, out) already.
        params: list[Any] = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            layer = nn.Linear(i, o)
            params.extend((layer.weight, layer.bias))
        return [self._parameter(p.numpy(), dtype) for p in params]

    def _parameter(self, value: np.ndarray, dtype: str) -> Tensor:
        param = self.from_numpy(value.astype(np_dtype(dtype)))
        param.stop_gradient = False
        return param

    def _new_concise(self, sizes: tuple[int, ...], dropout: tuple[float, float],
                     dtype: str) -> nn.Layer:
        # nn.Linear's default initialization (Xavier uniform, zero biases), as
        # init="framework" means on every backend. d2l-zh gives its concise model
        # ParamAttr(initializer=Normal(std=0.01)): that is init="normal" (the same
        # distribution, drawn in numpy so that every backend starts from the same numbers).
        net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(sizes[0], sizes[1]),
            nn.ReLU(),
            nn.Dropout(dropout[0]),
            nn.Linear(sizes[1], sizes[2]),
            nn.ReLU(),
            nn.Dropout(dropout[1]),
            nn.Linear(sizes[2], sizes[3]),
        )
        if dtype != "float32":
            net.to(dtype=dtype)
        return net

    def _layers(self, net: nn.Layer) -> list[Any]:
        return list(net)

    def _dropout_rate(self, layer: Any) -> float | None:
        return float(layer.p) if isinstance(layer, nn.Dropout) else None

    def _concise_parameters(self, net: nn.Layer) -> list[tuple[Any, bool]]:
        linears = [m for m in net if isinstance(m, nn.Linear)]
        return [t for m in linears for t in ((m.weight, False), (m.bias, False))]

    def _read(self, param: Any) -> np.ndarray:
        return self.to_numpy(param)

    def _write(self, param: Any, value: np.ndarray) -> None:
        with paddle.no_grad():
            param.set_value(self.from_numpy(np.asarray(value, np_dtype(self.dtype_name(param)))))

    def check_model_dtype(self, dtype: str) -> None:
        super().check_model_dtype(dtype)
        if dtype == "bfloat16" and paddle.device.get_device().startswith("cpu"):
            raise WrongTypeError(_no_bfloat16_training())

    def _model_dtype(self, net: Any) -> str:
        return self.dtype_name(self.parameters(net)[0][0])

    @contextlib.contextmanager
    def _mode(self, net: nn.Layer, training: bool) -> Iterator[None]:
        # nn.Layer keeps its mode as state; set it from the explicit argument.
        net.train() if training else net.eval()
        yield

    def _call(self, layer: Any, x: Tensor, training: bool) -> Tensor:
        if isinstance(layer, nn.Flatten) and len(x.shape) == 2 and layer.start_axis == 1 \
                and layer.stop_axis in (-1, 1):
            return x  # rows already (see _flat): flattening them is the identity
        return layer(x)

    # -- training --------------------------------------------------------------
    def _forward_fn(self, net: Any, training: bool) -> Callable[..., Any]:
        """The forward pass a step runs, with the scratch model's parameters as an
        argument: ``(x, y, params, masks=None) -> (loss, correct)`` in training,
        ``(x, y, params) -> correct`` in evaluation. A concise model's layers hold
        their own parameters (``params`` is ``[]``)."""
        if isinstance(net, ScratchNet):
            dropout, noise = net.dropout, net.noise  # not the net: a program outlives it

            def model(params: list[Tensor]) -> Any:
                return ScratchNet(list(params), dropout, noise)
        else:
            def model(params: list[Tensor]) -> Any:
                return net

        if training:
            def forward(x: Tensor, y: Tensor, params: list[Tensor],
                        masks: list[Tensor] | None = None) -> Any:
                logits, _ = self.mlp_forward(model(params), x, training=True, masks=masks)
                return _cross_entropy(logits, y), _correct(logits, y)

            return forward

        def correct_of(x: Tensor, y: Tensor, params: list[Tensor]) -> Tensor:
            return _correct(self.mlp_forward(model(params), x, training=False)[0], y)

        return correct_of

    def _compiled(self, net: Any, training: bool) -> Callable[..., Any] | None:
        """:meth:`_forward_fn` as a Paddle static program (paddle.jit.to_static), for
        both models (None would mean the eager pass).

        Measured (scripts/bench_train.py; exactness over three SGD steps with
        dropout 0.2/0.5 against the eager step, same seed, float32 and float64):
        the static program draws the same masks and gives bit-identical losses
        and parameters, and a step takes 0.6x to 0.8x the eager step's time. The
        scratch model is exact because :meth:`Ops.divide` keeps the chapter's
        ``x / (1 - p)`` a division when traced. Tracing takes about 0.5 s per
        batch shape, so the scratch model's programs, which take the parameters
        as an argument, are kept per structure (rates, noise, dtype) and serve
        every model of that structure; a concise model's layers are traced with it.
        """
        if not isinstance(net, ScratchNet):
            return _static(self._forward_fn(net, training))
        key = (training, self._model_dtype(net)) + ((net.dropout, net.noise) if training else ())
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = _static(self._forward_fn(net, training))
        return program

    def make_train_step(
        self, net: Any, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        params = [p for p, _ in self.parameters(net)]
        optimizer = None
        if updater == "framework":
            # A float weight_decay is Paddle's L2Decay: coeff * p added to the gradient.
            optimizer = paddle.optimizer.SGD(
                learning_rate=lr, parameters=params, weight_decay=weight_decay or None
            )

        forward = self._forward_fn(net, training=True)
        compiled = self._compiled(net, training=True)
        arg = params if isinstance(net, ScratchNet) else []

        # The scratch update p -= lr * grad as one fused kernel, the one Paddle's SGD
        # calls: the same bits as the two eager ops (float32 and float64, measured),
        # in a third of their time.
        fused_lr = paddle.full([], lr, dtype=params[0].dtype) \
            if optimizer is None and not weight_decay else None

        def step(x: Tensor, y: Tensor, masks: list[Tensor] | None = None) -> tuple[float, int]:
            if compiled is not None and masks is None:
                loss, correct = compiled(_flat(x), y, arg)
            else:
                loss, correct = forward(x, y, arg, masks)
            for p in params:
                p.clear_gradient(set_to_zero=False)
            loss.backward()
            # A parameter cut off by dropout with p = 1 (zeros_like has no graph) gets
            # no gradient at all: its gradient is zero. Paddle's SGD skips such a
            # parameter, weight decay included; it gets that update here.
            with paddle.no_grad():
                for p in params:
                    if p.grad is not None and fused_lr is not None:
                        _C_ops.sgd_(p, fused_lr, p.grad, None, False)
                    elif p.grad is None or optimizer is None:
                        grad = p.grad if p.grad is not None else paddle.zeros_like(p)
                        p.subtract_(kernels.sgd_delta(p, grad, lr, weight_decay))
            if optimizer is not None:
                optimizer.step()
            return float(loss) * int(y.shape[0]), int(correct)

        return step

    def make_eval_step(self, net: Any) -> Callable[[Tensor, Tensor], int]:
        correct_of = self._compiled(net, training=False) or self._forward_fn(net, training=False)
        arg = list(net.params) if isinstance(net, ScratchNet) else []

        def evaluate(x: Tensor, y: Tensor) -> int:
            with paddle.no_grad():
                return int(correct_of(_flat(x), y, arg))

        return evaluate
