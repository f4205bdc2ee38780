"""Seconds per epoch of the book's own dropout code under d2l 0.17.6, beside d2ldrop's.

The seed chapter's code cells (``scripts/seed_chapter/cells.md``, verbatim) run
as the chapter writes them, for each framework it has a tab for and each of its
two models (scratch, concise), for ``--epochs`` epochs, each run in a fresh
subprocess of the seed's interpreter (``scripts/seed_chapter/worker.py``): an
epoch is ``d2l.train_ch3``'s training, its test evaluation and its plot update,
timed by wrapping ``d2l.Animator.add`` (called once per epoch); the training
code is not changed. Each seed run is followed by d2ldrop's run of the same
backend and model (``bench_train.py``'s worker: a warm-up, then the epochs, with
d2ldrop's thread setting applied as the CLI applies it), so that a change in the
machine's load falls on both; ``--rounds`` repeats the pairs, the order swapped
every other round. Printed: seconds per epoch (medians), the speed-up, whether
it is at least 5x (issue 22), each over the matmul limit as bench_train.py
computes it, the versions, and the load average before each run.

Offline and away from your home: the Fashion-MNIST files (``--data-dir``, by
default the byte-exact upstream files in /work/shared/data/fashion-mnist, else
Debian's in /usr/share/datasets/fashion-mnist) are copied where each of d2l
0.17.6's loaders looks, inside a temporary directory that is also HOME, the
caches' home and, for the book's ``root="../data"``, the parent of the runs'
working directory; http(s) proxies point at a closed local port, so a download
would fail at once. Matplotlib runs on Agg; the runs' output goes to log files
(printed when a run fails; ``--keep`` keeps them).

Interpreters (``--seed-python BACKEND=PATH``, ``--d2ldrop-python BACKEND=PATH``,
repeatable; the check before the runs says what is missing and how to install
it):

- seed, torch: /work/seed-venv/bin/python, a venv with torch 2.14.1,
  torchvision 0.29.1 (PyPI's torchvision does not load beside torch 2.13.0),
  d2l 0.17.6 (``--no-deps``) and what d2l imports;
- seed, mxnet and tensorflow: this interpreter (the ``all`` environment), with
  ``--d2l-path`` (default /work/seed-d2l: ``pip install --no-deps --target
  /work/seed-d2l d2l==0.17.6 pandas==2.2.3 pytz``) first on PYTHONPATH;
- d2ldrop: the seed's interpreter for the same backend, so that both run on
  the same framework release; this checkout first on PYTHONPATH.

TensorFlow 2.17's ``tf.keras`` is Keras 3; d2l 0.17.6 (2022) was written for
Keras 2 and its chapter code runs on Keras 3 unchanged. ``--legacy-keras``
runs the seed on Keras 2 instead (``TF_USE_LEGACY_KERAS=1``; needs ``tf_keras``
2.17 where d2l is).

Not run in CI (minutes of training per run, two extra environments).

    python scripts/bench_seed.py [--backend all] [--model all] [--epochs 3]
                                 [--rounds 1] [--seed-python B=PATH]
                                 [--d2ldrop-python B=PATH] [--d2l-path DIR]
                                 [--data-dir DIR] [--legacy-keras] [--keep]
"""

from __future__ import annotations

import os

ENV_AT_START = dict(os.environ)  # before d2ldrop is imported: what the runs start from

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import bench_train  # noqa: E402
import seed_chapter  # noqa: E402

from d2ldrop._text import align  # noqa: E402

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
WORKER = SCRIPTS / "seed_chapter" / "worker.py"
TARGET = 5.0  # seed seconds per epoch / d2ldrop's (issue 22, point 3)
CHAPTER_EPOCHS = 10  # the chapter's num_epochs: train_ch3 stops at it


