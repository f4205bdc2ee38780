"""Seconds per epoch of train_ch3, idle and under load, against the machine's matmul rate.

For each backend and model: a short warm-up (tracing compiled steps, caching
graphs), then ``--epochs`` epochs on the real Fashion-MNIST; the median seconds
per epoch of training and of evaluation. Each backend is measured in a fresh
subprocess, as d2ldrop's own runs are: one framework's thread pools never
share a process with another's, and the worker applies d2ldrop's thread setting
(:func:`d2ldrop.backends.threads.configure`, chosen from the cores free when it
starts) before its framework loads; your own variables are passed on and win.
The setting each run used is printed beside its times.

``--settings`` compares that choice with the alternatives (ACTIVE, PASSIVE and
one thread), idle and beside one busy process, interleaved (see
``scripts/bench_settings.py``).

``--load N`` also starts N busy processes of its own (pure-Python loops,
spawned, on no particular core) and measures every backend a second time while
they run (in a fresh subprocess, started under the load), right after its idle
measurement; it prints the idle and loaded seconds per epoch and their ratio.
The target: every backend within 2x of its idle time under ``--load 1``.

The FLOP limit of an epoch is its matrix products at numpy's float32 matmul
rate, measured in the same run, in a fresh process, on the epoch's shapes (batch
B = ``--batch-size``: for each layer ``X @ W``, ``dY @ W.T`` and ``X.T @ dY``;
best of ``--reps``). numpy's OpenBLAS is told the best kernels the CPU's flags
allow (``OPENBLAS_CORETYPE``, unless you set it): it takes some virtual CPUs for
a Prescott and multiplies with SSE3 (31 GFLOP/s instead of 200 on one such
machine).
With layer sizes d0-d1-d2-d3 (784-256-256-10)::

    forward FLOPs per example   F = 2 * (d0*d1 + d1*d2 + d2*d3)       = 537,600
    one epoch                     = 3 * F * n_train  +  F * n_test
                                    (training: the forward and a backward
                                    of two products per layer; evaluation:
                                    the forward only)
                                  = 3 * F * 60,000 + F * 10,000       = 102.1 GFLOP

(the input's own gradient, one of the six backward products, is not needed:
3x is the round figure). "x limit" is seconds per epoch over that limit (the
idle one, under load too). The rate is measured again, in a fresh process,
right before each backend's idle run (column "GFLOP/s") and once after the last,
and the limit is at the best of those rates, the machine's own: a virtual
machine's rate dips while the script runs (on one, numpy's best of 50 read 173
to 188 GFLOP/s in one-second runs every six seconds, and 127 in one of them; a
run of this script read 128 and 130 for the first backends and 186 and 184 for
the last).

    python scripts/bench_train.py [--backend all] [--model all] [--epochs 3]
                                  [--load N] [--batch-size 256] [--reps 50]
                                  [--rounds R] [--settings]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from d2ldrop._text import align
from d2ldrop.backends import threads
from d2ldrop.commands._args import resolve_backends
from d2ldrop.data import Batches, load_fashion_mnist_arrays
from d2ldrop.errors import BackendNotAvailableError
from d2ldrop.models import build_mlp
from d2ldrop.training import SGD, CrossEntropyLoss, UpdaterWarning, default_updater, train_ch3

MODELS = ("scratch", "concise")
SIZES = (784, 256, 256, 10)  # build_mlp's defaults, for the matmul rate; workers report theirs
TARGET = 2.0  # loaded / idle, under --load 1


# -- the FLOP limit ------------------------------------------------------------
def forward_flops(sizes: tuple[int, ...]) -> int:
    """FLOPs of the forward matrix products for one example (multiply + add)."""
    return 2 * sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))


def epoch_flops(sizes: tuple[int, ...], n_train: int, n_test: int) -> int:
    """Training (forward + backward ~ 3x the forward) plus the evaluation forward."""
    return forward_flops(sizes) * (3 * n_train + n_test)


def matmul_rate(sizes: tuple[int, ...], batch: int, reps: int) -> float:
    """numpy's float32 GFLOP/s on one training step's products, best of ``reps``."""
    rng = np.random.default_rng(0)
    products = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        x, w, dy = (rng.random(s, dtype=np.float32) for s in ((batch, i), (i, o), (batch, o)))
        products += [(x, w, np.empty((batch, o), np.float32)),
                     (dy, w.T, np.empty((batch, i), np.float32)),
                     (x.T, dy, np.empty((i, o), np.float32))]
    flops = 3 * forward_flops(sizes) * batch
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for a, b, out in products:
            np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def blas_core() -> str | None:
    """The best OpenBLAS kernel set this CPU's flags allow (None: unknown, let
    OpenBLAS detect it)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return None
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def run_matmul_rate(args: argparse.Namespace) -> tuple[float, str]:
    """:func:`matmul_rate` in a fresh process: GFLOP/s, and the BLAS kernels used."""
    env, core = dict(os.environ), blas_core()
    if "OPENBLAS_CORETYPE" in env:
        note = f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']} (yours)"
    elif core is not None:
        env["OPENBLAS_CORETYPE"], note = core, f"OPENBLAS_CORETYPE={core} (from the CPU's flags)"
    else:
        note = "the BLAS's own choice of kernels"
    env["OPENBLAS_VERBOSE"] = "2"  # OpenBLAS names its kernels on stderr: "Core: ..."
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--matmul-rate",
         "--batch-size", str(args.batch_size), "--reps", str(args.reps)],
        capture_output=True, text=True, env=env, check=True,
    )
    cores = [line.split(":", 1)[1].strip() for line in result.stderr.splitlines()
             if line.startswith("Core:")]
    if cores:
        note += f"; OpenBLAS kernels: {cores[0]}"
    return float(result.stdout.split()[-1]), note


