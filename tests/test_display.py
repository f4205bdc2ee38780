"""Notebook display without a browser: live curves, progress lines, figures, HTML tables.

A fake kernel (``kernel.in_notebook`` and ``kernel.show`` replaced) records what
would be displayed; outside a kernel nothing is, and IPython is not imported.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from support import run_python, synthetic

from d2ldrop.data import Batches
from d2ldrop.display import InlineFigure, kernel
from d2ldrop.display.html import Cell, table
from d2ldrop.display.progress import Line
from d2ldrop.history import EpochRecord, History
from d2ldrop.models import build_mlp
from d2ldrop.training import CrossEntropyLoss, sgd, train_ch3

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


class FakeHandle:
    """What IPython's ``display(obj, display_id=True)`` returns: every object shown."""

    def __init__(self, obj: object) -> None:
        self.objects = [obj]

    def update(self, obj: object) -> None:
        self.objects.append(obj)


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> list[FakeHandle]:
    """A fake kernel: each output displayed is a FakeHandle in the returned list."""
    outputs: list[FakeHandle] = []

    def show(obj: object) -> FakeHandle:
        outputs.append(FakeHandle(obj))
        return outputs[-1]

    monkeypatch.setattr(kernel, "in_notebook", lambda: True)
    monkeypatch.setattr(kernel, "show", show)
    return outputs


def figures(outputs: list[FakeHandle]) -> list[FakeHandle]:
    return [h for h in outputs if isinstance(h.objects[0], InlineFigure)]


def lines(outputs: list[FakeHandle]) -> list[FakeHandle]:
    return [h for h in outputs if isinstance(h.objects[0], Line)]


def small_iters(backend: str) -> tuple[Batches, Batches]:
    x, y = synthetic(256, seed=1)
    xt, yt = synthetic(128, seed=2)
    return (Batches(x, y, 64, shuffle=True, seed=0, backend=backend),
            Batches(xt, yt, 64, shuffle=False, backend=backend))


def history(backend: str = "b<1>", epochs: int = 2) -> History:
    return History(backend, "scratch", config={"lr": 0.5}, epochs=[
        EpochRecord(e, 1.0 / e, 0.5 + e / 10, 0.6 + e / 20, 1.0, 0.1)
        for e in range(1, epochs + 1)])


# -- live curves and progress under a fake kernel -----------------------------------------


def test_train_ch3_redraws_one_figure_per_epoch_in_a_notebook(backend, notebook):
    net = build_mlp("scratch", seed=0, backend=backend)
    seen = []
    h = train_ch3(net, *small_iters(backend), CrossEntropyLoss(), 3, sgd(0.5),
                  on_epoch=lambda hist: seen.append(len(figures(notebook)[0].objects)))
    (fig,) = figures(notebook)  # one output for the run ...
    assert len(fig.objects) == 3  # ... displayed after epoch 1, replaced after 2 and 3
    assert seen == [1, 2, 3]  # each before on_epoch: the figure is never behind
    for obj in fig.objects:
        assert obj.png().startswith(PNG)
    ax = fig.objects[-1].figure.axes
    assert [a.get_title() for a in ax] == ["train loss", "train acc", "test acc"]
    assert [len(line.get_xdata()) for line in ax[0].lines] == [3]
    assert ax[0].get_xlim()[1] >= 3  # the x axis spans every epoch from the start
    # One progress line for the whole run, ending on the last epoch's last batch.
    (line,) = lines(notebook)
    assert "epoch 1/3" in line.objects[0].text and "epoch 3/3" in line.objects[-1].text
    assert line.objects[-1].fraction == 1.0
    assert "<progress" in line.objects[-1]._repr_html_()
    assert len(h.epochs) == 3


