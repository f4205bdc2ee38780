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

Paddle's CPU wheel multiplies matrices with the MKL it bundles
(``libmklml_intel.so``, MKL 2019.0 Update 5), whose dispatcher gives a CPU that
is not Intel's its generic SSE kernels whatever the CPU's flags. On this
project's AMD EPYC (AVX-512) a (256, 784) x (784, 256) float32 product ran at
37 GFLOP/s on one thread, against 103 with MKL's AVX2 kernels (numpy's OpenBLAS:
about 100 per thread): an epoch spent most of its time there. That MKL release
still honours ``MKL_DEBUG_CPU_TYPE=5`` (its AVX2 kernels), read once, at the
first MKL call, not at load. So on a non-Intel CPU with AVX2 and FMA, unless you
set ``MKL_DEBUG_CPU_TYPE`` yourself, the loader sets it for the import and one
2 x 2 product, then takes it out of ``os.environ`` again: the choice stays with
Paddle's MKL and reaches nothing else (torch links its own MKL; numpy, MXNet and
JAX do not use MKL). AVX-512 kernels (``MKL_DEBUG_CPU_TYPE=7``) were no faster
here, and 8 crashed (SIGILL).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import warnings
from types import ModuleType

#: Variables ``import paddle`` (or the loader, for it) sets in ``os.environ``.
TOUCHED = ("OMP_NUM_THREADS", "CUSTOM_DEVICE_ROOT", "MKL_DEBUG_CPU_TYPE")
#: MKL 2019's code for its AVX2 kernels (``MKL_DEBUG_CPU_TYPE``).
MKL_AVX2 = "5"
#: How the lines of ``import paddle``'s data-parallel warning begin (3.3.1,
#: ``paddle/base/__init__.py``, ``__bootstrap__``).
DROPPED_LINES = ("WARNING: OMP_NUM_THREADS set to ", "PLEASE USE OMP_NUM_THREADS WISELY.")
#: Signals whose handlers ``import paddle`` replaces and the loader gives back.
RESTORED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def mkl_cpu_type(cpuinfo: str) -> str | None:
    """``MKL_DEBUG_CPU_TYPE`` for Paddle's MKL on the CPU ``cpuinfo`` (the text of
    ``/proc/cpuinfo``) describes: MKL's AVX2 kernels on an x86 CPU with AVX2 and
    FMA that is not Intel's; None (MKL's own choice) on Intel's CPUs, which MKL
    dispatches itself, and on any other."""
    first = cpuinfo.split("\n\n", 1)[0]  # the first processor's block
    fields = {key.strip(): value.strip() for key, _, value in
              (line.partition(":") for line in first.splitlines())}
    vendor, flags = fields.get("vendor_id", ""), set(fields.get("flags", "").split())
    if vendor and vendor != "GenuineIntel" and {"avx2", "fma"} <= flags:
        return MKL_AVX2
    return None


def _read_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read(65536)
    except OSError:  # not Linux: MKL's own choice
        return ""


def import_paddle() -> ModuleType:
    """``import paddle``, leaving ``os.environ`` as it was."""
    saved = {key: os.environ.get(key) for key in TOUCHED}
    handlers = {sig: signal.getsignal(sig) for sig in RESTORED_SIGNALS}
    cpu_type = None if "MKL_DEBUG_CPU_TYPE" in os.environ else mkl_cpu_type(_read_cpuinfo())
    printed = io.StringIO()
    try:
        if cpu_type is not None:
            os.environ["MKL_DEBUG_CPU_TYPE"] = cpu_type
        with warnings.catch_warnings(), contextlib.redirect_stderr(printed):
            warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
            import paddle
            if cpu_type is not None:
                # MKL reads the variable at its first call: make that call now.
                paddle.matmul(paddle.ones([2, 2]), paddle.ones([2, 2]))
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
