"""d2ldrop in notebooks: live curves, progress, figures and HTML tables.

Nothing here needs a notebook stack: IPython is imported only inside a running
kernel, when something is shown (:mod:`~d2ldrop.display.kernel`). Modules:

- :mod:`~d2ldrop.display.kernel`: are we in a notebook; outputs replaced in place;
- :mod:`~d2ldrop.display.figure`: figures that display themselves (``_repr_png_``);
- :mod:`~d2ldrop.display.live`: the curves redrawn after every epoch (``live=``);
- :mod:`~d2ldrop.display.progress`: the progress line of a notebook;
- :mod:`~d2ldrop.display.html`: the HTML table writer (every cell escaped);
- :mod:`~d2ldrop.display.reprs`: the ``_repr_html_`` of histories, conformance
  and experiment results.

    from d2ldrop.display import curves
    curves([history_scratch, history_concise])   # the book's figure, inline
"""

from __future__ import annotations

from d2ldrop.display.figure import InlineFigure, PNGFile, curves
from d2ldrop.display.kernel import in_notebook
from d2ldrop.display.live import LiveFigure, experiment_curves, live_figure
from d2ldrop.display.progress import NotebookLine, notebook_log

__all__ = [
    "InlineFigure",
    "LiveFigure",
    "NotebookLine",
    "PNGFile",
    "curves",
    "experiment_curves",
    "in_notebook",
    "live_figure",
    "notebook_log",
]
