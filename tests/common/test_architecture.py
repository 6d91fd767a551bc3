"""The packages' shape: no import cycle between modules; no module over 500 lines, no class over
300, no function body over 60.

Both checks read the source (``ast``), so they see every import, at module level, inside a
function or under ``if TYPE_CHECKING``, without importing anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "packages" / name / "src" for name in ("common", "pruning", "radiomics")]
MAX_LINES = 60
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300
#: Numerical kernels kept in one piece: one vectorized computation whose steps follow the
#: formulas of its docstring (splitting it would scatter one derivation over several functions).
NUMERICAL_KERNELS = {
    "robustlab.common.stats.icc.icc",  # the six McGraw-Wong forms, F test and intervals at once
}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three distributions."""
    out = {}
    for src in SOURCES:
        for path in sorted(src.rglob("*.py")):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The robustlab modules ``module`` imports anywhere in its file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, path.name == "__init__.py")
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # ``import a.b.c`` of a package path
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_back_a_module_that_imports_it():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert len(graph) > 50
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def functions(path: Path) -> Iterator[tuple[str, int]]:
    """``(name, lines)`` of every function of a file; a docstring does not count (the project asks
    for formulas and references in docstrings, which the limit is not about)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0]
            docstring = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                         and isinstance(first.value.value, str))
            doc_lines = first.end_lineno - first.lineno + 1 if docstring else 0
            yield node.name, node.end_lineno - node.lineno + 1 - doc_lines


def test_no_function_is_longer_than_60_lines_outside_numerical_kernels():
    long = [f"{module}.{name}: {n} lines" for module, path in modules().items()
            for name, n in functions(path) if n > MAX_LINES and f"{module}.{name}" not in NUMERICAL_KERNELS]
    assert not long, "functions over 60 lines (split them, or name a numerical kernel):\n" + "\n".join(long)


def test_the_length_count_leaves_docstrings_out(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('def f():\n    """doc\n\n    more\n    """\n    return 1\n\n\ndef g():\n    return 2\n')
    assert dict(functions(path)) == {"f": 2, "g": 2}


def test_no_module_is_longer_than_500_lines():
    long = [f"{module}: {n} lines" for module, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, "modules over 500 lines (one job per module: split them):\n" + "\n".join(long)


def classes(path: Path) -> Iterator[tuple[str, int]]:
    """``(name, lines)`` of every class of a file, its docstring included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ClassDef):
            yield node.name, node.end_lineno - node.lineno + 1


def test_no_class_is_longer_than_300_lines():
    long = [f"{module}.{name}: {n} lines" for module, path in modules().items()
            for name, n in classes(path) if n > MAX_CLASS_LINES]
    assert not long, "classes over 300 lines (split them):\n" + "\n".join(long)


def test_the_size_counts_see_modules_and_classes(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("class A:\n    x = 1\n\n    def f(self):\n        return 2\n")
    assert dict(classes(path)) == {"A": 5}
