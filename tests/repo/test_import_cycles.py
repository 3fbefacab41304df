"""Inside each package, imports form a tree: no module imports, even indirectly, one that imports it.

A cycle works only by accident of import order, so it tends to be hidden with an import inside a
function or under `TYPE_CHECKING`; those count here too. The cure is to move what both sides need
into a lower module (as `cityhall.web.negotiation` and `cityhall.line_emulator.state.Emulator`).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("*/*/src"))


def module_name(src: Path, path: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """Every module `name` imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package this module is in
                package = name.split(".") if is_package else name.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return found


def import_graph(src: Path) -> dict[str, set[str]]:
    files = {module_name(src, path): path for path in src.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = imported(tree, name, path.name == "__init__.py")
        # `from pkg import module` names the module; `from module import thing` the module itself.
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        return list(exc.args[1])
    return None


@pytest.mark.parametrize("src", SOURCES, ids=[str(s.parent.relative_to(ROOT)) for s in SOURCES])
def test_a_packages_imports_form_a_tree(src: Path) -> None:
    cycle = find_cycle(import_graph(src))
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def test_the_check_sees_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import helper\n")
    (package / "b.py").write_text("def helper() -> None:\n    from pkg import a\n")
    assert find_cycle(import_graph(tmp_path)) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])
    (package / "b.py").write_text("def helper() -> None:\n    pass\n")
    assert find_cycle(import_graph(tmp_path)) is None
