"""Threads: no side effect at import, d2ldrop's choice for its own runs, the user's win.

- ``import d2ldrop`` (and the pytest plugin in a pytest run) changes no
  environment variable, and a backend loaded by a user's program gets its
  OpenMP runtime's own defaults (nothing of d2ldrop's reaches libgomp).
- The choice (:mod:`d2ldrop.backends.threads`): the policy of each backend from
  the cores free at start, merged for a process that loads several; the user's
  variables kept; the CLI's setting recorded in summary.json and the environment
  given back afterwards.
- ``scripts/bench_train.py``: the FLOP count of an epoch, and busy processes
  that never outlive the benchmark.

The speed itself is measured by ``python scripts/bench_train.py --settings``, not here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import SELECTED_BACKENDS, require_backend, synthetic

from d2ldrop.backends import threads
from d2ldrop.backends.registry import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
#: Every variable d2ldrop's thread setting may write.
THREAD_VARIABLES = sorted({k for g in threads.variable_groups(BACKENDS) for k in g})


def _clean_env() -> dict[str, str]:
    """This process's environment without any thread variable (conftest may have set them)."""
    return {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}


# -- no side effect ---------------------------------------------------------------
CHANGED = """
import json, os, sys
before = dict(os.environ)
import d2ldrop
for backend in sys.argv[1:]:
    d2ldrop.backends.get_adapter(backend)
after = dict(os.environ)
print(json.dumps({k: [before.get(k), after.get(k)] for k in set(before) | set(after)
                  if before.get(k) != after.get(k)}))
"""


