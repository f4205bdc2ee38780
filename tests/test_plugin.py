"""The pytest plugin, run the way a user's CI runs it: on an external-style package
that the test writes (``mypkg/drop.py``, which knows nothing of d2ldrop), with
``pytest --d2ldrop-target mypkg.drop:<function>``.

The inner runs disable plugin autoloading and load the plugin with ``-p``, so
they behave the same whether or not the ``pytest11`` entry point is installed;
``test_the_entry_point_loads_the_plugin`` checks the entry point itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import IN_CI

from d2ldrop.backends import registry

pytest_plugins = ["pytester"]

#: The module the pytest11 entry point names: options only, nothing of d2ldrop.
PLUGIN = "_d2ldrop_pytestplugin"
ROOT = Path(__file__).resolve().parent.parent

#: A user's package: a correct numpy dropout and four broken ones (plain numpy).
DROP = '''
import math

import numpy as np


def _check(x, p):
    if math.isnan(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be floating, got {x.dtype}")


def _drop(x, p, keep):
    return np.where(keep, x * x.dtype.type(1 / (1 - p)), x.dtype.type(0))


def dropout(x, p, *, training=True):
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return _drop(x, p, np.random.random_sample(x.shape) >= p)


def frozen(x, p, *, training=True):
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return _drop(x, p, np.random.default_rng(42).random(x.shape) >= p)


def keep_as_drop(x, p, *, training=True):
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return _drop(x, p, np.random.random_sample(x.shape) < p)


def nan_ok(x, p, *, training=True):
    if p < 0 or p > 1:  # NaN passes
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be floating, got {x.dtype}")
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return _drop(x, p, np.random.random_sample(x.shape) >= p)


def unscaled(x, p, *, training=True):
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    return np.where(np.random.random_sample(x.shape) >= p, x, x.dtype.type(0))


def hangs(x, p, *, training=True):
    import threading

    threading.Event().wait()


def exits(x, p, *, training=True):
    raise SystemExit(3)


def returns_list(x, p, *, training=True):
    return dropout(x, p, training=training).tolist()


def in_place(x, p, *, training=True):
    _check(x, p)
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    x *= np.where(np.random.random_sample(x.shape) >= p, x.dtype.type(1 / (1 - p)), 0)
    return x


def raises(x, p, *, training=True):
    return _deeper(x)


def _deeper(x):
    raise RuntimeError("a bug of the target's own")
'''

#: The user's own tests, which run beside the suite's items.
USER_TESTS = '''
import pytest


def test_their_own():
    assert True


def test_with_the_fixture(d2ldrop_conformance):
    d2ldrop_conformance("mypkg.drop:dropout", ps=[0.5], size=4096).assert_conforms()
    broken = d2ldrop_conformance("mypkg.drop:unscaled", ps=[0.5], size=4096)
    with pytest.raises(AssertionError, match=r"values\\[p=0.5\\]"):
        broken.assert_conforms()
    assert broken.stats(0.5).checks["values"].passed is False
    assert broken.edge("p=nan").as_expected


def test_the_option_target(d2ldrop_conformance):
    suite = d2ldrop_conformance()  # --d2ldrop-target's suite; skipped without it
    assert suite.target.name.startswith("mypkg.drop:")
'''

FAST = ["--d2ldrop-p", "0.5", "--d2ldrop-size", "16384"]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's checkout: mypkg/drop.py and tests/test_mine.py, importable."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pkg = pytester.mkpydir("mypkg")
    (pkg / "drop.py").write_text(DROP)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_mine.py").write_text(USER_TESTS)
    pytester.syspathinsert()
    return pytester


def _outcomes(reprec: pytest.HookRecorder) -> dict[str, set[str]]:
    passed, skipped, failed = reprec.listoutcomes()
    return {"passed": {r.nodeid for r in passed}, "skipped": {r.nodeid for r in skipped},
            "failed": {r.nodeid for r in failed}}


def _items(name: str, ids: set[str]) -> set[str]:
    """The suite's item ids of target ``name`` among ``ids`` (prefix removed)."""
    prefix = f"d2ldrop[mypkg.drop:{name}]::"
    return {i[len(prefix):] for i in ids if i.startswith(prefix)}


def test_a_correct_target_passes_in_a_users_ci(project: pytest.Pytester) -> None:
    # As CI runs it: a fresh interpreter, the user's tests and the suite's items.
    result = project.runpytest_subprocess("-p", PLUGIN, "--d2ldrop-target",
                                          "mypkg.drop:dropout", *FAST, "-rs", "tests")
    # 16 checks at p = 0.5 (gradient and the 3 layer checks n/a: skipped) and 21
    # edge cases (2 in bfloat16, which it does not declare: skipped); the user's own 3 tests.
    result.assert_outcomes(passed=12 + 19 + 3, skipped=6)
    text = result.stdout.str()
    assert "d2ldrop conformance of mypkg.drop:dropout (numpy): p = 0.5, n = 16384" in text
    assert re.search(r"7 bounded checks at z = 5, .* family-wise <= 4e-06", text)
    assert "collected 40 items" in text
    assert "not applicable: numpy arrays have no autograd" in text