def test_live_false_and_a_quiet_run_show_no_figure(backend, notebook):
    net = build_mlp("scratch", seed=0, backend=backend)
    train_ch3(net, *small_iters(backend), CrossEntropyLoss(), 1, sgd(0.5), live=False)
    assert not figures(notebook) and len(lines(notebook)) == 1
    notebook.clear()
    # progress=False (each run of an experiment): no bar, and no figure unless asked.
    train_ch3(net, *small_iters(backend), CrossEntropyLoss(), 1, sgd(0.5), progress=False)
    assert notebook == []
    train_ch3(net, *small_iters(backend), CrossEntropyLoss(), 2, sgd(0.5), progress=False,
              live=True)
    assert [len(h.objects) for h in figures(notebook)] == [2] and not lines(notebook)


def test_lockstep_redraws_its_figure_after_every_epoch(backend, notebook):
    from types import SimpleNamespace

    from d2ldrop.lockstep import REFERENCE, run_lockstep

    x, y = synthetic(192, 1)
    xt, yt = synthetic(64, 2)
    data = SimpleNamespace(train_images=x, train_labels=y, test_images=xt, test_labels=yt)
    result = run_lockstep("scratch", [backend], data, num_epochs=2, batch_size=32, seed=0)
    (fig,) = figures(notebook)
    assert len(fig.objects) == 2
    axes = fig.objects[-1].figure.axes
    assert len(axes) == 4 and axes[3].get_title() == "scratch: largest |Δ batch loss|"
    assert {t.get_text() for t in axes[2].get_legend().get_texts()} == {backend, REFERENCE}
    html = result._repr_html_()
    assert "agree" in html and "<table" in html and "vs numpy: Δ loss" in html
    assert result.figure().png().startswith(PNG)


def test_progress_in_a_notebook_is_one_output_updated(notebook):
    import io

    from d2ldrop.display.progress import Progress

    with Progress("download", 10, fmt=lambda n: f"{n} MiB") as bar:
        for done in range(1, 11):
            bar.update(done)
        bar.restart("next")
        bar.update(10)
    (line,) = notebook
    assert line.objects[0].text.startswith("download 1 MiB/10 MiB")
    assert line.objects[-1].text == "next 10 MiB/10 MiB"
    notebook.clear()
    Progress("quiet", 10, enabled=False).update(10)
    assert notebook == []

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()  # a terminal stream keeps the terminal's bar
    with Progress("t", 2, stream=term) as bar:
        bar.update(2)
    assert notebook == [] and term.getvalue().startswith("\rt [")


def test_progress_line_is_escaped():
    line = Line("<script>x</script> & more", 0.5)
    assert repr(line) == "<script>x</script> & more"
    assert "<script>" not in line._repr_html_() and "&lt;script&gt;" in line._repr_html_()
    assert 'value="0.5000"' in line._repr_html_()


# -- outside a kernel -----------------------------------------------------------------------


def test_in_notebook_asks_the_running_shell(monkeypatch):
    fake = types.ModuleType("IPython")
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert kernel.in_notebook() is False  # no get_ipython at all
    fake.get_ipython = lambda: None  # IPython loaded by a library, no shell running
    assert kernel.in_notebook() is False
    fake.get_ipython = lambda: types.SimpleNamespace()  # a terminal IPython: no kernel
    assert kernel.in_notebook() is False
    fake.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    assert kernel.in_notebook() is True
    monkeypatch.delitem(sys.modules, "IPython")
    assert kernel.in_notebook() is False


_PLAIN_RUN = """
import sys
{block}
import d2ldrop
from d2ldrop.data import Batches
from d2ldrop.display import kernel
sys.path.insert(0, {tests!r})
from support import synthetic

x, y = synthetic(128, 1)
net = d2ldrop.build_mlp("scratch", seed=0, backend={backend!r})
train = Batches(x, y, 64, shuffle=True, seed=0, backend={backend!r})
test = Batches(x, y, 64, shuffle=False, backend={backend!r})
before = sorted(m for m in sys.modules if m.split(".")[0] == "IPython")
h = d2ldrop.train_ch3(net, train, test, d2ldrop.CrossEntropyLoss(), 2, d2ldrop.sgd(0.5))
after = sorted(m for m in sys.modules if m.split(".")[0] == "IPython")
print(json.dumps({{"epochs": len(h.epochs), "new": sorted(set(after) - set(before)),
                  "notebook": kernel.in_notebook()}}))
"""


