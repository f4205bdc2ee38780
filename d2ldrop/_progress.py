"""A one-line progress bar for terminals; silent when the stream is not a tty."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """``label [#####.....] done/total suffix``, redrawn at most ten times a second.

    ``fmt`` turns a count into text (bytes as MiB, batches as plain numbers);
    ``suffix`` is extra text a caller can update with each step.
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
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
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
        self.stream.write(f"\r{self.label} {bar} {suffix}".rstrip() + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
