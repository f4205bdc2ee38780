"""Import Paddle without the side effects its import has on the rest of the process.

``import paddle`` (3.3.1, ``paddle/base/__init__.py``, ``__bootstrap__``) writes
``OMP_NUM_THREADS`` into ``os.environ`` (``1`` when it was unset) and
``CUSTOM_DEVICE_ROOT`` (``''``). Its own OpenMP runtime has loaded by then, so
the variables only reach what loads later: a framework imported after Paddle (or
a subprocess it starts) would run on one OpenMP thread without anyone asking.
The loader puts both variables back as they were. Paddle also warns (a
UserWarning) that no ``ccache`` is found, about compiling C++ extensions, which
d2ldrop never does; that warning is silenced for the import only. When
``OMP_NUM_THREADS`` is above 1 (as d2ldrop's thread policy sets it, to the
cores) the import prints a two-line warning to stderr about data-parallel
training and OpenBlas, neither of which applies (this build runs on MKL and
Intel's OpenMP); the loader drops those two lines and passes on anything else
the import prints to stderr.

Paddle also installs C-level handlers for SIGTERM and the crash signals at
import. Its SIGTERM handler prints a C++ "FatalError: Termination signal" report
and exits, and it replaces a Python handler installed before the import
(measured: the Python handler never runs and the process exits 143) while
``signal.getsignal`` still names it. The loader gives SIGTERM and SIGINT back the
handlers Python had; Paddle keeps its crash handlers (SIGSEGV, SIGABRT, ...),
which print its C++ stack.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import warnings
from types import ModuleType

#: Variables ``import paddle`` sets in ``os.environ``.
TOUCHED = ("OMP_NUM_THREADS", "CUSTOM_DEVICE_ROOT")
#: How the lines of ``import paddle``'s data-parallel warning begin (3.3.1,
#: ``paddle/base/__init__.py``, ``__bootstrap__``).
DROPPED_LINES = ("WARNING: OMP_NUM_THREADS set to ", "PLEASE USE OMP_NUM_THREADS WISELY.")
#: Signals whose handlers ``import paddle`` replaces and the loader gives back.
RESTORED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def import_paddle() -> ModuleType:
    """``import paddle``, leaving ``os.environ`` as it was."""
    saved = {key: os.environ.get(key) for key in TOUCHED}
    handlers = {sig: signal.getsignal(sig) for sig in RESTORED_SIGNALS}
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(printed):
            warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
            import paddle
    finally:
        sys.stderr.writelines(line for line in printed.getvalue().splitlines(keepends=True)
                              if not line.startswith(DROPPED_LINES))
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    for sig, handler in handlers.items():
        if handler is not None:  # None: not installed from Python; nothing to give back
            signal.signal(sig, handler)
    return paddle