def test_importing_d2ldrop_changes_no_environment_variable():
    result = subprocess.run([sys.executable, "-c", CHANGED], capture_output=True, text=True,
                            env=_clean_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {}


def test_loading_a_backend_sets_no_thread_variable(backend):
    """A user's program that uses a backend gets the frameworks' own thread defaults."""
    result = subprocess.run([sys.executable, "-c", CHANGED, backend], capture_output=True,
                            text=True, env=_clean_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    changed = json.loads(result.stdout.splitlines()[-1])
    assert not set(changed) & set(THREAD_VARIABLES), changed


def test_the_pytest_plugin_changes_no_environment_variable(tmp_path):
    """A pytest run with d2ldrop installed loads its plugin (an entry point): the
    environment the tests see is the one pytest was started with."""
    env = _clean_env()
    (tmp_path / "expected.json").write_text(json.dumps(env))
    (tmp_path / "test_env.py").write_text(
        "import json, os, pathlib\n"
        "def test_env(pytestconfig):\n"
        "    assert pytestconfig.pluginmanager.hasplugin('d2ldrop')\n"
        "    expected = json.loads((pathlib.Path(__file__).parent / 'expected.json').read_text())\n"
        "    now = {k: v for k, v in os.environ.items() if not k.startswith('PYTEST_')}\n"
        "    assert now == {k: v for k, v in expected.items() if not k.startswith('PYTEST_')}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "d2ldrop",
         str(tmp_path / "test_env.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# One op after loading the backend, then: is libgomp in this process?
PROBE = """
import sys, numpy as np, d2ldrop
a = d2ldrop.backends.get_adapter(sys.argv[1])
a.to_numpy(a.ops.relu(a.from_numpy(np.ones((64, 64), np.float32))))
with open("/proc/self/maps") as maps:
    print(any("libgomp" in line for line in maps))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_a_users_program_gets_the_openmp_runtimes_own_wait_policy(backend):
    """libgomp's settings at its start (OMP_DISPLAY_ENV) in a program that uses the
    backend through d2ldrop: its defaults (a few ms of spinning), nothing of d2ldrop's."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, backend], capture_output=True, text=True,
        env={**_clean_env(), "OMP_DISPLAY_ENV": "VERBOSE"}, timeout=300)
    assert result.returncode == 0, result.stderr
    if result.stdout.split()[-1] != "True":
        pytest.skip(f"no OpenMP runtime (libgomp) in a {backend} process")
    spins = [line.strip().partition(" = ")[2].strip("'") for line in result.stderr.splitlines()
             if line.strip().startswith("GOMP_SPINCOUNT = ")]
    assert spins and set(spins) == {"300000"}, result.stderr  # not PASSIVE's 0, nor ACTIVE's

# -- the choice --------------------------------------------------------------------
def test_free_cores_count_a_core_taken_when_more_than_half_of_it_is_busy():
    assert threads.free_cores(2, 0.0) == threads.free_cores(2, 0.4) == 2
    assert threads.free_cores(2, 0.6) == threads.free_cores(2, 1.0) == 1
    assert threads.free_cores(2, 1.6) == threads.free_cores(2, 5.0) == 0
    assert threads.free_cores(16, 1.0) == 15
    assert threads.free_cores(4, None) == 4  # not sampled: every core


def test_a_team_is_the_free_cores_or_every_core_when_none_is_free():
    assert threads.team_size(2, 2) == 2
    assert threads.team_size(2, 1) == 1
    assert threads.team_size(16, 15) == 15
    assert threads.team_size(2, 0) == 2  # a share of a machine busy everywhere


def test_the_policy_spins_only_when_every_core_is_free():
    """libgomp's default wait (spin, then sleep) on idle cores; beside another busy
    process no spinning (PASSIVE), on the free cores; every core busy: all of
    them, PASSIVE (fewer threads: a smaller share)."""
    for backend in ("torch", "mxnet", "paddle"):
        assert threads.choose([backend], 2, 0.1) == (2, "default")
        assert threads.choose([backend], 2, 1.0) == (1, "PASSIVE")
        assert threads.choose([backend], 8, 2.0) == (6, "PASSIVE")
        assert threads.choose([backend], 2, 3.0) == (2, "PASSIVE")
    assert threads.choose(["mxnet", "torch"], 2, 0.0) == (2, "default")
    assert threads.choose(["tensorflow"], 2, 0.0) == (2, "PASSIVE")
    assert threads.choose(["tensorflow"], 2, 1.0) == (2, "PASSIVE")  # Eigen's pools: every core
    assert threads.choose(["jax"], 4, 3.0) == (1, "PASSIVE")  # no preference: never spin
    assert threads.choose(["jax"], 4, 4.0) == (4, "PASSIVE")
    # One OpenMP runtime per process: a process that loads several backends merges
    # their choices (the fewest threads; PASSIVE if any needs it).
    assert threads.choose(["jax", "torch"], 2, 0.0) == (2, "default")
    # TensorFlow's idle preference for PASSIVE is mild: beside torch, torch's wait wins.
    assert threads.choose(["tensorflow", "torch"], 2, 0.0) == (2, "default")
    assert threads.choose(["tensorflow", "torch"], 2, 1.0) == (1, "PASSIVE")
    assert threads.choose(["torch"], 2, None) == (2, "default")  # not sampled: free


def test_busy_cores_is_a_count_of_this_process_s_cores():
    busy = threads.busy_cores(0.05)
    if busy is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= busy <= threads.usable_cores() + 0.5  # ticks are coarse


@pytest.fixture
def no_thread_variables(monkeypatch):
    saved = {key: os.environ[key] for key in THREAD_VARIABLES if key in os.environ}
    for key in THREAD_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    yield monkeypatch
    # configure() writes os.environ itself, and monkeypatch undoes only what it set:
    # without this, a test's choice (MXNET_ENGINE_TYPE, OMP_NUM_THREADS, ...) stayed
    # in the environment of every later test and of the processes they start.
    for key in THREAD_VARIABLES:
        if key in saved:
            os.environ[key] = saved[key]
        else:
            os.environ.pop(key, None)


@pytest.fixture
def nothing_imported(no_thread_variables):
    """As in a fresh process: no framework imported yet (earlier tests imported some)."""
    no_thread_variables.setattr(threads, "_loaded", lambda backend: None)
    return no_thread_variables


def test_configure_chooses_from_the_sample_and_records_it(nothing_imported):
    busy = threads.usable_cores() + 1.0  # every core busy
    setting = threads.configure(backends=["torch"], busy=busy)
    n = threads.usable_cores()
    assert (setting.threads, setting.wait) == (n, "PASSIVE")
    assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == str(n)
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    record = setting.record()
    assert record["set"]["OMP_WAIT_POLICY"] == "PASSIVE" and record["busy_cores"] == busy
    assert json.loads(json.dumps(record)) == record


def test_the_users_variables_win(nothing_imported):
    nothing_imported.setenv("OMP_NUM_THREADS", "3")
    nothing_imported.setenv("OMP_WAIT_POLICY", "ACTIVE")
    setting = threads.configure(backends=["torch", "tensorflow"], busy=5.0)
    assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert "MKL_NUM_THREADS" not in os.environ  # torch's group: the user chose its count
    # A group the user left alone: d2ldrop's count.
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == str(threads.usable_cores())
    assert setting.yours == {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}
    assert setting.wait == "yours"
    # A count given (sweeps' --threads-per-run) is set anyway; the wait policy stays theirs.
    threads.configure(2, ["torch"])
    assert os.environ["OMP_NUM_THREADS"] == "2" and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_a_framework_already_imported_keeps_its_count(backend, no_thread_variables):
    import d2ldrop

    d2ldrop.backends.get_adapter(backend)
    before = threads.current(backend)
    setting = threads.configure(backends=[backend], busy=5.0)
    assert setting.kept == (backend,)
    if backend in ("torch", "tensorflow"):  # the getters that ask the framework itself
        assert threads.current(backend) == before


def test_the_cli_records_its_setting_and_gives_the_environment_back(
        no_thread_variables, monkeypatch, tmp_path):
    from d2ldrop.cli import main
    from d2ldrop.data import FashionMNIST

    x, y = synthetic(256)
    monkeypatch.setattr("d2ldrop.data.load_fashion_mnist_arrays",
                        lambda **kw: FashionMNIST(x, y, x[:64], y[:64]))
    before = dict(os.environ)
    assert main(["train", "--backend", "torch", "--epochs", "1", "--batch-size", "64",
                 "--quiet", "--out", str(tmp_path)]) == 0
    assert dict(os.environ) == before
    (row,) = json.loads((tmp_path / "summary.json").read_text())
    setting = row["thread_setting"]
    assert setting["cores"] == threads.usable_cores()
    assert setting["wait"] in ("default", "PASSIVE") and setting["threads"] >= 1
    if setting["kept"]:  # torch imported by an earlier test: left as it was
        assert setting["kept"] == ["torch"] and "OMP_NUM_THREADS" not in setting["set"]
    else:
        assert setting["set"]["OMP_NUM_THREADS"] == str(setting["threads"])
    assert isinstance(row["threads"], int)


# -- scripts/bench_train.py -------------------------------------------------------
@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch):
    # On sys.path for this process and, through spawn's preparation data, for
    # the busy processes, which import the script by name to find their target.
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import bench_train

    return bench_train


def test_an_epoch_is_102_gflop(bench):
    """3 x forward FLOPs per training example plus the forward of each test example."""
    sizes = (784, 256, 256, 10)
    assert bench.forward_flops(sizes) == 2 * (784 * 256 + 256 * 256 + 256 * 10) == 537_600
    assert bench.epoch_flops(sizes, 60_000, 10_000) == 3 * 537_600 * 60_000 + 537_600 * 10_000
    assert round(bench.epoch_flops(sizes, 60_000, 10_000) / 1e9, 1) == 102.1


def test_the_alternatives_differ_only_in_the_threads(bench):
    import bench_settings

    settings = bench_settings.settings_of("torch", 4)
    assert settings["ACTIVE"]["OMP_WAIT_POLICY"] == "ACTIVE"
    assert settings["PASSIVE"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert settings["ACTIVE"]["OMP_NUM_THREADS"] == settings["PASSIVE"]["OMP_NUM_THREADS"] == "4"
    assert settings["one thread"]["OMP_NUM_THREADS"] == "1" and settings["chosen"] is None
    assert bench_settings.settings_of("jax", 4)["one thread"]["XLA_FLAGS"] == \
        "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_busy_processes_stop_with_their_block_even_on_ctrl_c(bench):
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 - the block is the test
        with bench.busy_processes(2) as procs:
            pids = [p.pid for p in procs]
            assert all(_alive(pid) for pid in pids)
            raise KeyboardInterrupt
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_busy_processes_exit_when_their_parent_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; sys.path.insert(0, sys.argv[1]); import bench_train\n"
         "with bench_train.busy_processes(1) as procs:\n"
         "    print(procs[0].pid, flush=True); time.sleep(120)\n",
         str(SCRIPTS)],
        stdout=subprocess.PIPE, text=True,
    )
    child = None
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no chance to stop its children
        parent.wait(30)
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)


