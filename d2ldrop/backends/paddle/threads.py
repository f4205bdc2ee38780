"""Paddle's thread count, for :mod:`d2ldrop.backends.threads` (imports no framework).

Paddle's CPU kernels run on Intel's OpenMP (``paddle/libs/libiomp5.so``), sized
when it loads: from ``OMP_NUM_THREADS`` if set (so a sweep worker, which sets it
before Paddle loads, is pinned), else from the cores. Paddle has no getter, and
its setter is ``paddle.base.core.set_num_threads`` (the OpenMP and MKL counts of
the calling thread). The count changes the numbers: a (500, 784) x (784, 256)
``F.linear`` gives other float32 bits on 1 thread than on 2 (measured), so a run
in this process must be pinned like a worker's to give the worker's numbers.

The policy is PyTorch's (see ``torch/threads.py``): every core and the OpenMP
runtime's default wait when every core is free; when another process keeps some
busy, a team of the free cores (``team_size``; beside one busy process, one
thread took 3.3 to 3.4 s an epoch against 4.6 to 5.2 s for two) waiting
passively (``OMP_WAIT_POLICY=PASSIVE``, which Intel's OpenMP reads as libgomp
does). As with every framework, the count decides the float32 bits: pin it
(``OMP_NUM_THREADS``) where runs must repeat bit for bit across loads.

Paddle's program interpreter (the steps d2ldrop traces with
``paddle.jit.to_static``) runs a program's operators on a pool of its own
threads by default ("pir interpreter is running by multi-thread mode"), beside
the Python thread that waits for them and the OpenMP team each operator starts.
``FLAGS_new_executor_serial_run`` runs them on the calling thread, as MXNet's
NaiveEngine does: on a quiet two-core machine a step took 5.2 ms against 5.8
(scratch), with 24 context switches a step against 2,500. The interpreter also
frees a program's intermediate tensors on a garbage-collector thread of its own
(on the CPU), woken about 28 times a step; each wake-up took a core from the
Python thread (as many involuntary switches of it) while the OpenMP team spun on
the other. ``FLAGS_eager_delete_tensor_gb=-1`` keeps the intermediates in the
program's scope until its next run, which reuses them: 4.7 ms against 5.2
(scratch) and 5.0 against 5.8 (concise), no context switches, the resident
memory the same after 1,000 steps (345 and 348 MiB). Both give the same bits.
"""

from __future__ import annotations

import ctypes
import os
from types import ModuleType

from d2ldrop.backends.threads import team_size

#: Variables that go together: a user who sets one keeps the group.
GROUPS = (("OMP_NUM_THREADS",), ("FLAGS_new_executor_serial_run",),
          ("FLAGS_eager_delete_tensor_gb",))


def environment(n: int) -> dict[str, str]:
    """The variables that give Paddle ``n`` OpenMP threads, and run its programs on
    the calling thread with no collector thread, before it loads."""
    return {"OMP_NUM_THREADS": str(n), "FLAGS_new_executor_serial_run": "1",
            "FLAGS_eager_delete_tensor_gb": "-1"}


def policy(cores: int, free: int) -> tuple[int, str]:
    """(threads, wait) for a run on ``cores`` cores of which ``free`` are idle."""
    return team_size(cores, free), ("default" if free >= cores else "PASSIVE")


def _openmp() -> ctypes.CDLL | None:
    try:  # the copy Paddle loaded, found by its soname; never loads one
        return ctypes.CDLL("libiomp5.so", mode=os.RTLD_NOLOAD)
    except OSError:
        return None


def set_threads(paddle: ModuleType, n: int) -> None:
    """Run Paddle's CPU kernels called from this thread on ``n`` threads."""
    paddle.base.core.set_num_threads(n)


def get_threads(paddle: ModuleType) -> int | None:
    """The OpenMP thread count Paddle's kernels use from this thread (None: unknown)."""
    lib = _openmp()
    return int(lib.omp_get_max_threads()) if lib is not None else None
