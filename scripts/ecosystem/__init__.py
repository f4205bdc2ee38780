"""The dropouts people use, each declared as a d2ldrop conformance target.

One module per library (``scripts/ecosystem/<module>.py``). Each says which
environment runs it (``ENV``: "all" is /work/main/.venv's numpy-1 environment,
"ecosystem" the numpy-2 tox env of tox.ini), the Keras backend it needs
(``KERAS_BACKEND``, set before it is imported), ``versions()`` of what it
measures, and ``entries()``: the dropouts, each an :class:`Entry` that makes a
:class:`d2ldrop.conformance.Target` for the dtypes it supports.
``scripts/ecosystem_report.py`` runs every module in a process of its own and
renders docs/ecosystem.md.

Nothing here imports a framework; the modules do, when imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from d2ldrop.conformance import Target

#: The float dtypes a dropout is tried in (those the suite knows are run).
CANDIDATE_DTYPES = ("bfloat16", "float16", "float32", "float64")

#: What a library's dropout computes when it is not the chapter's inverted dropout.
DIFFERENT_METHODS = {
    "alpha_dropout": "alpha dropout (SELU networks): dropped units are set to a negative "
    "saturation value and the output is affinely rescaled to keep mean and variance; "
    "the dropout statistics do not apply",
}


@dataclass
class Entry:
    """One dropout of a library, as a target factory.

    ``make(**capabilities)`` returns the Target; ``capabilities`` are the Target
    fields the entry needs from the suite (``broadcast_axes``, ``ndim``,
    ``convention``): when this d2ldrop's Target lacks one, the entry is reported as
    not checkable here instead of being checked as something it is not.
    """

    key: str
    library: str
    make: Callable[..., Target]
    method: str = "dropout"
    capabilities: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def missing_capabilities(self) -> list[str]:
        known = {f.name for f in dataclasses.fields(Target)}
        return [c for c in self.capabilities if c not in known]

    def target(self, dtypes: tuple[str, ...]) -> Target:
        return dataclasses.replace(self.make(**self.capabilities), dtypes=dtypes,
                                   name=self.key)


def first_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return (text.splitlines() or [""])[0][:240]


class KeyStream:
    """A host-side PRNG stream for JAX-based libraries: ``seed(s)`` resets it and each
    call takes a fresh key (nothing random is captured in a trace)."""

    def __init__(self) -> None:
        import jax

        self._jax = jax
        self.key = jax.random.key(0)

    def seed(self, s: int) -> None:
        self.key = self._jax.random.key(s)

    def next(self) -> Any:
        self.key, sub = self._jax.random.split(self.key)
        return sub

