"""Thread counts per framework: what to set so that one run uses ``n`` threads.

Each framework sizes its thread pools from the machine's cores unless told
otherwise, so two runs side by side on two cores would each start two (or
more) busy threads. A sweep worker therefore pins every framework to the
threads it was given, in two steps:

1. :func:`environment` / :func:`configure` set the variables each engine reads
   once, when it loads (OpenMP and BLAS for all of them; TensorFlow's intra- and
   inter-op pools; MXNet's engine workers and its OpenMP cap). Only effective
   before the framework is imported: a worker calls :func:`configure` first.
2. :func:`configure` also calls the frameworks' own setters for those that are
   already imported (PyTorch's ``set_num_threads`` works at any time;
   TensorFlow's only before its runtime starts, so a failure there is ignored).

MXNet's import resets the importing thread's OpenMP count to half the CPUs;
:mod:`d2ldrop.backends.mxnet.loader` restores it, so the count set here holds.
A backend missing from :data:`ENVIRONMENT` gets the OpenMP/BLAS variables only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

from d2ldrop.backends.paddle import threads as _paddle
from d2ldrop.backends.registry import BACKENDS, BY_NAME, apply_openmp_defaults

#: Read at load time by every OpenMP / BLAS runtime the frameworks bundle.
COMMON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: Per backend, the variables its engine reads when it loads (besides COMMON).
#: PyTorch sizes its intra-op pool from OMP_NUM_THREADS / MKL_NUM_THREADS.
#: MXNet runs CPU operators on MXNET_CPU_WORKER_NTHREADS engine threads (1 by
#: default), each with up to MXNET_OMP_MAX_THREADS OpenMP threads.
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "torch": (),
    "tensorflow": ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"),
    "mxnet": ("MXNET_OMP_MAX_THREADS",),
}

#: Variables that are not a thread count but the number of engine workers.
ENGINE_WORKERS = {"mxnet": "MXNET_CPU_WORKER_NTHREADS"}


#: Backends whose framework refused a setter (it had started): their count is unknown.
_STUCK: set[str] = set()


def _loaded(backend: str) -> ModuleType | None:
    spec = BY_NAME.get(backend)
    return sys.modules.get(spec.module) if spec is not None else None


def _set_torch(module: ModuleType, n: int) -> None:
    module.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # allowed only before any inter-op work
        module.set_num_interop_threads(n)


def _set_tensorflow(module: ModuleType, n: int) -> None:
    threading = module.config.threading
    try:
        threading.set_intra_op_parallelism_threads(n)
        threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # "cannot be modified after initialization": its pools are sized
        _STUCK.add("tensorflow")


def _get_torch(module: ModuleType) -> int | None:
    return int(module.get_num_threads())


def _get_tensorflow(module: ModuleType) -> int | None:
    n = int(module.config.threading.get_intra_op_parallelism_threads())
    if n:
        return n
    if "tensorflow" in _STUCK:  # started before it could be pinned: the count is unknown
        return None
    env = os.environ.get("TF_NUM_INTRAOP_THREADS", "")  # read when TensorFlow loaded
    return int(env) if env.isdigit() and int(env) > 0 else None  # None: TF's default


def _get_mxnet(module: ModuleType) -> int | None:
    for key in ("MXNET_OMP_MAX_THREADS", "OMP_NUM_THREADS"):
        env = os.environ.get(key, "")
        if env.isdigit() and int(env) > 0:
            return int(env)
    return None


#: Setters for a framework already imported.
SETTERS: dict[str, Callable[[ModuleType, int], None]] = {
    "torch": _set_torch,
    "tensorflow": _set_tensorflow,
    "paddle": _paddle.set_threads,
}
#: The setter's argument that gives a framework back its own default count.
DEFAULTS: dict[str, int] = {"tensorflow": 0}
#: The intra-op thread count a framework reports (None: its own default).
GETTERS: dict[str, Callable[[ModuleType], int | None]] = {
    "torch": _get_torch,
    "tensorflow": _get_tensorflow,
    "mxnet": _get_mxnet,
    "paddle": _paddle.get_threads,
}


def _check(n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"Expected a thread count >= 1. Received: {n!r}")
    return n


def environment(n: int, backends: tuple[str, ...] = BACKENDS) -> dict[str, str]:
    """The variables that give each of ``backends`` ``n`` threads, before it loads."""
    n = _check(n)
    env = dict.fromkeys(COMMON, str(n))
    for backend in backends:
        env.update(dict.fromkeys(ENVIRONMENT.get(backend, ()), str(n)))
        if backend in ENGINE_WORKERS:
            env[ENGINE_WORKERS[backend]] = "1"  # one engine worker, n OpenMP threads
    return env


def configure(n: int) -> dict[str, str]:
    """Pin every backend to ``n`` threads: the environment for those not yet
    imported, their setters for those already imported. Returns the variables set.

    The OpenMP defaults of the registry (the wait policy) are applied first,
    unless the user set them.
    """
    apply_openmp_defaults()
    env = environment(n)
    os.environ.update(env)
    for backend, setter in SETTERS.items():
        module = _loaded(backend)
        if module is not None:
            setter(module, n)
    return env


def current(backend: str) -> int | None:
    """The intra-op thread count ``backend``'s framework uses now (None: unknown,
    its default from the cores, or not imported)."""
    module, getter = _loaded(backend), GETTERS.get(backend)
    if module is None or getter is None:
        return None
    return getter(module)


@contextlib.contextmanager
def pinned(n: int | None) -> Iterator[int | None]:
    """:func:`configure` ``n`` for the block, then restore the environment and the
    counts of the frameworks that can change them back. ``None``: change nothing."""
    if n is None:
        yield None
        return
    keys = environment(n)
    saved_env = {key: os.environ.get(key) for key in keys}
    saved = {b: current(b) for b in SETTERS if _loaded(b) is not None}
    configure(n)
    try:
        yield n
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for backend, count in saved.items():
            module = _loaded(backend)
            if module is not None and (count or backend in DEFAULTS):
                SETTERS[backend](module, count or DEFAULTS[backend])
