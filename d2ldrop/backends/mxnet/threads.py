"""MXNet's threads: the variables it reads, its getter, d2ldrop's policy.

MXNet reads its variables once, when it loads, and has no setter afterwards;
its OpenMP runtime (libgomp) reads ``OMP_NUM_THREADS`` and ``OMP_WAIT_POLICY``
then too. By default (``ThreadedEnginePerDevice``) it queues every operator for
``MXNET_CPU_WORKER_NTHREADS`` engine workers (1), each an OpenMP team of
``MXNET_OMP_MAX_THREADS`` threads (default: half the CPUs, taking x86 CPUs for
hyper-threads: 1 on a two-core machine), while the Python thread records the
next operators: a process busy on two threads before its team adds any.

The policy: MXNet's ``NaiveEngine``, which runs each operator on the calling
thread as it is pushed, with a team of the shared OpenMP count, as PyTorch's
(every core idle with libgomp's default wait; beside busy processes the free
cores, ``team_size``, waiting passively). On a quiet two-core machine
(``scripts/bench_train.py``, train seconds an epoch, scratch / concise):

================================  ===========  ================
engine, team                      idle         beside one busy
================================  ===========  ================
threaded, 1 thread (before)       1.24 / 1.12  1.44 / 1.32
threaded, 2 threads ACTIVE        1.56 / 0.90
NaiveEngine, 2, default wait      1.00 / 0.78
NaiveEngine, 2, PASSIVE           1.64 / 1.39  1.59 / 1.60
NaiveEngine, 1                    1.38 / 1.31  1.47 / 1.32
================================  ===========  ================

A threaded engine's two threads spin against the team on two cores; run
synchronously, the matrix products get both cores (oneDNN's FullyConnected: 1.0
ms on one thread, 0.57 ms on two). The numbers are the same bits under either
engine and any team size (seeded training, 30 steps of both models: the same
parameters): MXNet's generator is one resource used in push order. Operators
pushed from several Python threads are safe on NaiveEngine since MXNet 1.6
(apache/mxnet#15574), as they are on the threaded engines.
"""

from __future__ import annotations

import os
from types import ModuleType

from d2ldrop.backends.threads import team_size

#: Variables that go together: a user who sets one keeps the group.
GROUPS = (("MXNET_OMP_MAX_THREADS", "MXNET_CPU_WORKER_NTHREADS"), ("MXNET_ENGINE_TYPE",))


def environment(n: int) -> dict[str, str]:
    """The variables that make MXNet run its operators on the calling thread, ``n``
    OpenMP threads each.

    The team of an operator run by NaiveEngine is the calling thread's OpenMP
    count (``OMP_NUM_THREADS``, shared with the process); ``MXNET_OMP_MAX_THREADS``
    sizes MXNet's own kernels and stops its import from setting the process's
    count to half the CPUs.
    """
    return {"MXNET_ENGINE_TYPE": "NaiveEngine", "MXNET_OMP_MAX_THREADS": str(n)}


def policy(cores: int, free: int) -> tuple[int, str]:
    """(threads, wait) for a run on ``cores`` cores of which ``free`` are idle."""
    return team_size(cores, free), ("default" if free >= cores else "PASSIVE")


def set_threads(module: ModuleType, n: int) -> None:
    """MXNet sizes its engine when it loads: only the variables count."""


def get_threads(module: ModuleType) -> int | None:
    """The OpenMP threads of MXNet's operators, as read when it loaded (None: its default)."""
    keys = ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS") \
        if os.environ.get("MXNET_ENGINE_TYPE") == "NaiveEngine" \
        else ("MXNET_OMP_MAX_THREADS", "OMP_NUM_THREADS")
    for key in keys:
        env = os.environ.get(key, "")
        if env.isdigit() and int(env) > 0:
            return int(env)
    return None
