"""The layout rules of docs/architecture.md, checked on the source (no import).

- Framework knowledge lives in ``d2ldrop/backends/``: no other module (nor a
  script) names a framework in its code (docstrings and comments may explain).
- No module is longer than about 450 lines.
- No import cycle between d2ldrop's modules, function-local imports included
  (imports under ``if TYPE_CHECKING:`` never run and are left out).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("path", _neutral_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_neutral_code_names_no_framework(path: Path) -> None:
    mentions = framework_mentions(path.read_text(encoding="utf-8"))
    assert not mentions, f"{path.relative_to(ROOT)} names a framework: {mentions}"


def test_the_check_catches_a_framework_name() -> None:
    assert framework_mentions('STYLES = {"torch": "-"}\n')
    assert framework_mentions("import tensorflow as tf\n")
    assert framework_mentions("x = adapter.mxnet_only\n")
    assert not framework_mentions('"""Runs on torch and mxnet."""\nx = 1  # keras\n')


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_short(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> list[ast.AST]:
    """Import nodes that can run: those under ``if TYPE_CHECKING:`` are left out."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return [n for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skipped]


def import_graph() -> dict[str, set[str]]:
    """Module -> the d2ldrop modules it imports (``from pkg import submodule``
    counts as importing the submodule)."""
    names = {_module_name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        is_pkg = path.name == "__init__.py"
        deps = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
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
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_check_catches_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