@pytest.mark.parametrize("ipython", ["available", "blocked"])
def test_plain_python_displays_nothing_and_imports_no_ipython(backend, ipython):
    """train_ch3 in a plain process: no IPython imported by d2ldrop (a framework may
    load it for its own checks), nothing displayed, and it trains where IPython
    cannot be imported at all."""
    block = "import json" + ("\nsys.modules['IPython'] = None" if ipython == "blocked" else "")
    code = _PLAIN_RUN.format(block=block, tests=str(ROOT / "tests"), backend=backend)
    proc = run_python(code, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"epochs": 2, "new": [], "notebook": False}
    assert proc.stdout.count("\n") == 1  # no figure's text printed either


def test_importing_d2ldrop_imports_neither_ipython_nor_matplotlib():
    code = ("import sys, d2ldrop, d2ldrop.display, d2ldrop.lockstep; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('IPython', 'matplotlib')))")
    proc = run_python(code, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_show_outside_a_kernel_prints_the_text(capsys):
    """live=True outside a kernel: IPython prints each figure's text (no handle)."""
    pytest.importorskip("IPython")
    fig = history().figure()
    handle = kernel.show(fig)
    handle.update(fig)
    assert capsys.readouterr().out.count("<d2ldrop figure") == 2


# -- figures and HTML ------------------------------------------------------------------------


def test_history_figure_and_table():
    h = history()
    fig = h.figure("two <runs>")
    assert fig.png().startswith(PNG) and repr(fig) == "<d2ldrop figure: two <runs>>"
    html = h._repr_html_()
    assert "History: b&lt;1&gt;/scratch" in html and "b<1>" not in html
    assert html.count("<tr>") == 1 + 2 and "0.6500" in html and "lr 0.5" in html
    h.error = "training diverged at epoch 3"
    assert "diverged" in h._repr_html_()


def test_curves_of_several_histories(tmp_path):
    from d2ldrop import curves

    fig = curves([history("one"), history("two", 3)], "both")
    labels = [t.get_text() for t in fig.figure.axes[-1].get_legend().get_texts()]
    assert labels == ["one/scratch", "two/scratch"]
    assert fig.save(tmp_path / "c.png").read_bytes().startswith(PNG)


def test_html_table_escapes_every_cell():
    html = table(["a<b", "n"], [["<i>x</i>", "1.5"], [Cell("bad", "why & how", failed=True),
                                                       "-"]], caption="t & u")
    assert "<i>" not in html and "&lt;i&gt;x&lt;/i&gt;" in html and "a&lt;b" in html
    assert 'title="why &amp; how"' in html and "t &amp; u" in html
    assert "text-align:right" in html  # the number
    assert html.count("<tr>") == 3


def test_html_table_aligns_numbers_right_and_text_left():
    # Seen in the rendered notebook: edge-case cells such as "0 or x/(1-p)" and "0-d x"
    # start with a digit and were right-aligned as if they were numbers.
    numbers = ["0.8487", "2.1x", "0.85 ± 0.01", "+0.0072 [-0.0157, +0.0301]", "10/10", "nan",
               "0.06 0.12 0.02", "1.6e-07", "-inf"]
    texts = ["0 or x/(1-p)", "0-d x, p = 0.5", "ok ok ok", "torch", "p = 0.5", "-", ""]
    for cell in numbers + texts:
        html = table(["h"], [[cell]])
        right = '<td style="text-align:right"' in html
        assert right == (cell in numbers), cell


def test_experiment_table_and_curves_so_far(tmp_path):
    """The experiment's HTML (mean ± sd, paired Δ) and the curves of finished runs,
    on a result made of fake runs (no training)."""
    from d2ldrop.experiments import ExperimentResult, Settings, get_experiment
    from d2ldrop.experiments.plots import experiment_curves
    from d2ldrop.experiments.results import aggregate, experiment_html, with_derived

    exp = get_experiment("dropconnect")
    settings = Settings(backend="b", epochs=2, seeds=(0, 1), quick=True, train_size=3000,
                        test_size=1000)
    result = ExperimentResult(exp, settings, {}, runs={})
    for i, config in enumerate(exp.configs):
        for seed in settings.seeds:
            acc = [0.5 + 0.1 * i + 0.01 * seed, 0.6 + 0.1 * i + 0.01 * seed]
            curves = {"test_acc": acc, "gap": [0.01, 0.02], "train_loss": [1.0, 0.5]}
            metrics = {c.key: 0.6 + 0.1 * i + 0.01 * seed for c in exp.columns}
            metrics["test_acc"] = acc[-1]
            result.runs[(config.key, seed)] = with_derived({"metrics": metrics,
                                                            "curves": curves})
        if i == 0:
            partial = experiment_curves(result)
            assert len(partial.figure.axes[0].lines) == 1
    aggregate(result)
    html = experiment_html(result)
    assert exp.title in html and "3000 training / 1000 test images" in html
    assert html.count("<tr>") == 1 + len(exp.configs) and "(baseline)" in html
    assert " ± " in html and "[95% CI]" in html
    assert "Δ test acc vs dropout 0.2/0.5 [95% CI]" in html  # labels, not keys
    fig = experiment_curves(result)
    assert len(fig.figure.axes[0].lines) == len(exp.configs)
    assert fig.png().startswith(PNG)
    assert result._repr_html_() == html
    assert result.figure() is None  # nothing written yet
    result.paths = [fig.save(tmp_path / "dropconnect.png")]
    assert result.figure().png() == result.paths[0].read_bytes()


def test_comparison_and_stats_tables(backend):
    """compare's verdict, statistics and edge cases, and one row's checks, as HTML."""
    from d2ldrop.conformance import compare
    from d2ldrop.conformance.gate import comparison_html
    from d2ldrop.conformance.stats import stats_html

    result = compare([backend], ps=(0.5,), size=2**14)
    html = comparison_html(result)
    assert ("PASS: all" if result.passed else "FAIL:") in html
    assert "Statistics (a cell per p: 0.5" in html and "Edge cases" in html
    assert html.count("<table") == 2 and "fraction dropped" in html
    assert f"<th style=\"text-align:left\">{backend} scratch</th>" in html
    stats = result.stats[0]
    one = stats_html(stats)
    assert f"Dropout statistics: {backend} {stats.impl}, p = 0.5" in one
    assert one.count("<tr>") == 1 + len(stats.checks)
    assert ("PASS" if stats.passed else "FAIL") in one
    assert result._repr_html_() == html and stats._repr_html_() == one


@pytest.mark.realdata
def test_an_experiment_redraws_its_curves_after_each_run(notebook, real_data, tmp_path,
                                                         selected_backends):
    """In a notebook an experiment is one figure, redrawn after each of its runs, and
    its per-run lines are one updating output; live=False shows no figure."""
    import dataclasses

    from d2ldrop import experiments
    from d2ldrop.experiments.catalog import common

    exp = dataclasses.replace(experiments.get_experiment("dropconnect"),
                              configs=(common.NONE, common.DROPOUT), baseline=None,
                              analyse=None)
    settings = experiments.make_settings(exp, selected_backends[0], quick=True, epochs=1)
    experiments.run_experiment(exp, settings, tmp_path / "a", data=real_data)
    shown = figures(notebook)
    runs = len(exp.configs) * len(settings.seeds)
    assert len(shown) == 1 and len(shown[0].objects) == runs
    assert len(lines(notebook)) == 1
    notebook.clear()
    experiments.run_experiment(exp, settings, tmp_path / "b", data=real_data, live=False)
    assert figures(notebook) == []