def _pairs(values: list[str], option: str, parser: argparse.ArgumentParser) -> dict[str, Path]:
    out = {}
    for value in values:
        backend, sep, path = value.partition("=")
        if not sep or backend not in seed_chapter.FRAMEWORKS or not path:
            parser.error(f"{option} is BACKEND=PATH with BACKEND one of "
                         f"{', '.join(seed_chapter.FRAMEWORKS)}; got {value!r}")
        out[backend] = Path(path)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; ``seed_python`` and ``d2ldrop_python`` become backend -> path for
    every backend asked for (defaults filled in), ``d2l_path`` None when absent."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ", ".join(seed_chapter.FRAMEWORKS)
    parser.add_argument("--backend", default="all", help=f"{names}, a comma list, or all")
    parser.add_argument("--model", default="all", help="scratch, concise or all")
    parser.add_argument("--epochs", type=int, default=3,
                        help=f"epochs per run, 1 to {CHAPTER_EPOCHS} (the chapter's)")
    parser.add_argument("--rounds", type=int, default=1, help="seed/d2ldrop pairs per model")
    parser.add_argument("--seed-python", action="append", default=[], metavar="BACKEND=PATH",
                        help="the seed's interpreter (default: " + ", ".join(
                            f"{b} {f.python}" for b, f in seed_chapter.FRAMEWORKS.items()
                            if f.python) + ", the others this one)")
    parser.add_argument("--d2ldrop-python", action="append", default=[],
                        metavar="BACKEND=PATH",
                        help="d2ldrop's interpreter (default: the seed's for that backend)")
    parser.add_argument("--d2l-path", default=str(seed_chapter.D2L_TARGET),
                        help="put first on the seed runs' PYTHONPATH when it exists "
                        "(d2l 0.17.6 installed with --target); '' for none")
    parser.add_argument("--data-dir", default=None, help="the four Fashion-MNIST .gz files")
    seed_chapter.add_options(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per run")
    parser.add_argument("--batch-size", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=50, help="matmul repetitions (best of)")
    args = parser.parse_args(argv)
    backends = (list(seed_chapter.FRAMEWORKS) if args.backend == "all"
                else args.backend.split(","))
    models = seed_chapter.MODELS if args.model == "all" else tuple(args.model.split(","))
    if not set(backends) <= set(seed_chapter.FRAMEWORKS):
        parser.error(f"--backend is {names}, a comma list of them, or all")
    if not set(models) <= set(seed_chapter.MODELS):
        parser.error("--model is scratch, concise or all")
    if not 1 <= args.epochs <= CHAPTER_EPOCHS or args.rounds < 1 or args.reps < 1:
        parser.error(f"--epochs is 1 to {CHAPTER_EPOCHS}; --rounds and --reps >= 1")
    args.backends, args.models = backends, models
    seed = {b: f.python or Path(sys.executable) for b, f in seed_chapter.FRAMEWORKS.items()}
    seed.update(_pairs(args.seed_python, "--seed-python", parser))
    args.seed_python = {b: seed[b] for b in backends}
    own = _pairs(args.d2ldrop_python, "--d2ldrop-python", parser)
    args.d2ldrop_python = {b: own.get(b, seed[b]) for b in backends}
    path = Path(args.d2l_path) if args.d2l_path else None
    args.d2l_path = path if path is not None and path.is_dir() else None
    return args


# -- the runs ----------------------------------------------------------------------
def _run(command: list[str], env: dict[str, str], cwd: Path, log: Path,
         timeout: float) -> tuple[int, str]:
    """Run to the end (or the timeout: killed, status -9); stdout, stderr to ``log``."""
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True,
                                env=env, cwd=cwd)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out = ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with open(log, "a", encoding="utf-8") as err:
        err.write(out)
    return proc.returncode, out


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


