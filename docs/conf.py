"""Sphinx configuration of the d2ldrop documentation site (``tox -e docs``).

Two pages are made at build time, so that they cannot drift from the code:

- ``api/d2ldrop.rst`` and ``api/d2ldrop.conformance.rst``: one entry for every
  name in the package's ``__all__``; a public name without a docstring is a
  warning, hence an error under ``-W``;
- ``chapter/dropout.ipynb``: ``notebooks/dropout.ipynb`` executed at its quick
  size by ``scripts/run_notebook.py`` (rerun when the notebook is newer than
  the executed copy), rendered by myst-nb with its outputs and figures.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import d2ldrop  # noqa: E402

project = "d2ldrop"
author = "the d2ldrop developers"
copyright = "the d2ldrop developers"
release = d2ldrop.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.autosummary",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
root_doc = "index"
# An unlabelled fence is a measurement table or a listing: printed as it is, not
# coloured as if it were Python (min, max and numbers were).
highlight_language = "text"

html_theme = "furo"
html_title = f"d2ldrop {release}"
html_static_path = ["_static"]
html_css_files = ["d2ldrop.css"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# The notebook is executed once, by scripts/run_notebook.py (below), not by myst-nb.
nb_execution_mode = "off"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# ops.py and models.py name their framework tensors `Tensor` (an alias of Any), and
# build_mlp's choices Kind, Init and Noise (Literals, spelled out in its Args).
autodoc_type_aliases = {name: name for name in ("Tensor", "Kind", "Init", "Noise")}
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# Warnings are errors and every cross-reference is checked (-W -n), but only
# against this site: no intersphinx, so the build needs no network. References
# to other projects' types, and to d2ldrop's modules (named in docstrings for
# readers of the source), cannot resolve here.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|torch|tf|tensorflow|mxnet|mx|jax|jnp|flax|optax|ray|pytest|"
               r"matplotlib|concurrent|collections|typing|types|pathlib|os|contextlib|"
               r"abc|_pytest|IPython)(\..*)?"),
    # d2ldrop's private and backend modules, and its modules in general: the
    # reference has a page per public package, not per module
    (r"py:.*", r"d2ldrop\.(_\w+|backends)(\..*)?"),
    (r"py:mod", r"d2ldrop\..*"),
    # return types of public methods that are not public names themselves
    (r"py:class", r"d2ldrop\.(history\.EpochRecord|display\.figure\.InlineFigure)"),
    # edge_cases' signature names the type of its cases, not exported
    (r"py:class", r"d2ldrop\.conformance\.edges\.EdgeCase"),
    # a base class autodoc shows for BackendNotAvailableError: d2ldrop.errors has
    # no page and exports it only to other modules, not in d2ldrop.__all__
    (r"py:class", r"d2ldrop\.errors\.MissingDependencyError"),
    (r"py:.*", r"(Any|Callable|Iterable|Iterator|Mapping|Sequence|Path|PathLike|ArrayLike|"
               r"Tensor|Kind|Init|Noise|Array|NDArray|T|Self|Literal|Optional|Union|TextIO|"
               r"Executor|Future)"),
    # names that are not public, referred to by their short names in docstrings
    (r"py:.*", r"(Adapter|Batches|measure|ps|seedable|EXTRA_CASES)"),
]

PUBLIC = {"d2ldrop": "The chapter's API", "d2ldrop.conformance": "Conformance"}


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    return "function" if callable(obj) else "data"


def write_api_pages() -> None:
    """Write api/<module>.rst: every name of the module's __all__, grouped by kind."""
    headings = {"function": "Functions", "class": "Classes", "exception": "Errors",
                "data": "Constants"}
    directives = {"function": "autofunction", "class": "autoclass",
                  "exception": "autoexception", "data": "autodata"}
    for name, title in PUBLIC.items():
        module = importlib.import_module(name)
        groups: dict[str, list[str]] = {kind: [] for kind in headings}
        for public in module.__all__:
            groups[_kind(getattr(module, public))].append(public)
        heading = f"``{name}``: {title}"
        lines = [heading, "=" * len(heading), "",
                 f".. automodule:: {name}", "   :no-members:", "",
                 f".. currentmodule:: {name}", ""]
        for kind, names in groups.items():
            if not names:
                continue
            lines += [headings[kind], "-" * len(headings[kind]), "", ".. autosummary::", ""]
            lines += [f"   {n}" for n in sorted(names, key=str.lower)] + [""]
            for n in sorted(names, key=str.lower):
                lines += [f".. {directives[kind]}:: {n}", ""]
        text = "\n".join(lines)
        path = DOCS / "api" / f"{name}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def execute_notebook() -> None:
    """Execute notebooks/dropout.ipynb (quick form, torch) into chapter/ unless up to date."""
    source = ROOT / "notebooks" / "dropout.ipynb"
    out = DOCS / "chapter" / "dropout.ipynb"
    if out.exists() and out.stat().st_mtime >= source.stat().st_mtime:
        return
    backend = os.environ.get("D2LDROP_DOCS_BACKEND", "torch")
    print(f"executing {source} (quick form, {backend}) for the docs: a few minutes")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebook.py"), str(source),
                    "--backend", backend, "--out", str(out),
                    "--work", "docs/_build/notebook"], check=True, cwd=ROOT)


def add_ecosystem(app, docname, source) -> None:  # noqa: ARG001
    """List docs/ecosystem.md (issue 21's report) among the results when there is one."""
    if docname == "index" and (DOCS / "ecosystem.md").exists():
        source[0] = source[0].replace("results/*\n```", "results/*\necosystem\n```", 1)


def _attribute_doc(obj: object, name: str) -> list[str] | None:
    """The ``#:`` comment of the module-level assignment that defined ``name``."""
    from sphinx.pycode import ModuleAnalyzer

    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("d2ldrop") or getattr(module, name, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except Exception:  # a compiled or source-less module: nothing to read
            continue
        if ("", name) in docs:
            return [line for line in docs[("", name)]]
    return None


def check_docstring(app, what, name, obj, options, lines) -> None:  # noqa: ARG001
    """Constants get their ``#:`` comment; a public name with no docstring is a warning."""
    from sphinx.util import logging

    short = name.rsplit(".", 1)[-1]
    module = name.rsplit(".", 1)[0]
    if what == "data" and module in PUBLIC:
        found = _attribute_doc(obj, short)
        lines[:] = found if found is not None else []
    public = module in PUBLIC and short in importlib.import_module(module).__all__
    if public and not any(line.strip() for line in lines):
        logging.getLogger("d2ldrop.docs").warning(
            f"public name {name} has no docstring", type="d2ldrop", subtype="docstring")


def tidy_signature(app, what, name, obj, options, signature, return_annotation):  # noqa: ARG001
    """Sphinx 8.2 prints an alias nested in a generic as ``TypeAliasForwardRef('Tensor')``."""
    def tidy(text: str | None) -> str | None:
        return None if text is None else re.sub(r"TypeAliasForwardRef\('(\w+)'\)", r"\1", text)

    return tidy(signature), tidy(return_annotation)


def setup(app):
    write_api_pages()
    if os.environ.get("D2LDROP_DOCS_SKIP_NOTEBOOK") != "1":
        execute_notebook()
    app.connect("autodoc-process-docstring", check_docstring)
    app.connect("autodoc-process-signature", tidy_signature)
    app.connect("source-read", add_ecosystem)
    return {"parallel_read_safe": True}
