"""``d2ldrop experiment``: every experiment in its quick form, resume, statistics.

The experiments run on one backend: torch when it is selected and installed,
else the first selected backend that is (CI's per-framework tox environments
thus run them on each framework). They need the real Fashion-MNIST (the quick
form trains on 3000 of its images for 2 epochs, 2 seeds).
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import importlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support import IN_CI, SELECTED_BACKENDS

from d2ldrop import experiments
from d2ldrop._backend import available_backends
from d2ldrop.cli import main
from d2ldrop.experiments import inference, registry, results, runner
from d2ldrop.experiments.catalog import activations, common, mc_dropout, weight_decay
from d2ldrop.sweep import RunStoreError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def one_backend() -> str:
    installed = [b for b in SELECTED_BACKENDS if b in available_backends()]
    if not installed:
        reason = f"none of the selected backends {SELECTED_BACKENDS} is installed"
        if IN_CI:
            pytest.fail(f"CI must run the experiments, but {reason}")
        pytest.skip(reason)
    return "torch" if "torch" in installed else installed[0]


@pytest.fixture(scope="module")
def exp_backend(one_backend: str) -> Iterator[str]:
    """``one_backend``, with torch on one thread while these tests train.

    The quick runs are small matrix products: on a busy two-core machine torch's
    two OpenMP threads wait on each other and take 2-3x longer than one (measured:
    12 s against 27 s for the quick dropconnect). The setting is restored after.
    """
    if one_backend != "torch":
        yield one_backend
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield one_backend
    finally:
        torch.set_num_threads(before)


# -- every experiment, quick, through the command line ------------------------------------


def _check_summary(s: dict, n: int) -> None:
    assert s["n"] == n and len(s["values"]) == n
    assert s["mean"] == pytest.approx(np.mean(s["values"]))
    assert s["sd"] == pytest.approx(np.std(s["values"], ddof=1))


@pytest.mark.realdata
@pytest.mark.parametrize("name", experiments.NAMES)
def test_quick_experiment(name, exp_backend, real_data, tmp_path, capsys):
    exp = experiments.get_experiment(name)
    out = tmp_path / name
    assert main(["experiment", name, "--backend", exp_backend, "--quick", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert exp.title in printed and "2 epochs, 2 seeds" in printed
    for config in exp.configs:
        assert config.label in printed

    runs = sorted((out / "runs").glob("*.json"))
    assert len(runs) == 2 * len(exp.configs)
    table = json.loads((out / f"{name}.json").read_text())
    assert table["experiment"] == name and table["settings"]["quick"]
    assert [r["config"]["label"] for r in table["rows"]] == [c.label for c in exp.configs]
    for row in table["rows"]:
        assert row["n"] == 2 and not row["errors"]
        test_acc = row["metrics"]["test_acc"]
        _check_summary(test_acc, 2)
        assert 0.1 < test_acc["mean"] <= 1.0  # above chance after 24 steps
        for col in exp.columns:
            assert row["metrics"][col.key]["n"] == 2, col.key
    with open(out / f"{name}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["config"] for r in rows] == [c.label for c in exp.configs]
    assert float(rows[0]["test_acc_mean"]) == pytest.approx(
        table["rows"][0]["metrics"]["test_acc"]["mean"])
    assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC

    if exp.baseline:
        base = [r for r in table["rows"] if r["config"]["label"] == exp.baseline][0]
        assert base["vs_baseline"] == {}
        other = [r for r in table["rows"] if r is not base][0]
        key = exp.compare[0]
        d = other["vs_baseline"][key]
        assert d["mean"] == pytest.approx(other["metrics"][key]["mean"]
                                          - base["metrics"][key]["mean"])
    _check_specific(name, table, out)


def _check_specific(name: str, table: dict, out) -> None:
    rows = {r["config"]["label"]: r for r in table["rows"]}
    if name == "dropout-grid":
        assert "p1=0.5 p2=0.2" in rows and "p1=0.2 p2=0.5" in rows  # swapped and chapter's
        assert table["analysis"]["swapped_minus_chapter"]["n"] == 2
    elif name == "activations":
        run = next(r["result"] for r in _run_files(out / "runs") if r["spec"]["dropout1"] > 0)
        curve = run["curves"]["h2_zeros_train"]
        assert len(curve) == 3  # epochs 0, 1, 2
        eval_zeros = run["curves"]["h2_zeros_eval"]
        # In training mode dropout zeroes about half of layer 2 on top of the ReLU's zeros.
        assert all(t > e for t, e in zip(curve, eval_zeros))
    elif name == "test-time":
        for row in rows.values():
            assert 0.0 <= row["metrics"]["test_acc_on"]["mean"] <= 1.0
        assert set(table["analysis"]) == set(rows)
    elif name == "weight-decay":
        inter = table["analysis"]["test_acc"]["interaction"]
        v = {k: r["metrics"]["test_acc"]["values"] for k, r in rows.items()}
        labels = [c.label for c in (common.NONE, common.DROPOUT, weight_decay.WD,
                                    weight_decay.BOTH)]
        n, d, w, b = (np.array(v[k]) for k in labels)
        assert inter["values"] == pytest.approx(list(b - d - w + n))
    elif name == "mc-dropout":
        m = rows[common.DROPOUT.label]["metrics"]
        assert 0.0 <= m["auc"]["mean"] <= 1.0
        assert m["spread_correct"]["mean"] > 0 and m["spread_wrong"]["mean"] > 0
        assert set(table["analysis"]["per_seed"]) == {"0", "1"}


# -- resume and reproducibility --------------------------------------------------------------


def _run_files(runs: Path) -> list[dict]:
    """The saved runs of a store, each with its path under "path"."""
    return [{**json.loads(p.read_text()), "path": p} for p in sorted(runs.glob("*.json"))]


@pytest.mark.realdata
def test_rerun_skips_finished_runs_and_refuses_changed_ones(exp_backend, real_data, tmp_path):
    def run(**kw):
        return experiments.run("mc-dropout", backend=exp_backend, out=tmp_path, quick=True,
                               data=real_data, **kw)

    first = run()
    table = (tmp_path / "mc-dropout.json").read_text()
    assert (first.ran, first.skipped) == (2, 0)
    again = run()
    assert (again.ran, again.skipped) == (0, 2)
    assert (tmp_path / "mc-dropout.json").read_text() == table

    # A deleted run is trained again, to the same numbers (same seed).
    (path,) = [r["path"] for r in _run_files(tmp_path / "runs") if r["spec"]["seed"] == 1]
    saved = json.loads(path.read_text())
    path.unlink()
    redo = run()
    assert (redo.ran, redo.skipped) == (1, 1)
    assert json.loads(path.read_text())["result"] == saved["result"]
    assert (tmp_path / "mc-dropout.json").read_text() == table

    # A file holding a run with another configuration is neither reused nor replaced.
    edited = {**saved, "spec": {**saved["spec"], "epochs": 7}}
    path.write_text(json.dumps(edited))
    with pytest.raises(RunStoreError, match="differs in: epochs"):
        run()
    assert json.loads(path.read_text()) == edited
    path.write_text(json.dumps(saved))
    # Other settings (another seed range) are other runs.
    assert run(seed=1).ran == 1  # seeds 1, 2: seed 1 is reused


@pytest.mark.realdata
def test_other_epochs_in_the_same_out_keep_the_finished_runs(exp_backend, real_data, tmp_path,
                                                             capsys):
    """Issue 17, defect 2: runs with other --epochs (or --quick) are other runs: the
    finished ones stay as they are, and running the first command again reuses them all."""
    def experiment(*more: str) -> str:
        assert main(["experiment", "epochs", "-b", exp_backend, "--quick", "--out",
                     str(tmp_path), "-q", *more]) == 0
        return capsys.readouterr().out

    experiment("--epochs", "1")
    before = {p.name: p.read_text() for p in (tmp_path / "runs").glob("*.json")}
    assert len(before) == 4
    experiment("--epochs", "2")
    after = {p.name: p.read_text() for p in (tmp_path / "runs").glob("*.json")}
    assert len(after) == 8 and all(after[name] == text for name, text in before.items())
    assert "0 run(s) trained, 4 reused" in experiment("--epochs", "1")


@pytest.mark.realdata
def test_interrupted_experiment_continues(exp_backend, real_data, tmp_path, monkeypatch, capsys):
    args = ["experiment", "epochs", "-b", exp_backend, "--quick", "--out", str(tmp_path / "a"),
            "-q"]
    original = runner.train_and_evaluate
    calls = []

    def interrupt_second(ctx, *a, **kw):
        calls.append(ctx.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(ctx, *a, **kw)

    monkeypatch.setattr(runner, "train_and_evaluate", interrupt_second)
    assert main(args) == 130
    assert "run the same command again" in capsys.readouterr().err
    assert len(list((tmp_path / "a" / "runs").glob("*.json"))) == 1
    assert not (tmp_path / "a" / "epochs.json").exists()

    monkeypatch.setattr(runner, "train_and_evaluate", original)
    assert main(args) == 0
    assert "3 run(s) trained, 1 reused" in capsys.readouterr().out
    # The same numbers as an uninterrupted run.
    args[args.index(str(tmp_path / "a"))] = str(tmp_path / "b")
    assert main(args) == 0
    a, b = (json.loads((tmp_path / d / "epochs.json").read_text()) for d in ("a", "b"))
    assert a == b


@pytest.mark.realdata
def test_diverged_runs_are_saved_and_left_out(exp_backend, real_data, tmp_path):
    exp = dataclasses.replace(experiments.get_experiment("dropconnect"),
                              configs=(common.NONE,), baseline=None, analyse=None)
    settings = experiments.make_settings(exp, exp_backend, quick=True, epochs=1)
    settings = dataclasses.replace(settings, lr=1e8)
    result = experiments.run_experiment(exp, settings, tmp_path, data=real_data)
    row = result.rows[0]
    assert row.n == 0 and len(row.errors) == 2
    assert "training diverged at epoch 1" in row.errors[0]
    assert math.isnan(row.metrics["test_acc"].mean)
    assert "(+2 diverged)" in experiments.report(result)
    assert experiments.run_experiment(exp, settings, tmp_path, data=real_data).ran == 0


def test_one_seed_gives_no_interval_and_no_verdict():
    """Issue 17, defect 7: with one seed no interval exists; the table says so and the
    interaction is not called "not additive" (nor additive)."""
    exp = experiments.get_experiment("weight-decay")
    settings = experiments.Settings(backend="any", epochs=1, seeds=(0,))
    values = {common.NONE: 0.80, common.DROPOUT: 0.82, weight_decay.WD: 0.81,
              weight_decay.BOTH: 0.83}  # an interaction of +0.0000
    runs = {(c.key, 0): {"metrics": {k: v for k in ("test_acc", "test_acc_last3",
                                                     "train_eval_acc")} | {"gap": 0.01}}
            for c, v in values.items()}
    result = experiments.ExperimentResult(exp, settings, {}, runs)
    results.aggregate(result)
    text = experiments.report(result)
    assert "not additive" not in text and "additive within" not in text
    assert "additivity undecided" in text
    assert "interaction (both - dropout - weight decay + neither) " in text
    assert "+0.0200 (n=1: no interval)" in text  # dropout - none, in the table
    assert inference.summarize([0.1]).excludes_zero is False


# -- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--seeds", "0"], ["--seed", "-1"],
                                 ["--backend", "all"], ["--backend", "nosuch"], ["--jobs", "0"],
                                 ["--threads-per-run", "0"], ["--address", "auto"],
                                 ["--executor", "dask"],
                                 ["--executor", "ray", "--address", "auto", "--jobs", "2"]])
def test_bad_arguments_exit_2(bad, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["experiment", "epochs", "--out", str(tmp_path), *bad])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as info:
        main(["experiment", "epochs", "--out", str(blocker / "sub")])
    assert info.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_unknown_experiment():
    with pytest.raises(ValueError, match="Known: dropout-grid"):
        experiments.get_experiment("dropout")
    with pytest.raises(SystemExit):
        main(["experiment", "dropout"])


def test_registry():
    assert experiments.NAMES == ("dropout-grid", "epochs", "activations", "test-time",
                                 "weight-decay", "dropconnect", "noise", "mc-dropout")
    for exp in experiments.EXPERIMENTS.values():
        keys = [c.key for c in exp.configs]
        assert len(set(keys)) == len(keys), exp.name  # one run file per config and seed
        assert all(k.replace("=", "").replace(".", "").replace("-", "").replace("_", "")
                   .replace("+", "").isalnum() for k in keys)
        if exp.baseline:
            exp.config(exp.baseline)
    noises = {c.noise for c in experiments.EXPERIMENTS["noise"].configs}
    assert {"dropout", "gaussian-mult", "gaussian-add"} <= noises
    assert {c.noise for c in experiments.EXPERIMENTS["dropconnect"].configs} >= {"dropconnect"}


# -- package structure -----------------------------------------------------------------------

PACKAGE = Path(experiments.__file__).parent


def _package_modules() -> dict[str, Path]:
    """Dotted name -> file of every module of d2ldrop.experiments."""
    root = PACKAGE.parent.parent
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports anywhere (in functions and
    ``if TYPE_CHECKING:`` blocks too); ``from pkg import sub`` counts pkg and sub."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found |= {base, *(f"{base}.{a.name}" for a in node.names)}
    return found & set(modules)


def test_every_experiment_module_is_registered():
    catalog = PACKAGE / "catalog"
    names = {p.stem for p in catalog.glob("*.py")} - {"__init__", "common"}
    assert len(names) == len(experiments.NAMES)
    for stem in names:
        module = importlib.import_module(f"d2ldrop.experiments.catalog.{stem}")
        assert experiments.EXPERIMENTS[module.EXPERIMENT.name] is module.EXPERIMENT
    assert {m.__name__.rpartition(".")[2] for m in registry.MODULES} == names


def test_no_import_cycle_and_plots_knows_no_experiment():
    modules = _package_modules()
    graph = {name: _imports(path, name, modules) - {name} for name, path in modules.items()}

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    for name in graph:
        assert name not in reachable(name), f"import cycle through {name}"
    below_plots = reachable("d2ldrop.experiments.plots")
    experiment_modules = {n for n in modules if n.startswith("d2ldrop.experiments.catalog")}
    assert experiment_modules and not below_plots & experiment_modules, below_plots
    assert not below_plots & {"d2ldrop.experiments", "d2ldrop.experiments.registry",
                              "d2ldrop.experiments.runner"}, below_plots


# -- statistics ------------------------------------------------------------------------------


@pytest.mark.parametrize("df, expected", [(1, 12.706204736), (2, 4.302652730), (4, 2.776445105),
                                          (9, 2.262157163), (30, 2.042272456),
                                          (1e7, 1.959964222)])  # z + (z^3 + z) / (4 df)
def test_t_quantile_matches_tables(df, expected):
    assert inference.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-8)


def test_t_p_value():
    assert inference.t_two_sided_p(2.0, 10) == pytest.approx(0.0733880348, abs=1e-9)
    assert inference.t_two_sided_p(0.0, 3) == pytest.approx(1.0)


def test_summarize_and_paired():
    s = inference.summarize([0.85, 0.86, 0.87, math.nan])
    assert (s.n, s.mean, s.sd) == (3, pytest.approx(0.86), pytest.approx(0.01))
    assert s.ci95 == pytest.approx(4.302652730 * 0.01 / math.sqrt(3))
    one = inference.summarize([0.5])
    assert one.n == 1 and math.isnan(one.sd) and not one.excludes_zero
    d = inference.paired([1.0, 2.0, 3.0], [0.5, 1.5, 2.4])
    assert d.mean == pytest.approx(0.5333333) and d.excludes_zero
    assert inference.summarize([]).n == 0


def test_mann_whitney_and_welch():
    auc, z, p = inference.mann_whitney(np.array([1, 2, 3, 4.0]), np.array([1, 2, 2, 0.5]))
    assert auc == pytest.approx(12.5 / 16)  # pairs x > y, ties counted half
    assert 0 < p < 1 and z > 0
    t, df, p = inference.welch(np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8, 10]))
    assert t == pytest.approx(-3.5 / math.sqrt(5 / 12 + 2))  # var 5/3 over 4, 10 over 5
    assert df == pytest.approx((5 / 12 + 2) ** 2 / ((5 / 12) ** 2 / 3 + 2**2 / 4))
    assert p == pytest.approx(inference.t_two_sided_p(t, df))


def test_mc_summary_spread_separates_errors():
    """Synthetic MC probabilities: wrong predictions waver across masks, right ones don't."""
    rng = np.random.default_rng(0)
    samples, n = 20, 400
    labels = rng.integers(0, 10, n)
    wrong = np.arange(n) < 100
    probs = np.full((samples, n, 10), 0.02)
    target = np.where(wrong, (labels + 1) % 10, labels)
    top = np.where(wrong[None, :], rng.uniform(0.2, 0.8, (samples, n)),
                   rng.uniform(0.78, 0.82, (samples, n)))
    probs[:, np.arange(n), target] = top
    probs /= probs.sum(axis=2, keepdims=True)
    mc = mc_dropout.mc_summary(probs, labels)
    m = mc["metrics"]
    assert m["mc_acc"] == pytest.approx(0.75) and m["n_wrong"] == 100
    assert m["spread_wrong"] > 3 * m["spread_correct"] and m["auc"] > 0.95
    assert len(mc["extra"]["acc_vs_samples"]) == samples
    assert sum(mc["extra"]["hist_wrong"]) == 100


def test_activation_stats():
    H = np.array([[0.0, 1.0], [0.0, 3.0]])
    s = activations.activation_stats(H)
    assert s == {"mean": 1.0, "var": pytest.approx(1.0), "zeros": 0.5}
