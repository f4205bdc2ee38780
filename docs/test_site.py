"""What a reader of the built docs sees, checked in headless Chromium (``tox -e docs``).

Each page of ``docs/_build/html`` is loaded in an iframe of a small harness page;
the harness reads the rendered document (text as laid out, tables, whether each
image decoded) and writes it into its own DOM, which ``chromium --dump-dom``
prints. A screenshot of each page is kept in ``docs/_build/screenshots`` for a
person to look at, and checked not to be blank.

Without Chromium (Debian's ``chromium`` package) or a built site the checks skip,
except under ``CI=true``, where they fail: CI builds the site and installs Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

HTML = Path(__file__).resolve().parent / "_build" / "html"
SHOTS = HTML.parent / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

HARNESS = """<!doctype html><html><body>
<iframe id="page" src="{url}" style="width:1280px;height:900px"></iframe>
<script>
const frame = document.getElementById("page");
frame.addEventListener("load", () => setTimeout(() => {{
  const doc = frame.contentDocument;
  const result = {{
    title: doc.title,
    text: doc.body.innerText,
    images: [...doc.images].map(i => ({{src: i.getAttribute("src").slice(0, 80),
                                         width: i.naturalWidth, complete: i.complete}})),
    tables: [...doc.querySelectorAll("table")].map(t => ({{
      rows: t.rows.length, inOutput: !!t.closest(".cell_output, .output")}})),
    signatures: [...doc.querySelectorAll("dt.sig")].map(d => d.innerText),
    errors: [...doc.querySelectorAll(".output.traceback, .output.stderr")].length,
  }};
  const out = document.createElement("pre");
  out.id = "result";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
}}, 500));
</script></body></html>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "headless Chromium is not installed (apt-get install chromium)"
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def _page(relative: str) -> Path:
    path = HTML / relative
    if not path.exists():
        reason = f"{path} is not built (tox -e docs)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _flags() -> list[str]:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    return ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--allow-file-access-from-files", "--virtual-time-budget=15000"]


def render(relative: str) -> dict:
    """The rendered page as the harness reads it, and a screenshot of it."""
    chromium, page = _chromium(), _page(relative)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (relative.replace("/", "-").replace(".html", ".png"))
    subprocess.run([chromium, *_flags(), f"--screenshot={shot}", "--window-size=1280,1600",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    with tempfile.TemporaryDirectory() as tmp:
        harness = Path(tmp) / "harness.html"
        harness.write_text(HARNESS.format(url=page.as_uri()), encoding="utf-8")
        done = subprocess.run([chromium, *_flags(), "--dump-dom", harness.as_uri()],
                              check=True, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the harness could not read {relative}: {done.stdout[-500:]}"
    import html

    result = json.loads(html.unescape(found.group(1)))
    result["screenshot"] = shot
    return result


def assert_not_blank(shot: Path) -> None:
    """A screenshot of a rendered page has text on a background: many distinct values."""
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100, pixels.shape
    assert pixels[..., :3].std() > 0.05, f"{shot} looks blank"


def assert_images_decoded(result: dict, at_least: int) -> None:
    broken = [i["src"] for i in result["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert len(result["images"]) >= at_least, result["images"]


def test_index_renders() -> None:
    result = render("index.html")
    assert "d2ldrop" in result["title"]
    assert "PyTorch, TensorFlow, MXNet and JAX" in result["text"]
    assert_images_decoded(result, 1)  # the four frameworks' curves
    assert_not_blank(result["screenshot"])


def test_api_page_shows_dropout_layer_with_its_signature() -> None:
    result = render("api/d2ldrop.html")
    dropout = [s for s in result["signatures"] if re.search(r"\bdropout_layer\(", s)]
    assert dropout, result["signatures"][:10]
    signature = (r"dropout_layer\(X: Tensor, p: float, \*, broadcast_axes: object = None, "
                 r"backend: str \| None = None\)")
    assert re.search(signature, dropout[0]), dropout[0]
    text = result["text"].lower()  # the theme shows field names in capitals
    assert "returns" in text and "raises" in text
    assert_not_blank(result["screenshot"])


def test_notebook_page_shows_figures_and_tables() -> None:
    result = render("chapter/dropout.html")
    # the live curves of two models, both models, lockstep, the experiment's figure
    assert_images_decoded(result, 5)
    tables = [t for t in result["tables"] if t["inOutput"]]
    # the two histories, compare, lockstep and the experiment render as HTML tables
    assert len(tables) >= 4, result["tables"]
    assert all(t["rows"] >= 2 for t in tables), tables
    assert result["errors"] == 0, "the executed notebook shows an error"
    assert_not_blank(result["screenshot"])
