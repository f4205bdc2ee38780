"""What is Paddle's own: the side effects of its import, and its dropout's float32 scale.

The backend-parametrized tests run Paddle through everything the other backends
do; these pin what only Paddle does (docs/conformance.md, "PaddlePaddle's
F.dropout"; d2ldrop/backends/paddle/loader.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from support import SELECTED_BACKENDS, require_backend

import d2ldrop

pytestmark = pytest.mark.skipif("paddle" not in SELECTED_BACKENDS,
                                reason="paddle not selected")


@pytest.fixture
def adapter():
    require_backend("paddle")
    return d2ldrop.backends.get_adapter("paddle")


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=300)


def test_loading_paddle_leaves_the_environment_and_sigterm_as_they_were(adapter):
    """``import paddle`` writes OMP_NUM_THREADS=1 (inherited by every process started
    afterwards) and replaces a Python SIGTERM handler with its own C++ one, which
    exits the process; loading it through d2ldrop does neither."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "CUSTOM_DEVICE_ROOT")}
    result = _run(
        """
        import os, signal, time
        got = []
        signal.signal(signal.SIGTERM, lambda sig, frame: got.append(sig))
        before = dict(os.environ)
        import d2ldrop
        d2ldrop.backends.get_adapter("paddle")
        changed = sorted(k for k in set(before) | set(os.environ)
                         if before.get(k) != os.environ.get(k))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)
        print(changed, got)
        """,
        env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == f"[] [{15}]"


def test_loading_paddle_with_threads_prints_no_data_parallel_warning(adapter):
    """d2ldrop sets OMP_NUM_THREADS to the cores before Paddle loads (backends/threads.py);
    ``import paddle`` then prints a two-line warning about data-parallel training
    (which d2ldrop never does) to stderr. The loader keeps it off stderr, and
    lets anything else Paddle prints through."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    result = _run(
        """
        import sys, d2ldrop
        d2ldrop.backends.get_adapter("paddle")
        print("after", file=sys.stderr)
        """,
        env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OMP_NUM_THREADS" not in result.stderr, result.stderr
    assert "after" in result.stderr


def test_paddle_s_mkl_runs_the_kernels_the_cpu_has(adapter):
    """Paddle's bundled MKL 2019 gives a CPU that is not Intel's its generic SSE
    kernels (an epoch ran about 3x the time of MKL's AVX2 kernels on AMD EPYC);
    the loader makes it take its AVX2 kernels on such a CPU with AVX2 and FMA
    (MKL_DEBUG_CPU_TYPE=5, read at MKL's first call), and leaves Intel's CPUs to
    MKL. ``mkl_serv_cpu_detect`` is the code path MKL dispatches on: 0 generic,
    5 AVX2."""
    import ctypes

    from d2ldrop.backends.paddle import loader

    with open("/proc/cpuinfo") as f:
        expected = loader.mkl_cpu_type(f.read())
    if "MKL_DEBUG_CPU_TYPE" in os.environ or expected is None:
        pytest.skip("MKL's own choice here (an Intel CPU, or MKL_DEBUG_CPU_TYPE set)")
    import paddle

    path = os.path.join(os.path.dirname(paddle.__file__), "libs", "libmklml_intel.so")
    if not os.path.exists(path):
        pytest.skip("this Paddle build has no MKL")
    ones = [adapter.from_numpy(np.ones(s, np.float32)) for s in ((4, 8), (8, 2), (2,))]
    adapter.ops.affine(*ones)
    mkl = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
    assert mkl.mkl_serv_cpu_detect() == int(expected)


@pytest.mark.parametrize("cpuinfo, expected", [
    ("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx avx2 fma avx512f\n\n"
     "processor\t: 1\nvendor_id\t: GenuineIntel\n", "5"),
    ("vendor_id\t: HygonGenuine\nflags\t\t: avx2 fma\n", "5"),
    ("vendor_id\t: GenuineIntel\nflags\t\t: avx2 fma avx512f\n", None),
    ("vendor_id\t: AuthenticAMD\nflags\t\t: sse4_2 avx\n", None),
    ("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n", None),
    ("", None),
])
def test_mkl_cpu_type_only_for_non_intel_cpus_with_avx2(cpuinfo, expected):
    from d2ldrop.backends.paddle import loader

    assert loader.mkl_cpu_type(cpuinfo) == expected


def _kept(adapter, x: np.ndarray, p: float) -> np.ndarray:
    d2ldrop.seed(0, backend="paddle")
    y = adapter.to_numpy(adapter.builtin_dropout(adapter.from_numpy(x), p))
    kept = y[y != 0]
    assert kept.size > 0
    return np.unique(kept)


def test_builtin_keep_probability_is_float32(adapter):
    """Kept values are exactly x / float32(1 - float32(p)), the division in x's dtype."""
    for dtype, p in (("float32", 1.0 - 1e-4), ("float64", 0.1), ("float64", 0.7)):
        t = np.dtype(dtype).type
        keep32 = np.float32(1.0) - np.float32(p)
        kept = _kept(adapter, np.ones(2**16, dtype=dtype), p)
        assert kept.tolist() == [t(1.0) / t(keep32)], (dtype, p)
        assert kept[0] != t(1.0 / (1.0 - p)), (dtype, p)  # not the chapter's x / (1 - p)


def test_builtin_nan_rate_gives_all_nan_and_out_of_range_rates_raise(adapter):
    x = adapter.from_numpy(np.ones(64, np.float32))
    assert np.isnan(adapter.to_numpy(adapter.builtin_dropout(x, float("nan")))).all()
    for p in (-0.1, 1.1):
        with pytest.raises(ValueError, match="between 0 and 1"):
            adapter.builtin_dropout(x, p)


def test_uniforms_are_in_zero_one(adapter):
    """The chapter's mask compares U[0, 1) draws with p. d2l-zh draws them with
    paddle.uniform, whose default range was [-1, 1) in Paddle 2.x (a mask that
    keeps too few); the adapter draws with paddle.rand."""
    d2ldrop.seed(0, backend="paddle")
    x = adapter.from_numpy(np.zeros((512, 512), np.float16))
    u = adapter.to_numpy(adapter.ops.uniform_like(x))
    assert u.dtype == np.float32 and u.shape == (512, 512)
    assert u.min() >= 0.0 and u.max() < 1.0
    # 2**18 uniforms: mean 1/2 within 5 standard deviations (sd = sqrt(1/12 / n)).
    assert abs(u.mean(dtype=np.float64) - 0.5) <= 5 * np.sqrt(1 / 12 / u.size)


@pytest.mark.parametrize("kind, noise, dtype, updater", [
    ("scratch", "dropout", "float32", "scratch"),
    ("scratch", "dropout", "float64", "scratch"),
    ("scratch", "dropout", "float32", "framework"),
    ("scratch", "dropconnect", "float32", "scratch"),
    ("scratch", "gaussian-mult", "float32", "scratch"),
    ("scratch", "gaussian-add", "float64", "scratch"),
    ("concise", "dropout", "float32", "scratch"),
    ("concise", "dropout", "float32", "framework"),
])
def test_training_steps_are_those_of_the_eager_step(adapter, kind, noise, dtype, updater,
                                                    monkeypatch):
    """Both models train as static programs (paddle.jit.to_static): the same
    draws and bit-identical losses, parameters and test predictions as the eager
    step, from one seed. For the scratch model this holds because the traced
    ``x / (1 - p)`` stays a division (Ops.divide): traced, ``x / c`` is scale(x, 1/c)."""
    rng = np.random.default_rng(0)
    x = adapter.from_numpy(rng.random((64, 1, 28, 28), dtype=np.float32))
    y = adapter.from_numpy(rng.integers(0, 10, 64).astype(np.int64))

    def train() -> list[np.ndarray]:
        d2ldrop.seed(3, backend="paddle")
        net = adapter.build_mlp(kind, (784, 32, 32, 10), (0.2, 0.5), None,
                                noise=noise, dtype=dtype)
        step = adapter.make_train_step(net, 0.1, updater)
        losses = [step(x, y)[0] for _ in range(3)]
        correct = adapter.make_eval_step(net)(x, y)
        return [np.asarray(losses), np.asarray(correct), *adapter.get_mlp_params(net)]

    compiled = train()
    monkeypatch.setattr(type(adapter), "_compiled", lambda self, net, training: None)
    eager = train()
    for a, b in zip(compiled, eager):
        np.testing.assert_array_equal(a, b)


def test_a_scratch_program_serves_every_model_of_its_structure(adapter, monkeypatch):
    """The scratch model's static programs take the parameters as an argument and
    are kept per structure: a second model (another seed) runs the first one's
    programs, with its own parameters, and trains exactly as eagerly; a model of
    another structure gets programs of its own."""
    rng = np.random.default_rng(0)
    x = adapter.from_numpy(rng.random((64, 1, 28, 28), dtype=np.float32))
    y = adapter.from_numpy(rng.integers(0, 10, 64).astype(np.int64))

    def train(seed: int, dropout: tuple[float, float]) -> list[np.ndarray]:
        d2ldrop.seed(seed, backend="paddle")
        net = adapter.build_mlp("scratch", (784, 32, 32, 10), dropout, None)
        step = adapter.make_train_step(net, 0.1, "scratch")
        losses = [step(x, y)[0] for _ in range(2)]
        correct = adapter.make_eval_step(net)(x, y)
        return [np.asarray(losses), np.asarray(correct), *adapter.get_mlp_params(net)]

    adapter._programs.clear()
    train(3, (0.2, 0.5))
    programs = dict(adapter._programs)
    assert len(programs) == 2  # one training program, one evaluation program
    second, third = train(4, (0.2, 0.5)), train(5, (0.3, 0.5))
    assert all(adapter._programs[k] is v for k, v in programs.items())
    assert len(adapter._programs) == 3  # the third model's rates: a training program
    monkeypatch.setattr(type(adapter), "_compiled", lambda self, net, training: None)
    for compiled, eager in ((second, train(4, (0.2, 0.5))), (third, train(5, (0.3, 0.5)))):
        for a, b in zip(compiled, eager):
            np.testing.assert_array_equal(a, b)


def test_pinned_threads_give_a_worker_s_numbers(adapter, tmp_path):
    """A sweep worker loads Paddle with OMP_NUM_THREADS=n; a run in this process
    under threads.pinned(n) must compute the same bits (the thread count changes
    a matrix product's float32 rounding)."""
    from d2ldrop.backends import threads

    code = """
        import numpy as np, d2ldrop
        a = d2ldrop.backends.get_adapter("paddle")
        rng = np.random.default_rng(0)
        x = a.from_numpy(rng.random((500, 784), dtype=np.float32))
        W = a.from_numpy(rng.normal(0, 0.01, (784, 256)).astype(np.float32))
        b = a.from_numpy(np.zeros(256, np.float32))
        np.save(PATH, a.to_numpy(a.ops.affine(x, W, b)))
        """
    worker = tmp_path / "worker.npy"
    script = f"PATH = {str(worker)!r}" + textwrap.dedent(code)
    result = subprocess.run([sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    before = threads.current("paddle")
    with threads.pinned(1):
        assert threads.current("paddle") == 1
        here = tmp_path / "here.npy"
        exec(textwrap.dedent(code), {"PATH": str(here)})
    assert threads.current("paddle") == before
    np.testing.assert_array_equal(np.load(here), np.load(worker))


@pytest.mark.parametrize("updater", ["scratch", "framework"])
def test_weight_decay_reaches_a_weight_cut_off_by_p_one(adapter, updater):
    """With dropout p = 1 after layer 1, the scratch model's W1 gets no gradient at
    all; Paddle's SGD skips such a parameter, but the update is still w - lr * wd * w."""
    from d2ldrop.backends.kernels import normal_init

    sizes = (784, 16, 16, 10)
    net = adapter.build_mlp("scratch", sizes, (1.0, 0.5), normal_init(sizes, 0.01, 0))
    W1 = adapter.get_mlp_params(net)[0]
    step = adapter.make_train_step(net, 0.1, updater, weight_decay=0.5)
    step(adapter.from_numpy(np.ones((4, 784), np.float32)),
         adapter.from_numpy(np.zeros(4, np.int64)))
    expected = W1 - np.float32(0.1) * (np.float32(0.5) * W1)
    np.testing.assert_allclose(adapter.get_mlp_params(net)[0], expected, rtol=1e-6)
