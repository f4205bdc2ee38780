"""The inputs the statistics feed a target, and how its masks are read back.

An elementwise dropout gets a near-square (rows, cols) grid of ``size``
elements. A structured one (:attr:`Target.broadcast_axes`) gets an input of
:attr:`Target.ndim` dimensions whose independent axes hold the same number of
*units* as that grid and whose broadcast axes have length :data:`SHARED`: one
mask value per unit, shared by its ``SHARED ** k`` elements. The suite checks
the sharing exactly (:func:`structure_check`) and runs every statistic on the
units, so their count is the ``n`` of the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from d2ldrop.conformance.checks import Check, exact_check

#: Length of each broadcast axis of a structured target's input (not a power of
#: two, so that a mask shared along the wrong stride shows).
SHARED = 3


def grid_shape(size: int) -> tuple[int, int]:
    """The (rows, columns) grid used for ``size`` elements: near square, <= size."""
    rows = max(16, math.isqrt(size))
    return rows, size // rows


@dataclass(frozen=True)
class Layout:
    """The input shape of one target and where its units are.

    ``shape`` is what the target gets; ``axes`` its broadcast axes; ``units`` the
    (rows, cols) grid of independent units the statistics run on.
    """

    shape: tuple[int, ...]
    axes: tuple[int, ...]
    units: tuple[int, int]

    @property
    def n(self) -> int:
        """The number of independent units (elements, for an elementwise dropout)."""
        return self.units[0] * self.units[1]

    @property
    def group(self) -> int:
        """Elements per unit (1 for an elementwise dropout)."""
        return SHARED ** len(self.axes)

    def unit_view(self, a: np.ndarray) -> np.ndarray:
        """``a`` as (units, group): each row the elements that share one mask value."""
        moved = np.moveaxis(a, self.axes, range(a.ndim - len(self.axes), a.ndim))
        return moved.reshape(self.n, self.group)

    def unit_grid(self, a: np.ndarray) -> np.ndarray:
        """The first element of each unit, as the (rows, cols) grid of units."""
        return self.unit_view(a)[:, 0].reshape(self.units)


def layout(size: int, ndim: int | None = None, axes: tuple[int, ...] = ()) -> Layout:
    """The :class:`Layout` of ``size`` units on ``ndim`` axes, ``axes`` shared.

    Independent axes: one holds rows x cols units; two hold (rows, cols); more
    hold (rows, cols / 2^(m - 2), 2, ..., 2). Broadcast axes have length
    :data:`SHARED`.
    """
    rows, cols = grid_shape(size)
    ndim = 2 if ndim is None else ndim
    free = [i for i in range(ndim) if i not in axes]
    m = len(free)
    if m == 1:
        sizes, units = [rows * cols], (rows, cols)
    else:
        c2 = max(1, cols // 2 ** (m - 2))
        sizes, units = [rows, c2] + [2] * (m - 2), (rows, c2 * 2 ** (m - 2))
    shape = [SHARED] * ndim
    for i, n in zip(free, sizes):
        shape[i] = n
    return Layout(tuple(shape), tuple(axes), units)


def structure_check(lay: Layout, dropped: list[np.ndarray]) -> Check:
    """The mask is exactly constant along the broadcast axes, in every call given."""
    bad = 0
    for d in dropped:
        v = lay.unit_view(d)
        bad += int(np.count_nonzero(np.any(v != v[:, :1], axis=1)))
    axes = ", ".join(map(str, lay.axes))
    return exact_check(
        "structure", "mask shared along the axes", bad,
        f"one mask value per unit: constant along axes ({axes}) of shape {lay.shape}",
        f"{bad} of {lay.n * len(dropped)} units mixed kept and dropped elements",
    )
