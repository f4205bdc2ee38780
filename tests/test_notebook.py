"""notebooks/dropout.ipynb: committed without outputs, and every cell runs.

The run executes the notebook's quick form in a fresh kernel (nbclient and
ipykernel, from the ``test`` extra) on the real Fashion-MNIST, once per selected
backend, and fails if any cell raises. Without nbclient or ipykernel it is
skipped, naming the extra; under CI (``CI=true``) that is a failure.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from support import IN_CI, require_updater

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "dropout.ipynb"
SCRIPT = ROOT / "scripts" / "run_notebook.py"
PNG = b"\x89PNG\r\n\x1a\n"


def load_script():
    spec = importlib.util.spec_from_file_location("run_notebook", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_notebook_stack() -> None:
    missing = [m for m in ("nbclient", "nbformat", "ipykernel")
               if importlib.util.find_spec(m) is None]
    if missing:
        reason = (f"{', '.join(missing)} not installed: pip install -e \".[test]\" to run "
                  "the notebook")
        if IN_CI:
            pytest.fail(f"CI must execute the notebook, but {reason}")
        pytest.skip(reason)


def test_committed_notebook_has_no_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    for cell in code:
        source = "".join(cell["source"])[:60]
        assert cell["outputs"] == [], f"a cell has outputs (strip them): {source!r}"
        assert cell["execution_count"] is None, f"a cell has an execution count: {source!r}"
        assert "execution" not in cell.get("metadata", {})
    assert "widgets" not in nb["metadata"]
    # One variable at the top picks the backend, in the cell the runner injects after.
    (params,) = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert code.index(params) == 0
    assert "".join(params["source"]).startswith("BACKEND = ")


def test_strip_outputs_and_injection(tmp_path):
    run_notebook = load_script()
    copy = tmp_path / "nb.ipynb"
    shutil.copy(NOTEBOOK, copy)
    assert run_notebook.strip_outputs(copy) is False  # already clean: untouched
    nb = json.loads(copy.read_text(encoding="utf-8"))
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    nb["cells"][1]["execution_count"] = 3
    copy.write_text(json.dumps(nb), encoding="utf-8")
    assert run_notebook.strip_outputs(copy) is True
    stripped = json.loads(copy.read_text(encoding="utf-8"))
    assert stripped["cells"][1]["outputs"] == [] and stripped["cells"][1]["execution_count"] is None

    pytest.importorskip("nbformat")
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    run_notebook.inject_parameters(nb, BACKEND="b", QUICK=True, OUT=None)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nb.cells[at + 1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert injected.source.splitlines()[1:] == ["BACKEND = 'b'", "QUICK = True"]
    nbformat.validate(nb)


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.realdata
def test_the_notebook_runs(backend, real_data, tmp_path):
    """Every cell of the quick form runs; a reader sees the curves, the tables and
    the progress lines (checked here on the executed copy)."""
    require_notebook_stack()
    require_updater(backend, "framework")  # the book's concise model uses it
    run_notebook = load_script()
    nb = run_notebook.run_notebook(NOTEBOOK, tmp_path / "dropout.ipynb", backend=backend,
                                   quick=True, timeout=900)
    check_outputs(run_notebook, nb, backend, tmp_path)


def check_outputs(run_notebook, nb, backend: str, work: Path) -> None:
    """What a reader of the executed quick form sees."""
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"on {backend}, 2 epochs per model" in text and "p = 0.5:" in text
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    for what in (f"History: {backend}/scratch", f"History: {backend}/concise",
                 "Dropout conformance of", "Lockstep: largest differences",
                 "Exercise 1: the two dropout probabilities"):
        assert any(what in h for h in html), f"no table shows {what!r}"
    assert sum("<progress" in h for h in html) == 3  # two models and the lockstep run
    pngs = run_notebook.images(nb)
    # Each model's live curves, both together, the lockstep run, the experiment's live
    # curves (redrawn after each run) and its figure.
    assert len(pngs) == 6 and all(png.startswith(PNG) for _, png in pngs)
    assert (work / "dropout-grid" / "dropout-grid.png").exists()
    # The live figures are the last update's: a display updated in place, not appended
    # (two models, the lockstep run, the experiment).
    live = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(live) == 4
    assert all(base64.b64decode(o.data["image/png"]).startswith(PNG) for o in live)