# -- the busy processes ----------------------------------------------------------
def _busy(parent: int) -> None:
    """Spin on one core until stopped, or until the parent is gone."""
    # Ctrl-C reaches the whole process group: the parent stops its children.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == parent:  # reparented: the parent died without stopping us
        for _ in range(100_000):
            pass


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[list[multiprocessing.process.BaseProcess]]:
    """``n`` spawned busy processes for the block; stopped on the way out, whatever
    the way (the parent's SIGTERM is turned into SystemExit by :func:`main`; a
    parent killed outright leaves them orphaned, and they exit on their own)."""
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_busy, args=(os.getpid(),), daemon=True) for _ in range(n)]
    try:
        for p in procs:
            p.start()
        time.sleep(1.0)  # spawned: let them get past their imports and spin
        yield procs
    finally:
        for p in procs:
            if p.pid is not None and p.is_alive():
                p.terminate()
        for p in procs:
            if p.pid is not None:
                p.join(5)
                if p.is_alive():
                    p.kill()
                    p.join()


# -- one backend, in its own process ---------------------------------------------
def measure(backend: str, models: tuple[str, ...], epochs: int, batch: int,
            data_dir: str | None, setting: dict[str, Any]) -> list[dict[str, Any]]:
    """Warm up, then time ``epochs`` epochs of each model (run in the worker).

    A model the backend cannot train here (its framework's optimizer missing)
    is reported with the reason instead of its times.
    """
    data = load_fashion_mnist_arrays(data_dir=data_dir)
    n_train, n_test = len(data.train_labels), len(data.test_labels)

    def batches(n: int | None, shuffle: bool, test: bool = False) -> Batches:
        images = data.test_images if test else data.train_images
        labels = data.test_labels if test else data.train_labels
        return Batches(images[:n], labels[:n], batch, shuffle=shuffle,
                       seed=0 if shuffle else None, backend=backend)

    results: list[dict[str, Any]] = []
    for kind in models:
        net = build_mlp(kind, seed=0, backend=backend)
        with warnings.catch_warnings():  # the fallback is the same update: say it once
            warnings.simplefilter("ignore", UpdaterWarning)
            updater = SGD(0.5, default_updater(kind, [backend]))
        try:
            # Warm-up on a slice: traces the compiled steps, builds cached graphs.
            start = time.perf_counter()
            train_ch3(net, batches(2560, True), batches(2560, False, test=True),
                      CrossEntropyLoss(), 1, updater, progress=False)
            warmup = time.perf_counter() - start
        except BackendNotAvailableError as err:
            results.append({"model": kind, "error": str(err)})
            continue
        h = train_ch3(net, batches(None, True), batches(None, False, test=True),
                      CrossEntropyLoss(), epochs, updater, progress=False)
        results.append({
            "model": kind,
            "train": statistics.median(r.train_seconds for r in h.epochs),
            "eval": statistics.median(r.eval_seconds for r in h.epochs),
            "warmup": warmup,
            "threads": threads.current(backend),
            "setting": setting,
            "flops": epoch_flops(net.sizes, n_train, n_test),
        })
    return results