def test_configure_runs_mxnet_synchronously_on_the_shared_team(nothing_imported):
    """MXNet's operators run on the calling thread (NaiveEngine), whose OpenMP team
    is the process's count: MXNet's own count is set to the same, so that its
    import does not halve the process's."""
    setting = threads.configure(backends=["mxnet", "torch"], busy=0.0)
    cores = threads.usable_cores()
    assert setting.threads == cores and os.environ["OMP_NUM_THREADS"] == str(cores)
    assert os.environ["MXNET_OMP_MAX_THREADS"] == str(cores)
    assert os.environ["MXNET_ENGINE_TYPE"] == "NaiveEngine"


def test_a_users_engine_type_wins(nothing_imported, monkeypatch):
    monkeypatch.setenv("MXNET_ENGINE_TYPE", "ThreadedEnginePerDevice")
    setting = threads.configure(backends=["mxnet"], busy=0.0)
    assert os.environ["MXNET_ENGINE_TYPE"] == "ThreadedEnginePerDevice"
    assert setting.yours["MXNET_ENGINE_TYPE"] == "ThreadedEnginePerDevice"
    assert "MXNET_ENGINE_TYPE" not in setting.set


ENGINE = """
import sys
from d2ldrop.backends.mxnet.loader import import_mxnet
mx = import_mxnet()
print("before the engine starts", file=sys.stderr, flush=True)
print(mx.np.ones(3).asnumpy().sum())
"""


def test_mxnet_starts_the_engine_it_is_given_without_announcing_it():
    """MXNet logs "MXNet start using engine: NaiveEngine" on stderr when an engine is
    chosen by variable; d2ldrop's runs choose one, and the line is held back."""
    if "mxnet" not in SELECTED_BACKENDS:
        pytest.skip("mxnet is not among the selected backends (D2LDROP_TEST_BACKENDS)")
    require_backend("mxnet")
    result = subprocess.run(
        [sys.executable, "-c", ENGINE], capture_output=True, text=True,
        env={**_clean_env(), "MXNET_ENGINE_TYPE": "NaiveEngine"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "3.0"
    assert "before the engine starts" in result.stderr  # the rest of stderr passes
    assert "start using engine" not in result.stderr, result.stderr
