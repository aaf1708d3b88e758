"""The shape of the code, read from its imports: ``tui -> core -> store``, screens that do
not know each other, and no import cycle inside ``tui/`` (docs/architecture.md).

A small AST walk, not import-linter: it reads every ``import`` of ``core/``, ``store/`` and
``tui/``, including those inside functions (the lazy ones), and knows which are which:

- ``module``: at a module's top level; these run when the module is imported.
- ``function``: inside a def; they run when the function does (lazy loading).
- ``typing``: under ``if TYPE_CHECKING:``; they never run and are left out of every rule
  except the layers (a store that names a core type is still a store that knows the core).

test_import_hygiene.py checks the same layers at run time, for the modules a process
really loads; this test sees every import of every module, run or not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "store", "tui")
#: The router: the only modules that may load a screen (app.py pushes the screens every
#: session starts with; navigation.py is the table of every other screen).
ROUTER = {"dockyard.tui.app", "dockyard.tui.navigation"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, ``dockyard.tui.screens.home``
    target: str  # the imported module (``dockyard.…``) or a third party's top-level name
    kind: str  # "module", "function" or "typing"
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["dockyard", *parts])


def source_files() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts  # Alembic's scripts are data, loaded by Alembic
    }


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def walk_imports(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, kind
        elif isinstance(child, ast.If) and is_type_checking(child):
            for inner in child.body:
                yield from walk_imports(ast.Module(body=[inner], type_ignores=[]), "typing")
            for inner in child.orelse:
                yield from walk_imports(ast.Module(body=[inner], type_ignores=[]), kind)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from walk_imports(child, "typing" if kind == "typing" else "function")
        else:
            yield from walk_imports(child, kind)


def resolve(name: str, modules: dict[str, Path]) -> str:
    """``dockyard.tui.cli.kit.echo`` -> ``dockyard.tui.cli.kit``: the longest known module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return name


@cache
def all_imports() -> list[Import]:
    modules = source_files()
    found = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        for node, kind in walk_imports(tree, "module"):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` mod
                names = [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                if name.startswith("dockyard."):
                    target = resolve(name, modules)
                else:
                    target = name.split(".")[0]
                found.append(Import(source, target, kind, node.lineno))
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def show(imports: list[Import]) -> list[str]:
    return [f"{i.source}:{i.line} imports {i.target} ({i.kind})" for i in imports]


def test_the_walk_sees_the_imports_it_must() -> None:
    """Guards the rules below against passing because the walk found nothing."""
    imports = all_imports()
    assert len(source_files()) > 50
    kinds = {(i.source, i.target): i.kind for i in imports}
    assert kinds[("dockyard.tui.app", "dockyard.tui.screens.home")] == "module"
    assert kinds[("dockyard.tui.navigation", "dockyard.tui.screens.run")] == "function"
    assert kinds[("dockyard.tui.run_actions", "dockyard.tui.app")] == "typing"
    assert ("dockyard.tui.cli.root", "dockyard.tui.cli.kit") in kinds


def test_store_imports_neither_core_nor_tui() -> None:
    wrong = [
        i
        for i in all_imports()
        if within(i.source, "dockyard.store")
        and (within(i.target, "dockyard.core") or within(i.target, "dockyard.tui"))
    ]
    assert show(wrong) == []


def test_core_imports_neither_tui_nor_textual() -> None:
    wrong = [
        i
        for i in all_imports()
        if within(i.source, "dockyard.core")
        and (within(i.target, "dockyard.tui") or i.target == "textual")
    ]
    assert show(wrong) == []


def test_screens_do_not_import_each_other_or_the_app() -> None:
    """A screen opens another through tui/navigation.py. Lazy imports inside functions
    count: a screen that loads another by name still depends on it. A screen may name
    the app's type under TYPE_CHECKING (``cast("DockyardApp", self.app)``)."""
    wrong = [
        i
        for i in all_imports()
        if within(i.source, "dockyard.tui.screens")
        and i.kind != "typing"
        and (
            (within(i.target, "dockyard.tui.screens") and i.target != "dockyard.tui.screens")
            or i.target == "dockyard.tui.app"
        )
    ]
    assert show(wrong) == []


def test_only_the_router_loads_screens() -> None:
    """Widgets, helpers and the command line do not open screens themselves."""
    wrong = [
        i
        for i in all_imports()
        if within(i.target, "dockyard.tui.screens")
        and i.kind != "typing"
        and not within(i.source, "dockyard.tui.screens")
        and i.source not in ROUTER
    ]
    assert show(wrong) == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph ``edges`` (as a path back to its start), if any."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_no_import_cycle_inside_tui() -> None:
    """Module-level imports and function-level ones both count, but for the router's
    lazy loading of a screen: that edge is the point of the router (a screen reaches the
    router, the router reaches the screen when the user opens it) and it runs only after
    both modules are loaded. Importing a package's submodule is not counted as importing
    the package's ``__init__`` (``tui/cli/__init__.py`` re-exports ``main`` from root)."""
    edges: dict[str, set[str]] = {}
    for i in all_imports():
        if not (within(i.source, "dockyard.tui") and within(i.target, "dockyard.tui")):
            continue
        if i.kind == "typing" or i.source == i.target:
            continue
        if i.source in ROUTER and i.kind == "function" and within(i.target, "dockyard.tui.screens"):
            continue
        edges.setdefault(i.source, set()).add(i.target)
    assert find_cycle(edges) is None
