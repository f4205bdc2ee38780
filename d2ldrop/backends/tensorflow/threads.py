"""TensorFlow's threads: the variables it reads, its setter and getter, d2ldrop's policy.

TensorFlow runs ops on its own (Eigen) intra-op and inter-op pools, sized from
``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS`` (0 or unset: the cores)
when its runtime starts; ``tf.config.threading``'s setters work only before
that. Its oneDNN kernels run on the same pools, not on OpenMP, so
its operators do not wait in OpenMP; a TensorFlow process loads libgomp all the
same, and it measured faster with ``OMP_WAIT_POLICY=PASSIVE`` than ACTIVE.

The policy: every core, waiting passively when other processes keep cores busy
(on a busy machine, two PASSIVE threads 2.9 s an epoch idle and 3.4 s beside a
busy process; one thread 2.9 and 9.4 s; ACTIVE 4.1 and 5.3 s; see
docs/architecture.md, "Threads"). Idle, PASSIVE is only a little faster than
libgomp's default wait, so no preference is stated: alone that is PASSIVE, and in
a process with PyTorch (``--backend all``) PyTorch's default wait wins.
"""

from __future__ import annotations

import os
from types import ModuleType

#: Variables that go together: a user who sets one keeps the group.
GROUPS = (("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"),)
#: The setter's argument that gives TensorFlow back its own default count.
DEFAULT_COUNT = 0

#: Whether TensorFlow refused a setter (it had started): its count is then unknown.
_stuck = False


def environment(n: int) -> dict[str, str]:
    """The variables that give TensorFlow ``n`` intra- and inter-op threads."""
    return {"TF_NUM_INTRAOP_THREADS": str(n), "TF_NUM_INTEROP_THREADS": str(n)}


def policy(cores: int, free: int) -> tuple[int, str | None]:
    """(threads, wait) for a run on ``cores`` cores of which ``free`` are idle."""
    # Idle, only a mild preference (PASSIVE 1.05 to 1.22 s an epoch, libgomp's default
    # wait 1.13 to 1.51 s): none is stated, so that in a process with PyTorch (1.52 s
    # PASSIVE against 0.82 s default) its wait wins; alone, no preference is PASSIVE.
    return cores, ("PASSIVE" if free < cores else None)


def set_threads(module: ModuleType, n: int) -> None:
    """Give an imported TensorFlow ``n`` threads, if its runtime has not started."""
    global _stuck
    threading = module.config.threading
    try:
        threading.set_intra_op_parallelism_threads(n)
        threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # "cannot be modified after initialization": its pools are sized
        _stuck = True


def get_threads(module: ModuleType) -> int | None:
    """The intra-op thread count (None: unknown, or TensorFlow's default)."""
    n = int(module.config.threading.get_intra_op_parallelism_threads())
    if n:
        return n
    if _stuck:  # started before it could be pinned: the count is unknown
        return None
    env = os.environ.get("TF_NUM_INTRAOP_THREADS", "")  # read when TensorFlow loaded
    return int(env) if env.isdigit() and int(env) > 0 else None