@pytest.mark.parametrize("name, ps, failing", [
    ("frozen", "0.5", {"agreement[p=0.5]", "seed_different[p=0.5]"}),
    ("nan_ok", "0.5", {"edge[p=nan]"}),
    ("keep_as_drop", "0.1", {"fraction[p=0.1]"}),
    ("unscaled", "0.5", {"values[p=0.5]", "mean[p=0.5]", "variance[p=0.5]"}),
])
def test_a_broken_target_fails_the_items_that_name_its_bug(
    project: pytest.Pytester, name: str, ps: str, failing: set[str]
) -> None:
    reprec = project.inline_run("-p", PLUGIN, "--d2ldrop-target", f"mypkg.drop:{name}",
                                "--d2ldrop-p", ps, "--d2ldrop-size", "16384", "tests")
    outcomes = _outcomes(reprec)
    failed = _items(name, outcomes["failed"])
    assert failing <= failed, sorted(failed)
    if name in ("frozen", "nan_ok"):
        assert failed == failing  # nothing else is wrong with them
    assert not {i for i in outcomes["failed"] if "test_mine" in i}  # the user's own tests pass
    assert len(_items(name, set().union(*outcomes.values()))) == 16 + 21


def test_a_failure_reads_as_the_property_and_the_observation(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", PLUGIN, "--d2ldrop-target", "mypkg.drop:nan_ok", *FAST)
    result.assert_outcomes(failed=1, passed=12 + 18 + 3, skipped=6)  # 3: the user's tests
    result.stdout.fnmatch_lines([
        "*_ d2ldrop[[]mypkg.drop:nan_ok[]]::edge[[]p=nan[]] _*",
        "p = NaN: got zeros, specified an error; 0 of 1024 nonzero",
        "FAILED d2ldrop[[]mypkg.drop:nan_ok[]]::edge[[]p=nan[]] - p = NaN: got zeros*",
    ])


def test_k_selects_among_the_suites_items(project: pytest.Pytester) -> None:
    reprec = project.inline_run("-p", PLUGIN, "--d2ldrop-target", "mypkg.drop:frozen",
                                "-k", "agreement or seed_", *FAST)
    outcomes = _outcomes(reprec)
    ran = set().union(*outcomes.values())
    assert _items("frozen", ran) == {"agreement[p=0.5]", "seed_same[p=0.5]",
                                     "seed_different[p=0.5]"}
    assert _items("frozen", outcomes["failed"]) == {"agreement[p=0.5]", "seed_different[p=0.5]"}


def test_the_fixture_without_the_option(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", PLUGIN, "tests", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*no --d2ldrop-target given*"])


@pytest.mark.parametrize("args, message", [
    (["--d2ldrop-target", "nowhere.drop:dropout"], "no module named 'nowhere'"),
    (["--d2ldrop-target", "mypkg.drop:nothing"], "'mypkg.drop' has no attribute 'nothing'"),
    (["--d2ldrop-target", "mypkg.drop:math"], "is not callable (it is a module)"),
    (["--d2ldrop-target", "mypkg.drop"], "expected package.module:function"),
    (["--d2ldrop-target-backend", "numpy"], "--d2ldrop-target-backend needs --d2ldrop-target"),
    (["--d2ldrop-target", "mypkg.drop:dropout", "--d2ldrop-p", "1"], "0 < p < 1"),
    (["--d2ldrop-target", "mypkg.drop:dropout", "--d2ldrop-p", "x"], "expected numbers"),
])
def test_a_bad_target_is_a_usage_error(
    project: pytest.Pytester, args: list[str], message: str
) -> None:
    result = project.runpytest("-p", PLUGIN, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_without_the_option_the_plugin_costs_nothing(project: pytest.Pytester) -> None:
    # A fresh interpreter: no framework imported, no item added, no header line.
    roots = sorted({registry.BY_NAME[b].module for b in registry.BACKENDS})
    project.makepyfile(test_light=f'''
        import sys

        def test_no_framework_loaded():
            loaded = [m for m in sys.modules if m.split(".")[0] in {roots!r}]
            assert loaded == []
    ''')
    result = project.runpytest_subprocess("-p", PLUGIN, "test_light.py")
    result.assert_outcomes(passed=1)
    assert "collected 1 item" in result.stdout.str()
    assert "d2ldrop conformance" not in result.stdout.str()
    help_text = project.runpytest_subprocess("-p", PLUGIN, "--help").stdout.str()
    assert "--d2ldrop-target=MODULE:FUNCTION" in help_text


def _declared_entry_point() -> str | None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)["project"]["entry-points"]["pytest11"].get("d2ldrop")
    found = re.search(r'\[project\.entry-points\.pytest11\][^\[]*?d2ldrop\s*=\s*"([^"]+)"',
                      text)
    return found.group(1) if found else None


