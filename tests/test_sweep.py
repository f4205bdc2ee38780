"""Sweeps: run specs and their keys, the run store, executors, threads, shared runs.

The executor tests train a small experiment on synthetic data (2000 training
and 500 test images, two epochs, two seeds) in this process, in two spawned
worker processes, on a local Ray cluster and on a plain ProcessPoolExecutor,
and require the same numbers from each, given the same threads per run.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from support import IN_CI, SELECTED_BACKENDS, require_backend, small_data

from d2ldrop import experiments
from d2ldrop.backends import threads
from d2ldrop.backends.registry import BACKENDS
from d2ldrop.data import FashionMNIST
from d2ldrop.errors import UsageError
from d2ldrop.experiments import plan, reproduction
from d2ldrop.experiments.catalog import common
from d2ldrop.experiments.inference import t_quantile, welch_interval
from d2ldrop.experiments.spec import epochs_and_seeds
from d2ldrop.sweep import (
    Counts,
    LocalPool,
    RunSpec,
    RunStore,
    RunStoreError,
    Task,
    open_executor,
    run_tasks,
)
from d2ldrop.sweep.executors import check_choice, default_threads

# -- specs and the store ---------------------------------------------------------------------


def _spec(**kw) -> RunSpec:
    return RunSpec(**{"procedure": "train", "backend": "torch", "seed": 0, "epochs": 1, **kw})


def test_spec_key_is_its_content():
    a = _spec(weight_decay=0, options={"b": 2, "a": [1, 2]})
    b = _spec(weight_decay=0.0, options=(("a", (1, 2)), ("b", 2)))
    assert a.key == b.key and a == b and len(a.key) == 16
    assert pickle.loads(pickle.dumps(a)) == a
    assert RunSpec.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    for other in (_spec(seed=1), _spec(epochs=2), _spec(dropout1=0.2), _spec(model="concise"),
                  _spec(data="abc"), _spec(procedure="mc-dropout"), _spec(train_size=3000),
                  _spec(options={"samples": 10}), _spec(backend="mxnet")):
        assert other.key != a.key


def test_store_saves_loads_and_refuses_what_does_not_match(tmp_path):
    store = RunStore(tmp_path / "runs")
    spec = _spec()
    assert store.load(spec) is None and store.keys() == []
    path = store.save(spec, {"metrics": {"test_acc": math.nan}}, seconds=1.5, threads=2)
    assert path.name == f"{spec.key}.json"
    record = store.load(spec)
    assert record["result"] == {"metrics": {"test_acc": None}}  # strict JSON
    assert (record["seconds"], record["threads"]) == (1.5, 2)
    (tmp_path / "runs" / f".{spec.key}.123.tmp.json").write_text("{")  # an unfinished write
    assert store.keys() == [spec.key]

    edited = {**record, "spec": {**record["spec"], "epochs": 7}}
    path.write_text(json.dumps(edited))
    with pytest.raises(RunStoreError, match="differs in: epochs"):
        store.load(spec)
    path.write_text('{"key": "')
    with pytest.raises(RunStoreError, match="cannot be read"):
        store.load(spec)
    assert path.read_text() == '{"key": "'  # left as it is


# -- threads ----------------------------------------------------------------------------------


def test_thread_environment_for_every_backend():
    env = threads.environment(3)
    for key in threads.COMMON:
        assert env[key] == "3"
    assert env["TF_NUM_INTRAOP_THREADS"] == env["MXNET_OMP_MAX_THREADS"] == "3"
    assert env["MXNET_ENGINE_TYPE"] == "NaiveEngine"  # MXNet's team is the calling thread's
    assert env["FLAGS_new_executor_serial_run"] == "1"  # so are Paddle's programs' operators
    assert env["FLAGS_eager_delete_tensor_gb"] == "-1"  # ... with no collector thread
    assert all(threads.backend_threads(b) is not None for b in BACKENDS)
    with pytest.raises(ValueError, match="thread count"):
        threads.environment(0)


def test_pinned_restores_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with threads.pinned(1):
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "1"
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ
    with threads.pinned(None):
        assert os.environ["OMP_NUM_THREADS"] == "7"


def test_pinned_sets_and_gives_back_an_imported_framework(backend):
    import d2ldrop

    d2ldrop.backends.get_adapter(backend)
    before = threads.current(backend)
    with threads.pinned(1):
        now = threads.current(backend)
        assert now in (1, None)  # None: a framework that started before it could be pinned
    assert threads.current(backend) == before


# -- executors: the choice -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"jobs": 0}, "jobs"), ({"threads_per_run": 0}, "threads_per_run"),
    ({"executor": "dask"}, "Unknown executor"), ({"address": "auto"}, "only for the ray"),
    ({"executor": "ray", "address": "auto", "jobs": 2}, "cluster at address decides"),
    ({"executor": ThreadPoolExecutor(1), "jobs": 2}, "decides for itself"),
])
def test_bad_executor_choices(kwargs, match):
    with pytest.raises(UsageError, match=match):
        check_choice(**kwargs)


def test_default_is_this_process_and_jobs_share_the_cores():
    with open_executor() as (pool, n):
        assert (pool, n) == (None, None)
    with open_executor(jobs=1, threads_per_run=2) as (pool, n):
        assert (pool, n) == (None, 2)
    with open_executor(jobs=2) as (pool, n):
        assert isinstance(pool, LocalPool) and n == default_threads(2) >= 1
    assert default_threads(10**6) == 1


# -- one small experiment, every executor ---------------------------------------------------


@pytest.fixture(scope="module", name="small_data")
def small_data_fixture() -> FashionMNIST:
    return small_data(2000, 500)


@pytest.fixture(scope="module")
def sweep_backend() -> str:
    """torch when selected (its workers start fastest), else the first selected backend."""
    name = "torch" if "torch" in SELECTED_BACKENDS else SELECTED_BACKENDS[0]
    require_backend(name)
    return name


def _small(backend: str, name: str = "dropconnect") -> tuple:
    exp = experiments.get_experiment(name)
    settings = experiments.Settings(backend=backend, epochs=2, seeds=(0, 1), quick=True,
                                    train_size=2000, test_size=500)
    return exp, settings


def _numbers(store_dir) -> dict[str, dict]:
    out = {}
    for p in sorted(store_dir.glob("*.json")):
        record = json.loads(p.read_text())
        out[p.stem] = record["result"]
        assert record["threads_pinned"] == 1 and record["threads"] in (1, None)
        assert record["thread_setting"]["threads"] == 1  # what the worker applied
    return out


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray cluster of 2 CPUs for this module (RayExecutor then joins it)."""
    try:
        import ray
    except ImportError:
        if IN_CI:
            pytest.fail('CI must test the Ray executor: pip install "d2ldrop[ray]"')
        pytest.skip('Ray not installed (pip install "d2ldrop[ray]")')
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()


