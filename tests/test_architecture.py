"""The layout rules of docs/architecture.md, checked on the source.

- Framework knowledge lives in ``d2ldrop/backends/``: no other module (nor a
  script) names a framework in its code (docstrings and comments may explain).
- No module is longer than 450 lines.
- Every module is in one tier of docs/architecture.md's table; no import points
  up a tier and none closes a cycle, every import counted: type-only (``if
  TYPE_CHECKING:``) and function-local included. One test lists every offender.
- Every registry entry has a complete folder ``d2ldrop/backends/<name>/``, and
  the registry imports the backend from it.
- One error family: no module raises a bare built-in exception, and every
  exception class derives from ``D2LDropError``.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "d2ldrop"
BACKENDS_DIR = PACKAGE / "backends"
MAX_LINES = 450
FRAMEWORK_WORDS = re.compile(
    r"\b(torch|pytorch|tensorflow|keras|mxnet|gluon|jax|jaxlib|flax|optax)\b", re.I
)


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _neutral_files() -> list[Path]:
    return [p for p in _modules() if BACKENDS_DIR not in p.parents] + sorted(
        (ROOT / "scripts").glob("*.py")
    )


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def framework_mentions(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string constant or name in code that names a framework."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            text = " ".join([getattr(node, "module", None) or ""]
                            + [a.name for a in node.names])
        if text and FRAMEWORK_WORDS.search(text.replace("_", " ")):
            found.append((node.lineno, text[:60]))
    return found


def test_neutral_code_names_no_framework() -> None:
    """Every module outside backends/ (and every script); all offenders listed."""
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in _neutral_files()
                 for line, text in framework_mentions(path.read_text(encoding="utf-8"))]
    assert not offenders, "neutral code names a framework:\n" + "\n".join(offenders)


def test_the_check_catches_a_framework_name() -> None:
    assert framework_mentions('STYLES = {"torch": "-"}\n')
    assert framework_mentions("import tensorflow as tf\n")
    assert framework_mentions("x = adapter.mxnet_only\n")
    assert not framework_mentions('"""Runs on torch and mxnet."""\nx = 1  # keras\n')


def test_modules_are_short() -> None:
    """No module over MAX_LINES lines; all offenders listed."""
    lengths = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in _modules()}
    offenders = [f"{path.relative_to(ROOT)}: {n} lines" for path, n in lengths.items()
                 if n > MAX_LINES]
    assert not offenders, f"modules over {MAX_LINES} lines:\n" + "\n".join(offenders)


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import node: module level, function-local, and type-only."""
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (``from pkg import submodule``
    counts as importing the submodule)."""
    root = package.parent
    names = {_module_name(p, root): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        is_pkg = path.name == "__init__.py"
        deps = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor if is_pkg else anchor[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in names else base
                           for a in node.names]
            deps.update(t for t in targets if t in names and t != name)
        graph[name] = deps
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, one per strongly connected component of more than one
    module: the component's modules, sorted (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    """Type-only and function-local imports included; every cycle is listed."""
    graph = import_graph()
    cycles = find_cycles(graph)
    described = [" -> ".join(find_cycle({m: graph[m] & set(c) for m in c}) or c)
                 for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(described)


def test_the_cycle_check_catches_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert find_cycles(graph) == [["a", "b"], ["c", "d", "e"]]


def test_the_import_graph_counts_type_only_and_local_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from pkg.b import B\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n")
    (pkg / "c.py").write_text("from . import a\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b"]]


# -- tiers ---------------------------------------------------------------------------------

ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"
_TIER_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([\w ]+?)\s*\|([^|]*)\|")


def tier_table(text: str) -> dict[str, tuple[int, str]]:
    """docs/architecture.md's table as {path pattern under d2ldrop/: (tier, layer)}."""
    table = {}
    for line in text.splitlines():
        if m := _TIER_ROW.match(line):
            for pattern in re.findall(r"`([^`]+)`", m.group(3)):
                table[pattern] = (int(m.group(1)), m.group(2))
    return table


