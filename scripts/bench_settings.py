"""``bench_train.py --settings``: d2ldrop's thread setting beside the alternatives.

Every backend is trained in fresh worker processes (``bench_train.py``'s), with
each setting in turn, idle and then beside one busy process of the script's
own, interleaved so that a change in the machine's load falls on every setting
alike (``--rounds 2``: A B C D A B C D)::

    for each backend, for each round:
        idle:   ACTIVE  PASSIVE  one-thread  chosen
        loaded: ACTIVE  PASSIVE  one-thread  chosen     (one busy process running)

- ACTIVE / PASSIVE: every usable core, ``OMP_WAIT_POLICY`` set (it reaches the
  frameworks that run on libgomp, PyTorch and MXNet; TensorFlow and JAX ignore it);
- one thread: every thread variable at 1 (XLA on the calling thread for JAX);
- chosen: what d2ldrop's own runs use, chosen by the worker from the cores free
  when it starts (:func:`d2ldrop.backends.threads.configure`), as the CLI does.

The alternatives' variables replace yours; "chosen" keeps yours. Printed per
backend and model: seconds per epoch (train + evaluation, the median over the
rounds), idle and loaded; their ratio; the idle time over the matmul limit; and
the two goals: chosen idle within 1.15x of the best idle of ACTIVE, PASSIVE and
one thread, chosen loaded within 2x of chosen idle. ``uptime``'s load average
is printed before and after each backend: on a shared machine "idle" is what
the others leave.
"""

from __future__ import annotations

import argparse
import os
import statistics
from types import ModuleType

from d2ldrop._text import align
from d2ldrop.backends import threads

IDLE_GOAL = 1.15  # chosen idle / best idle of the alternatives
LOADED_GOAL = 2.0  # chosen loaded / chosen idle
ALTERNATIVES = ("ACTIVE", "PASSIVE", "one thread")


def settings_of(backend: str, cores: int) -> dict[str, dict[str, str] | None]:
    """The variables of each alternative for ``backend`` (None: d2ldrop's choice)."""
    return {
        "ACTIVE": threads.environment(cores, [backend], "ACTIVE"),
        "PASSIVE": threads.environment(cores, [backend], "PASSIVE"),
        "one thread": threads.environment(1, [backend], "PASSIVE"),
        "chosen": None,
    }


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def compare(args: argparse.Namespace, backends: list[str], models: tuple[str, ...],
            bench: ModuleType) -> int:
    """Measure and print the table; 1 if a worker failed, else 0 (goals are printed)."""
    cores = threads.usable_cores()
    rate, blas = bench.run_matmul_rate(args)
    print(f"{cores} usable cores; numpy float32 matmul {rate:.1f} GFLOP/s ({blas}); "
          f"{args.rounds} round(s) of {args.epochs} epoch(s); {bench._environment()}",
          flush=True)
    # times[(backend, model, setting, condition)] = [seconds per epoch, one per round]
    times: dict[tuple[str, str, str, str], list[float]] = {}
    labels: dict[tuple[str, str, str, str], str] = {}
    flops: dict[tuple[str, str], int] = {}
    loads: dict[str, tuple[str, str]] = {}
    failed = False
    for backend in backends:
        before = _load()
        settings = settings_of(backend, cores)
        for _ in range(args.rounds):
            for condition in ("idle", "loaded"):
                with bench.busy_processes(1 if condition == "loaded" else 0):
                    for name, env in settings.items():
                        results = bench.run_worker(args, backend, models, env)
                        if isinstance(results, str):
                            print(f"{backend} {name} ({condition}): {results}", flush=True)
                            failed = True
                            continue
                        for r in results:
                            if "error" in r:
                                continue
                            key = (backend, r["model"], name, condition)
                            times.setdefault(key, []).append(r["train"] + r["eval"])
                            labels[key] = bench.setting_label(r["setting"], r["threads"])
                            flops[(backend, r["model"])] = r["flops"]
        loads[backend] = (before, _load())
        print(f"{backend} done; load average before {before}, after {loads[backend][1]}",
              flush=True)
    print()
    print(_table(times, labels, flops, rate, loads))
    return 1 if failed else 0


def _table(times: dict[tuple[str, str, str, str], list[float]],
           labels: dict[tuple[str, str, str, str], str], flops: dict[tuple[str, str], int],
           rate: float, loads: dict[str, tuple[str, str]]) -> str:
    head = ["backend", "model", "setting", "idle: threads wait", "idle s", "x limit",
            "loaded: threads wait", "loaded s", "loaded/idle"]
    rows: list[list[str]] = [head]
    goals: list[str] = []
    for (backend, model), f in flops.items():
        limit = f / (rate * 1e9)
        median: dict[tuple[str, str], float] = {}
        for name in (*ALTERNATIVES, "chosen"):
            cells = [backend, model, name]
            for condition in ("idle", "loaded"):
                key = (backend, model, name, condition)
                if key in times:
                    median[(name, condition)] = statistics.median(times[key])
                    cells += [labels[key], f"{median[(name, condition)]:.2f}"]
                    if condition == "idle":
                        cells.append(f"{median[(name, condition)] / limit:.1f}x")
                else:
                    cells += ["", "n/a"] + (["", ] if condition == "idle" else [])
            idle, loaded = median.get((name, "idle")), median.get((name, "loaded"))
            cells.append(f"{loaded / idle:.2f}" if idle and loaded else "")
            rows.append(cells)
        best = min((median[(a, "idle")], a) for a in ALTERNATIVES if (a, "idle") in median) \
            if any((a, "idle") in median for a in ALTERNATIVES) else None
        chosen_idle = median.get(("chosen", "idle"))
        chosen_loaded = median.get(("chosen", "loaded"))
        if best is not None and chosen_idle and chosen_loaded:
            r_idle, r_loaded = chosen_idle / best[0], chosen_loaded / chosen_idle
            goals.append(
                f"{backend} {model}: chosen idle {chosen_idle:.2f} s = {r_idle:.2f}x the best "
                f"alternative ({best[1]}, {best[0]:.2f} s): "
                f"{'yes' if r_idle <= IDLE_GOAL else 'NO'} (<= {IDLE_GOAL}x); "
                f"loaded {chosen_loaded:.2f} s = {r_loaded:.2f}x its idle: "
                f"{'yes' if r_loaded <= LOADED_GOAL else 'NO'} (<= {LOADED_GOAL:g}x); "
                f"load average {loads[backend][0]} -> {loads[backend][1]}")
    return (align(rows) + "\n\nseconds per epoch (train + eval), median over rounds; "
            "'x limit': idle over the matmul limit\n" + "\n".join(goals))