def test_same_numbers_in_process_with_jobs_and_on_ray(sweep_backend, small_data, tmp_path,
                                                      ray_session):
    exp, settings = _small(sweep_backend)
    seen = {}
    # Any Executor, here a plain spawned process pool: it gets the data with every
    # run (not once per worker) and is left running (it is the caller's).
    plain = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    try:
        for mode, kwargs in (("in-process", {}), ("jobs", {"jobs": 2}),
                             ("ray", {"executor": "ray"}), ("an Executor", {"executor": plain})):
            result = experiments.run_experiment(exp, settings, tmp_path / mode,
                                                data=small_data, threads_per_run=1, **kwargs)
            assert result.ran == 6 and all(row.n == 2 for row in result.rows), mode
            seen[mode] = _numbers(tmp_path / mode / "runs")
            assert (tmp_path / mode / f"{exp.name}.json").is_file()
        assert plain.submit(abs, -1).result() == 1
    finally:
        plain.shutdown()
    first = seen.pop("in-process")
    assert len(first) == 6
    for mode, numbers in seen.items():
        assert numbers == first, mode
    # The runs learn (chance is 0.1) and differ between seeds.
    accs = sorted(r["metrics"]["test_acc"] for r in first.values())
    assert accs[0] > 0.1 and accs[-1] > 0.3 and len(set(accs)) > 1


# -- runs shared between experiments -------------------------------------------------------


def test_a_run_two_experiments_need_is_computed_once(sweep_backend, small_data, tmp_path):
    (dc, settings), (noise, _) = _small(sweep_backend), _small(sweep_backend, "noise")
    counts = Counts()
    shown = []
    results = experiments.run_experiments(
        [(dc, settings, tmp_path / "dc"), (noise, settings, tmp_path / "noise")],
        store=tmp_path / "runs", data=small_data, counts=counts, on_result=shown.append)
    assert (counts.requested, counts.distinct, counts.computed) == (14, 10, 10)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 10
    a, b = results
    assert (a.ran, a.skipped, b.ran, b.skipped, b.shared) == (6, 0, 4, 4, 4)
    assert [r.experiment.name for r in shown] == ["dropconnect", "noise"]
    for label in (common.NONE.label, common.DROPOUT.label):
        assert a.row(label).metrics["test_acc"].values == b.row(label).metrics["test_acc"].values
    again = Counts()
    experiments.run_experiments([(noise, settings, tmp_path / "noise")],
                                store=tmp_path / "runs", data=small_data, counts=again)
    assert (again.stored, again.computed) == (8, 0)


