"""Run the chapter's cells for one framework and one model, timing each epoch.

    python worker.py BACKEND MODEL EPOCHS RESULT.json
    python worker.py probe BACKEND seed|d2ldrop     (versions, as JSON)

Run by ``scripts/bench_seed.py`` in the seed's interpreter, in the temporary
home it prepared (see :func:`seed_chapter.seed_env`). The cells run as the
chapter writes them, in one namespace, in order. Two d2l functions are wrapped,
their code untouched:

- ``train_ch3``: the chapter calls it twice, for the scratch model and then the
  concise one; the call of the model not measured returns at once (so the
  concise run still runs every cell before it), the measured one is timed from
  its start;
- ``Animator.add``, which ``train_ch3`` calls once per epoch after the test
  evaluation: a timestamp when it returns (so an epoch is its training, the test
  evaluation and the book's plot update, whose own seconds are recorded too),
  and the metrics it plots. After EPOCHS epochs it stops the training (the
  chapter's ``num_epochs`` stays 10; the accuracy asserts at the end of
  ``train_ch3`` are for 10 epochs and are not reached).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seed_chapter import (  # noqa: E402
    CELLS,
    D2L_VERSION,
    FRAMEWORKS,
    GLUON_SHA1,
    IDX_SHA256,
    MODELS,
    Framework,
    cells,
    idx_sha256,
)


class _EpochsDone(Exception):
    """Raised from ``Animator.add`` after the last epoch measured."""


def accept_upstream_files() -> None:
    """gluon's FashionMNIST requires the sha1 of MXNet's own re-hosted ``.gz`` files
    (:data:`GLUON_SHA1`); no copy on this machine has those bytes, and without them it
    downloads. Where it asks for one of those sha1s, accept the file when its
    decompressed bytes are Fashion-MNIST's (:data:`IDX_SHA256`) instead; any other
    check is gluon's own."""
    from mxnet.gluon import utils  # its download() checks a file it finds with this

    own = utils.check_sha1
    expected = {sha1: IDX_SHA256[name] for name, sha1 in GLUON_SHA1.items()}

    def check_sha1(filename: str, sha1_hash: str) -> bool:
        if sha1_hash in expected:
            return os.path.isfile(filename) and idx_sha256(filename) == expected[sha1_hash]
        return bool(own(filename, sha1_hash))

    utils.check_sha1 = check_sha1


def run(backend: str, model: str, epochs: int, framework: Framework | None = None,
        source: Path = CELLS) -> dict[str, Any]:
    """Run the cells of ``source`` (``framework``: FRAMEWORKS[backend] unless given);
    the seconds of each epoch measured, the plot update's share, the metrics."""
    framework = framework or FRAMEWORKS[backend]
    d2l = importlib.import_module(framework.d2l_module)
    version = importlib.import_module("d2l").__version__
    if version != D2L_VERSION:
        raise SystemExit(f"d2l {version} is installed here, not {D2L_VERSION}")
    if backend == "mxnet":
        accept_upstream_files()
    record: dict[str, Any] = {"start": None, "ends": [], "add_seconds": [], "metrics": []}
    calls = []
    own_train, own_add = d2l.train_ch3, d2l.Animator.add

    def add(self: Any, x: Any, y: Any) -> None:
        start = time.perf_counter()
        own_add(self, x, y)
        end = time.perf_counter()
        record["ends"].append(end)
        record["add_seconds"].append(end - start)
        record["metrics"].append([float(v) for v in y])
        if len(record["ends"]) == epochs:
            raise _EpochsDone

    def train_ch3(*args: Any, **kwargs: Any) -> None:
        calls.append(len(calls))
        if MODELS[len(calls) - 1] != model:
            return
        record["start"] = time.perf_counter()
        try:
            own_train(*args, **kwargs)
        except _EpochsDone:
            pass

    d2l.train_ch3, d2l.Animator.add = train_ch3, add
    namespace: dict[str, Any] = {"__name__": "__main__"}
    try:
        for i, cell in enumerate(cells(framework.tab, source)):
            exec(compile(cell, f"<chapter cell {i} ({framework.tab})>", "exec"), namespace)
    finally:
        d2l.train_ch3, d2l.Animator.add = own_train, own_add
    if record["start"] is None or len(record["ends"]) < epochs:
        raise SystemExit(f"the chapter trained {len(record['ends'])} of {epochs} epochs")
    marks = [record["start"], *record["ends"]]
    return {"epochs": [b - a for a, b in zip(marks, marks[1:])],
            "add_seconds": record["add_seconds"], "metrics": record["metrics"],
            "d2l": version}


def versions(backend: str, side: str) -> dict[str, str]:
    """What an interpreter has for ``backend``: the versions of the modules the seed
    (``side`` "seed": d2l and what its module imports) or d2ldrop needs. A module that
    does not import is reported as ``{"missing": "name: error"}``."""
    framework = FRAMEWORKS[backend]
    names = (["d2l", *framework.needs, framework.d2l_module] if side == "seed"
             else ["d2ldrop", framework.needs[0]])
    found = {"python": sys.version.split()[0]}
    for name in [*names, "numpy"]:
        try:
            module = importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - any failure to import is reported as such
            return {"missing": f"{name}: {type(err).__name__}: {err}"}
        if name != framework.d2l_module:
            found[name] = str(getattr(module, "__version__", "?"))
    if backend == "tensorflow":  # tf.keras: Keras 3, or tf_keras (Keras 2) when asked for
        legacy = os.environ.get("TF_USE_LEGACY_KERAS") == "1"
        found["tf.keras"] = ("tf_keras " if legacy else "keras ") + importlib.import_module(
            "tf_keras" if legacy else "keras").__version__
    return found


def main(argv: list[str]) -> int:
    if argv[0] == "probe":
        print(json.dumps(versions(argv[1], argv[2])))
        return 0
    backend, model, epochs, out = argv
    result = run(backend, model, int(epochs))
    Path(out).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
