"""Import MXNet without the OpenMP side effect it has on the other frameworks.

MXNet 1.9's load-time initializer calls ``omp_set_num_threads(CPUs / 2)`` on the
importing thread (it takes every x86 CPU for one of two hyper-threads). libgomp
is one library per process, so that count is also what PyTorch reads: torch
imported after MXNet, or running its ops after MXNet's import, gets half the
cores: one thread on a two-core machine, where torch's scratch epochs in a
``--backend all`` run took 2.3 s, and 1.8 s with the count given back. MXNet's
threaded engines run its operators on worker threads that set their own count;
its NaiveEngine (d2ldrop's runs, see threads.py) runs them on the calling
thread, with the count given back.

An engine chosen through ``MXNET_ENGINE_TYPE`` announces itself on stderr when
it starts ("MXNet start using engine: NaiveEngine", an INFO line of its C++
logger, which has no level to set): the loader starts it with that line held back.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from types import ModuleType

_ENGINE_LINE = "MXNet start using engine:"


def _libgomp() -> ctypes.CDLL | None:
    try:
        # The process's libgomp if one is loaded (dlopen reuses it by soname),
        # otherwise the one MXNet is about to load.
        return ctypes.CDLL("libgomp.so.1")
    except OSError:
        return None


def import_mxnet() -> ModuleType:
    """``import mxnet``, keeping the calling thread's OpenMP thread count."""
    gomp = _libgomp()
    threads = gomp.omp_get_max_threads() if gomp is not None else None
    try:
        import mxnet
    finally:
        if gomp is not None and threads is not None:
            gomp.omp_set_num_threads(threads)
    if os.environ.get("MXNET_ENGINE_TYPE"):
        _start_engine_quietly(mxnet)
    return mxnet


def _start_engine_quietly(mxnet: ModuleType) -> None:
    """Start MXNet's engine (its first use creates it) with its announcement held
    back from stderr; anything else written meanwhile is passed on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to borrow
        mxnet.nd.waitall()
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            mxnet.nd.waitall()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        lines = held.read().decode(errors="replace").splitlines(keepends=True)
    rest = "".join(line for line in lines if _ENGINE_LINE not in line)
    if rest:
        sys.stderr.write(rest)


def diagnose(err: BaseException) -> str | None:
    """Explain MXNet's import failing on numpy >= 1.24, or None for another failure."""
    # MXNet 1.9.1 (the last release) uses ``np.bool``, removed in numpy 1.24.
    if isinstance(err, AttributeError) and "bool" in str(err):
        import numpy

        return (
            f"MXNet 1.9.1 needs numpy<1.24, but numpy {numpy.__version__} is installed "
            f'({err}). Use a separate environment with pip install "numpy<1.24" '
            f'"d2ldrop[mxnet]"'
        )
    return None
