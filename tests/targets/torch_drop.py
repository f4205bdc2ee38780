"""A dropout written with PyTorch, as a user's package would have it (the example
of docs/conformance.md), and one whose gradient is not masked."""

from __future__ import annotations

import torch

from d2ldrop.conformance import Target


def dropout(x: torch.Tensor, p: float, *, training: bool = True) -> torch.Tensor:
    if not 0.0 <= p <= 1.0:  # False for NaN too
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not x.is_floating_point():
        raise TypeError(f"dropout needs a floating-point tensor, got {x.dtype}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, device=x.device) >= p  # float32 uniforms for every dtype
    return x * keep * (1.0 / (1.0 - p))


def layer(p: float):
    module = torch.nn.Dropout(p)

    def call(x: torch.Tensor, *, training: bool) -> torch.Tensor:
        module.train(training)
        return module(x)

    return call


target = Target(dropout, backend="torch", layer=layer)


def straight_through(x: torch.Tensor, p: float, *, training: bool = True) -> torch.Tensor:
    """The right values, but the identity's gradient (a straight-through estimator):
    the gradient is not masked."""
    y = dropout(x, p, training=training)
    return x + (y - x).detach()
