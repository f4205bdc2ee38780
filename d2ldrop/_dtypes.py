"""Float dtypes by name, bfloat16 included (numpy has none: ``ml_dtypes`` gives it).

``ml_dtypes`` (a dependency of the frameworks that have bfloat16, and of d2ldrop)
is imported only when a bfloat16 dtype is asked for, so that naming float32
costs nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The floating dtypes d2ldrop runs dropout on, by numpy-style name.
FLOAT_DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
#: Those with fewer significand bits than float32: computed in float32, rounded once.
LOW_PRECISION: frozenset[str] = frozenset({"float16", "bfloat16"})


def np_dtype(name: str) -> np.dtype:
    """The numpy dtype called ``name`` ('bfloat16' is ``ml_dtypes.bfloat16``)."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def is_float(dtype: Any) -> bool:
    """True for a float dtype d2ldrop knows (ml_dtypes' bfloat16 is not np.floating)."""
    return np.dtype(dtype).name in FLOAT_DTYPES


def finfo(name: str) -> Any:
    """``np.finfo`` of a float dtype, bfloat16 included (``ml_dtypes.finfo``)."""
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.finfo(ml_dtypes.bfloat16)
    return np.finfo(np.dtype(name))


def unit_roundoff(name: str) -> float:
    """u = eps / 2 of a float dtype: the largest relative error of one rounding."""
    return float(finfo(name).eps) / 2.0