def test_the_entry_point_loads_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _declared_entry_point() == PLUGIN
    installed = [ep for ep in importlib.metadata.entry_points(group="pytest11")
                 if ep.name == "d2ldrop"]
    if not installed:
        reason = "the pytest11 entry point is not installed: reinstall (pip install -e .)"
        if IN_CI:
            pytest.fail(f"CI installs the package, but {reason}")
        pytest.skip(reason)
    if installed[0].value != PLUGIN:
        reason = (f"the installed entry point names {installed[0].value!r}, this checkout "
                  f"{PLUGIN!r}: reinstall (pip install -e .)")
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pkg = pytester.mkpydir("autopkg")
    (pkg / "drop.py").write_text(DROP)
    # No -p: the installed entry point loads the plugin, as in a user's CI.
    result = pytester.runpytest_subprocess("--d2ldrop-target", "autopkg.drop:nan_ok", *FAST)
    result.assert_outcomes(failed=1, passed=12 + 18, skipped=6)


#: A foreign project's test: which d2ldrop modules are loaded, and the environment.
FOREIGN_TEST = """
import json, os, sys

def test_record():
    loaded = sorted(m for m in sys.modules if m == "d2ldrop" or m.startswith("d2ldrop."))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    with open("record.json", "w") as f:
        json.dump({"modules": loaded, "env": env}, f)
"""


def _foreign_run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """pytest in a project of its own (tmp_path) with the plugin loaded as the entry
    point loads it; returns the run, what its test recorded and the environment given."""
    (tmp_path / "test_foreign.py").write_text(FOREIGN_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env |= {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", "-q",
         "test_foreign.py", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    record = json.loads((tmp_path / "record.json").read_text())
    return run, record, {k: v for k, v in env.items() if not k.startswith("PYTEST_")}


def test_a_foreign_projects_pytest_run_loads_nothing_of_d2ldrop(tmp_path: Path) -> None:
    run, record, env = _foreign_run(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert record["modules"] == []
    assert record["env"] == env


def test_the_suite_is_imported_when_a_target_is_given(tmp_path: Path) -> None:
    # The check of the check: the same run with --d2ldrop-target does load d2ldrop.
    run, record, _ = _foreign_run(tmp_path, "--d2ldrop-target", "targets.correct:dropout",
                                  "-k", "test_record")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "d2ldrop.conformance.suite" in record["modules"]


def test_import_d2ldrop_changes_no_environment_variable() -> None:
    code = ("import json, os; before = dict(os.environ); import d2ldrop; "
            "print(json.dumps(sorted(k for k in set(before) | set(os.environ) "
            "if before.get(k) != os.environ.get(k))))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=300).stdout
    assert json.loads(out) == []


def test_a_hanging_target_costs_one_timeout(project: pytest.Pytester) -> None:
    """The first item's call never returns: it fails after the timeout, every other
    item of the target is reported as not run, the user's tests run, pytest exits."""
    result = project.runpytest_subprocess(
        "-p", PLUGIN, "--d2ldrop-target", "mypkg.drop:hangs", "--d2ldrop-target-timeout",
        "1", *FAST, "-rfs", "tests", timeout=120)
    result.assert_outcomes(failed=1, skipped=16 + 21 - 1, passed=3)
    text = result.stdout.str()
    assert "FAILED d2ldrop[mypkg.drop:hangs]::fraction[p=0.5]" in text
    assert "\na call of the target's dropout did not return within 1 s" in text
    assert "not run: a call of the target's dropout did not return within 1 s" in text


@pytest.mark.parametrize("name, item, says", [
    ("exits", "fraction[p=0.5]", "raised SystemExit(3) instead of returning"),
    ("returns_list", "fraction[p=0.5]", "the target returned a list, not a numpy array"),
    ("in_place", "input_kept[p=0.5]", "calls changed their input (in place)"),
])
def test_a_faulty_target_fails_with_what_it_did(project: pytest.Pytester, name: str,
                                                item: str, says: str) -> None:
    result = project.runpytest("-p", PLUGIN, "--d2ldrop-target", f"mypkg.drop:{name}", *FAST,
                               "tests")
    text = result.stdout.str()
    assert f"FAILED d2ldrop[mypkg.drop:{name}]::{item} - " in text
    assert says in text
    assert "passed" in text.splitlines()[-1]  # the run went on to the user's tests


def test_a_raising_target_shows_its_own_frames_only(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", PLUGIN, "--d2ldrop-target", "mypkg.drop:raises", *FAST,
                               "-k", "fraction")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "the target raised RuntimeError: a bug of the target's own" in text
    assert 'drop.py", line' in text and "in _deeper" in text
    assert "_callers.py" not in text and "d2ldrop/conformance" not in text
    assert len(text.splitlines()) < 40, text
