"""Where a framework's own dropout differs from the chapter's: data, per backend.

The conformance code (:mod:`d2ldrop.conformance`) is backend-neutral; what it
must know about one framework lives in ``d2ldrop/backends/<name>/quirks.py``, a
module that defines ``QUIRKS = Quirks(...)`` and imports no framework. A backend
without such a module has the defaults: no documented differences, so every
builtin outcome that differs from the chapter's is reported as undocumented.
Each entry is explained in docs/conformance.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from d2ldrop.backends.registry import BY_NAME, canonical_name


def same_probability(p: float, dtype: str) -> float:
    """The default drop probability of a builtin dropout: ``p`` itself, in every dtype."""
    return p


def unchanged_message(text: str) -> str:
    """The default message normaliser: the exception's text as it is."""
    return text


@dataclass(frozen=True)
class Structured:
    """One of a framework's own structured dropouts, in the suite's terms.

    ``axes`` are the axes along which it shares one mask value on its usual
    ``ndim``-dimensional input (``Target.broadcast_axes``); ``convention`` says
    how the framework itself names them (kept axes, shared axes, a mask shape)
    and on which layout, the difference users trip over.
    """

    axes: tuple[int, ...]
    ndim: int
    convention: str


@dataclass(frozen=True)
class Quirks:
    """The documented differences of one backend's builtin dropout.

    ``builtin_differences`` maps an edge-case id (``d2ldrop.conformance.EDGE_CASE_IDS``)
    to ``(label, why)``: the outcome label the builtin gives there instead of the
    chapter's, and the reason. ``stat_differences`` maps an input dtype to
    ``{check name: why}`` for statistics the builtin is documented to fail in
    that dtype. ``builtin_drop_probability(p, dtype)`` is the probability with
    which the builtin really drops at rate ``p`` on ``dtype`` input.
    ``normalize_message(text)`` keeps the informative part of an exception's
    text (the conformance report shows its first line). ``structured`` names
    the framework's own structured dropouts (:class:`Structured`).
    """

    builtin_differences: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    stat_differences: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    builtin_drop_probability: Callable[[float, str], float] = same_probability
    normalize_message: Callable[[str], str] = unchanged_message
    #: The framework's structured dropouts by name (``Adapter.structured_dropout``).
    structured: Mapping[str, Structured] = field(default_factory=dict)


#: The quirks of a backend that has no quirks module.
DEFAULT_QUIRKS = Quirks()


def quirks_of(name: str) -> Quirks:
    """The :class:`Quirks` of backend ``name`` (an alias is accepted).

    Imports ``d2ldrop.backends.<name>.quirks`` (no framework) and returns its
    ``QUIRKS``, or :data:`DEFAULT_QUIRKS` when the backend has no such module.
    """
    package = BY_NAME[canonical_name(name)].package
    module_name = f"{package}.quirks"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name not in (package, module_name):  # it exists; an import inside it fails
            raise
        return DEFAULT_QUIRKS
    return module.QUIRKS
