"""Speed under load, the parts that can be checked without a clock.

- The OpenMP runtime in a backend's process really waits passively (what
  ``d2ldrop.backends.registry.apply_openmp_defaults`` sets must reach libgomp,
  which reads it once, when it loads), unless the user chose otherwise.
- ``scripts/bench_train.py --load``: the FLOP count of an epoch, and busy
  processes that never outlive the benchmark.

The speed itself is measured by ``python scripts/bench_train.py --load 1``, not here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"

# One op after loading the backend, then: is libgomp in this process?
PROBE = """
import sys, numpy as np, d2ldrop
a = d2ldrop.backends.get_adapter(sys.argv[1])
a.to_numpy(a.ops.relu(a.from_numpy(np.ones((64, 64), np.float32))))
with open("/proc/self/maps") as maps:
    print(any("libgomp" in line for line in maps))
"""


def _openmp_settings(backend: str, env: dict[str, str]) -> dict[str, str]:
    """The settings libgomp reports at its start (OMP_DISPLAY_ENV) in a fresh
    process that loads ``backend``; skips when no libgomp is loaded there."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, backend], capture_output=True, text=True,
        env={**env, "OMP_DISPLAY_ENV": "VERBOSE"}, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    if result.stdout.split()[-1] != "True":
        pytest.skip(f"no OpenMP runtime (libgomp) in a {backend} process")
    settings: dict[str, str] = {}
    for line in result.stderr.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep and key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
            value = value.strip("'")
            # One libgomp per process; should a second copy load, both must agree.
            assert settings.setdefault(key, value) == value, result.stderr
    return settings


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
@pytest.mark.parametrize("user", [None, "ACTIVE"])
def test_the_openmp_runtime_waits_passively_unless_the_user_chose(backend, user):
    """PASSIVE means no spinning at all (GOMP_SPINCOUNT 0): a thread waiting
    between parallel regions sleeps and leaves its core to other processes."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if user:
        env["OMP_WAIT_POLICY"] = user
    settings = _openmp_settings(backend, env)
    assert settings["OMP_WAIT_POLICY"] == (user or "PASSIVE")
    if user is None:
        assert settings["GOMP_SPINCOUNT"] == "0"


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