def run_worker(args: argparse.Namespace, backend: str, models: tuple[str, ...],
               env: dict[str, str] | None = None) -> list[dict[str, Any]] | str:
    """:func:`measure` in a fresh interpreter: its results, or why it failed.

    ``env``: variables of an alternative setting, given to the worker as they
    are (None: the worker applies d2ldrop's choice)."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", backend,
               "--model", ",".join(models), "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size)]
    if args.data_dir is not None:
        command += ["--data-dir", args.data_dir]
    if env is not None:
        command += ["--given", json.dumps(env)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                            env=None if env is None else {**os.environ, **env})
    try:
        out, _ = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        return f"worker exited with status {proc.returncode} (its error is above)"
    return json.loads(out.strip().splitlines()[-1])


# -- the report ------------------------------------------------------------------
def _load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _seconds_at(rate: float, flops: int) -> float:
    return flops / (rate * 1e9)


def _row(backend: str, r: dict[str, Any], rate: float, spread: bool = False) -> list[str]:
    """A row of the table; ``rate``: the limit's GFLOP/s (``r["rate"]``: the one
    measured before this backend's run, the best of them over rounds); ``spread``:
    with the range of train + eval over the rounds."""
    extra = [f"{r['range'][0]:.2f}-{r['range'][1]:.2f}" if "range" in r else ""] \
        if spread else []
    if "error" in r:
        return [backend, r["model"], "n/a", "", "", *extra, "", f"{r['rate']:.0f}", "", "",
                r["load"]]
    total = r["train"] + r["eval"]
    return [backend, r["model"], f"{r['train']:.2f}", f"{r['eval']:.2f}", f"{total:.2f}",
            *extra, f"{total / _seconds_at(rate, r['flops']):.1f}x", f"{r['rate']:.0f}",
            f"{r['warmup']:.2f}", setting_label(r["setting"], r["threads"]), r["load"]]


def _over_rounds(found: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """One row per backend and model: the medians of its rounds' times (and their
    range), the first round's setting and load, the best rate measured before them."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for backend, r in found:
        groups.setdefault((backend, r["model"]), []).append(r)
    out = []
    for (backend, _), runs in groups.items():
        done = [r for r in runs if "error" not in r]
        if not done:
            out.append((backend, runs[0]))
            continue
        row = dict(done[0])
        for key in ("train", "eval", "warmup"):
            row[key] = statistics.median(r[key] for r in done)
        row["rate"] = max(r["rate"] for r in done)
        if len(done) > 1:
            sums = [r["train"] + r["eval"] for r in done]
            row["range"] = (min(sums), max(sums))
        out.append((backend, row))
    return out


def setting_label(setting: dict[str, Any], reported: int | None = None) -> str:
    """``2 default (0.1 busy)``: threads, wait policy and the busy cores seen at start."""
    busy = setting.get("busy_cores")
    count = reported or setting["threads"]
    return f"{count} {setting['wait']}" + ("" if busy is None else f" ({busy:.1f} busy)")