class Bench:
    """One benchmark: the temporary home, the runs' environments, the runs."""

    def __init__(self, args: argparse.Namespace, root: Path, source: Path) -> None:
        self.args, self.root, self.source = args, root, source
        self.paths = seed_chapter.prepare_home(root, source)
        self.count = 0

    def seed_env(self, backend: str) -> dict[str, str]:
        env = seed_chapter.seed_env(ENV_AT_START, self.paths["home"], self.args.d2l_path)
        env.update(seed_chapter.option_env(self.args, backend))
        return env

    def d2ldrop_env(self) -> dict[str, str]:
        env = seed_chapter.seed_env(ENV_AT_START, self.paths["home"], None)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + (
            [ENV_AT_START["PYTHONPATH"]] if ENV_AT_START.get("PYTHONPATH") else []))
        return env

    def _log(self, name: str) -> Path:
        self.count += 1
        return self.root / f"{self.count:02d}-{name}.log"

    def probe(self, backend: str, side: str) -> dict[str, str] | str:
        """The versions an interpreter has, or what is missing and how to install it."""
        python = (self.args.seed_python if side == "seed" else self.args.d2ldrop_python)[backend]
        env = self.seed_env(backend) if side == "seed" else self.d2ldrop_env()
        hint = seed_chapter.FRAMEWORKS[backend].install if side == "seed" else (
            f"install d2ldrop's {backend} extra there, or give --d2ldrop-python {backend}=PATH")
        if not python.exists():
            return f"{python} does not exist; to make it: {hint}"
        log = self._log(f"probe-{side}-{backend}")
        code, out = _run([str(python), str(WORKER), "probe", backend, side], env,
                         self.paths["work"], log, 600)
        found = json.loads(out.strip().splitlines()[-1]) if code == 0 and out.strip() else {
            "missing": f"the probe exited with status {code}:\n{_tail(log)}"}
        if "missing" in found:
            return f"{python} lacks {found['missing']}; {hint}"
        if side == "seed" and found.get("d2l") != seed_chapter.D2L_VERSION:
            return f"{python} has d2l {found.get('d2l')}, not {seed_chapter.D2L_VERSION}; {hint}"
        return found

    def seed(self, backend: str, model: str) -> dict[str, Any] | str:
        """The chapter's run: seconds of each epoch, the plot's share, the metrics."""
        log, out = self._log(f"seed-{backend}-{model}"), self.root / "result.json"
        out.unlink(missing_ok=True)
        code, _ = _run([str(self.args.seed_python[backend]), str(WORKER), backend, model,
                        str(self.args.epochs), str(out)], self.seed_env(backend),
                       self.paths["work"], log, self.args.timeout)
        if code != 0 or not out.exists():
            return f"the seed's run exited with status {code}; its log ends:\n{_tail(log)}"
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        result["s"] = statistics.median(result["epochs"])
        return result

    def d2ldrop(self, backend: str, model: str) -> dict[str, Any] | str:
        """bench_train.py's worker: d2ldrop's thread setting, a warm-up, the epochs."""
        log = self._log(f"d2ldrop-{backend}-{model}")
        command = [str(self.args.d2ldrop_python[backend]), str(SCRIPTS / "bench_train.py"),
                   "--worker", backend, "--model", model, "--epochs", str(self.args.epochs),
                   "--batch-size", str(self.args.batch_size), "--data-dir", str(self.source)]
        code, out = _run(command, self.d2ldrop_env(), self.paths["work"], log,
                         self.args.timeout)
        if code != 0 or not out.strip():
            return f"d2ldrop's run exited with status {code}; its log ends:\n{_tail(log)}"
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])[0]
        if "error" in result:
            return str(result["error"])
        result["s"] = result["train"] + result["eval"]
        return result


# -- the report ----------------------------------------------------------------------
def _detail(side: str, backend: str, model: str, r: dict[str, Any]) -> str:
    if side == "seed":
        epochs = ", ".join(f"{s:.2f}" for s in r["epochs"])
        plot = ", ".join(f"{s:.2f}" for s in r["add_seconds"])
        loss, train_acc, test_acc = r["metrics"][-1]
        return (f"seed    {backend} {model}: epochs {epochs} s (the plot update {plot}); "
                f"last epoch as train_ch3 plots it: train loss {loss:.3f}, train acc "
                f"{train_acc:.3f}, test acc {test_acc:.3f}")
    return (f"d2ldrop {backend} {model}: train {r['train']:.2f} + eval {r['eval']:.2f} s "
            f"(medians), warm-up {r['warmup']:.2f} s, setting "
            f"{bench_train.setting_label(r['setting'], r['threads'])}")


def _median(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["s"] for r in runs)


