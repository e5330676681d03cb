"""The layout is a contract: imports go one way (``app.py, pages/ -> console -> scim_client``; ``sandbox/`` apart,
importing neither), only the UI imports Streamlit, and no import cycle exists among our modules. Imports inside
functions count (a function-level import is how a cycle hides); imports under ``if TYPE_CHECKING:`` do not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("console", "scim_client", "sandbox", "pages")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> tuple[set[str], set[str]]:
    """(our modules it imports, top-level names of everything it imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(sub) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for sub in ast.walk(node)}
    ours: set[str] = set()
    tops: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for name in names:
            tops.add(name.split(".")[0])
            target = _resolve(name)
            if target and target != module:
                ours.add(target)
    return ours, tops


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}
# Cycles still to break (issue "One clean core"): each must disappear from here when it is broken, and no new one
# may appear. Not a tolerance: the test fails when a listed cycle is gone but still listed.
KNOWN_CYCLES: set[frozenset[str]] = set()
# what each layer may import of ours
ALLOWED = {"app": {"app", "pages", "console", "scim_client"}, "pages": {"pages", "console", "scim_client"},
           "console": {"console", "scim_client"}, "scim_client": {"scim_client"}, "sandbox": {"sandbox"}}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_one_way(module: str) -> None:
    layer = module.split(".")[0]
    ours, tops = GRAPH[module]
    wrong = sorted(t for t in ours if t.split(".")[0] not in ALLOWED[layer])
    assert not wrong, f"{module} imports {wrong}: {layer} may import only {sorted(ALLOWED[layer])}"
    if layer not in ("app", "pages"):
        assert "streamlit" not in tops, f"{module} imports streamlit; only app.py and pages/ may"


def test_no_import_cycles() -> None:
    graph = {m: ours for m, (ours, _) in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    found = {frozenset(c) for c in cycles}
    new = found - KNOWN_CYCLES
    assert not new, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in new)
    gone = KNOWN_CYCLES - found
    assert not gone, "broken cycles still listed in KNOWN_CYCLES: " + "; ".join(" <-> ".join(sorted(c)) for c in gone)


LONG = 520  # "about 500 lines": a file over this says at its top why it is long


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.split(".")[0] in ("console", "scim_client", "pages")))
def test_a_long_file_says_why(module: str) -> None:
    path = MODULES[module]
    text = path.read_text(encoding="utf-8")
    if text.count("\n") <= LONG:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    assert "Over 500 lines because" in doc, (f"{path.relative_to(ROOT)} has {text.count(chr(10))} lines: split it by "
                                             "what it does, or say at its top why it is long ('Over 500 lines "
                                             "because ...')")
