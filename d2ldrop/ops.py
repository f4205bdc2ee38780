"""Backend-neutral public operations: validate once, then call the adapter."""

from __future__ import annotations

import contextlib
import numbers

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._validate import check_probability, check_seed
from d2ldrop.backends import kernels
from d2ldrop.backends.arrays import Tensor
from d2ldrop.backends.base import Adapter
from d2ldrop.backends.registry import framework_of
from d2ldrop.errors import (
    D2LDropError,
    InvalidArgumentError,
    WrongTensorError,
    WrongTypeError,
)


def check_float_tensor(adapter: Adapter, x: object, name: str = "X") -> None:
    """Raise TypeError unless ``x`` is a floating tensor of ``adapter``'s framework."""
    if not adapter.is_tensor(x):
        other = framework_of(x)
        hint = (
            f"; it is a {other} tensor, so pass backend={other!r}"
            if other and other != adapter.name
            else ""
        )
        if other == adapter.name:
            hint = f": {adapter.tensor_hint(x) or 'a type this backend does not take'}"
        elif other:
            # The other framework may refuse this type too (MXNet's legacy arrays):
            # then its own reason, not advice that fails.
            with contextlib.suppress(D2LDropError):
                refused = get_adapter(other).tensor_hint(x)
                if refused:
                    hint = f"; it is {refused}, then pass backend={other!r}"
        raise WrongTensorError(
            f"Expected {name} to be a {adapter.name} tensor (the selected backend). "
            f"Received: {type(x).__module__}.{type(x).__qualname__}{hint}"
        )
    if not adapter.is_floating(x):
        raise WrongTensorError(
            f"Expected {name} to be a floating-point tensor. "
            f"Received: dtype={adapter.dtype_name(x)}"
        )


def check_broadcast_axes(axes: object, ndim: int) -> tuple[int, ...]:
    """``axes`` (None, an int or a sequence of ints) as sorted non-negative axes of
    an ``ndim``-dimensional input; ValueError if one is out of range or repeated."""
    if axes is None:
        return ()
    items = (axes,) if isinstance(axes, numbers.Integral) else axes
    try:
        raw = list(items)  # type: ignore[call-overload]
    except TypeError:
        raise WrongTypeError(
            f"Expected broadcast_axes to be None, an int or a sequence of ints. "
            f"Received: {axes!r}"
        ) from None
    out = []
    for a in raw:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise WrongTypeError(f"Expected broadcast_axes to hold ints. Received: {axes!r}")
        if not -ndim <= int(a) < ndim:
            raise InvalidArgumentError(
                f"broadcast_axes {axes!r} out of range for an input of {ndim} dimension(s)"
            )
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"broadcast_axes {axes!r} names an axis twice")
    return tuple(sorted(out))


def dropout_layer(X: Tensor, p: float, *, broadcast_axes: object = None,
                  backend: str | None = None) -> Tensor:
    """The chapter's from-scratch dropout.

    Each element of ``X`` is kept where a uniform sample on [0, 1) exceeds ``p``
    (so with probability 1 - p) and the kept elements are scaled by 1 / (1 - p),
    which preserves the expectation. ``p == 0`` returns ``X`` itself and ``p == 1``
    returns zeros. Shape and dtype are kept (float16, bfloat16, float32 or
    float64); the gradient with respect to ``X`` is mask / (1 - p).

    Args:
        X: a floating tensor (float16, bfloat16, float32 or float64) of the
            selected backend; empty and 0-d tensors work. Half precision is
            computed in float32 and rounded once, so every framework gives the
            same bits.
        p: the probability of dropping each element, a real number in [0, 1].
        broadcast_axes: structured dropout: None (every element on its own), an
            axis or a sequence of axes along which one mask value is shared
            (negative axes count from the end). ``broadcast_axes=2`` on
            (N, C, L) drops whole channels, as a channel-wise Dropout1d does.
        backend: the backend's name or alias; None: the active one (see
            :func:`get_backend`).

    Returns:
        A tensor of the backend, of the shape and dtype of ``X``: each element
        0 or ``x / (1 - p)``.

    Raises:
        ValueError: ``p`` is not a real number in [0, 1] (NaN included, also
            under ``python -O``), or an axis is out of range or repeated.
        TypeError: ``X`` is not a floating tensor of the selected backend (or
            its framework has no tensors of that dtype), or ``broadcast_axes``
            is not None, an int or a sequence of ints.

    Example:
        >>> X = d2ldrop.from_numpy(np.arange(16, dtype=np.float32).reshape(2, 8))
        >>> d2ldrop.seed(0)
        >>> d2ldrop.to_numpy(d2ldrop.dropout_layer(X, 0.5))  # about half 0, the rest x2
        >>> X = d2ldrop.from_numpy(np.ones((2, 3, 4), np.float32))
        >>> Y = d2ldrop.dropout_layer(X, 0.5, broadcast_axes=2)  # Y[n, c, :] all 0 or all 2
    """
    p = check_probability(p, "p")
    adapter = get_adapter(backend)
    check_float_tensor(adapter, X)
    axes = check_broadcast_axes(broadcast_axes, len(adapter.ops.shape(X)))
    return kernels.guarded_dropout(adapter.ops, X, p, axes)


def seed(n: int, *, backend: str | None = None) -> None:
    """Seed the random generator of the selected backend.

    The same seed gives the same dropout masks, call after call. On JAX, which
    has no global generator, it starts d2ldrop's host-side stream of keys.

    Args:
        n: the seed, a non-negative integer.
        backend: the backend's name or alias; None: the active one.

    Raises:
        ValueError: ``n`` is not a non-negative integer (checked before any
            framework is imported).

    Example:
        >>> d2ldrop.seed(0)  # the active backend's generator
    """
    n = check_seed(n, "n")  # before the adapter: a bad seed is a ValueError anywhere
    get_adapter(backend).seed(n)


def to_numpy(x: Tensor, *, backend: str | None = None) -> np.ndarray:
    """A numpy copy of a tensor of the selected backend.

    Args:
        x: a tensor of the selected backend.
        backend: the backend's name or alias; None: the active one.

    Returns:
        A numpy array with the values, shape and dtype of ``x``.

    Raises:
        TypeError: ``x`` is not a tensor of the selected backend.
    """
    adapter = get_adapter(backend)
    if not adapter.is_tensor(x):
        raise WrongTensorError(
            f"Expected a {adapter.name} tensor. Received: {type(x).__qualname__}"
        )
    return adapter.to_numpy(x)


def from_numpy(a: np.ndarray, *, backend: str | None = None) -> Tensor:
    """A tensor of the selected backend with the values, shape and dtype of ``a``.

    Args:
        a: a numpy array, or anything ``np.asarray`` accepts.
        backend: the backend's name or alias; None: the active one.

    Returns:
        A tensor of the backend (a ``torch.Tensor``, ``tf.Tensor``, MXNet
        ``NDArray`` or ``jax.Array``).

    Example:
        >>> X = d2ldrop.from_numpy(np.ones((2, 8), np.float32), backend="tf")
    """
    return get_adapter(backend).from_numpy(np.asarray(a))
