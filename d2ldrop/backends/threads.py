"""Threads of a run: how many, and how idle threads wait, chosen when a run starts.

Nothing here runs at import: ``import d2ldrop`` changes no variable and no
thread count. The settings are applied where d2ldrop starts a framework for a
run it owns (the CLI, sweep workers, ``scripts/bench_train.py``) or where a
program asks for them (:func:`configure`).

Each backend's knowledge is in ``d2ldrop/backends/<name>/threads.py`` (the
variables its engine reads when it loads, its setter and getter, its policy);
this module is the logic over them and names no framework:

1. :func:`sample` counts the cores this process may use (its affinity, a cgroup
   CPU quota) and how busy they are now (a short ``/proc/stat`` sample).
2. :func:`choose` asks each backend's ``policy(cores, free)`` for a thread count
   and a wait policy, and merges them for a process that loads several.
3. :func:`configure` writes the variables, before the framework loads (its
   engines read them once). A user's own settings win: a variable group the
   environment already sets is left as it is, and a framework already imported
   keeps its counts (unless a count is given explicitly, as sweeps do with
   ``--threads-per-run``).

The setting is a :class:`Setting`, recorded in each run's files.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from d2ldrop.backends.registry import BACKENDS, BY_NAME
from d2ldrop.errors import InvalidArgumentError

#: Read at load time by every OpenMP / BLAS runtime the frameworks bundle.
COMMON = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: How OpenMP threads wait (libgomp; GOMP_SPINCOUNT takes precedence over the policy).
WAIT = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
#: Seconds of the /proc/stat sample that tells how busy the cores are.
SAMPLE_SECONDS = 0.2


@dataclass(frozen=True)
class Setting:
    """The threads a run was given, and why.

    Attributes:
        threads: intra-op threads the frameworks are told to use.
        wait: how idle OpenMP threads wait (``"PASSIVE"``, ``"ACTIVE"``, or
            ``"default"``: the runtime's own, a few milliseconds of spinning).
        cores: cores this process may use; ``busy``: how many of them other
            processes kept busy when the run started (None: not sampled).
        set: the variables d2ldrop set; ``yours``: those of the environment it
            kept; ``kept``: frameworks already imported, left as they were.
    """

    threads: int
    wait: str
    cores: int
    busy: float | None
    set: dict[str, str] = field(default_factory=dict)
    yours: dict[str, str] = field(default_factory=dict)
    kept: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """A JSON-ready description, for a run's files."""
        return {"threads": self.threads, "wait": self.wait, "cores": self.cores,
                "busy_cores": None if self.busy is None else round(self.busy, 2),
                "set": dict(self.set), "yours": dict(self.yours), "kept": list(self.kept)}

    def describe(self) -> str:
        """One line: ``2 thread(s), wait default (2 cores, 0.1 busy)``."""
        busy = "" if self.busy is None else f", {self.busy:.1f} busy"
        yours = f"; yours: {', '.join(f'{k}={v}' for k, v in self.yours.items())}" \
            if self.yours else ""
        return f"{self.threads} thread(s), wait {self.wait} ({self.cores} cores{busy}){yours}"


def backend_threads(backend: str) -> ModuleType | None:
    """``d2ldrop.backends.<backend>.threads`` (imports no framework), or None if it has none."""
    try:
        return importlib.import_module(f"d2ldrop.backends.{backend}.threads")
    except ModuleNotFoundError:
        return None


def _loaded(backend: str) -> ModuleType | None:
    spec = BY_NAME.get(backend)
    return sys.modules.get(spec.module) if spec is not None else None


def _check(n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidArgumentError(f"Expected a thread count >= 1. Received: {n!r}")
    return n


# -- how many cores, how busy ------------------------------------------------------
def usable_cores() -> int:
    """Cores this process may run on: its affinity, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    return max(1, cores)


def _cpu_times(cpus: set[int]) -> tuple[int, int] | None:
    """(busy, total) clock ticks of ``cpus`` since boot, from /proc/stat."""
    busy = total = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, _, rest = line.partition(" ")
                if not (name.startswith("cpu") and name[3:].isdigit()) or int(name[3:]) not in cpus:
                    continue
                # user nice system idle iowait irq softirq steal
                ticks = [int(x) for x in rest.split()[:8]]
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]  # steal counts: the host took the core
    except (OSError, ValueError, IndexError):
        return None
    return (busy, total) if total else None


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many of this process's cores other processes keep busy, over ``seconds``
    (this process's own CPU time is left out). None where /proc/stat is not there."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    before, own_before, wall = _cpu_times(cpus), os.times(), time.monotonic()
    time.sleep(seconds)
    after, own_after = _cpu_times(cpus), os.times()
    if before is None or after is None or after[1] <= before[1]:
        return None
    share = (after[0] - before[0]) / (after[1] - before[1])  # of all ticks of these cpus
    own = (own_after.user + own_after.system - own_before.user - own_before.system) \
        / max(time.monotonic() - wall, 1e-9)
    return max(0.0, share * len(cpus) - own)


def sample(seconds: float = SAMPLE_SECONDS) -> tuple[int, float | None]:
    """(usable cores, busy cores) now."""
    return usable_cores(), busy_cores(seconds)


# -- the choice ----------------------------------------------------------------------
def free_cores(cores: int, busy: float | None) -> int:
    """Cores left to a run (0: every core busy): a core counts as taken when more
    than half of one is busy."""
    if busy is None:
        return cores
    return max(0, min(cores, cores - math.floor(busy + 0.5)))


def team_size(cores: int, free: int) -> int:
    """Threads for a team that meets at a barrier after every operator (OpenMP,
    XLA's and TensorFlow's Eigen pools): the free cores while some are free, every
    core when none is.

    A team larger than the free cores waits at every barrier for the thread that
    shares its core with another process: beside one busy process on two cores,
    torch took 2.2 s an epoch with two PASSIVE threads and 1.8 s with one (issue
    22's table; ACTIVE: 5.2 s). With no core free, a team of every core keeps a
    larger share of a machine the scheduler divides between runnable threads
    (torch 6.9 s with two PASSIVE threads, 12.3 s with one, at a load of 7 to 12).
    """
    return free if free > 0 else cores


def choose(backends: Iterable[str], cores: int, busy: float | None) -> tuple[int, str]:
    """(threads, wait) for a process that loads ``backends``: each backend's policy,
    merged (the fewest threads; PASSIVE if any asks for it or none has a preference,
    since the OpenMP runtime is shared by the process)."""
    free = free_cores(cores, busy)
    counts, waits = [], []
    for backend in backends:
        module = backend_threads(backend)
        n, wait = module.policy(cores, free) if module is not None else (cores, "PASSIVE")
        counts.append(n)
        if wait is not None:
            waits.append(wait)
    wait = "PASSIVE" if "PASSIVE" in waits or not waits else \
        ("ACTIVE" if "ACTIVE" in waits else "default")
    return min(counts, default=cores), wait


def environment(n: int, backends: Iterable[str] = BACKENDS,
                wait: str | None = None) -> dict[str, str]:
    """The variables that give each of ``backends`` ``n`` threads (and ``wait``),
    before it loads."""
    n = _check(n)
    env = dict.fromkeys(COMMON, str(n))
    for backend in backends:
        module = backend_threads(backend)
        if module is not None:
            env.update(module.environment(n))
    if wait is not None and wait != "default":
        env["OMP_WAIT_POLICY"] = wait
    return env


def variable_groups(backends: Iterable[str]) -> list[tuple[str, ...]]:
    """Variables that go together: a user who sets one of a group keeps the group."""
    groups = [COMMON, WAIT]
    for backend in backends:
        module = backend_threads(backend)
        if module is not None:
            groups += [tuple(g) for g in module.GROUPS]
    return groups


def configure(n: int | None = None, backends: Iterable[str] | None = None, *,
              wait: str | None = None, busy: float | None = None) -> Setting:
    """Give the frameworks of ``backends`` (default: every known one) their threads.

    With ``n`` None, the count and the wait policy are d2ldrop's choice from the
    cores free now, and a user's own settings win: a group of variables the
    environment sets is kept, and a framework already imported is left as it is.
    With ``n`` given (sweeps' ``--threads-per-run``) the count is set anyway,
    also through the setters of the frameworks already imported.

    Args:
        n: threads per framework, or None to choose.
        backends: the backends this process will load.
        wait: ``"PASSIVE"``, ``"ACTIVE"`` or ``"default"`` (None: the policy's).
        busy: busy cores, if already sampled (None: sample now when choosing).

    Returns:
        The :class:`Setting` applied.

    Raises:
        ValueError: ``n`` is not a positive integer.

    Example:
        >>> from d2ldrop.backends import threads
        >>> threads.configure(1, ["torch"]).threads
        1
    """
    names = list(BACKENDS if backends is None else backends)
    cores = usable_cores()
    if n is None:
        if busy is None:
            busy = busy_cores()
        count, chosen = choose(names, cores, busy)
    else:
        count, chosen = _check(n), choose(names, cores, 0.0 if n >= cores else float(cores))[1]
    wait = wait or chosen
    env = environment(count, names, wait)
    yours: dict[str, str] = {}
    kept: list[str] = []
    for group in variable_groups(names) if n is None else [WAIT]:  # a count given is set anyway
        if any(k in os.environ for k in group):
            yours.update({k: os.environ[k] for k in group if k in os.environ})
            for k in group:
                env.pop(k, None)
    if any(k in yours for k in WAIT):
        wait = "yours"
    if n is None:  # a framework imported already: its variables would only misreport it
        for backend in names:
            module = backend_threads(backend)
            if module is not None and _loaded(backend) is not None:
                for k in module.environment(count):
                    env.pop(k, None)
    os.environ.update(env)
    for backend in names:
        module, framework = backend_threads(backend), _loaded(backend)
        if framework is None or module is None:
            continue
        if n is None:
            kept.append(backend)  # imported before: its own (or its user's) setting stands
        else:
            module.set_threads(framework, count)
    return Setting(count, wait, cores, busy, env, yours, tuple(kept))


def current(backend: str) -> int | None:
    """The intra-op thread count ``backend``'s framework uses now (None: unknown,
    its default from the cores, or not imported)."""
    module, framework = backend_threads(backend), _loaded(backend)
    if module is None or framework is None:
        return None
    return module.get_threads(framework)


@contextlib.contextmanager
def applied(backends: Iterable[str] | None = None) -> Iterator[Setting]:
    """:func:`configure` (d2ldrop's choice) for the block, then the environment as it
    was: the frameworks loaded in the block read it when they loaded. For a
    program's entry point (the CLI), so that calling it in-process changes nothing."""
    saved = dict(os.environ)
    try:
        yield configure(backends=backends)
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)


@contextlib.contextmanager
def pinned(n: int | None) -> Iterator[int | None]:
    """:func:`configure` ``n`` for the block, then restore the environment and the
    counts of the frameworks that can change them back. ``None``: change nothing."""
    if n is None:
        yield None
        return
    keys = environment(n, wait="PASSIVE")
    saved_env = {key: os.environ.get(key) for key in keys}
    saved = {b: current(b) for b in BACKENDS if _loaded(b) is not None}
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
            module, framework = backend_threads(backend), _loaded(backend)
            if module is None or framework is None:
                continue
            default = getattr(module, "DEFAULT_COUNT", None)
            if count or default is not None:
                module.set_threads(framework, count or default)
