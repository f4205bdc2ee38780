"""A line of progress in a notebook: one output, replaced in place.

What :class:`d2ldrop._progress.Progress` draws in a notebook instead of the
terminal's carriage-return bar (which a notebook's output area would keep
appending to). The line is an HTML ``<progress>`` bar with its text, and plain
text for front ends without HTML.
"""

from __future__ import annotations

from d2ldrop.display import kernel
from d2ldrop.display.html import escape


class Line:
    """One progress line: ``fraction`` done (None when the total is unknown) and its text."""

    def __init__(self, text: str, fraction: float | None = None) -> None:
        self.text, self.fraction = text, fraction

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        bar = ("" if self.fraction is None else
               f'<progress value="{min(max(self.fraction, 0.0), 1.0):.4f}" max="1" '
               'style="width:16em; vertical-align:middle"></progress> ')
        return f"<div>{bar}<code>{escape(self.text)}</code></div>"


class NotebookLine:
    """Progress as one notebook output: the first :meth:`write` displays it, later
    ones replace it."""

    def __init__(self) -> None:
        self._handle: kernel.Handle | None = None

    def write(self, text: str, fraction: float | None = None) -> None:
        line = Line(text, fraction)
        if self._handle is None:
            self._handle = kernel.show(line)
        else:
            self._handle.update(line)

    def __call__(self, text: str) -> None:
        """As a ``log`` callable: the line shown becomes ``text``."""
        self.write(text)


def notebook_log() -> NotebookLine | None:
    """In a notebook, a ``log`` callable for per-run lines (one output, the latest
    line); outside, None (the caller's default applies)."""
    if not kernel.in_notebook():
        return None
    return NotebookLine()