def _environment() -> str:
    """Your thread variables, which the workers keep (d2ldrop's choice fills the rest)."""
    keys = sorted({k for b in threads.BACKENDS for g in threads.variable_groups([b]) for k in g})
    mine = [f"{k}={os.environ[k]!r}" for k in keys if k in os.environ]
    return "your thread variables (kept): " + (", ".join(mine) if mine else "none")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all", help="a backend, a comma list, or all")
    parser.add_argument("--model", default="all", help="scratch, concise or all")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="also measure with N busy processes of this script's own")
    parser.add_argument("--reps", type=int, default=50, help="matmul repetitions (best of)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--settings", action="store_true",
                        help="compare d2ldrop's thread setting with ACTIVE, PASSIVE and one "
                        "thread, idle and beside one busy process, interleaved")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of every backend in turn (medians, with their range); "
                        "with --settings: of the interleaved alternatives")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--given", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--matmul-rate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = MODELS if args.model == "all" else tuple(args.model.split(","))
    if not set(models) <= set(MODELS) or min(args.epochs, args.reps, args.batch_size) < 1 \
            or args.load < 0 or args.rounds < 1:
        parser.error("--model is scratch, concise or all; --epochs, --reps, --batch-size "
                     ">= 1; --load >= 0")
    if args.matmul_rate:
        print(matmul_rate(SIZES, args.batch_size, args.reps))
        return 0
    if args.worker is not None:
        # Ctrl-C reaches the whole process group: the parent stops its worker;
        # a parent killed outright cannot, so the worker watches for that.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
        if args.given is None:  # d2ldrop's choice, as its own runs make it
            setting = threads.configure(backends=[args.worker]).record()
        else:  # an alternative: its variables are in this process's environment
            given = json.loads(args.given)
            setting = {"threads": int(given["OMP_NUM_THREADS"]),
                       "wait": given.get("OMP_WAIT_POLICY", "default"), "busy_cores": None,
                       "set": given}
        results = measure(args.worker, models, args.epochs, args.batch_size, args.data_dir,
                          setting)
        print(json.dumps(results))
        return 0

    backends = list(dict.fromkeys(b for v in args.backend.split(",") for b in resolve_backends(v)))
    data = load_fashion_mnist_arrays(data_dir=args.data_dir)  # refused here, once
    if args.settings:
        import bench_settings

        return bench_settings.compare(args, backends, models, sys.modules[__name__])
    F, n_train, n_test = forward_flops(SIZES), len(data.train_labels), len(data.test_labels)
    flops = epoch_flops(SIZES, n_train, n_test)
    rates: dict[str, float] = {}
    rates["idle"], blas = run_matmul_rate(args)
    print(f"one epoch: 3 x {F:,} x {n_train:,} + {F:,} x {n_test:,} = {flops / 1e9:.1f} "
          f"GFLOP of matrix products")
    print(f"numpy float32 matmul on its shapes (batch {args.batch_size}, best of {args.reps}): "
          f"{rates['idle']:.1f} GFLOP/s, so {_seconds_at(rates['idle'], flops):.2f} s an epoch "
          f"(measured again before each backend); {blas}")
    print(f"{os.cpu_count()} cores, load average {_load_average()}; {_environment()}",
          flush=True)

    header = ["backend", "model", "train s", "eval s", "s/epoch", "x limit", "GFLOP/s",
              "warm-up s", "setting", "load avg"]
    if args.rounds > 1:
        header.insert(5, "range s")
    rows: dict[str, list[tuple[str, dict[str, Any]]]] = {"idle": [], "loaded": []}
    notes, failed = [], False
    for round_ in range(args.rounds):
        for first, backend in enumerate(backends):
            if first or round_:  # the rate right before this backend's idle run
                rates["idle"] = run_matmul_rate(args)[0]
            for condition in ("idle", "loaded") if args.load else ("idle",):
                with busy_processes(args.load if condition == "loaded" else 0):
                    if condition not in rates:
                        rates[condition] = run_matmul_rate(args)[0]
                    load = _load_average()
                    results = run_worker(args, backend, models)
                if isinstance(results, str):
                    print(f"{backend} ({condition}): {results}", flush=True)
                    failed = True
                    break
                for r in results:
                    r["load"], r["rate"] = load, rates["idle"]
                    rows[condition].append((backend, r))
                    if "error" in r:
                        note = f"{backend} {r['model']}: {r['error']}"
                        notes += [] if note in notes else [note]
                print(f"{backend} ({condition}) done, load average {load}"
                      + (f", round {round_ + 1} of {args.rounds}" if args.rounds > 1 else ""),
                      flush=True)

    after = run_matmul_rate(args)[0]  # once more, so that even one backend gets two
    best = max([after] + [r["rate"] for _, r in rows["idle"]])
    merged = {c: _over_rounds(rows[c]) for c in rows}
    totals: dict[tuple[str, str], dict[str, float]] = {}
    for condition, found in merged.items():
        for backend, r in found:
            if "error" not in r:
                totals.setdefault((backend, r["model"]), {})[condition] = r["train"] + r["eval"]
    tables = {c: [header] + [_row(b, r, best, args.rounds > 1) for b, r in merged[c]]
              for c in merged}
    over = f"; medians of {args.rounds} rounds (range: of train + eval)" if args.rounds > 1 else ""
    print(f"\nidle; x limit: seconds per epoch over the limit at the best of numpy's rates "
          f"measured before each backend (GFLOP/s) and after the last ({after:.1f}): "
          f"{best:.1f} GFLOP/s, "
          f"{_seconds_at(best, flops):.2f} s an epoch{over}\n" + align(tables["idle"]))
    if args.load:
        print(f"\nwith {args.load} busy process(es) of this script (numpy's matmul under that "
              f"load: {rates.get('loaded', float('nan')):.1f} GFLOP/s); x limit: over the same "
              f"limit\n" + align(tables["loaded"]))
        summary = [["backend", "model", "idle s", "loaded s", "loaded/idle", f"<= {TARGET:g}x"]]
        for (backend, kind), t in totals.items():
            if "loaded" in t:
                ratio = t["loaded"] / t["idle"]
                summary.append([backend, kind, f"{t['idle']:.2f}", f"{t['loaded']:.2f}",
                                f"{ratio:.2f}", "yes" if ratio <= TARGET else "NO"])
        print(f"\nseconds per epoch (train + eval), idle and with {args.load} busy "
              f"process(es) on {os.cpu_count()} cores\n" + align(summary))
    for note in notes:
        print(f"not measured: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the worker and the busy processes are stopped by now
        print("interrupted", file=sys.stderr)
        sys.exit(130)
