"""The seed chapter's own code, run under d2l 0.17.6 for ``scripts/bench_seed.py``.

``cells.md`` holds the chapter's code cells verbatim. This package says, per
d2ldrop backend the chapter has a tab for, which tab and which d2l module run
it and what an interpreter needs for it (:data:`FRAMEWORKS`); it lays out the
Fashion-MNIST files where each of d2l 0.17.6's loaders looks, inside a
temporary home (:func:`prepare_home`), and builds the environment a seed run
gets (:func:`seed_env`). ``worker.py`` is what runs in the seed's interpreter.

Nothing here imports a framework; ``worker.py`` does, in its own process.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CELLS = HERE / "cells.md"
D2L_VERSION = "0.17.6"
MODELS = ("scratch", "concise")  # the chapter's two train_ch3 calls, in order

#: Where the interpreters are by default (this machine's layout; see bench_seed.py).
SEED_VENV = Path("/work/seed-venv")
D2L_TARGET = Path("/work/seed-d2l")


@dataclass(frozen=True)
class Framework:
    """One tab of the chapter: the tab's name, d2l 0.17.6's module for it, the
    modules that module imports beyond the framework (checked before a run), how
    to make an interpreter that has them, the default one (None: the one running
    bench_seed.py), and the variables that run it on Keras 2 (``--legacy-keras``)."""

    tab: str
    d2l_module: str
    needs: tuple[str, ...]
    install: str
    python: Path | None = None
    legacy_keras: tuple[tuple[str, str], ...] = ()


_COMMON = ("pandas", "requests", "IPython", "matplotlib", "matplotlib_inline")
_BESIDE_ALL = (
    f"pip install --no-deps --target {D2L_TARGET} d2l=={D2L_VERSION} pandas==2.2.3 pytz "
    "tf_keras==2.17.0 "
    f"(d2l {D2L_VERSION} pins old releases, so --no-deps; the `all` environment has the "
    "framework, matplotlib, IPython and requests; the script puts the target first on "
    "PYTHONPATH, --d2l-path)"
)
FRAMEWORKS = {
    "mxnet": Framework("mxnet", "d2l.mxnet", ("mxnet", *_COMMON), _BESIDE_ALL),
    "torch": Framework(
        "pytorch", "d2l.torch", ("torch", "torchvision", *_COMMON),
        f"python3 -m venv {SEED_VENV} && {SEED_VENV}/bin/pip install torch==2.14.1 "
        f"torchvision==0.29.1 && {SEED_VENV}/bin/pip install --no-deps d2l=={D2L_VERSION} && "
        f"{SEED_VENV}/bin/pip install matplotlib matplotlib-inline pandas requests ipython "
        f"ml_dtypes && {SEED_VENV}/bin/pip install --no-deps -e . (PyPI's torchvision does not "
        "load beside torch 2.13.0; d2ldrop goes in too, so that its torch runs use the same torch)",
        python=SEED_VENV / "bin" / "python",
    ),
    # TF 2.17's tf.keras is Keras 3 unless TF_USE_LEGACY_KERAS=1 and tf_keras is there.
    "tensorflow": Framework("tensorflow", "d2l.tensorflow", ("tensorflow", *_COMMON),
                            _BESIDE_ALL, legacy_keras=(("TF_USE_LEGACY_KERAS", "1"),)),
}


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options that concern one framework only."""
    parser.add_argument("--legacy-keras", action="store_true",
                        help="run the seed's tensorflow code on Keras 2 (TF_USE_LEGACY_KERAS=1; "
                        "needs tf_keras 2.17 beside d2l)")


def option_env(args: argparse.Namespace, backend: str) -> dict[str, str]:
    """The variables those options give a seed run of ``backend``."""
    return dict(FRAMEWORKS[backend].legacy_keras) if args.legacy_keras else {}


def cells(tab: str, source: Path = CELLS) -> list[str]:
    """The chapter's code cells of ``tab``, in order: those tagged ``#@tab <tab>``
    or ``#@tab all``, and for mxnet (d2l-book's default tab) the untagged ones."""
    out = []
    for cell in re.findall(r"^```\{\.python \.input\}\n(.*?)^```$", source.read_text("utf-8"),
                           re.S | re.M):
        first = cell.split("\n", 1)[0].strip()
        tag = first[len("#@tab"):].split() if first.startswith("#@tab") else ["mxnet"]
        if tab in tag or "all" in tag:
            out.append(cell)
    return out


