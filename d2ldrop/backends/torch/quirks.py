"""PyTorch's ``F.dropout`` where it differs from the chapter's (docs/conformance.md)."""

from __future__ import annotations

from d2ldrop.backends.quirks import Quirks, Structured

QUIRKS = Quirks(
    builtin_differences={
        "p=1,nonfinite": (
            "x: 0; nan: nan; +inf: nan; -inf: nan",
            "F.dropout with p = 1 returns input * 0, so NaN and inf become NaN",
        ),
        "p=nan": (
            "RuntimeError",
            "the Python check (p < 0 or p > 1) lets NaN through; the C++ op refuses it",
        ),
        "int": ("RuntimeError", "the float scale cannot be cast to the integer output"),
    },
    structured={
        "F.dropout1d": Structured((2,), 3, (
            "channels first, (N, C, L): zeroes whole channels, so one mask value per "
            "(n, c), shared along L; torch names the channel axis that is kept apart, "
            "not the axis that is shared"
        )),
        "F.dropout2d": Structured((2, 3), 4, (
            "(N, C, H, W): one value per (n, c), shared along H and W. A 3-D input has "
            "meant (C, H, W) without a batch in some releases and (N, C, L) in others "
            "(2.13 warns and takes (N, C, L)): the same call drops different axes"
        )),
    },
)
