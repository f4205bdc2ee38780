"""The conformance suite for anyone's dropout: the target protocol, its resolution,
the edge-case specification, proof that the suite catches real bugs, and
``d2ldrop compare --target`` / ``d2ldrop stats --target``.

The targets live in ``tests/targets/``: correct ones (numpy, and one written with
each framework, the examples of docs/conformance.md), which must pass, and
deliberately broken ones, each of which must fail on the check that names its
bug (``targets.broken.BUGS``).
"""

from __future__ import annotations

import json
import sys

import pytest
from support import SELECTED_BACKENDS, require_backend
from targets import broken

import d2ldrop.conformance as C
from d2ldrop.backends import registry
from d2ldrop.cli import main
from d2ldrop.conformance.builtin import builtin_target
from d2ldrop.conformance.spec import ERROR, NONFINITE_WHERE, specified
from d2ldrop.errors import UsageError

SIZE = 2**16


def _failed(suite: C.ConformanceSuite) -> dict[str, str]:
    return {item.id: v.message for item, v in suite.verdicts() if v.status == "failed"}


def _not_applicable(suite: C.ConformanceSuite) -> set[str]:
    return {item.id for item, v in suite.verdicts() if v.status == "n/a"}


# -- resolving a target ----------------------------------------------------------------


@pytest.mark.parametrize("ref, message", [
    ("targets.correct", "expected package.module:function"),
    (":dropout", "expected package.module:function"),
    ("nowhere.drop:dropout", "no module named 'nowhere'"),
    ("targets.nowhere:dropout", "no module named 'targets.nowhere'"),
    ("targets.correct:nothing", "'targets.correct' has no attribute 'nothing'"),
    ("targets.correct:_rng", "is not callable (it is a list)"),
])
def test_a_bad_reference_is_a_one_line_usage_error(ref: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        C.load_target(ref)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_import_failure_inside_the_target_module_is_one_line(tmp_path, monkeypatch) -> None:
    (tmp_path / "bad_target_mod.py").write_text("import not_installed_anywhere\n")
    (tmp_path / "raising_target_mod.py").write_text("raise RuntimeError('boom\\nmore')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError, match="importing 'bad_target_mod' failed"):
        C.load_target("bad_target_mod:dropout")
    with pytest.raises(UsageError) as err:
        C.load_target("raising_target_mod:dropout")
    assert "raised RuntimeError: boom" in str(err.value)


def test_a_callable_gets_the_defaults_and_the_reference_as_name() -> None:
    t = C.load_target("targets.correct:dropout")
    assert isinstance(t, C.Target) and t.name == "targets.correct:dropout"
    assert t.backend == C.NUMPY and t.layer is None and not t.has_gradient
    assert t.dtypes == ("float16", "float32", "float64") and t.p_range == "[0, 1]"
    assert t.seed_text() == "np.random.seed" and t.gradient_text() == "none"


def test_a_declared_target_keeps_its_capabilities_and_backend_overrides() -> None:
    t = C.load_target("targets.correct:target")
    assert t.has_gradient and t.layer is not None and t.seed_text() == "declared"
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    assert C.load_target("targets.correct:target", backend).backend == backend
    assert C.load_target(lambda x, p, training=True: x, "numpy").backend == "numpy"


@pytest.mark.parametrize("kwargs, message", [
    (dict(backend="theano"), "Unknown backend 'theano'"),
    (dict(dtypes=("int32",)), "dtypes"),
    (dict(dtypes=()), "dtypes"),
    (dict(p_range="(0, 1)"), "p_range"),
    (dict(gradient=True), "numpy target declares gradient=callable"),
    (dict(seed=3), "seed must be a bool or a callable"),
    (dict(layer=3), "layer must be a callable"),
])
def test_bad_capabilities_are_usage_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        C.Target(lambda x, p, training=True: x, **kwargs)
    with pytest.raises(UsageError, match="must be callable"):
        C.Target(3)


def test_builtin_targets_by_backend_name_or_alias() -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    t = C.load_target(f"d2ldrop.conformance.builtin:{backend}")
    assert t.name == f"{backend} builtin" and t.layer is not None
    assert dict(t.differences) == dict(C.impls.quirks_of(backend).builtin_differences)
    alias = next((a for a, b in registry.ALIASES.items() if b == backend), backend)
    assert builtin_target(alias).backend == backend
    with pytest.raises(UsageError, match="has no attribute 'theano'"):
        C.load_target("d2ldrop.conformance.builtin:theano")


# -- the specification a target is held to -----------------------------------------------


def _case(case_id: str) -> C.EdgeCase:
    return next(c for c in C.TARGET_EDGE_CASES if c.id == case_id)


def test_the_specification_of_a_target() -> None:
    t = C.Target(lambda x, p, training=True: x)
    for case in ("p<0", "p>1", "p=nan", "int"):
        spec = specified(t, _case(case))
        assert spec.labels == (ERROR,)
        assert spec.accepts("error", "RuntimeError") and not spec.accepts("value", "zeros")
    assert specified(t, _case("p=1")).labels == ("zeros",)
    assert specified(t, _case("p=0,large")).labels == ("identity",)
    assert specified(t, _case("nonfinite")).labels == (
        C.SCRATCH_EXPECTED["nonfinite"], NONFINITE_WHERE
    )
    # p = 1 must raise for a target that declares [0, 1); a dtype it does not
    # declare makes a case n/a; a documented difference replaces the specification.
    half_open = C.Target(t.dropout, p_range="[0, 1)", dtypes=("float32",),
                         differences={"empty": ("value [shape (0, 3) -> (0,)]", "flattens")})
    assert specified(half_open, _case("p=1")).labels == (ERROR,)
    assert specified(half_open, _case("p=1,nonfinite")).labels == (ERROR,)
    assert specified(half_open, _case("float16")).not_applicable
    assert specified(half_open, _case("int")).labels == (ERROR,)  # never n/a
    documented = specified(half_open, _case("empty"))
    assert documented.labels == ("value [shape (0, 3) -> (0,)]",)
    assert documented.documented == "flattens"
    # Plain `compare` has the bfloat16 cases too; a target adds p = 0 on 2^20 in the others.
    assert {"bfloat16", "p=0,large,bf16"} <= set(C.EDGE_CASE_IDS)
    assert "p=0,large" not in C.EDGE_CASE_IDS
    assert len(C.TARGET_EDGE_CASES) == len(C.EDGE_CASES) + 3  # p = 0 x 3 more dtypes


# -- proof that the suite catches real bugs --------------------------------------------------


@pytest.mark.parametrize("name", sorted(broken.BUGS))
def test_each_broken_target_fails_on_the_check_that_names_its_bug(name: str) -> None:
    suite = C.conformance_suite(f"targets.broken:{name}", size=SIZE)
    failed = _failed(suite)
    missing = broken.BUGS[name] - set(failed)
    assert not missing, (missing, sorted(failed))
    with pytest.raises(AssertionError) as err:
        suite.assert_conforms()
    for item in broken.BUGS[name]:
        assert f"- {item}: " in str(err.value)


def test_the_failure_messages_say_what_was_observed() -> None:
    def messages(name: str) -> dict[str, str]:
        return _failed(C.conformance_suite(f"targets.broken:{name}", size=SIZE))

    assert messages("nan_p_accepted")["edge[p=nan]"].startswith(
        "p = NaN: got zeros, specified an error"
    )
    assert "[dtype float16 -> float32]" in messages("dtype_not_kept")["edge[float16]"]
    frozen = messages("frozen_mask")["agreement[p=0.5]"]
    assert frozen.startswith("two calls agree at p=0.5: 1 not in [")
    assert f"{SIZE} of {SIZE} agree" in frozen
    assert "0 of 1048576 dropped" not in messages("p0_drops_zero")["edge[p=0,large]"]
    assert "got 0 or x" in messages("p0_drops_zero")["edge[p=0,large]"]
    assert "elements off" in messages("gradient_not_masked")["gradient[p=0.5]"]


@pytest.mark.parametrize("ref", ["targets.correct:dropout", "targets.correct:target"])
def test_correct_numpy_targets_pass(ref: str) -> None:
    suite = C.conformance_suite(ref, size=SIZE)
    assert _failed(suite) == {}
    na = _not_applicable(suite)
    # bfloat16 is not among the default dtypes: its edge cases are n/a.
    bf16 = {"edge[bfloat16]", "edge[p=0,large,bf16]"}
    if ref.endswith(":dropout"):  # no gradient, no layer: n/a, with the reason
        assert na == bf16 | {f"{c}[p={p:g}]" for p in C.DEFAULT_PS
                             for c in ("gradient", "layer_eval", "layer_train", "layer_seed")}
    else:
        assert na == bf16
    suite.assert_conforms()


FRAMEWORK_TARGETS = {
    "torch": "targets.torch_drop:target",
    "tensorflow": "targets.tensorflow_drop:target",
    "mxnet": "targets.mxnet_drop:target",
    "jax": "targets.jax_drop:target",
}


@pytest.mark.parametrize("backend", [b for b in SELECTED_BACKENDS if b in FRAMEWORK_TARGETS])
def test_a_dropout_written_with_each_framework_passes(backend: str) -> None:
    # The examples of docs/conformance.md, run: the framework loads through its
    # adapter first (require_backend), as --target-backend makes it.
    require_backend(backend)
    suite = C.conformance_suite(FRAMEWORK_TARGETS[backend], backend=backend, size=SIZE)
    assert _failed(suite) == {}
    # They declare the default dtypes: the bfloat16 cases are n/a.
    assert _not_applicable(suite) == {"edge[bfloat16]", "edge[p=0,large,bf16]"}


@pytest.mark.parametrize("backend", SELECTED_BACKENDS)
def test_each_framework_builtin_passes_as_a_target(backend: str) -> None:
    require_backend(backend)
    suite = C.conformance_suite(f"d2ldrop.conformance.builtin:{backend}", size=SIZE)
    assert _failed(suite) == {}


def test_a_torch_gradient_that_is_not_masked_fails() -> None:
    if "torch" not in SELECTED_BACKENDS:
        pytest.skip("torch not selected")
    require_backend("torch")
    suite = C.conformance_suite("targets.torch_drop:straight_through", backend="torch",
                                ps=[0.5], size=SIZE)
    failed = _failed(suite)
    assert "gradient[p=0.5]" in failed and "values[p=0.5]" not in failed


def test_the_d2l_jax_bug_fails_on_agreement() -> None:
    if "jax" not in SELECTED_BACKENDS:
        pytest.skip("jax not selected")
    require_backend("jax")
    suite = C.conformance_suite("targets.jax_drop:frozen_key", backend="jax", ps=[0.5],
                                size=SIZE)
    assert set(_failed(suite)) == {"agreement[p=0.5]", "seed_different[p=0.5]"}


def test_a_torch_target_given_numpy_arrays_says_to_name_its_backend() -> None:
    if "torch" not in SELECTED_BACKENDS:
        pytest.skip("torch not selected")
    require_backend("torch")
    suite = C.conformance_suite("targets.torch_drop:dropout", ps=[0.5], size=4096)
    message = _failed(suite)["fraction[p=0.5]"]
    assert "the target raised AttributeError" in message and "--target-backend" in message


# -- capabilities: what does not apply is n/a, with the reason --------------------------------


def test_undeclared_capabilities_are_not_applicable() -> None:
    from targets.correct import generator_dropout

    t = C.Target(generator_dropout, seed=False, dtypes=("float32",))
    suite = C.ConformanceSuite(t, ps=[0.5], size=4096)
    na = _not_applicable(suite)
    assert {"seed_same[p=0.5]", "seed_different[p=0.5]", "gradient[p=0.5]"} <= na
    assert {"edge[float16]", "edge[float64]", "edge[p=1-2^-11,f16]"} <= na
    assert _failed(suite) == {}
    assert "declares no seeding" in suite.verdict(C.Item("x", "check", "seed_same", 0.5)).message


def test_a_target_without_the_training_keyword_fails_only_eval_call() -> None:
    from targets.correct import dropout

    def no_keyword(x, p):
        return dropout(x, p)

    suite = C.ConformanceSuite(C.Target(no_keyword), ps=[0.5], size=4096)
    failed = _failed(suite)
    assert set(failed) == {"eval_call[p=0.5]"}
    assert "raised TypeError" in failed["eval_call[p=0.5]"]


def test_a_target_that_refuses_p_one_declares_it() -> None:
    from targets.correct import dropout

    def refuses_one(x, p, *, training=True):
        if p == 1:
            raise ValueError("rate must be in [0, 1)")
        return dropout(x, p, training=training)

    assert set(_failed(C.ConformanceSuite(C.Target(refuses_one), ps=[0.5], size=4096))) == {
        "edge[p=1]", "edge[p=1,nonfinite]"
    }
    declared = C.Target(refuses_one, p_range="[0, 1)")
    assert _failed(C.ConformanceSuite(declared, ps=[0.5], size=4096)) == {}


def test_an_in_place_dropout_fails_input_kept_only() -> None:
    from targets.correct import dropout

    def in_place(x, p, *, training=True):
        y = dropout(x, p, training=training)
        if y is not x:
            x[...] = y  # overwrites the input it was given
        return x

    failed = _failed(C.ConformanceSuite(C.Target(in_place), ps=[0.5], size=4096))
    # The damaged input is its own failure (issue 25), and the only one.
    assert set(failed) == {"input_kept[p=0.5]"}
    assert "calls changed their input (in place)" in failed["input_kept[p=0.5]"]


def test_the_family_wise_bound_counts_every_bounded_check() -> None:
    for ref, per_p in (("targets.correct:dropout", 7), ("targets.correct:target", 8)):
        suite = C.conformance_suite(ref, size=4096)
        assert suite.bounded_checks == 3 * per_p
        ran = sum(c.kind == "bound" for p in suite.ps for c in suite.stats(p).checks.values())
        assert ran == suite.bounded_checks
        k, alpha = suite.bounded_checks, C.two_sided_alpha(C.Z)
        assert suite.header().endswith(f"family-wise <= {k * alpha:.2g}")


def test_item_ids_are_readable_and_unique() -> None:
    suite = C.conformance_suite("targets.correct:dropout", size=4096)
    ids = [item.id for item in suite.items()]
    assert len(ids) == len(set(ids)) == 3 * 16 + len(C.TARGET_EDGE_CASES)
    assert "fraction[p=0.1]" in ids and "edge[p=nan]" in ids and "eval_call[p=0.9]" in ids


def test_suite_argument_checks_are_usage_errors() -> None:
    for kwargs in (dict(ps=[1.0]), dict(ps=[]), dict(size=10), dict(dtype="float16"),
                   dict(seed=-1)):
        t = C.Target(lambda x, p, training=True: x, dtypes=("float32",))
        with pytest.raises(UsageError):
            C.ConformanceSuite(t, **kwargs)


# -- the commands -----------------------------------------------------------------------------


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


SMALL = ["--p", "0.5", "--size", "4096"]


def test_compare_target_passes_beside_a_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    rc = main(["compare", "--target", "targets.correct:target", "-b", backend, *SMALL])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith("d2ldrop compare --target targets.correct:target; beside it: "
                          f"builtin on {backend}")
    head = next(line for line in out.splitlines() if line.startswith("statistic"))
    assert head.split() == ["statistic", "target", backend, "builtin"]
    assert "training=False returns x" in out and "p = 0, 2^20 finite float32 x" in out
    # The target's 8 bounded checks and the builtin's 8 at one p: one family-wise bound.
    alpha = C.two_sided_alpha(C.Z)
    assert f"16 bounded checks, family-wise <= {16 * alpha:.2g}" in " ".join(out.split())
    assert "PASS: target targets.correct:target" in " ".join(out.split())


@pytest.mark.parametrize("name, needle", [
    ("nan_p_accepted", "edge[p=nan]: p = NaN: got zeros, specified an error"),
    ("frozen_mask", "agreement[p=0.5]: two calls agree at p=0.5: 1 not in ["),
    ("unscaled", "values[p=0.5]: values 0 or x/(1-p) at p=0.5: "),
])
def test_compare_target_fails_naming_the_case_and_the_observation(
    name: str, needle: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(registry, "is_installed", lambda b: False)  # the target alone
    rc = main(["compare", "--target", f"targets.broken:{name}", *SMALL])
    out = capsys.readouterr().out
    assert rc == 1 and "beside it: nothing" in out
    assert f"- target targets.broken:{name} {needle}" in " ".join(out.split())


def test_compare_target_json_is_strict(monkeypatch, capsys) -> None:
    monkeypatch.setattr(registry, "is_installed", lambda b: False)
    rc = main(["compare", "--target", "targets.broken:nan_p_accepted", *SMALL, "--json"])
    doc = _strict_json(capsys.readouterr().out)
    assert rc == 1 and doc["passed"] is False and doc["beside"] is None
    assert doc["target"]["name"] == "targets.broken:nan_p_accepted"
    assert doc["target"]["backend"] == "numpy" and doc["target"]["layer"] is False
    nan_row = next(e for e in doc["edges"] if e["case"] == "p=nan")
    assert nan_row["p"] is None and nan_row["label"] == "zeros"
    assert nan_row["as_expected"] is False and nan_row["expected"] == ERROR
    assert [f for f in doc["failures"] if "edge[p=nan]" in f]
    assert {e["case"] for e in doc["edges"]} == {c.id for c in C.TARGET_EDGE_CASES}


def test_stats_target_rows_beside_the_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    rc = main(["stats", "--target", "targets.broken:unscaled", "-b", backend, *SMALL])
    out = capsys.readouterr().out
    assert rc == 1
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.split() and line.split()[0] in ("numpy", backend)}
    assert "FAIL: mean, variance, values" in rows["numpy"]
    assert rows[backend].rstrip().endswith("PASS")
    assert "- target targets.broken:unscaled mean[p=0.5]: mean preserved at p=0.5:" in out
    assert main(["stats", "--target", "targets.correct:target", "-b", backend, *SMALL]) == 0
    capsys.readouterr()


def test_stats_target_json(monkeypatch, capsys) -> None:
    monkeypatch.setattr(registry, "is_installed", lambda b: False)
    assert main(["stats", "--target", "targets.correct:dropout", *SMALL, "--json"]) == 0
    doc = _strict_json(capsys.readouterr().out)
    assert doc["passed"] and doc["beside"] is None and doc["failures"] == []
    (row,) = doc["results"]
    assert row["impl"] == "target" and row["backend"] == "numpy"
    assert row["checks"]["gradient"]["passed"] is None
    assert row["checks"]["eval_call"]["passed"] is True


@pytest.mark.parametrize("argv, message", [
    (["--target", "nowhere.drop:dropout"], "no module named 'nowhere'"),
    (["--target", "targets.correct:nothing"], "has no attribute 'nothing'"),
    (["--target", "targets.correct:_rng"], "is not callable"),
    (["--target", "targets.correct"], "expected package.module:function"),
    (["--target-backend", "numpy"], "--target-backend needs --target"),
    (["--target", "targets.correct:dropout", "--target-backend", "theano"],
     "Unknown backend 'theano'"),
])
@pytest.mark.parametrize("command", ["compare", "stats"])
def test_target_errors_are_one_line_and_exit_2(command, argv, message, capsys) -> None:
    assert main([command, *argv, *SMALL]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"d2ldrop {command}: error: ") and message in err
    assert err.count("\n") == 1


def test_plain_compare_is_unchanged_by_the_target_options(capsys) -> None:
    backend = SELECTED_BACKENDS[0]
    require_backend(backend)
    rc = main(["compare", "-b", backend, "--impl", "scratch", *SMALL])
    out = capsys.readouterr().out
    assert rc == 0 and "target" not in out.lower()
    assert "p = 0, 2^20 finite float32 x" not in out  # the target-only edge case


def test_documented_target_differences_pass_and_are_explained(monkeypatch, capsys) -> None:
    from targets.correct import dropout

    def flattens_empty(x, p, *, training=True):
        return x.reshape(-1) if x.size == 0 else dropout(x, p, training=training)

    module = type(sys)("flattening_target")
    module.target = C.Target(flattens_empty, name="flattening_target:target", differences={
        "empty": ("value [shape (0, 3) -> (0,)]", "empty inputs come back flat"),
    })
    monkeypatch.setitem(sys.modules, "flattening_target", module)
    monkeypatch.setattr(registry, "is_installed", lambda b: False)
    assert main(["compare", "--target", "flattening_target:target", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "Differences the target documents:" in out
    assert "- empty: empty inputs come back flat" in out
    assert "1 documented differences" in " ".join(out.split())
