"""PyTorch adapter."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import Tensor


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

    def zeros_like(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)

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
