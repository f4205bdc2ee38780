"""Generic display helpers: figures, HTML tables, progress, outputs replaced in place.

``display/`` knows no domain type: each domain (a training history, the
conformance results, an experiment, a lockstep run) renders itself with these
helpers, in its own modules. Nothing here needs a notebook stack: IPython is
imported only inside a running kernel, when something is shown
(:mod:`~d2ldrop.display.kernel`). Modules:

- :mod:`~d2ldrop.display.kernel`: are we in a notebook; outputs replaced in place;
- :mod:`~d2ldrop.display.figure`: figures on the Agg canvas, to PNG, shown inline;
- :mod:`~d2ldrop.display.live`: one figure output redrawn in place (``live=``);
- :mod:`~d2ldrop.display.progress`: the progress bar (terminal) or line (notebook);
- :mod:`~d2ldrop.display.html`: the HTML table writer (every cell escaped).

Example:

    from d2ldrop.display import notebook_log
    log = notebook_log()   # one updating output in a notebook, None elsewhere
"""

from __future__ import annotations

from d2ldrop.display.figure import InlineFigure, PNGFile
from d2ldrop.display.kernel import in_notebook
from d2ldrop.display.live import LiveFigure, live_figure
from d2ldrop.display.progress import NotebookLine, Progress, notebook_log

__all__ = [
    "InlineFigure",
    "LiveFigure",
    "NotebookLine",
    "PNGFile",
    "Progress",
    "in_notebook",
    "live_figure",
    "notebook_log",
]
