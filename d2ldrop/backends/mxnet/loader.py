"""Import MXNet without the OpenMP side effect it has on the other frameworks.

MXNet 1.9's load-time initializer calls ``omp_set_num_threads(CPUs / 2)`` on the
importing thread (it takes every x86 CPU for one of two hyper-threads). libgomp
is one library per process, so that count is also what PyTorch reads: torch
imported after MXNet, or running its ops after MXNet's import, gets half the
cores: one thread on a two-core machine, where torch's scratch epochs in a
``--backend all`` run took 2.3 s, and 1.8 s with the count given back. MXNet's
own operators run on its engine's worker threads, which set their own count, so
giving the importing thread its count back changes nothing for MXNet.
"""

from __future__ import annotations

import ctypes
from types import ModuleType


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
    return mxnet


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
