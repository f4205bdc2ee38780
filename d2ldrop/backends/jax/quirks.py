"""flax.linen's ``Dropout`` where it differs from the chapter's (docs/conformance.md).

flax keeps an element where ``bernoulli(key, 1 - rate)`` is True, i.e. where a
uniform sample is *below* 1 - rate (the chapter keeps where it is above p): the
same distribution, other masks for the same key. It has no range check on the
rate, and selects with ``lax.select(mask, x / (1 - rate), 0)``.
"""

from __future__ import annotations

from d2ldrop.backends.quirks import Quirks, Structured

_NO_CHECK = "flax's Dropout does not check the rate: keep_prob = 1 - rate = "

QUIRKS = Quirks(
    builtin_differences={
        "p<0": (
            "x",
            _NO_CHECK + "1.1, bernoulli(1.1) keeps everything, scaled by 1 / 1.1",
        ),
        "p>1": ("zeros", _NO_CHECK + "-0.1, bernoulli(-0.1) keeps nothing"),
        "p=nan": ("zeros", _NO_CHECK + "NaN, and u < NaN keeps nothing"),
        "nonfinite": (
            "x: 0 or x/(1-p); nan: 0 or nan; +inf: 0 or +inf; -inf: 0 or -inf",
            "dropped elements are selected with lax.select(mask, x / keep_prob, 0): "
            "exactly 0, even for NaN and inf",
        ),
    },
    structured={
        "nn.Dropout(broadcast_dims=(1,))": Structured((1,), 3, (
            "broadcast_dims names the shared axes themselves (the suite's convention); "
            "on (N, L, C), (1,) gives one mask value per (n, c)"
        )),
    },
)
