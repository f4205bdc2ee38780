"""Paddle's ``F.dropout`` where it differs from the chapter's (docs/conformance.md).

Measured on paddlepaddle 3.3.1 (CPU), default mode ``upscale_in_train``. The
rate reaches the kernel as a float32 attribute and the kernel computes the keep
probability ``1 - p`` in float32, then ``x / keep`` in the input's dtype; it draws
u ~ U[0, 1) and drops where u < p, writing an exact 0 (not ``x * 0``) for a
dropped element.
"""

from __future__ import annotations

from d2ldrop.backends.quirks import Quirks, Structured

QUIRKS = Quirks(
    builtin_differences={
        "p=nan": (
            "all NaN",
            "the Python check (p < 0 or p > 1) lets NaN through; the kernel drops where "
            "u < p, which is False for NaN, and scales every element by 1 / (1 - NaN) = NaN",
        ),
        "p=1-1e-4,f32": (
            "0 or x/(1-p) [rel. err. 2e-04]",
            "p is a float32 attribute: kept values are x / float32(1 - float32(p)) "
            "(9998.34 for x = 1, not 10000)",
        ),
        "float64": (
            "0 or x/(1-p) [rel. err. 3e-08]",
            "the keep probability 1 - p is computed in float32 whatever the input dtype: "
            "kept float64 values are x / float32(1 - float32(p)), with float32 rounding",
        ),
        "int": (
            "RuntimeError",
            "no integer dropout kernel is registered (float16, bfloat16, float32, float64 only)",
        ),
        "nonfinite": (
            "x: 0 or x/(1-p); nan: 0 or nan; +inf: 0 or +inf; -inf: 0 or -inf",
            "the kernel writes an exact 0 for a dropped element, even for NaN and inf",
        ),
    },
    structured={
        "F.dropout(axis=[0, 1])": Structured((2,), 3, (
            "axis names the axes the mask varies along, not the shared ones (the "
            "opposite of the suite's convention), on any layout: (N, C, L) with "
            "axis=[0, 1] gives one mask value per (n, c), shared along L"
        )),
    },
)