def tier_of(module_path: str, table: dict[str, tuple[int, str]]) -> tuple[int, str] | None:
    """The row of a path under d2ldrop/ (``display/html.py``): its own, else its
    innermost folder's."""
    matches = [p for p in table
               if p == module_path or (p.endswith("/") and module_path.startswith(p))]
    return table[max(matches, key=len)] if matches else None


def _tiers(package: Path, table: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str] | None]:
    root = package.parent
    return {_module_name(p, root): tier_of(p.relative_to(package).as_posix(), table)
            for p in sorted(package.rglob("*.py"))}


def upward_imports(graph: dict[str, set[str]],
                   tiers: dict[str, tuple[int, str] | None]) -> list[str]:
    """Every import from a module to one in a higher tier, as text."""
    found = []
    for module, deps in sorted(graph.items()):
        mine = tiers.get(module)
        for dep in sorted(deps):
            theirs = tiers.get(dep)
            if mine and theirs and theirs[0] > mine[0]:
                found.append(f"{module} ({mine[1]}, tier {mine[0]}) imports {dep} "
                             f"({theirs[1]}, tier {theirs[0]})")
    return found


def test_every_module_has_one_tier_and_every_row_a_module() -> None:
    table = tier_table(ARCHITECTURE_DOC.read_text(encoding="utf-8"))
    assert len({t for t, _ in table.values()}) >= 5, "the tier table was not found"
    paths = [p.relative_to(PACKAGE).as_posix() for p in _modules()]
    untiered = [p for p in paths if tier_of(p, table) is None]
    stale = [pattern for pattern in table
             if not any(p == pattern or (pattern.endswith("/") and p.startswith(pattern))
                        for p in paths)]
    assert not untiered, f"modules in no tier of docs/architecture.md: {untiered}"
    assert not stale, f"rows of docs/architecture.md's tier table that match no module: {stale}"


def test_no_import_points_up_a_tier() -> None:
    """Type-only and function-local imports included; every offender is listed."""
    table = tier_table(ARCHITECTURE_DOC.read_text(encoding="utf-8"))
    offenders = upward_imports(import_graph(), _tiers(PACKAGE, table))
    assert not offenders, "imports that point up a tier:\n" + "\n".join(offenders)


def test_the_tier_check_catches_an_upward_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "top").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "top" / "__init__.py").write_text("")
    (pkg / "top" / "x.py").write_text("from pkg import low\n")
    (pkg / "low.py").write_text("def f():\n    from pkg.top import x\n")
    (pkg / "errors.py").write_text("from typing import TYPE_CHECKING\n"
                                   "if TYPE_CHECKING:\n    from pkg.low import f\n")
    table = tier_table("| 3 | top | `top/`, `__init__.py` | x |\n| 2 | low | `low.py` | y |\n"
                       "| 1 | base | `errors.py` | z |\n")
    assert tier_of("top/x.py", table) == (3, "top") and tier_of("nowhere.py", table) is None
    offenders = upward_imports(import_graph(pkg), _tiers(pkg, table))
    assert offenders == ["pkg.errors (base, tier 1) imports pkg.low (low, tier 2)",
                         "pkg.low (low, tier 2) imports pkg.top.x (top, tier 3)"]


# -- one folder per backend ----------------------------------------------------------------

FOLDER_FILES = ("__init__.py", "adapter.py", "quirks.py")