def report(results: dict[tuple[str, str], dict[str, list[dict[str, Any]]]],
           limit: float) -> str:
    """The table: seconds per epoch, speed-up, the 5x goal, each over the limit."""
    rows = [["backend", "model", "seed s/epoch", "d2ldrop s/epoch", "speed-up", f">= {TARGET:g}x",
             "seed x limit", "d2ldrop x limit", "d2ldrop setting", "load avg (seed; d2ldrop)"]]
    for (backend, model), runs in results.items():
        if not runs["seed"] or not runs["d2ldrop"]:
            rows.append([backend, model, "n/a", "n/a", "", "", "", "", "", ""])
            continue
        seed, own = _median(runs["seed"]), _median(runs["d2ldrop"])
        last = runs["d2ldrop"][-1]
        rows.append([backend, model, f"{seed:.2f}", f"{own:.2f}", f"{seed / own:.1f}x",
                     "yes" if seed / own >= TARGET else "NO", f"{seed / limit:.1f}x",
                     f"{own / limit:.1f}x",
                     bench_train.setting_label(last["setting"], last["threads"]),
                     "; ".join(r["load"] for r in runs["seed"] + runs["d2ldrop"])])
    return align(rows)


def _versions(found: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in found.items())


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args = parse_args(argv)
    if args.data_dir is not None:
        source, exact = seed_chapter.find_source((Path(args.data_dir),))
    else:
        source, exact = seed_chapter.find_source()
    root = Path(tempfile.mkdtemp(prefix="d2ldrop-seed-"))
    try:
        return _bench(args, root, source, exact)
    finally:
        if args.keep:
            print(f"kept: {root} (the runs' logs and the temporary home)")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _bench(args: argparse.Namespace, root: Path, source: Path, exact: bool) -> int:
    bench = Bench(args, root, source)
    kind = ("byte-exact upstream files" if exact
            else "gzip headers differ from upstream's, the same decompressed bytes")
    print(f"data: {source} ({kind}), laid out under {root}", flush=True)
    problems = []
    for backend in args.backends:
        for side in ("seed", "d2ldrop"):
            found = bench.probe(backend, side)
            if isinstance(found, str):
                problems.append(f"{backend} ({side}): {found}")
            else:
                python = (args.seed_python if side == "seed" else args.d2ldrop_python)[backend]
                print(f"{backend} {side} ({python}): {_versions(found)}", flush=True)
    if problems:
        print("\n".join(["cannot run:", *problems]), file=sys.stderr)
        return 2
    rate, blas = bench_train.run_matmul_rate(args)
    flops = bench_train.epoch_flops(bench_train.SIZES, 60_000, 10_000)
    limit = flops / (rate * 1e9)
    print(f"the limit: {flops / 1e9:.1f} GFLOP of matrix products an epoch at numpy's float32 "
          f"matmul rate, {rate:.1f} GFLOP/s: {limit:.2f} s an epoch; {blas}")
    print(f"{os.cpu_count()} cores, load average {bench_train._load_average()}; "
          f"{args.epochs} epochs per run, {args.rounds} round(s)", flush=True)
    results: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    failed = False
    for round_ in range(args.rounds):
        for backend in args.backends:
            for model in args.models:
                runs = results.setdefault((backend, model), {"seed": [], "d2ldrop": []})
                for side in ("seed", "d2ldrop") if round_ % 2 == 0 else ("d2ldrop", "seed"):
                    load = bench_train._load_average()
                    r = bench.seed(backend, model) if side == "seed" else bench.d2ldrop(
                        backend, model)
                    if isinstance(r, str):
                        print(f"{side} {backend} {model}: {r}", flush=True)
                        failed = True
                        continue
                    r["load"] = load
                    runs[side].append(r)
                    print(_detail(side, backend, model, r) + f"; load before {load}", flush=True)
    print(f"\nseconds per epoch (median of {args.epochs} epochs; seed: train_ch3's training, "
          f"test evaluation and plot; d2ldrop: train + eval medians after a warm-up); "
          f"x limit: over {limit:.2f} s\n" + report(results, limit))
    print(f"load average at the end {bench_train._load_average()}")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
