"""PyTorch's dropouts: ``F.dropout``, ``nn.Dropout``, ``nn.Dropout1d/2d`` (one mask value
per channel) and ``F.alpha_dropout`` (a different method)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from d2ldrop.conformance import Target
from ecosystem import Entry

ENV = "ecosystem"


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


def _module_call(cls: type[nn.Module]):
    def dropout(x: torch.Tensor, p: float, *, training: bool = True) -> torch.Tensor:
        module = cls(p)
        module.train(training)
        return module(x)

    def layer(p: float):
        module = cls(p)

        def call(x: torch.Tensor, *, training: bool) -> torch.Tensor:
            module.train(training)
            return module(x)

        return call

    return dropout, layer


def _functional(x: torch.Tensor, p: float, *, training: bool = True) -> torch.Tensor:
    return F.dropout(x, p, training=training)


def _alpha(x: torch.Tensor, p: float, *, training: bool = True) -> torch.Tensor:
    return F.alpha_dropout(x, p, training=training)


def _target(fn, layer=None, **capabilities) -> Target:
    return Target(fn, backend="torch", layer=layer, **capabilities)


def entries() -> list[Entry]:
    out = [
        Entry("torch.nn.functional.dropout", "PyTorch", lambda **c: _target(_functional, **c)),
        Entry("torch.nn.Dropout", "PyTorch",
              lambda **c: _target(*_module_call(nn.Dropout), **c)),
        # (N, C, L): one mask value per (sample, channel), shared along L.
        Entry("torch.nn.Dropout1d", "PyTorch",
              lambda **c: _target(*_module_call(nn.Dropout1d), **c),
              capabilities={"broadcast_axes": (2,), "ndim": 3}),
        # (N, C, H, W): shared along H and W.
        Entry("torch.nn.Dropout2d", "PyTorch",
              lambda **c: _target(*_module_call(nn.Dropout2d), **c),
              capabilities={"broadcast_axes": (2, 3), "ndim": 4}),
        Entry("torch.nn.functional.alpha_dropout", "PyTorch",
              lambda **c: _target(_alpha, **c), method="alpha_dropout"),
    ]
    return out
