"""PyTorch adapter."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from d2ldrop._dtypes import np_dtype
from d2ldrop.backends import kernels
from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import ArrayOps, Tensor


class Ops(ArrayOps):
    def dtype_name(self, x: Tensor) -> str:
        return str(x.dtype).removeprefix("torch.")

    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return x.reshape(shape)

    def astype(self, x: Tensor, dtype: str) -> Tensor:
        return x.to(getattr(torch, dtype))  # no copy when it is already that dtype

    def zeros_like(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)

    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        return torch.addmm(b, x, W)

    def relu(self, x: Tensor) -> Tensor:
        return torch.relu(x)

    def uniform_like(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
        return torch.rand(x.shape if shape is None else shape, device=x.device)

    def normal_like(self, x: Tensor) -> Tensor:
        return torch.randn_like(x)


class Adapter(_Base):
    name = "torch"
    channels_last = False
    label_dtype = "int64"  # what torch's cross-entropy expects for class ids
    ops = Ops()

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, torch.Tensor)

    def to_numpy(self, x: Tensor) -> np.ndarray:
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:
            # torch has no numpy bfloat16: the same 16 bits, read as ml_dtypes' bfloat16.
            return x.view(torch.int16).numpy().view(np_dtype("bfloat16")).copy()
        return x.numpy().copy()

    def from_numpy(self, a: np.ndarray) -> Tensor:
        # np.ascontiguousarray would turn a 0-d array into shape (1,).
        a = np.asarray(a, order="C")
        if a.dtype.name == "bfloat16":
            return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(a)

    def take(self, data: tuple[Tensor, ...], index: np.ndarray) -> tuple[Tensor, ...]:
        i = torch.from_numpy(index)
        return tuple(a.index_select(0, i) for a in data)

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        return torch.nn.functional.dropout(x, p, training=True)

    structured_dropouts = {
        "F.dropout1d": lambda self, x, p: torch.nn.functional.dropout1d(x, p, training=True),
        "F.dropout2d": lambda self, x, p: torch.nn.functional.dropout2d(x, p, training=True),
    }

    def make_dropout_layer(self, p: float) -> torch.nn.Module:
        return torch.nn.Dropout(p)

    def call_layer(self, layer: torch.nn.Module, x: Tensor, *, training: bool) -> Tensor:
        layer.train(training)
        return layer(x)

    def value_and_grad(
        self, fn: Callable[[Tensor], Tensor], x: Tensor
    ) -> tuple[Tensor, Tensor]:
        x = x.detach().clone().requires_grad_(True)
        y = fn(x)
        if not y.requires_grad:
            return y.detach(), torch.zeros_like(x)
        (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
        return y.detach(), torch.zeros_like(x) if grad is None else grad

    # -- models ----------------------------------------------------------------
    def _new_scratch_params(self, sizes: tuple[int, ...], dtype: str) -> list[Any]:
        # The framework's default initialization: that of nn.Linear, which
        # stores (out, in); kept here as (in, out) to multiply as X @ W.
        params = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            layer = nn.Linear(i, o)
            params.append(nn.Parameter(layer.weight.detach().T.contiguous()))
            params.append(nn.Parameter(layer.bias.detach().clone()))
        return [nn.Parameter(p.detach().to(getattr(torch, dtype))) for p in params]

    def _new_concise(self, sizes: tuple[int, ...], dropout: tuple[float, float],
                     dtype: str) -> nn.Module:
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(sizes[0], sizes[1]),
            nn.ReLU(),
            nn.Dropout(dropout[0]),
            nn.Linear(sizes[1], sizes[2]),
            nn.ReLU(),
            nn.Dropout(dropout[1]),
            nn.Linear(sizes[2], sizes[3]),
        ).to(getattr(torch, dtype))

    def _layers(self, net: nn.Module) -> list[Any]:
        return list(net)

    def _dropout_rate(self, layer: Any) -> float | None:
        return layer.p if isinstance(layer, nn.Dropout) else None

    def _concise_parameters(self, net: nn.Module) -> list[tuple[Any, bool]]:
        linears = [m for m in net if isinstance(m, nn.Linear)]
        return [t for m in linears for t in ((m.weight, True), (m.bias, False))]

    def _read(self, param: Any) -> np.ndarray:
        return self.to_numpy(param)  # bfloat16 too

    def _write(self, param: Any, value: np.ndarray) -> None:
        with torch.no_grad():
            param.copy_(self.from_numpy(np.asarray(value)))

    def _model_dtype(self, net: Any) -> str:
        return self.dtype_name(self.parameters(net)[0][0])

    @contextlib.contextmanager
    def _mode(self, net: nn.Module, training: bool) -> Iterator[None]:
        # nn.Module keeps its mode as state; set it from the explicit argument.
        net.train(training)
        yield

    def _call(self, layer: Any, x: Tensor, training: bool) -> Tensor:
        return layer(x)

    # -- training --------------------------------------------------------------
    def make_train_step(
        self, net: Any, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        params = [p for p, _ in self.parameters(net)]
        optimizer = None
        if updater == "framework":
            optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)

        def step(x: Tensor, y: Tensor, masks: list[Tensor] | None = None) -> tuple[float, int]:
            logits, _ = self.mlp_forward(net, x, training=True, masks=masks)
            loss = nn.functional.cross_entropy(logits, y)
            for p in params:
                p.grad = None
            loss.backward()
            for p in params:
                # A parameter cut off by dropout with p = 1 (zeros_like has no
                # graph) gets no gradient at all: its gradient is zero.
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            if optimizer is not None:
                optimizer.step()
            else:
                with torch.no_grad():
                    for p in params:
                        p -= kernels.sgd_delta(p, p.grad, lr, weight_decay)
            correct = (logits.argmax(dim=1) == y).sum()
            return float(loss.detach()) * y.shape[0], int(correct)

        return step

    def make_eval_step(self, net: Any) -> Callable[[Tensor, Tensor], int]:
        def evaluate(x: Tensor, y: Tensor) -> int:
            with torch.no_grad():
                logits, _ = self.mlp_forward(net, x, training=False)
            return int((logits.argmax(dim=1) == y).sum())

        return evaluate


