"""bfloat16 dropouts on numpy arrays (``ml_dtypes.bfloat16``): one that conforms
and two with the low-precision bugs the specification is written against.

``correct`` draws float64 uniforms and rounds x / (1 - p) once to bfloat16.
``quantized`` draws its uniforms in bfloat16 (7 fraction bits: the grid k/128)
and keeps u >= p, as tf.nn.dropout does: it drops ceil(128 p) / 128, so p = 0.001
drops 0.78% (fails "fraction"). ``truncated`` rounds the scale and the product
toward zero (chopping bits) instead of to nearest: kept values are up to 4 ulps
low, beyond the two roundings allowed (fails "values").
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from d2ldrop.conformance import Target

BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = ("bfloat16", "float32")


def _check(x: np.ndarray, p: float) -> None:
    if not isinstance(p, (int, float)) or math.isnan(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if x.dtype.name not in ("bfloat16", "float16", "float32", "float64"):
        raise TypeError(f"x must be floating, got {x.dtype}")


def _edges(x: np.ndarray, p: float, training: bool) -> np.ndarray | None:
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return None


def _correct(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    out = _edges(x, p, training)
    if out is not None:
        return out
    keep = np.random.random_sample(x.shape) >= p
    return np.where(keep, x.astype(np.float64) / (1 - p), 0.0).astype(x.dtype)


def _quantized(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    out = _edges(x, p, training)
    if out is not None:
        return out
    # A generator that fills the 7 fraction bits of a bfloat16 in [1, 2) and
    # subtracts 1: uniforms on the grid k/128.
    u = np.floor(np.random.random_sample(x.shape) * 128) / 128
    keep = u >= float(np.asarray(p).astype(BF16))
    return np.where(keep, x.astype(np.float64) / (1 - p), 0.0).astype(x.dtype)


def _chop(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 rounding toward zero: keep the top 16 bits."""
    a = np.asarray(a, dtype=np.float32)
    bits = np.ascontiguousarray(a).reshape(-1).view(np.uint32) & np.uint32(0xFFFF0000)
    return bits.view(np.float32).reshape(a.shape)


def _truncated(x: np.ndarray, p: float, *, training: bool = True) -> np.ndarray:
    out = _edges(x, p, training)
    if out is not None:
        return out
    keep = np.random.random_sample(x.shape) >= p
    scale = _chop(np.float32(1 / (1 - p)) * np.ones(1, np.float32))[0]
    kept = _chop(x.astype(np.float32) * scale)
    return np.where(keep, kept, 0.0).astype(x.dtype)


correct = Target(_correct, dtypes=DTYPES, name="bf16.correct")
quantized = Target(_quantized, dtypes=DTYPES, name="bf16.quantized")
truncated = Target(_truncated, dtypes=DTYPES, name="bf16.truncated")
