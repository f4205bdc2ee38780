"""Whether this process is a notebook kernel, and outputs that are replaced in place there.

IPython is never imported here to find out: inside a kernel (Jupyter, VS Code,
Colab, nbclient) it is already loaded, so :func:`in_notebook` only looks at
``sys.modules``. A framework may load IPython too (to detect notebooks itself),
which is why the running shell is asked whether it has a kernel: a plain Python
process, or a terminal IPython, has none. Callers reach these functions as
``kernel.in_notebook()`` / ``kernel.show(...)``, so that tests can replace them.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from d2ldrop.errors import MissingDependencyError


class Handle(Protocol):
    """What :func:`show` returns: ``update(obj)`` replaces the output with ``obj``."""

    def update(self, obj: Any) -> None: ...


def in_notebook() -> bool:
    """True inside an IPython kernel, whose front end displays HTML and images."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    try:
        shell = get_ipython()
    except Exception:  # a half-initialised IPython: no display to speak of
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def wanted(flag: bool | None) -> bool:
    """A ``live=`` keyword resolved: None means "in a notebook only"."""
    return in_notebook() if flag is None else bool(flag)


class _Printed:
    """The handle of an output outside a kernel (``live=True`` in a plain shell):
    each update prints the object's text again."""

    def __init__(self, display: Any) -> None:
        self._display = display

    def update(self, obj: Any) -> None:
        self._display(obj)


def show(obj: Any) -> Handle:
    """Display ``obj`` as a new output and return its handle.

    Needs IPython (imported here, and only when something is to be shown).
    """
    try:
        from IPython.display import display
    except ImportError as err:
        raise MissingDependencyError(
            "showing results in place needs IPython (pip install ipython); "
            "pass live=False to train without it"
        ) from err
    handle = display(obj, display_id=True)
    # Without a running shell IPython prints the object and returns no handle.
    return handle if handle is not None else _Printed(display)
