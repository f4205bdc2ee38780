"""Plain-text tables for the command line, written once."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, gap: str = "  ",
          rule: bool = False) -> str:
    """Left-aligned columns under ``headers``; a cell may hold several lines.

    ``rule`` underlines the header with dashes. Trailing spaces are stripped.
    """
    split = [[str(c).split("\n") for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in split:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in cell))

    def fmt(parts: Sequence[str]) -> str:
        return gap.join(p.ljust(w) for p, w in zip(parts, widths)).rstrip()

    out = [fmt(headers)]
    if rule:
        out.append(fmt(["-" * w for w in widths]))
    for row in split:
        for k in range(max(len(cell) for cell in row)):
            out.append(fmt([cell[k] if k < len(cell) else "" for cell in row]))
    return "\n".join(out)


def align(lines: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns: the first line is the header, underlined with dashes."""
    return table(lines[0], lines[1:], rule=True)
