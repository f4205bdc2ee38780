"""PaddlePaddle's ``paddle.nn.functional.dropout`` in its two modes: the default
``upscale_in_train`` (inverted dropout) and ``downscale_in_infer`` (the 2014 paper's
form: no scaling in training, x * (1 - p) in evaluation).

d2ldrop has no Paddle backend in this environment, so the targets take numpy arrays
and convert (exactly: same dtype, no rounding) at the call; the gradient is Paddle's
autograd, declared as a callable, and the seed is ``paddle.seed``.
"""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F

from d2ldrop.conformance import Target
from ecosystem import Entry

ENV = "ecosystem"
paddle.set_device("cpu")


def versions() -> dict[str, str]:
    return {"paddlepaddle": paddle.__version__}


def _to_paddle(x: np.ndarray, grad: bool = False) -> paddle.Tensor:
    if str(x.dtype) == "bfloat16":  # numpy's bfloat16 is ml_dtypes': go through its bits
        t = paddle.to_tensor(x.view(np.uint16)).view(paddle.bfloat16)
    else:
        t = paddle.to_tensor(x)
    t.stop_gradient = not grad
    return t


def _to_numpy(t: paddle.Tensor) -> np.ndarray:
    if t.dtype == paddle.bfloat16:
        import ml_dtypes

        return t.view(paddle.uint16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def _make(mode: str):
    def dropout(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
        return _to_numpy(F.dropout(_to_paddle(x), p, training=training, mode=mode))

    def gradient(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
        t = _to_paddle(x, grad=True)
        y = F.dropout(t, p, training=True, mode=mode)
        y.sum().backward()
        return _to_numpy(y), _to_numpy(t.grad)

    def layer(p: float):
        module = paddle.nn.Dropout(p, mode=mode)

        def call(x: np.ndarray, *, training: bool) -> np.ndarray:
            module.train() if training else module.eval()
            return _to_numpy(module(_to_paddle(x)))

        return call

    return dropout, gradient, layer


def _target(mode: str, **capabilities) -> Target:
    dropout, gradient, layer = _make(mode)
    return Target(dropout, backend="numpy", gradient=gradient, layer=layer,
                  seed=paddle.seed, **capabilities)


def entries() -> list[Entry]:
    return [
        Entry("paddle.nn.functional.dropout (upscale_in_train)", "PaddlePaddle",
              lambda **c: _target("upscale_in_train", **c)),
        Entry("paddle.nn.functional.dropout (downscale_in_infer)", "PaddlePaddle",
              lambda **c: _target("downscale_in_infer", **c),
              capabilities={"convention": "downscale"}),
    ]