def _defines(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return True
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def backend_folder_problems(backends_dir: Path, specs: dict[str, str]) -> list[str]:
    """What is missing for each registry entry (name -> its ``package``) to be one
    complete folder, and folders the registry does not know."""
    problems = []
    for name, package in sorted(specs.items()):
        folder = backends_dir / name
        if package != f"d2ldrop.backends.{name}":
            problems.append(f"{name}: the registry points at {package!r}, not its folder")
        missing = [f for f in FOLDER_FILES if not (folder / f).is_file()]
        if missing:
            problems.append(f"{name}: backends/{name}/ lacks {', '.join(missing)}")
            continue
        if not _defines(folder / "adapter.py", "Adapter"):
            problems.append(f"{name}: backends/{name}/adapter.py defines no Adapter")
        if not _defines(folder / "quirks.py", "QUIRKS"):
            problems.append(f"{name}: backends/{name}/quirks.py defines no QUIRKS")
        init = ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))
        if any(FRAMEWORK_WORDS.search(ast.unparse(n)) for n in _imports(init)):
            problems.append(f"{name}: backends/{name}/__init__.py imports a framework")
    for folder in sorted(p for p in backends_dir.iterdir() if p.is_dir()):
        if folder.name not in specs and folder.name != "__pycache__":
            problems.append(f"backends/{folder.name}/ has no registry entry")
    return problems


def test_every_registry_entry_has_a_complete_folder() -> None:
    from d2ldrop.backends.registry import SPECS

    problems = backend_folder_problems(BACKENDS_DIR, {s.name: s.package for s in SPECS})
    assert not problems, "\n".join(problems)


def test_the_folder_check_catches_an_incomplete_folder(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "__init__.py").write_text('"""Imports nothing."""\n')
    (tmp_path / "good" / "adapter.py").write_text("import numpy\nclass Adapter: ...\n")
    (tmp_path / "good" / "quirks.py").write_text("QUIRKS: object = None\n")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "__init__.py").write_text("import torch\n")
    (tmp_path / "half" / "adapter.py").write_text("class Other: ...\n")
    (tmp_path / "half" / "quirks.py").write_text("X = 1\n")
    (tmp_path / "stray").mkdir()
    specs = {"good": "d2ldrop.backends.good", "half": "d2ldrop.backends.half",
             "gone": "d2ldrop.backends.gone", "moved": "elsewhere.moved"}
    assert backend_folder_problems(tmp_path, specs) == [
        "gone: backends/gone/ lacks __init__.py, adapter.py, quirks.py",
        "half: backends/half/adapter.py defines no Adapter",
        "half: backends/half/quirks.py defines no QUIRKS",
        "half: backends/half/__init__.py imports a framework",
        "moved: the registry points at 'elsewhere.moved', not its folder",
        "moved: backends/moved/ lacks __init__.py, adapter.py, quirks.py",
        "backends/stray/ has no registry entry",
    ]


# -- one error family ----------------------------------------------------------------------

#: Built-in exceptions (not warnings, and not KeyboardInterrupt or SystemExit, which
#: d2ldrop re-raises on purpose to stop a run).
BUILTIN_ERRORS = frozenset(
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
    and not issubclass(value, Warning)
)


