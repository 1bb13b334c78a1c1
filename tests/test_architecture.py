"""The package's shape (issue "The house", docs/architecture.md): no import cycles among the stratify
modules (function-local imports included), no module over 600 lines, no function over 80 lines of
code. Each failure names what to split or untangle.

The checks read the source with `ast` and import nothing. Counting rules:
- an import edge is any ``import stratify.x`` or ``from stratify.x import y`` (relative forms too),
  at module level or inside a function; ``from stratify.x import y`` is an edge to ``stratify.x``
  and, where ``y`` is itself a module, to ``stratify.x.y``; a package's ``__init__`` is the
  package's module;
- a module's lines are all its lines;
- a function's lines of code run from its first statement after the docstring to its end, less
  blank lines and comment-only lines (so the signature, decorators and docstring do not count);
  a nested function counts inside its outer function and on its own.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
PACKAGE = "stratify"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

# Exceptions, each with the reason it is one. Keys: the module's path under src/ ("stratify/x/y.py")
# for MODULE_LINES_ALLOWED; "stratify/x/y.py::function" for FUNCTION_LINES_ALLOWED. Values: the
# largest size allowed. Empty: every module and function keeps the limits.
MODULE_LINES_ALLOWED: dict[str, int] = {}
FUNCTION_LINES_ALLOWED: dict[str, int] = {}


def modules(src: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package`` under ``src``."""
    out = {}
    for p in sorted((src / package).rglob("*.py")):
        parts = p.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(src: Path, package: str = PACKAGE) -> dict[str, dict[str, int]]:
    """Module -> {module it imports: line of the first such import}, within ``package``."""
    mods = modules(src, package)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t in mods and t != m:
                    graph[m][t] = min(graph[m].get(t, node.lineno), node.lineno)
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def cycle_path(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """One shortest import loop through the component's first module: [a, b, ..., a]."""
    start, members = component[0], set(component)
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w == start:
                back = [v]
                while parent[back[-1]] is not None:
                    back.append(parent[back[-1]])
                return [*reversed(back), start]
            if w in members and w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"no loop through {start} in {component}")  # a component of 2+ modules has one


def describe_cycle(graph: dict[str, dict[str, int]], component: list[str], src: Path) -> str:
    """The component's modules and one loop through them, with the line of each import."""
    mods = modules(src)
    path = cycle_path(graph, component)
    steps = [f"    {a} imports {b} ({mods[a].relative_to(src.parent)}:{graph[a][b]})" for a, b in zip(path, path[1:])]
    return f"CYCLE: {component}\n" + "\n".join(steps)


def long_modules(src: Path, limit: int = MAX_MODULE_LINES) -> dict[str, int]:
    """Module path under ``src`` -> its line count, for every module over ``limit`` lines."""
    out = {}
    for path in modules(src).values():
        n = len(path.read_text().splitlines())
        if n > limit:
            out[path.relative_to(src).as_posix()] = n
    return out


def function_code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """A function's lines of code: first statement after the docstring to the end, less blank and
    comment-only lines (0 for a function that is only a docstring)."""
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        if len(body) == 1:
            return 0
        first = body[1]
    return sum(
        1
        for i in range(first.lineno, node.end_lineno + 1)
        if lines[i - 1].strip() and not lines[i - 1].strip().startswith("#")
    )


