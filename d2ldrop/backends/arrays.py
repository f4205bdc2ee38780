"""The array primitives every backend provides: :class:`ArrayOps`, and ``Tensor``.

The bottom of the seam: :mod:`d2ldrop.backends.kernels` writes the chapter's
numerics against :class:`ArrayOps`, and :mod:`d2ldrop.backends.base` builds the
adapters on both; this module imports nothing of d2ldrop. ``Tensor`` is defined
here once: a framework's tensor, whichever the backend is (``Any`` to a type checker).
"""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["FLOAT_DTYPES", "ArrayOps", "Tensor"]

Tensor = Any

FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})


class ArrayOps(abc.ABC):
    """What the kernels need: shapes, casts, an affine map, ReLU, and two draws."""

    @abc.abstractmethod
    def dtype_name(self, x: Tensor) -> str:
        """The element type of ``x`` as a numpy-style name ('float32', 'int64')."""

    def shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(int(n) for n in x.shape)

    @abc.abstractmethod
    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor: ...

    @abc.abstractmethod
    def astype(self, x: Tensor, dtype: str) -> Tensor:
        """``x`` in ``dtype`` (a numpy-style name); ``x`` itself if it already is."""

    @abc.abstractmethod
    def zeros_like(self, x: Tensor) -> Tensor:
        """Zeros with the shape and dtype of ``x``."""

    @abc.abstractmethod
    def affine(self, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        """``x @ W + b`` for a weight held as :meth:`fan_in` says (a fused op if any)."""

    def fan_in(self, W: Tensor) -> int:
        """The number of inputs of a scratch-model weight W as the adapter holds it.

        The chapter's layout (in, out) by default; an adapter whose fused affine op
        takes (out, in) may hold W that way (get/set_mlp_params still speak (in, out)).
        """
        return self.shape(W)[0]

    @abc.abstractmethod
    def relu(self, x: Tensor) -> Tensor: ...

    def divide(self, x: Tensor, c: float) -> Tensor:
        """``x / c`` for a Python float ``c``: a division in the dtype of ``x`` (never
        a multiplication by ``1 / c``, which rounds differently)."""
        return x / c

    @abc.abstractmethod
    def uniform_like(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Tensor:
        """float32 samples of U[0, 1) with the shape of ``x`` (whatever its dtype), or
        ``shape`` when given (a structured dropout's mask, broadcast against ``x``)."""

    @abc.abstractmethod
    def normal_like(self, x: Tensor) -> Tensor:
        """Standard normal samples with the shape and dtype of ``x``."""