def error_family_offenders(source: str, family: set[str]) -> list[tuple[int, str]]:
    """(line, text) of each bare built-in exception raised, and of each exception
    class whose bases name a built-in exception but no member of ``family``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in BUILTIN_ERRORS:
                found.append((node.lineno, f"raise {exc.id}"))
        elif isinstance(node, ast.ClassDef):
            bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
            if bases & BUILTIN_ERRORS and not bases & family and node.name != "D2LDropError":
                found.append((node.lineno, f"class {node.name}({', '.join(sorted(bases))})"))
    return sorted(found)


def _family() -> set[str]:
    """The names of d2ldrop's exception classes (errors.py and any module's own,
    each derived from D2LDropError)."""
    import d2ldrop.errors

    names = {n for n, v in vars(d2ldrop.errors).items()
             if isinstance(v, type) and issubclass(v, d2ldrop.errors.D2LDropError)}
    for path in _modules():  # subclasses defined in other modules (DataError's kinds)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b).rsplit(".", 1)[-1] in names for b in node.bases):
                names.add(node.name)
    return names


def test_no_bare_builtin_exception_is_raised() -> None:
    family = _family()
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in _modules()
                 for line, text in error_family_offenders(path.read_text(encoding="utf-8"),
                                                          family)]
    assert not offenders, ("raise a d2ldrop.errors class instead:\n" + "\n".join(offenders))


def test_the_error_check_catches_a_bare_raise() -> None:
    source = ("class Mine(ValueError): ...\nclass Ok(D2LDropError, ValueError): ...\n"
              "def f(x):\n    if x:\n        raise ValueError('no')\n"
              "    raise KeyError\nclass W(UserWarning): ...\nraise KeyboardInterrupt\n")
    assert error_family_offenders(source, {"D2LDropError", "Ok"}) == [
        (1, "class Mine(ValueError)"), (5, "raise ValueError"), (6, "raise KeyError")]
    assert not error_family_offenders("try:\n    f()\nexcept ValueError as e:\n"
                                      "    raise Ok('x') from e\nraise\n", {"Ok"})


def test_the_error_family_keeps_the_builtin_types() -> None:
    from d2ldrop import errors

    for cls, builtin in [(errors.InvalidArgumentError, ValueError),
                         (errors.WrongTypeError, TypeError),
                         (errors.WrongTensorError, TypeError),
                         (errors.NotFoundError, KeyError),
                         (errors.MissingDependencyError, ImportError),
                         (errors.BackendNotAvailableError, ImportError),
                         (errors.TracedDrawError, RuntimeError),
                         (errors.ConformanceFailure, AssertionError),
                         (errors.UnknownAttributeError, AttributeError)]:
        assert issubclass(cls, errors.D2LDropError) and issubclass(cls, builtin), cls


# -- the public API ------------------------------------------------------------------------

REGISTRY_INTERNALS = ("ALIASES", "ENV_VAR", "canonical_name", "get_adapter")


def test_the_public_api_is_deliberate() -> None:
    """``d2ldrop.__all__`` is the chapter's and the CLI user's; the registry's
    internals are in ``d2ldrop.backends``; every listed name exists, once."""
    import d2ldrop
    import d2ldrop.backends
    import d2ldrop.conformance

    for module in (d2ldrop, d2ldrop.backends, d2ldrop.conformance):
        names = module.__all__
        assert len(names) == len(set(names)), f"{module.__name__}.__all__ repeats a name"
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, f"{module.__name__}.__all__ names what it lacks: {missing}"
    assert not set(REGISTRY_INTERNALS) & set(d2ldrop.__all__)
    assert set(REGISTRY_INTERNALS) <= set(d2ldrop.backends.__all__)
    assert d2ldrop.backends.get_adapter is d2ldrop._backend.get_adapter
    assert {"compare", "dropout_stats", "Target", "compare_target",
            "conformance_suite"} <= set(d2ldrop.conformance.__all__)


def test_the_package_is_typed() -> None:
    """PEP 561: ``d2ldrop/py.typed`` exists and is package data of the wheel."""
    assert (PACKAGE / "py.typed").is_file()
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^\[tool\.setuptools\.package-data\]\n(#.*\n)*d2ldrop = \["py\.typed"\]',
                     config, re.M)
    assert re.search(r'^\[tool\.mypy\]\n(.*\n)*?files = \["d2ldrop"\]', config, re.M)


def test_a_family_error_is_reported_as_its_builtin() -> None:
    """Edge-case reports name errors by type: the chapter's dropout raising
    InvalidArgumentError is the ValueError the specification names."""
    from d2ldrop import errors

    assert errors.builtin_name(errors.InvalidArgumentError("p")) == "ValueError"
    assert errors.builtin_name(errors.WrongTensorError("x")) == "TypeError"
    assert errors.builtin_name(errors.DataPathError("d")) == "ValueError"
    assert errors.builtin_name(OSError("o")) == "OSError"
    assert errors.builtin_name(errors.D2LDropError("bare")) == "D2LDropError"
