"""scripts/ecosystem_report.py: an entry is run in every dtype it accepts and judged by
the suite (a shipped bug departs where it shows, a correct dropout conforms); the
page says library x dtype x verdict and ties each departure to a finding or says
it is unclassified; a module runs end to end in a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import SELECTED_BACKENDS, require_backend
from targets import correct, shipped

from d2ldrop.conformance import Target

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import ecosystem_report as report  # noqa: E402
from ecosystem import Entry  # noqa: E402
from ecosystem.findings import match  # noqa: E402
from ecosystem.render import render_page  # noqa: E402

SIZE = 2**12
PS = (0.1, 0.5, 0.9)


def _rows(result: dict) -> dict[str, dict]:
    return {r["dtype"]: r for r in result["rows"]}


def test_a_shipped_float64_bug_departs_in_float64_only() -> None:
    entry = Entry("shipped float64", "zoo",
                  lambda **c: Target(shipped.float64_scaled_in_float32, **c))
    rows = _rows(report._run_entry(entry, SIZE, PS))
    assert rows["float32"]["status"] == "conforms"
    assert rows["float16"]["status"] == "conforms"
    assert rows["float64"]["status"] == "departs"
    assert {f["item"] for f in rows["float64"]["failures"]} == {"values[p=0.1]",
                                                                "edge[float64]"}


def test_a_correct_dropout_conforms_in_every_dtype_it_accepts() -> None:
    entry = Entry("correct", "zoo", lambda **c: Target(correct.dropout, **c))
    rows = _rows(report._run_entry(entry, SIZE, PS))
    accepted = [r for r in rows.values() if r["status"] != "unsupported"]
    assert {r["dtype"] for r in accepted} >= {"float16", "float32", "float64"}
    assert all(r["status"] == "conforms" for r in accepted), rows


def test_a_refused_dtype_is_unsupported_with_the_error() -> None:
    def float32_only(x, p, *, training=True):
        if str(x.dtype) != "float32":
            raise TypeError(f"no {x.dtype} here")
        return correct.dropout(x, p, training=training)

    rows = _rows(report._run_entry(Entry("f32", "zoo", lambda **c: Target(float32_only, **c)),
                                   SIZE, PS))
    assert rows["float32"]["status"] == "conforms"
    assert rows["float64"] == {"dtype": "float64", "status": "unsupported",
                               "error": "TypeError: no float64 here"}


def test_a_missing_capability_is_not_checked_as_something_else() -> None:
    entry = Entry("needs", "zoo", lambda **c: Target(correct.dropout, **c),
                  capabilities={"no_such_capability": 1})
    (row,) = report._run_entry(entry, SIZE, PS)["rows"]
    assert row["status"] == "not checkable here" and "no_such_capability" in row["error"]


def test_the_page_is_library_by_dtype_and_classifies_each_departure() -> None:
    doc = {"module": "m", "env": "all", "size": SIZE, "ps": list(PS), "date": "d",
           "versions": {"lib": "1.0"}, "entries": [
               {"key": "mxnet.npx.dropout", "library": "MXNet", "method": "dropout", "rows": [
                   {"dtype": "float32", "status": "conforms", "failures": []},
                   {"dtype": "float64", "status": "departs", "failures": [
                       {"item": "values[p=0.1]", "message": "off by 5e-08"},
                       {"item": "values[p=0.9]", "message": "off by 2e-07"},
                       {"item": "lag1[p=0.5]", "message": "something new"}]}]}]}
    page = render_page([doc], root=ROOT)
    assert "| MXNet | `mxnet.npx.dropout` | - | - | conforms | **departs (3)** |" in page
    assert ("- float64 `values[p=0.1]`: off by 5e-08 (also at p = 0.9) — [bug: float64 "
            "inputs are scaled by a float32 1 / (1 - p)]"
            # the heading's slug, which GitHub and MyST both resolve
            "(#bug-float64-inputs-are-scaled-by-a-float32-1--1---p)") in page
    assert "- float64 `lag1[p=0.5]`: something new — unclassified" in page
    assert '<a id="float32-scale-on-float64"></a>' in page and "```python" in page
    assert "1 departure(s) above are unclassified" in page


def test_findings_match_by_key_item_and_dtype() -> None:
    assert match("tf.nn.dropout", "bfloat16", "fraction[p=0.001]").kind == "bug"
    assert match("tf.nn.dropout", "float32", "fraction[p=0.001]") is None
    assert match("flax.nnx.Dropout", "float32", "edge[p=nan]").id == "rate-not-validated"


def test_modules_declare_their_environment_without_being_imported() -> None:
    assert set(report.MODULES) >= {"torch_nn", "tf_keras", "keras_jax", "keras_torch",
                                   "flax_linen", "flax_nnx", "equinox_nn", "haiku_fn",
                                   "paddle_fn", "mxnet_npx"}
    assert {env for env, _ in report.MODULES.values()} == set(report.ENVS)
    assert report.MODULES["keras_jax"][1] == {"KERAS_BACKEND": "jax"}


def test_one_module_runs_end_to_end_in_its_own_process(tmp_path: Path) -> None:
    if "torch" not in SELECTED_BACKENDS:
        pytest.skip("torch not selected")
    require_backend("torch")
    out = tmp_path / "torch_nn.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ecosystem_report.py"), "one",
                    "torch_nn", "--size", "16384", "--json", str(out)], check=True,
                   timeout=600, cwd=ROOT)
    doc = json.loads(out.read_text())
    assert "error" not in doc and doc["versions"]["torch"]
    by_key = {e["key"]: e for e in doc["entries"]}
    # NaN and inf times the zero mask at p = 1 is NaN: its one departure in float32.
    f32 = _rows(by_key["torch.nn.functional.dropout"])["float32"]
    assert [f["item"] for f in f32["failures"]] == ["edge[p=1,nonfinite]"]
    assert all(r["status"] == "different method"
               for r in by_key["torch.nn.functional.alpha_dropout"]["rows"]
               if r["status"] != "unsupported")
