"""The frameworks' own structured dropouts side by side (``d2ldrop compare --structured``).

Each is declared in its backend's quirks (``Quirks.structured``: the axes it
shares one mask value along on its usual layout, and how the framework itself
names them) and run by its adapter (``Adapter.structured_dropout``). Here each
becomes a :class:`~d2ldrop.conformance.target.Target` with those
``broadcast_axes``, and gets the statistics of any structured target: the
mask exactly constant along the axes ("structure") and every statistic on the
independent units. Their axis conventions differ (kept axes, shared axes, a
mask shape; channels first or last): the table shows each one in the suite's
single convention, with the framework's own beside it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from d2ldrop._backend import get_adapter
from d2ldrop._text import table
from d2ldrop.backends.quirks import Structured, quirks_of
from d2ldrop.backends.registry import BACKENDS, canonical_name, load_in_order
from d2ldrop.conformance.bounds import Z
from d2ldrop.conformance.stats import DEFAULT_PS, DEFAULT_SIZE, DropoutStats, target_stats
from d2ldrop.conformance.target import Target
from d2ldrop.errors import BackendNotAvailableError


def structured_targets(backend: str) -> list[tuple[Target, Structured]]:
    """Each structured dropout of ``backend``'s framework as a Target (loads it)."""
    adapter = get_adapter(backend)
    out = []
    for name, s in quirks_of(adapter.name).structured.items():
        def dropout(x: Any, p: float, *, training: bool = True, _name: str = name) -> Any:
            return adapter.structured_dropout(_name, x, p) if training else x

        out.append((Target(dropout, backend=adapter.name, name=f"{adapter.name} {name}",
                           broadcast_axes=s.axes, ndim=s.ndim,
                           dtypes=("float32",)), s))
    return out


@dataclass
class StructuredRow:
    """One framework structured dropout: its declaration and its statistics per p."""

    target: Target
    declared: Structured
    stats: list[DropoutStats]

    @property
    def failures(self) -> list[str]:
        return sorted({f"{name}[p={s.p:g}]" for s in self.stats for name in s.failures})


def structured_comparison(
    backends: Sequence[str], ps: Sequence[float] = DEFAULT_PS, *, size: int = DEFAULT_SIZE,
    seed: int = 0, z: float = Z,
) -> tuple[list[StructuredRow], dict[str, str]]:
    """The rows of every installed backend among ``backends`` (registry order), and
    the backends skipped (name -> why)."""
    wanted = {canonical_name(b) for b in backends}
    names = [b for b in BACKENDS if b in wanted]
    rows, skipped = [], {}
    load_in_order(names, skip_unavailable=True)  # one that cannot load is skipped below
    for name in names:
        try:
            pairs = structured_targets(name)
        except BackendNotAvailableError as err:
            skipped[name] = str(err)
            continue
        for target, declared in pairs:
            stats = [target_stats(target, p, size=size, seed=seed, z=z) for p in ps]
            rows.append(StructuredRow(target, declared, stats))
    return rows, skipped


def render_structured(rows: Sequence[StructuredRow]) -> str:
    """The side-by-side table and each framework's axis convention."""
    head = ["structured dropout", "input", "shared axes", "units n", "result"]
    body = []
    for r in rows:
        shape = r.stats[0].shape if r.stats else ()
        body.append([r.target.title, " x ".join(map(str, shape)),
                     str(r.declared.axes), str(r.stats[0].n if r.stats else "-"),
                     "PASS" if not r.failures else "FAIL: " + ", ".join(r.failures)])
    notes = [textwrap.fill(f"- {r.target.title}: {r.declared.convention}", width=100,
                           subsequent_indent="  ") for r in rows]
    return "\n".join([
        textwrap.fill(
            "The frameworks' own structured dropouts, each on its usual layout, in one "
            "convention: the axes along which one mask value is shared (\"structure\" checks "
            "it exactly; the statistics run on the units).", width=100),
        "", table(head, body), "",
        "Their own axis conventions (documented differences, d2ldrop/backends/<name>/quirks.py):",
        *notes,
    ])
