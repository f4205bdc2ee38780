"""PyTorch adapter."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import Tensor
from d2ldrop.models import apply_mask, scratch_forward


class ScratchMLP(nn.Module):
    """The chapter's scratch model: raw parameters (forward: models.scratch_forward)."""

    def __init__(
        self, sizes: tuple[int, int, int, int], dropout: tuple[float, float], noise: str
    ):
        super().__init__()
        self.dropout, self.noise = dropout, noise
        # The framework's own default initialization: that of nn.Linear, which
        # stores (out, in); kept here as (in, out) to multiply as X @ W.
        layers = [nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
        self.params = nn.ParameterList()
        for layer in layers:
            self.params.append(nn.Parameter(layer.weight.detach().T.contiguous()))
            self.params.append(nn.Parameter(layer.bias.detach().clone()))


def _concise_mlp(sizes: tuple[int, int, int, int], dropout: tuple[float, float]) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(sizes[0], sizes[1]),
        nn.ReLU(),
        nn.Dropout(dropout[0]),
        nn.Linear(sizes[1], sizes[2]),
        nn.ReLU(),
        nn.Dropout(dropout[1]),
        nn.Linear(sizes[2], sizes[3]),
    )


class Adapter(_Base):
    name = "torch"
    channels_last = False
    label_dtype = "int64"  # what torch's cross-entropy expects for class ids

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, torch.Tensor)

    def dtype_name(self, x: Tensor) -> str:
        return str(x.dtype).removeprefix("torch.")

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return x.detach().cpu().numpy().copy()

    def from_numpy(self, a: np.ndarray) -> Tensor:
        # np.ascontiguousarray would turn a 0-d array into shape (1,).
        return torch.from_numpy(np.asarray(a, order="C"))

    def take(self, data: tuple[Tensor, ...], index: np.ndarray) -> tuple[Tensor, ...]:
        i = torch.from_numpy(index)
        return tuple(a.index_select(0, i) for a in data)

    def zeros_like(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)

    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return x.reshape(shape)

    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        return torch.addmm(b, x, W)

    def relu(self, x: Tensor) -> Tensor:
        return torch.relu(x)

    def normal_like(self, x: Tensor) -> Tensor:
        return torch.randn_like(x)

    def seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def scratch_dropout(self, x: Tensor, p: float) -> Tensor:
        # See Adapter.scratch_dropout for why float32 uniforms and arithmetic.
        xc = x if x.dtype == torch.float64 else x.to(torch.float32)
        mask = (torch.rand(x.shape, device=x.device) > p).to(xc.dtype)
        return (mask * xc / (1.0 - p)).to(x.dtype)

    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        return torch.nn.functional.dropout(x, p, training=True)

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

    # -- models and training ---------------------------------------------------
    def build_mlp(
        self,
        kind: str,
        sizes: tuple[int, int, int, int],
        dropout: tuple[float, float],
        params: list[np.ndarray] | None,
        noise: str = "dropout",
        dtype: str = "float32",
    ) -> nn.Module:
        if kind == "scratch":
            net = ScratchMLP(sizes, dropout, noise)
        else:
            net = _concise_mlp(sizes, dropout)
        net.to(getattr(torch, dtype))
        if params is not None:
            self.set_mlp_params(net, params)
        return net

    def mlp_forward(
        self, net: nn.Module, x: Tensor, *, training: bool, masks: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        x = x.to(next(net.parameters()).dtype)  # no copy when it is already that dtype
        if isinstance(net, ScratchMLP):
            return scratch_forward(self, list(net.params), x, training=training,
                                   dropout=net.dropout, masks=masks, noise=net.noise)
        # nn.Module keeps its mode as state; set it from the explicit argument.
        net.train(training)
        hidden = []
        for layer in net:
            if isinstance(layer, nn.Dropout):
                if training and masks is not None:
                    x = apply_mask(x, masks[len(hidden)], layer.p)
                else:
                    x = layer(x)
                hidden.append(x)
            else:
                x = layer(x)
        return x, hidden

    def _weights(self, net: nn.Module) -> list[tuple[Tensor, bool]]:
        """Parameters in canonical order, with whether each is stored transposed."""
        if isinstance(net, ScratchMLP):
            return [(p, False) for p in net.params]
        linears = [m for m in net if isinstance(m, nn.Linear)]
        return [t for m in linears for t in ((m.weight, True), (m.bias, False))]

    def get_mlp_params(self, net: nn.Module) -> list[np.ndarray]:
        return [
            (p.detach().T if transposed else p.detach()).cpu().numpy().copy()
            for p, transposed in self._weights(net)
        ]

    def set_mlp_params(self, net: nn.Module, params: list[np.ndarray]) -> None:
        with torch.no_grad():
            for (p, transposed), value in zip(self._weights(net), params):
                p.copy_(torch.from_numpy(np.asarray(value.T if transposed else value)))

    def make_train_step(
        self, net: nn.Module, lr: float, updater: str, weight_decay: float = 0.0
    ) -> Callable[..., tuple[float, int]]:
        params = [p for p, _ in self._weights(net)]
        optimizer = None
        if updater == "framework":
            optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)

        def step(x: Tensor, y: Tensor, masks: list[Tensor] | None = None) -> tuple[float, int]:
            logits, _ = self.mlp_forward(net, x, training=True, masks=masks)
            loss = nn.functional.cross_entropy(logits, y)
            for p in params:
                p.grad = None
            loss.backward()
            if optimizer is not None:
                optimizer.step()
            else:
                with torch.no_grad():
                    for p in params:
                        p -= lr * (p.grad + weight_decay * p) if weight_decay else lr * p.grad
            correct = (logits.argmax(dim=1) == y).sum()
            return float(loss.detach()) * y.shape[0], int(correct)

        return step

    def make_eval_step(self, net: nn.Module) -> Callable[[Tensor, Tensor], int]:
        def evaluate(x: Tensor, y: Tensor) -> int:
            with torch.no_grad():
                logits, _ = self.mlp_forward(net, x, training=False)
            return int((logits.argmax(dim=1) == y).sum())

        return evaluate