def long_functions(src: Path, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """ "path::name" (the file under ``src``) -> lines of code, for every function over ``limit``.

    A name defined twice in one file with both over the limit gets its line number added.
    """
    out: dict[str, int] = {}
    for path in modules(src).values():
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = function_code_lines(node, lines)
                if n > limit:
                    key = f"{path.relative_to(src).as_posix()}::{node.name}"
                    out[f"{key}@{node.lineno}" if key in out else key] = n
    return out


def _over(found: dict[str, int], allowed: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in found.items() if n > allowed.get(k, -1)}


def _table(found: dict[str, int], what: str) -> str:
    return "\n".join(f"    {n:5d} {what}  {k}" for k, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


# -- the checks on the package ----------------------------------------------------------------


def test_no_import_cycles():
    graph = import_graph(SRC)
    found = import_cycles(graph)
    assert not found, "import cycles among the stratify modules (function-local imports count):\n" + "\n".join(
        describe_cycle(graph, c, SRC) for c in found
    )


def test_no_module_over_600_lines():
    found = _over(long_modules(SRC), MODULE_LINES_ALLOWED)
    assert not found, (
        f"modules over {MAX_MODULE_LINES} lines (split by meaning; an exception goes in MODULE_LINES_ALLOWED "
        f"with its reason):\n" + _table(found, "lines")
    )


def test_no_function_over_80_lines_of_code():
    found = _over(long_functions(SRC), FUNCTION_LINES_ALLOWED)
    assert not found, (
        f"functions over {MAX_FUNCTION_LINES} lines of code (docstring, blank and comment lines not counted; "
        f"an exception goes in FUNCTION_LINES_ALLOWED with its reason):\n" + _table(found, "lines of code")
    )


def test_allow_lists_hold_only_what_needs_them():
    """An exception that no longer exceeds the limit (or no longer exists) comes off the list."""
    modules_now = long_modules(SRC)
    functions_now = long_functions(SRC)
    stale = [k for k in MODULE_LINES_ALLOWED if k not in modules_now]
    stale += [k for k in FUNCTION_LINES_ALLOWED if k not in functions_now]
    assert not stale, f"allow-list entries that are within the limits now (remove them): {stale}"


# -- the checks themselves, on a made-up package ----------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / "src" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root / "src"


def _function(name: str, n_code: int) -> str:
    """A function with a docstring, blank and comment lines, and ``n_code`` lines of code."""
    body = "".join(f"    x{i} = {i}\n" + ("\n    # a comment\n" if i % 10 == 0 else "") for i in range(n_code - 1))
    return f'def {name}(a,\n        b):\n    """Doc.\n\n    More doc.\n    """\n{body}    return a\n'


CLEAN = {
    "stratify/__init__.py": '"""The package."""\n',
    "stratify/io/__init__.py": "",
    "stratify/io/tables.py": "import json\n\n\ndef read(p):\n    return json.loads(p)\n",
    "stratify/pgx/__init__.py": "from .api import call\n",
    "stratify/pgx/api.py": "from stratify.io import tables\nfrom ..io.tables import read\n\n\n" + _function("call", 80),
}


def test_a_clean_tree_passes(tmp_path):
    src = _tree(tmp_path, CLEAN)
    graph = import_graph(src)
    assert graph["stratify.pgx.api"] == {"stratify.io": 1, "stratify.io.tables": 1}
    assert graph["stratify.pgx"] == {"stratify.pgx.api": 1}
    assert import_cycles(graph) == []
    assert long_modules(src) == {}
    assert long_functions(src) == {}


def test_violations_are_found_and_named(tmp_path):
    files = dict(CLEAN)
    # a cycle through a function-local, relative import: io.tables -> pgx.api -> io.tables
    files["stratify/io/tables.py"] += "\n\ndef late():\n    from ..pgx import api\n\n    return api\n"
    # a two-module cycle of plain imports, and a module of 601 lines
    files["stratify/a.py"] = "import stratify.b\n" + "\n" * 600
    files["stratify/b.py"] = "from stratify import a\n\n\n" + _function("long", 81) + _function("ok", 80)
    src = _tree(tmp_path, files)
    graph = import_graph(src)
    found = import_cycles(graph)
    # stratify.pgx is in it too: its __init__ imports .api, and io.tables imports the package
    assert found == [["stratify.a", "stratify.b"], ["stratify.io.tables", "stratify.pgx", "stratify.pgx.api"]]
    text = describe_cycle(graph, found[1], src)
    assert text.splitlines() == [
        "CYCLE: ['stratify.io.tables', 'stratify.pgx', 'stratify.pgx.api']",
        "    stratify.io.tables imports stratify.pgx.api (src/stratify/io/tables.py:9)",
        "    stratify.pgx.api imports stratify.io.tables (src/stratify/pgx/api.py:1)",
    ]
    assert long_modules(src) == {"stratify/a.py": 601}
    assert long_functions(src) == {"stratify/b.py::long": 81}
    assert _over(long_functions(src), {"stratify/b.py::long": 81}) == {}


def test_a_longer_loop_is_spelled_out(tmp_path):
    src = _tree(
        tmp_path,
        {
            "stratify/__init__.py": "",
            "stratify/a.py": "from . import b\n",
            "stratify/b.py": "from .c import x\n",
            "stratify/c.py": "def x():\n    import stratify.a\n",
        },
    )
    graph = import_graph(src)
    assert cycle_path(graph, import_cycles(graph)[0]) == ["stratify.a", "stratify.b", "stratify.c", "stratify.a"]
