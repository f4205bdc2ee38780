"""scripts/bench_seed.py without the frameworks: the chapter's cells, the offline data
layout, the seed runs' environment, the epoch timing around a stand-in d2l, the options.

The benchmark itself (minutes per run, two extra environments) is not run here.
"""

from __future__ import annotations

import gzip
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
SEED = Path("/work/shared/seeds/000_b5b530970ad0d399.txt")


@pytest.fixture
def chapter(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import seed_chapter

    return seed_chapter


@pytest.fixture
def bench(chapter):
    import bench_seed

    return bench_seed


@pytest.mark.skipif(not SEED.is_file(), reason="the seed chapter is not on this machine")
def test_the_cells_are_the_seeds_verbatim(chapter) -> None:
    pattern = re.compile(r"^```\{\.python \.input\}\n.*?^```$", re.S | re.M)
    ours = pattern.findall(chapter.CELLS.read_text(encoding="utf-8"))
    assert ours == pattern.findall(SEED.read_text(encoding="utf-8"))


def test_each_tab_gets_its_cells_and_trains_scratch_then_concise(chapter) -> None:
    first_lines = {"mxnet": "from d2l import mxnet as d2l",
                   "pytorch": "#@tab pytorch", "tensorflow": "#@tab tensorflow"}
    for framework in chapter.FRAMEWORKS.values():
        cells = chapter.cells(framework.tab)
        assert len(cells) == 7
        assert cells[0].splitlines()[0] == first_lines[framework.tab]
        assert all(c.startswith(f"#@tab {framework.tab}\n") for c in cells) == (
            framework.tab != "mxnet")
        assert f"from d2l import {framework.d2l_module.split('.')[1]} as d2l" in cells[0]
        # MODELS is the order of the two train_ch3 calls: the scratch net (defined
        # from the parameters) first, then nn's concise one.
        calls = [i for i, c in enumerate(cells) if "d2l.train_ch3(" in c]
        assert len(calls) == 2 and chapter.MODELS == ("scratch", "concise")
        assert any("dropout_layer(" in c for c in cells[calls[0] - 2:calls[0]])
        assert "Dropout(dropout1)" in cells[calls[1] - 1]


def _fake_files(directory: Path, corrupt: str | None = None) -> Path:
    """The four real files when the machine has them (the layout checks their content)."""
    chapter_sources = [p for p in (Path("/work/shared/data/fashion-mnist"),
                                   Path("/usr/share/datasets/fashion-mnist"))
                       if (p / "t10k-labels-idx1-ubyte.gz").is_file()]
    if not chapter_sources:
        pytest.skip("no Fashion-MNIST files on this machine")
    source = chapter_sources[0]
    directory.mkdir()
    for path in source.glob("*-ubyte.gz"):
        data = path.read_bytes()
        if path.name == corrupt:
            with gzip.open(path) as f:
                raw = bytearray(f.read())
            raw[-1] ^= 1
            data = gzip.compress(bytes(raw))
        (directory / path.name).write_bytes(data)
    return directory


def test_the_files_lie_where_each_loader_looks(chapter, tmp_path: Path) -> None:
    source = _fake_files(tmp_path / "src")
    found, _ = chapter.find_source((tmp_path / "nothing", source))
    assert found == source
    paths = chapter.prepare_home(tmp_path / "root", source)
    home, work = paths["home"], paths["work"]
    for name in chapter.UPSTREAM_MD5:
        original = (source / name).read_bytes()
        # Keras' fashion_mnist.load_data: ~/.keras/datasets/fashion-mnist/<name>
        assert (home / ".keras/datasets/fashion-mnist" / name).read_bytes() == original
        # gluon's FashionMNIST: ~/.mxnet/datasets/fashion-mnist/<name>
        assert (home / ".mxnet/datasets/fashion-mnist" / name).read_bytes() == original
        # torchvision's FashionMNIST(root="../data") run from work/: the decompressed file
        raw = work / ".." / "data" / "FashionMNIST" / "raw"
        assert (raw / name[:-3]).read_bytes() == gzip.decompress(original)


def test_a_file_that_is_not_fashion_mnist_is_refused(chapter, tmp_path: Path) -> None:
    source = _fake_files(tmp_path / "src", corrupt="t10k-labels-idx1-ubyte.gz")
    with pytest.raises(chapter.DataLayoutError, match="t10k-labels"):
        chapter.prepare_home(tmp_path / "root", source)
    with pytest.raises(chapter.DataLayoutError, match="give --data-dir"):
        chapter.find_source((tmp_path / "nothing",))


def test_the_seed_runs_stay_in_the_temporary_home_and_offline(chapter, tmp_path) -> None:
    base = {"HOME": "/home/me", "KERAS_HOME": "/home/me/k", "MXNET_HOME": "/home/me/m",
            "XDG_CACHE_HOME": "/home/me/.cache", "no_proxy": "*", "PYTHONPATH": "/mine",
            "OMP_NUM_THREADS": "1"}
    env = chapter.seed_env(base, tmp_path, Path("/d2l"))
    assert env["HOME"] == str(tmp_path) and env["XDG_CACHE_HOME"] == str(tmp_path / ".cache")
    assert "KERAS_HOME" not in env and "MXNET_HOME" not in env and "no_proxy" not in env
    assert env["https_proxy"] == env["HTTP_PROXY"] == chapter.NO_NETWORK
    assert env["MPLBACKEND"] == "Agg"
    assert env["PYTHONPATH"].split(":") == ["/d2l", "/mine"]
    assert env["OMP_NUM_THREADS"] == "1"  # the user's settings reach the book's code
    assert base["HOME"] == "/home/me"  # not changed in place


FAKE_CELLS = '''
```{.python .input}
#@tab fake
from d2l import fake as d2l
```

```{.python .input}
#@tab fake
num_epochs = 10
d2l.train_ch3("scratch net", num_epochs)
```

```{.python .input}
#@tab other
raise AssertionError("another tab's cell")
```

```{.python .input}
#@tab fake
d2l.train_ch3("concise net", num_epochs)
```
'''

FAKE_D2L = '''
TRAINED = []
CLOCK = [100.0]  # the worker's perf_counter in the test: epoch e takes 2 + e s, a plot 0.25 s


class Animator:
    def add(self, x, y):
        CLOCK[0] += 0.25


def train_ch3(net, num_epochs):
    animator = Animator()
    for epoch in range(num_epochs):
        TRAINED.append((net, epoch))
        CLOCK[0] += 2.0 + epoch
        animator.add(epoch + 1, (0.5, 0.8, 0.75))
    TRAINED.append((net, "the asserts after the last epoch"))
'''


@pytest.mark.parametrize("model", ["scratch", "concise"])
def test_the_worker_times_the_asked_model_for_the_asked_epochs(
        chapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    (tmp_path / "d2l").mkdir()
    (tmp_path / "d2l" / "__init__.py").write_text(f'__version__ = "{chapter.D2L_VERSION}"\n')
    (tmp_path / "d2l" / "fake.py").write_text(textwrap.dedent(FAKE_D2L))
    (tmp_path / "cells.md").write_text(FAKE_CELLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("d2l", "d2l.fake"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import d2l.fake
    from seed_chapter import worker

    monkeypatch.setattr(worker.time, "perf_counter", lambda: d2l.fake.CLOCK[0])
    framework = chapter.Framework("fake", "d2l.fake", (), "")
    result = worker.run("fake", model, 3, framework, tmp_path / "cells.md")
    # Only the asked model, stopped after 3 epochs (the end of train_ch3 not reached).
    assert d2l.fake.TRAINED == [(f"{model} net", e) for e in range(3)]
    # Each epoch from the end of the previous one (the first from the call) to the end
    # of its plot update.
    assert result["epochs"] == [2.25, 3.25, 4.25]
    assert result["add_seconds"] == [0.25] * 3
    assert result["metrics"] == [[0.5, 0.8, 0.75]] * 3
    with pytest.raises(SystemExit, match="trained 10 of 11"):
        worker.run("fake", model, 11, framework, tmp_path / "cells.md")


def test_the_options(bench, chapter) -> None:
    args = bench.parse_args(["--backend", "torch,mxnet", "--seed-python", "torch=/x/python",
                             "--d2l-path", ""])
    assert args.backends == ["torch", "mxnet"] and args.models == chapter.MODELS
    assert args.seed_python == {"torch": Path("/x/python"), "mxnet": Path(sys.executable)}
    assert args.d2ldrop_python == args.seed_python  # the same framework release
    assert args.d2l_path is None and args.epochs == 3
    default = bench.parse_args(["--backend", "torch"])
    assert default.seed_python["torch"] == chapter.SEED_VENV / "bin" / "python"
    legacy = bench.parse_args(["--legacy-keras"])
    assert chapter.option_env(legacy, "tensorflow") == {"TF_USE_LEGACY_KERAS": "1"}
    assert chapter.option_env(legacy, "torch") == chapter.option_env(default, "tensorflow") == {}
    for bad in (["--epochs", "11"], ["--epochs", "0"], ["--backend", "jax"],
                ["--model", "resnet"], ["--seed-python", "torch"],
                ["--d2ldrop-python", "jax=/x"]):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)
