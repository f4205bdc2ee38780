"""Backend selection, aliases, lazy imports and the errors for missing frameworks."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import pytest
from support import run_python

import d2ldrop
from d2ldrop import _backend
from d2ldrop.backends.registry import BY_NAME, SPECS
from d2ldrop.errors import BackendNotAvailableError, UnknownBackendError

# Every framework module d2ldrop could import, from the registry (and flax, JAX's
# layers), so a new backend is covered without editing this list.
FRAMEWORKS = tuple(sorted({m for s in SPECS for m in (s.module, *s.tensor_roots)} | {"flax"}))


def test_default_backend_is_torch():
    assert d2ldrop.get_backend() == "torch"


def test_environment_variable(monkeypatch):
    monkeypatch.setenv("D2LDROP_BACKEND", "tf")
    assert d2ldrop.get_backend() == "tensorflow"


def test_context_manager_beats_environment(monkeypatch):
    monkeypatch.setenv("D2LDROP_BACKEND", "tensorflow")
    with d2ldrop.use_backend("mxnet") as name:
        assert name == "mxnet"
        assert d2ldrop.get_backend() == "mxnet"
    assert d2ldrop.get_backend() == "tensorflow"


def test_explicit_argument_beats_context_manager():
    with d2ldrop.use_backend("mxnet"):
        assert d2ldrop.get_backend("torch") == "torch"


def test_context_managers_nest_and_restore():
    with d2ldrop.use_backend("mxnet"):
        with d2ldrop.use_backend("tensorflow"):
            assert d2ldrop.get_backend() == "tensorflow"
        assert d2ldrop.get_backend() == "mxnet"
    assert d2ldrop.get_backend() == "torch"


def test_context_manager_restores_after_an_error():
    with pytest.raises(RuntimeError), d2ldrop.use_backend("mxnet"):
        raise RuntimeError
    assert d2ldrop.get_backend() == "torch"


@pytest.mark.parametrize(
    "alias, name",
    [("pytorch", "torch"), ("tf", "tensorflow"), ("mx", "mxnet"), ("TF", "tensorflow"),
     (" Torch ", "torch"), ("mxnet", "mxnet")],
)
def test_aliases(alias, name):
    assert d2ldrop.backends.canonical_name(alias) == name
    assert d2ldrop.get_backend(alias) == name


@pytest.mark.parametrize("bad", ["theano", "", "all", 3])
def test_unknown_backend_lists_known_names(bad):
    with pytest.raises(UnknownBackendError) as info:
        d2ldrop.get_backend(bad)
    message = str(info.value)
    assert repr(bad) in message
    if isinstance(bad, str):
        for name in d2ldrop.BACKENDS:
            assert name in message
    assert isinstance(info.value, ValueError)


def test_unknown_backend_in_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("D2LDROP_BACKEND", "theano")
    with pytest.raises(UnknownBackendError, match="D2LDROP_BACKEND='theano'"):
        d2ldrop.get_backend()


def test_unknown_backend_in_use_backend_fails_at_entry():
    with pytest.raises(UnknownBackendError):
        with d2ldrop.use_backend("caffe"):
            pass  # pragma: no cover


def test_import_imports_no_framework():
    result = run_python(
        f"""
        import sys
        import d2ldrop, d2ldrop.cli
        d2ldrop.cli.build_parser()
        d2ldrop.get_backend("tf")
        with d2ldrop.use_backend("mxnet"):
            pass
        print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_framework_is_imported_on_first_use_only(backend):
    module = BY_NAME[backend].module
    result = run_python(
        f"""
        import sys
        import d2ldrop
        before = {module!r} in sys.modules
        d2ldrop.backends.get_adapter({backend!r})
        print(before, {module!r} in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("name", d2ldrop.BACKENDS)
def test_missing_framework_names_the_extra(name, monkeypatch):
    # A None entry in sys.modules makes `import name` raise ImportError.
    monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, f"d2ldrop.backends.{name}.adapter", raising=False)
    monkeypatch.setattr(_backend, "_adapters", {})
    with pytest.raises(BackendNotAvailableError) as info:
        d2ldrop.backends.get_adapter(name)
    assert f'pip install "d2ldrop[{name}]"' in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
    assert isinstance(info.value, ImportError)


def test_mxnet_under_new_numpy_says_to_downgrade_numpy(tmp_path):
    # MXNet 1.9.1 fails at import under numpy >= 1.24 with this AttributeError;
    # a stand-in package raises the same error whatever numpy is installed.
    fake = tmp_path / "mxnet"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise AttributeError(\"module 'numpy' has no attribute 'bool'.\")\n"
    )
    result = run_python(
        """
        import d2ldrop
        try:
            d2ldrop.backends.get_adapter("mxnet")
        except d2ldrop.BackendNotAvailableError as err:
            print(type(err.__cause__).__name__)
            print(err)
        """,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    cause, message = result.stdout.split("\n", 1)
    assert cause == "AttributeError"
    assert "numpy<1.24" in message


def test_several_backends_in_one_process():
    available = [b for b in d2ldrop.BACKENDS if b in d2ldrop.available_backends()]
    if len(available) < 2:
        pytest.skip("needs at least two frameworks installed")
    import numpy as np

    for name in available:
        x = d2ldrop.from_numpy(np.ones((2, 3), np.float32), backend=name)
        assert d2ldrop.backends.get_adapter(name).is_tensor(x)
        np.testing.assert_array_equal(d2ldrop.to_numpy(x, backend=name), np.ones((2, 3)))


def _orders(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every rotation of ``names``, forwards and backwards: each backend comes first
    and last, and each pair in both orders, in 2n processes instead of n!."""
    rotations = [names[i:] + names[:i] for i in range(len(names))]
    return list(dict.fromkeys([*rotations, *(r[::-1] for r in rotations)]))


def test_the_orders_cover_every_pair_both_ways():
    orders = _orders(("a", "b", "c", "d"))
    assert len(orders) == 8
    for x, y in itertools.permutations("abcd", 2):
        assert any(o.index(x) < o.index(y) for o in orders), (x, y)


# Every order one by one, and the registry's (TensorFlow before MXNet) loaded together
# first: load_in_order sorts, so after it the order of use does not matter.
ORDERS = [*((o, False) for o in _orders(d2ldrop.BACKENDS)), (d2ldrop.BACKENDS, True)]


@pytest.mark.parametrize(("order", "together"), ORDERS,
                         ids=["-then-".join(o) + ("-together" if t else "") for o, t in ORDERS])
def test_backends_in_any_order_in_one_process(order, together):
    """MXNet 1.9.1 crashes when loaded after TensorFlow. Loaded one by one, each
    backend imports only its framework, so MXNet after TensorFlow is refused and the
    others work; loaded together first (load_in_order), both work."""
    missing = [b for b in order if b not in d2ldrop.available_backends()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} installed")
    result = run_python(
        f"""
        import numpy as np
        import d2ldrop
        if {together!r}:
            d2ldrop.backends.load_in_order({order!r})
        for name in {order!r}:
            try:
                x = d2ldrop.from_numpy(np.ones((4, 4), np.float32), backend=name)
            except d2ldrop.BackendNotAvailableError as err:
                print(name, "refused" if "already imported" in str(err) else err)
                continue
            y = d2ldrop.dropout_layer(x, 0.5, backend=name)
            print(name, d2ldrop.to_numpy(y, backend=name).shape)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    late = not together and order.index("tensorflow") < order.index("mxnet")
    assert result.stdout.split("\n")[: len(order)] == [
        f"{name} {'refused' if late and name == 'mxnet' else (4, 4)}" for name in order]


@pytest.mark.parametrize("first", ["torch", "mxnet", "tensorflow"])
def test_loading_mxnet_leaves_torch_its_threads(first):
    """MXNet's import sets OpenMP's thread count to half the CPUs, for torch too.

    The adapters undo that for the importing thread, torch imported before or after.
    """
    needed = {"torch", "mxnet", first}
    if not needed <= set(d2ldrop.available_backends()):
        pytest.skip(f"needs {', '.join(sorted(needed))} installed")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("MXNet's halving shows only with two CPUs or more")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}

    def torch_threads(code: str) -> int:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        return int(result.stdout.split()[-1])

    alone = torch_threads("import torch; print(torch.get_num_threads())")
    others = ["mxnet", "tensorflow"] if first == "torch" else [first]
    with_mxnet = torch_threads(
        f"""
        import d2ldrop
        {"import torch" if first == "torch" else ""}
        for name in {others!r}:
            d2ldrop.backends.get_adapter(name)
        import torch
        print(torch.get_num_threads())
        """
    )
    assert with_mxnet == alone


@pytest.mark.parametrize("user", [None, "ACTIVE"])
def test_loading_a_backend_leaves_the_openmp_wait_policy_alone(backend, user):
    """d2ldrop sets no wait policy when a program loads a backend (its own runs
    choose theirs, see tests/test_threads_policy.py); a user's setting is kept."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if user:
        env["OMP_WAIT_POLICY"] = user
    result = subprocess.run(
        [sys.executable, "-c",
         f"import os, d2ldrop; d2ldrop.backends.get_adapter({backend!r}); "
         "print(os.environ.get('OMP_WAIT_POLICY'))"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == str(user)
