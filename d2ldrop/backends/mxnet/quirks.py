"""MXNet's ``npx.dropout`` where it differs from the chapter's (docs/conformance.md)."""

from __future__ import annotations

from d2ldrop.backends.quirks import Quirks, Structured

_PREFIX = "MXNetError:"


def informative_part(text: str) -> str:
    """The text after ``MXNetError:``: MXNet puts a C++ stack trace before it."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(_PREFIX):
            return line[len(_PREFIX):].strip()
    return text


QUIRKS = Quirks(
    builtin_differences={
        "p=1": (
            "all NaN",
            "the kernel scales by 1 / (1 - p) = inf and 0 * inf = NaN",
        ),
        "p=1,nonfinite": ("all NaN", "the kernel scales by 1 / (1 - p) = inf"),
        "p=1-1e-4,f32": (
            "0 or x/(1-p) [rel. err. 2e-04]",
            "p is a float32 parameter: kept values are x / (1 - float32(p))",
        ),
        "p<0": ("MXNetError", "parameter range check [0, 1]"),
        "p>1": ("MXNetError", "parameter range check [0, 1]"),
        "p=nan": (
            "identity",
            "the kernel drops only when 1 - p < 1, which is False for NaN: a pass-through",
        ),
        "int": ("MXNetError", "the op supports floating types only"),
        "float64": (
            "0 or x/(1-p) [rel. err. 5e-08]",
            "p and the scale 1 / (1 - p) are float32 whatever the input dtype: kept "
            "values carry float32 rounding",
        ),
    },
    normalize_message=informative_part,
    structured={
        "npx.dropout(axes=(2,))": Structured((2,), 3, (
            "axes names the shared axes (the suite's convention), on any layout; "
            "(N, C, L) with axes=(2,) drops whole channels"
        )),
    },
)
