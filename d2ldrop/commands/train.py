"""``d2ldrop train``: the chapter's training, on one backend or every installed one."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from d2ldrop.errors import D2LDropError

if TYPE_CHECKING:
    from d2ldrop.models import Kind

MODELS: tuple[Kind, ...] = ("scratch", "concise")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from d2ldrop.commands._args import add_backend_argument, dir_path, seed_type

    p = sub.add_parser(
        "train",
        help="train the chapter's MLP with dropout on Fashion-MNIST",
        description="Train the chapter's scratch or concise MLP (784-256-256-10, dropout "
        "after each hidden ReLU) with SGD and softmax cross-entropy, evaluate after each "
        "epoch, and write the history (JSON, CSV) and the curves (PNG) to --out.",
    )
    add_backend_argument(p)
    p.add_argument("--model", "-m", choices=(*MODELS, "all"), default="scratch",
                   help="scratch (raw parameters + dropout_layer), concise (the "
                   "framework's Sequential + Dropout), or all. Default: scratch.")
    p.add_argument("--epochs", type=int, default=10, help="default: 10")
    p.add_argument("--lr", type=float, default=0.5, help="default: 0.5")
    p.add_argument("--batch-size", type=int, default=256, help="default: 256")
    p.add_argument("--dropout1", type=float, default=0.2, help="after hidden layer 1 (0.2)")
    p.add_argument("--dropout2", type=float, default=0.5, help="after hidden layer 2 (0.5)")
    p.add_argument("--init", choices=("normal", "framework"), default="normal",
                   help="normal: N(0, 0.01) weights, zero biases, the same numbers on every "
                   "backend for a seed (default); framework: each framework's own default")
    p.add_argument("--updater", choices=("scratch", "framework"), default=None,
                   help="SGD by hand or the framework's optimizer. Default: scratch for the "
                   "scratch model, framework for the concise one (as the book)")
    p.add_argument("--dtype", choices=("float32", "float64", "bfloat16"), default=None,
                   help="precision of the parameters and the computation. Default: float32 "
                   "(the chapter's), float64 with --lockstep, where float32 rounding grows "
                   "until the runs part (see docs/results/lockstep.md). bfloat16: parameters, "
                   "activations and loss in bfloat16, on the backends whose framework has "
                   "the model's ops in it on this device (the others refuse it before "
                   "training, naming their limit); not with --lockstep")
    p.add_argument("--seed", type=seed_type, default=None,
                   help="seed for initialization, batch order and dropout masks")
    p.add_argument("--out", type=dir_path, default=Path("runs/train"),
                   help="output directory (default: runs/train)")
    p.add_argument("--data-dir", type=Path, default=None, help="directory with the data")
    p.add_argument("--download", action="store_true",
                   help="download Fashion-MNIST into the cache if it is not found locally")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress, no epoch lines")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results already in --out (refused otherwise)")
    p.add_argument("--lockstep", action="store_true",
                   help="train the backends side by side on the same run: initial parameters, "
                   "batch order and dropout masks drawn once in numpy from --seed (a fresh seed "
                   "if none is given), everything else computed by each framework; with a "
                   "numpy reference. Writes lockstep.txt/.json/.png and exits 1 unless the "
                   "backends agree (train loss within 1e-3, final test accuracy within 0.3 "
                   "points). Needs --init normal; with one backend, compares it with numpy. "
                   "In float64 unless --dtype says otherwise")
    p.set_defaults(func=run, parser=p)


def _check_args(args: argparse.Namespace) -> None:
    """Every argument error, before any framework is imported or data read (exit 2)."""
    from d2ldrop.commands._args import check_writable_dir

    parser: argparse.ArgumentParser = args.parser
    for name in ("dropout1", "dropout2"):
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:  # NaN fails too
            parser.error(f"--{name}: expected a float between 0 and 1. Received: {value}")
    if args.epochs < 0:
        parser.error(f"--epochs: expected a non-negative integer. Received: {args.epochs}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr: expected a positive number. Received: {args.lr}")
    if args.batch_size < 1:
        parser.error(f"--batch-size: expected a positive integer. Received: {args.batch_size}")
    if args.dtype is None:
        args.dtype = "float64" if args.lockstep else "float32"
    if args.lockstep and args.dtype == "bfloat16":
        parser.error("--lockstep compares the backends and numpy in float32 or float64 (its "
                     "agreement tolerances assume them); bfloat16 rounding would part the runs "
                     "in the first steps. Received: --dtype bfloat16")
    if args.lockstep and args.init != "normal":
        parser.error("--lockstep: the backends must start from the same numpy-drawn "
                     "parameters, so it needs --init normal. Received: --init framework")
    check_writable_dir(parser, args.out)


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    from d2ldrop.backends import get_adapter, load_in_order
    from d2ldrop.commands._args import resolve_backends
    from d2ldrop.data import load_fashion_mnist_arrays

    backends = resolve_backends(args.backend)
    models = list(MODELS) if args.model == "all" else [args.model]
    load_in_order(backends)  # a missing framework fails before any training
    for name in backends:  # so does a dtype one of them cannot train in
        get_adapter(name).check_model_dtype(args.dtype)
    data = load_fashion_mnist_arrays(data_dir=args.data_dir, download=args.download)
    from d2ldrop._outdir import claim

    patterns = RESULT_FILES_LOCKSTEP if args.lockstep else RESULT_FILES
    try:
        with claim(args.out, patterns, overwrite=args.overwrite):
            if args.lockstep:
                return _run_lockstep(args, backends, models, data)
            return _train_all(args, backends, models, data)
    except OSError as err:
        # A full disk, a directory made read-only mid-run: what was written before
        # stays valid (every file is replaced atomically).
        where = f" {err.filename}" if err.filename else ""
        raise D2LDropError(f"cannot write{where}: {err.strerror or err}") from err


#: The files a run writes to --out (removed first with --overwrite).
RESULT_FILES = ("history-*.json", "history-*.csv", "summary.json", "curves.png")
RESULT_FILES_LOCKSTEP = ("lockstep*.json", "lockstep*.csv", "lockstep.txt", "lockstep.png")


def _train_all(args: argparse.Namespace, backends: list[str], models: list[Kind],
               data) -> int:
    from d2ldrop.training import TrainingDiverged

    histories = []
    status = 0
    for name in backends:
        for kind in models:
            try:
                history = _train_one(args, name, kind, data)
            except TrainingDiverged as err:
                print(f"d2ldrop train: {name}/{kind}: {err}", file=sys.stderr)
                histories.append(err.history)
                status = 1
                continue
            histories.append(history)
            if history.interrupted:
                status = 130
                break
        if status == 130:
            break
    _report(args, histories)
    if status == 130:
        done = histories[-1].epochs if histories else []
        print(f"interrupted: kept {len(done)} finished epoch(s) in {args.out}", file=sys.stderr)
    return status


def _train_one(args: argparse.Namespace, backend: str, kind: Kind, data):
    from d2ldrop.data import Batches
    from d2ldrop.models import build_mlp
    from d2ldrop.training import SGD, CrossEntropyLoss, UpdaterWarning, default_updater, train_ch3

    net = build_mlp(kind, dropout1=args.dropout1, dropout2=args.dropout2, init=args.init,
                    seed=args.seed, backend=backend, dtype=args.dtype)
    train_iter = Batches(data.train_images, data.train_labels, args.batch_size,
                         shuffle=True, seed=args.seed, backend=backend)
    test_iter = Batches(data.test_images, data.test_labels, args.batch_size,
                        shuffle=False, backend=backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UpdaterWarning)
        updater = SGD(args.lr, args.updater or default_updater(kind, [backend]))
    for w in caught:
        print(f"d2ldrop train: {w.message}", file=sys.stderr)

    def on_epoch(history) -> None:
        history.config.update(batch_size=args.batch_size, seed=args.seed, init=args.init,
                              dtype=args.dtype)
        history.save(args.out)
        if not args.quiet:
            r = history.epochs[-1]
            print(f"{backend}/{kind} epoch {r.epoch}/{args.epochs}: loss {r.train_loss:.4f}, "
                  f"train acc {r.train_acc:.4f}, test acc {r.test_acc:.4f} "
                  f"({r.train_seconds:.2f} s + {r.eval_seconds:.2f} s)", flush=True)

    try:
        history = train_ch3(net, train_iter, test_iter, CrossEntropyLoss(), args.epochs,
                            updater, progress=False if args.quiet else None,
                            on_epoch=on_epoch)
    except Exception as err:
        if hasattr(err, "history"):
            err.history.save(args.out)  # the error is recorded beside the epochs done
        raise
    history.config.update(batch_size=args.batch_size, seed=args.seed, init=args.init,
                              dtype=args.dtype)
    history.save(args.out)
    return history


def _run_lockstep(args: argparse.Namespace, backends: list[str], models: list[Kind],
                  data) -> int:
    """``--lockstep``: each model trained on every backend at once (see d2ldrop.lockstep)."""
    import secrets

    from d2ldrop.lockstep import run_and_save

    seed = args.seed if args.seed is not None else secrets.randbits(32)
    if args.seed is None and not args.quiet:
        print(f"lockstep: no --seed given, using --seed {seed}", flush=True)
    outcome = run_and_save(
        models, backends, data, args.out, num_epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, dropout=(args.dropout1, args.dropout2), seed=seed,
        updater=args.updater, dtype=args.dtype, progress=False if args.quiet else None,
        echo=None if args.quiet else lambda line: print(line, flush=True),
        warn=lambda message: print(f"d2ldrop train --lockstep: {message}", file=sys.stderr),
    )
    if outcome.table is not None and outcome.plot is not None:
        print()
        print(outcome.table)
        print(f"\nwrote {args.out}/ (lockstep-*.json, lockstep-*.csv, lockstep.json, "
              f"lockstep.txt, {outcome.plot.name})")
    if outcome.interrupted:
        print(f"interrupted: kept the finished epochs in {args.out}", file=sys.stderr)
        return 130
    return 0 if outcome.agrees else 1


def _report(args: argparse.Namespace, histories: list) -> None:
    from d2ldrop._io import write_json
    from d2ldrop.history import plot_histories

    if not histories:
        return
    from d2ldrop.backends import threads

    rows = [summary_row(h) for h in histories]
    setting = getattr(args, "thread_setting", None)  # the CLI's (None: called directly)
    for row in rows:  # float results can depend on the thread count: it is part of the run
        row["threads"] = threads.current(row["backend"])
        row["thread_setting"] = None if setting is None else setting.record()
    # The summary before the figure: the figure is the larger file, and a full
    # disk must not cost the figures that matter.
    write_json(args.out / "summary.json", rows)
    plot = plot_histories(histories, args.out / "curves.png",
                          title=f"Dropout, Fashion-MNIST, lr {args.lr}, batch {args.batch_size}")
    print()
    print(format_table(rows))
    print(f"\nwrote {args.out}/ (history-*.json, history-*.csv, summary.json, {plot.name})")


def summary_row(history) -> dict:
    """Final figures of one run, and the book's train_ch3 checks."""
    import statistics

    r = history.final
    if r is None:
        return {"backend": history.backend, "model": history.model, "epochs": 0,
                "error": history.error, "interrupted": history.interrupted}
    return {
        "backend": history.backend,
        "model": history.model,
        "dtype": history.config.get("dtype"),
        "epochs": len(history.epochs),
        "train_loss": r.train_loss,
        "train_acc": r.train_acc,
        "test_acc": r.test_acc,
        "train_s_per_epoch": statistics.median(e.train_seconds for e in history.epochs),
        "eval_s_per_epoch": statistics.median(e.eval_seconds for e in history.epochs),
        # d2l's train_ch3 asserts these after training.
        "book_checks": r.train_loss < 0.5 and r.train_acc > 0.7 and r.test_acc > 0.7,
        "error": history.error,
        "interrupted": history.interrupted,
    }


def format_table(rows: list[dict]) -> str:
    from d2ldrop._text import align

    head = ("backend", "model", "epochs", "train loss", "train acc", "test acc",
            "train s/ep", "eval s/ep", "book checks")
    lines = [head]
    for r in rows:
        if not r.get("epochs"):
            lines.append((r["backend"], r["model"], "0", *["-"] * 5,
                          "diverged" if r.get("error") else "-"))
            continue
        lines.append((
            r["backend"], r["model"], str(r["epochs"]), f"{r['train_loss']:.4f}",
            f"{r['train_acc']:.4f}", f"{r['test_acc']:.4f}", f"{r['train_s_per_epoch']:.2f}",
            f"{r['eval_s_per_epoch']:.2f}",
            "diverged" if r.get("error") else ("pass" if r["book_checks"] else "FAIL"),
        ))
    return align(lines)
