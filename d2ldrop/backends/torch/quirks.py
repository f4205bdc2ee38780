"""PyTorch's ``F.dropout`` where it differs from the chapter's (docs/conformance.md)."""

from __future__ import annotations

from d2ldrop.backends.quirks import Quirks

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
)