def test_experiment_all_shares_about_a_quarter_of_its_runs(small_data):
    """What `d2ldrop experiment all` asks for, planned without training."""
    def share(quick: bool) -> tuple[int, int]:
        items = []
        for exp in experiments.EXPERIMENTS.values():
            epochs, seeds = epochs_and_seeds(exp, quick=quick)
            s = experiments.Settings(backend="torch", epochs=epochs, seeds=seeds, quick=quick,
                                     train_size=2000 if quick else None,
                                     test_size=500 if quick else None)
            items.append((exp, s, "unused"))
        tasks, _ = plan.plan(items, small_data)
        return len(tasks), len({t.spec.key for t in tasks})

    # Full form: 81 runs, 63 distinct (the 10-epoch none / dropout models of
    # weight-decay, dropconnect and noise are dropout-grid's). Quick form: the
    # epochs experiment's two models at 2 epochs are shared as well.
    assert share(quick=False) == (81, 63)
    assert share(quick=True) == (54, 38)


def test_an_interrupted_sweep_keeps_what_finished(sweep_backend, small_data, tmp_path):
    calls = []

    def stop_second(spec, data):
        calls.append(spec.seed)
        if calls == [0, 1]:
            raise KeyboardInterrupt
        return {"metrics": {"test_acc": 0.5}}

    digest = plan.subset_digest(small_data, None, None)
    tasks = [Task(_spec(backend=sweep_backend, seed=s, data=digest), stop_second)
             for s in (0, 1, 2)]
    store = RunStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, store, small_data)
    assert store.keys() == [tasks[0].spec.key]
    counts = Counts()
    run_tasks(tasks + tasks[:1], store, small_data, counts=counts)
    assert calls == [0, 1, 1, 2]
    assert (counts.requested, counts.distinct, counts.stored, counts.computed) == (4, 3, 1, 2)


# -- the accuracy bar over seeds -------------------------------------------------------------


def _rows(means: dict[tuple[str, str], float], seeds: int = 10,
          override: dict | None = None) -> list[dict]:
    """Ten seeds of runs around the given means; ``override``: (backend, model, seed) -> fields."""
    override = override or {}
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, seeds)
    rows = []
    for (backend, model), mean in means.items():
        for s in range(seeds):
            row = {"backend": backend, "model": model, "seed": s, "train_loss": 0.35,
                   "train_acc": 0.87, "test_acc": float(mean + noise[s] - noise.mean()),
                   "error": None}
            row.update(override.get((backend, model, s), {}))
            row["book_checks"] = reproduction.book_checks(row)
            rows.append(row)
    return rows


GOOD = {("a", "scratch"): 0.853, ("b", "scratch"): 0.855, ("a", "concise"): 0.851,
        ("b", "concise"): 0.852}


def test_accuracy_bar_met():
    bar = reproduction.accuracy_bar(_rows(GOOD))
    assert bar.ok and len(bar.pairs) == 2 and not any(p.apart for p in bar.pairs)
    assert "the bar is met" in reproduction.bar_report(bar)


@pytest.mark.parametrize("change, problem", [
    ({"means": {**GOOD, ("b", "concise"): 0.835}}, "mean test accuracy 0.8350 < 0.84"),
    ({"means": {**GOOD, ("b", "scratch"): 0.875}}, "excludes 0"),
    ({"override": {("a", "scratch", 3): {"train_loss": 0.51}}}, "seed(s) 3 fail"),
    ({"override": {("a", "scratch", 4): {"test_acc": math.nan, "error": "diverged"}}},
     "seed(s) 4 fail"),
    ({"seeds": 1}, "needs at least 2"),
])
def test_accuracy_bar_not_met(change, problem):
    rows = _rows(change.get("means", GOOD), change.get("seeds", 10), change.get("override"))
    bar = reproduction.accuracy_bar(rows)
    assert not bar.ok
    assert any(problem in p for p in bar.problems()), bar.problems()
    assert "the bar is not met" in reproduction.bar_report(bar)


def test_welch_interval():
    x, y = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    diff, low, high, df = welch_interval(x, y, 0.99)
    se = math.sqrt(5 / 12 + 2)
    assert diff == pytest.approx(-3.5)
    assert df == pytest.approx((5 / 12 + 2) ** 2 / ((5 / 12) ** 2 / 3 + 2**2 / 4))
    assert high - diff == pytest.approx(t_quantile(0.995, df) * se)
    assert diff - low == pytest.approx(high - diff)
    assert all(math.isnan(v) for v in welch_interval([1.0], y)[1:])
    assert welch_interval([1.0, 1.0], [1.0, 1.0])[1:3] == (0.0, 0.0)


def test_an_unreachable_ray_address_is_refused_at_once():
    from d2ldrop.sweep.ray_cluster import _check_reachable

    with pytest.raises(UsageError, match="no Ray cluster answers at '127.0.0.1:1'"):
        _check_reachable("127.0.0.1:1", timeout=2.0)
    _check_reachable("auto")  # left to ray.init
    _check_reachable(None)
