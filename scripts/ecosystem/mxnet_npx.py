"""MXNet 1.9.1's ``npx.dropout`` (drops only in train mode) and Gluon's
``nn.Dropout`` (the `all` environment)."""

from __future__ import annotations

import mxnet as mx
from mxnet import autograd, npx
from mxnet.gluon import nn

from d2ldrop.conformance import Target
from ecosystem import Entry

ENV = "all"


def versions() -> dict[str, str]:
    return {"mxnet": mx.__version__}


def _npx(x, p: float, *, training: bool = True):
    if not training:
        return npx.dropout(x, p)  # outside train mode: the op is the identity
    with autograd.train_mode():
        return npx.dropout(x, p)


def _layer(p: float):
    block = nn.Dropout(p)

    def call(x, *, training: bool):
        if not training:
            return block(x)
        with autograd.train_mode():
            return block(x)

    return call


def entries() -> list[Entry]:
    return [
        Entry("mxnet.npx.dropout", "MXNet",
              lambda **c: Target(_npx, backend="mxnet", layer=_layer, **c)),
    ]
