"""MXNet adapter (MXNet 1.9.1, numpy interface: ``mxnet.np`` / ``npx``)."""

from __future__ import annotations

from collections.abc import Callable

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, npx

from d2ldrop.backends.base import Adapter as _Base
from d2ldrop.backends.base import Tensor

# Gluon's numpy semantics (zero-size and 0-d arrays, numpy broadcasting) are a
# process-wide switch in MXNet; the chapter turns it on too.
npx.set_np()


class Adapter(_Base):
    name = "mxnet"
    channels_last = False
    label_dtype = "int32"

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, mx.np.ndarray)

    def dtype_name(self, x: Tensor) -> str:
        return np.dtype(x.dtype).name

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return x.asnumpy().copy()

    def from_numpy(self, a: np.ndarray) -> Tensor:
        return mx.np.array(a, dtype=a.dtype)

    def zeros_like(self, x: Tensor) -> Tensor:
        return mx.np.zeros_like(x)

    def seed(self, seed: int) -> None:
        mx.random.seed(seed)

    def scratch_dropout(self, x: Tensor, p: float) -> Tensor:
        # See Adapter.scratch_dropout for why float32 uniforms and arithmetic.
        xc = x if x.dtype == np.float64 else x.astype("float32")
        u = mx.np.random.uniform(0.0, 1.0, size=x.shape, dtype="float32", ctx=x.ctx)
        mask = (u > p).astype(xc.dtype)
        return (mask * xc / (1.0 - p)).astype(x.dtype)

    def builtin_dropout(self, x: Tensor, p: float) -> Tensor:
        # mode="always" drops whatever autograd's global training flag says.
        return npx.dropout(x, p=p, mode="always")

    def make_dropout_layer(self, p: float) -> gluon.nn.Dropout:
        return gluon.nn.Dropout(p)

    def call_layer(self, layer: gluon.Block, x: Tensor, *, training: bool) -> Tensor:
        # Gluon reads the mode from autograd's global flag; scope it explicitly.
        scope = autograd.train_mode() if training else autograd.predict_mode()
        with scope:
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