# -- the data ----------------------------------------------------------------------
#: Zalando's files: the md5 they publish (torchvision checks it when it downloads),
#: and the sha256 of each file's decompressed IDX bytes.
UPSTREAM_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
IDX_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
#: The sha1 gluon's FashionMNIST (mxnet 1.9.1) requires: its own re-hosted copies,
#: whose gzip bytes differ from Zalando's (none of the machine's copies has them).
GLUON_SHA1 = {
    "train-images-idx3-ubyte.gz": "0cf37b0d40ed5169c6b3aba31069a9770ac9043d",
    "train-labels-idx1-ubyte.gz": "236021d52f1e40852b06a4c3008d8de8aef1e40b",
    "t10k-images-idx3-ubyte.gz": "626ed6a7c06dd17c0eec72fa3be1740f146a2863",
    "t10k-labels-idx1-ubyte.gz": "17f9ab60e7257a1620f4ad76bbbaf857c3920701",
}
#: Where to take the files from, first found first: the byte-exact upstream files,
#: then Debian's (same deflate streams, gzip headers rewritten).
SOURCES = (Path("/work/shared/data/fashion-mnist"), Path("/usr/share/datasets/fashion-mnist"))


class DataLayoutError(RuntimeError):
    """The Fashion-MNIST files are missing or are not Fashion-MNIST."""


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def idx_sha256(path: Path | str) -> str:
    """sha256 of a ``.gz`` file's decompressed bytes."""
    with gzip.open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def find_source(candidates: tuple[Path, ...] = SOURCES) -> tuple[Path, bool]:
    """The first directory holding the four files; whether they are byte-exact upstream
    (md5). DataLayoutError if none has them."""
    for directory in candidates:
        if all((directory / name).is_file() for name in UPSTREAM_MD5):
            return directory, all(_md5(directory / n) == m for n, m in UPSTREAM_MD5.items())
    raise DataLayoutError("no Fashion-MNIST files (" + ", ".join(UPSTREAM_MD5) + ") in "
                          + " or ".join(map(str, candidates)) + "; give --data-dir")


def prepare_home(root: Path, source: Path) -> dict[str, Path]:
    """Lay the files out under ``root`` where d2l 0.17.6's loaders look, so none downloads.

    - ``home/.keras/datasets/fashion-mnist/*.gz``: Keras' ``fashion_mnist.load_data``
      (``get_file`` without a hash: an existing file is used as it is);
    - ``home/.mxnet/datasets/fashion-mnist/*.gz``: gluon's ``FashionMNIST`` (sha1-checked,
      see ``worker.accept_upstream_files``);
    - ``data/FashionMNIST/raw/``: torchvision's ``FashionMNIST(root="../data")``, run from
      ``work/``; it checks only that the decompressed files exist (the ``.gz`` files lie
      beside them, as its own download leaves them).

    Every file's decompressed bytes are checked against :data:`IDX_SHA256` first.
    Returns the paths: home, work (the runs' working directory) and each directory.
    """
    for name, digest in IDX_SHA256.items():
        if idx_sha256(source / name) != digest:
            raise DataLayoutError(f"{source / name} is not Fashion-MNIST's {name}")
    paths = {"home": root / "home", "work": root / "work",
             "keras": root / "home" / ".keras" / "datasets" / "fashion-mnist",
             "gluon": root / "home" / ".mxnet" / "datasets" / "fashion-mnist",
             "torchvision": root / "data" / "FashionMNIST" / "raw"}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    for name in UPSTREAM_MD5:
        for key in ("keras", "gluon", "torchvision"):
            shutil.copyfile(source / name, paths[key] / name)
        with gzip.open(source / name, "rb") as f, open(paths["torchvision"] / name[:-3], "wb") as o:
            shutil.copyfileobj(f, o)
    return paths


#: Variables that would send a loader or a cache outside the temporary home.
_REDIRECTS = ("KERAS_HOME", "MXNET_HOME", "TORCH_HOME", "MPLCONFIGDIR", "IPYTHONDIR",
              "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "no_proxy", "NO_PROXY")
#: A closed local port: a download would fail at once instead of reaching the network.
NO_NETWORK = "http://127.0.0.1:9"


def seed_env(base: dict[str, str], home: Path, d2l_path: Path | None) -> dict[str, str]:
    """The environment of a seed run: ``base`` (the user's, as the script started) with
    HOME and the caches in the temporary home, matplotlib on Agg, proxies that refuse
    any download, and ``d2l_path`` first on PYTHONPATH (when given)."""
    env = {k: v for k, v in base.items() if k not in _REDIRECTS}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               MPLBACKEND="Agg")
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[key] = NO_NETWORK
    if d2l_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(d2l_path)] + ([base["PYTHONPATH"]] if base.get("PYTHONPATH") else []))
    return env
