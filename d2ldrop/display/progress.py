"""A one-line progress bar: on a terminal, or in a notebook; silent anywhere else.

The one progress module of d2ldrop. On a terminal :class:`Progress` redraws its
line with a carriage return; in a notebook (an IPython kernel, see
:mod:`d2ldrop.display.kernel`) it is one output replaced in place
(:class:`NotebookLine`: an HTML ``<progress>`` bar with its text, and plain text
for front ends without HTML), since a notebook's output area would keep
appending the terminal's carriage-return lines. A log file or a pipe gets
nothing unless the caller asks (``enabled=True``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

from d2ldrop.display import kernel
from d2ldrop.display.html import escape

__all__ = ["Line", "NotebookLine", "Progress", "notebook_log"]


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


class Progress:
    """``label [#####.....] done/total suffix``, redrawn at most ten times a second.

    ``enabled`` None: on a terminal or in a notebook only; True: also on a
    stream that is neither (a log); False: never. ``fmt`` turns a count into
    text (bytes as MiB, batches as plain numbers); ``suffix`` is extra text a
    caller can update with each step. :meth:`restart` begins the next line (the
    next epoch): a new line on a terminal, the same output in a notebook.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        fmt: Callable[[int], str] = str,
        width: int = 30,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._notebook: NotebookLine | None = None
        if enabled is not False and not tty and kernel.in_notebook():
            self._notebook = NotebookLine()
            enabled = True
        elif enabled is None:
            enabled = tty
        self.label, self.total, self.enabled, self.fmt, self.width = (
            label, total, enabled, fmt, width,
        )
        self._last = -math.inf
        self._shown = False

    def update(self, done: int, suffix: str = "") -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done != self.total):
            return
        self._last = now
        if self.total:
            filled = int(self.width * min(done, self.total) / self.total)
            bar = (
                f"[{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.fmt(done)}/{self.fmt(self.total)}"
            )
        else:
            bar = self.fmt(done)
        if self._notebook is not None:
            counts = bar.split("] ", 1)[-1]  # the HTML bar replaces the #s
            fraction = min(done, self.total) / self.total if self.total else None
            self._notebook.write(f"{self.label} {counts} {suffix}".rstrip(), fraction)
            return
        self.stream.write(f"\r{self.label} {bar} {suffix}".rstrip() + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def restart(self, label: str, total: int | None = None) -> None:
        """Begin the next line (e.g. the next epoch) under ``label``."""
        self.close()
        self.label = label
        if total is not None:
            self.total = total
        self._last = -math.inf

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
