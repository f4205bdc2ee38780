"""HTML tables for rich display in notebooks, written once: every cell escaped.

Only the standard library: results render their ``_repr_html_`` with
:func:`table` and :func:`block`, each in its own domain (``History``,
:mod:`d2ldrop.conformance.gate`, :mod:`d2ldrop.lockstep.report`, ...). Styles
are inline (a notebook has no style sheet of ours), and limited to what survives
a notebook viewer's sanitizer: alignment (numbers right, text left) and a colour for failures.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Colour of a failed check or a disagreement.
FAIL_COLOUR = "#b00020"


@dataclass(frozen=True)
class Cell:
    """A table cell with a tooltip (``title``) and, when ``failed``, in the failure colour."""

    text: object
    title: str = ""
    failed: bool = False


def escape(value: object) -> str:
    """``str(value)`` with ``<``, ``>``, ``&`` and quotes escaped."""
    return html.escape(str(value), quote=True)


#: Cells made of numbers are right-aligned ("0.84", "1.5x", "0.85 ± 0.01", "+0.007
#: [-0.016, +0.030]", "10/10", "nan"); text that merely starts with a digit ("0 or
#: x/(1-p)", "0-d x") is not a number.
_NUMBER_TOKEN = re.compile(
    r"^[\[(]?[+-]?((\d[\d,]*\.?\d*|\.\d+)(e[+-]?\d+)?(x|%|s)?|\d+/\d+|nan|inf)[\]),;]?$|^±$")


def _is_number(text: str) -> bool:
    tokens = text.split()
    return bool(tokens) and all(_NUMBER_TOKEN.match(token) for token in tokens)


def _td(cell: object, tag: str) -> str:
    c = cell if isinstance(cell, Cell) else Cell(cell)
    text = str(c.text)
    style = ["text-align:right" if tag == "td" and _is_number(text) else "text-align:left"]
    if c.failed:
        style.append(f"color:{FAIL_COLOUR}; font-weight:bold")
    title = f' title="{escape(c.title)}"' if c.title else ""
    body = "<br>".join(escape(line) for line in text.split("\n"))
    return f'<{tag} style="{"; ".join(style)}"{title}>{body}</{tag}>'


def table(headers: Sequence[object], rows: Iterable[Sequence[object]], *,
          caption: str | None = None) -> str:
    """An HTML table: ``headers`` over ``rows``; each cell a value or a :class:`Cell`.

    Numbers are right-aligned, text left-aligned; a cell's newlines become line breaks.
    """
    head = "".join(_td(h, "th") for h in headers)
    body = "".join("<tr>" + "".join(_td(c, "td") for c in row) + "</tr>" for row in rows)
    cap = (f'<caption style="text-align:left; font-weight:bold">{escape(caption)}</caption>'
           if caption else "")
    return (f'<table class="d2ldrop">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def paragraph(text: str, *, failed: bool = False) -> str:
    """A paragraph of escaped text (in the failure colour when ``failed``)."""
    style = f' style="color:{FAIL_COLOUR}"' if failed else ""
    return f"<p{style}>{escape(text)}</p>"


def bullets(items: Iterable[str]) -> str:
    """An unordered list of escaped items (empty string when there are none)."""
    items = list(items)
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def block(*parts: str) -> str:
    """Parts (already HTML) in one ``div``; empty parts are dropped."""
    return '<div class="d2ldrop">' + "".join(p for p in parts if p) + "</div>"
