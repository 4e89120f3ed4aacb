"""The folders depend on each other in one direction only (README, "Layout").

core/ (records, views, reports, settings) imports no project folder; tools/ imports only core;
graph/ builds on tools; serving/ and evals/ on graph; newsdesk/ (the CLI) sits on top.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

FOLDERS = ("core", "tools", "prompts", "graph", "serving", "evals", "newsdesk")
# What each folder may import from the project, besides itself.
ALLOWED = {
    "core": set(),
    "prompts": set(),
    "tools": {"core"},
    "graph": {"core", "tools", "prompts"},
    "serving": {"core", "tools", "graph"},
    "evals": {"core", "tools", "graph", "serving", "prompts"},
    "newsdesk": {"core", "tools", "graph", "serving", "evals"},
}
MAX_TOOLS_LINES = 400


def project_imports(path: Path) -> set[str]:
    """The project folders a module imports, at the top or inside functions alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(FOLDERS)
    return found


def folder_imports() -> dict[str, dict[str, list[str]]]:
    """folder -> imported folder -> the modules that import it."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for imported in project_imports(path) - {folder}:
                edges[folder][imported].append(str(path.relative_to(REPO)))
    return edges


def test_each_folder_imports_only_the_layers_below_it() -> None:
    wrong = [
        f"{module} imports {imported}"
        for folder, targets in folder_imports().items()
        for imported, modules in targets.items()
        if imported not in ALLOWED[folder]
        for module in modules
    ]
    assert wrong == []


def test_the_layer_rule_is_acyclic() -> None:
    # The allowed edges themselves must form no cycle, or the rule above would permit one.
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(folder: str) -> None:
        assert folder not in visiting, f"cycle through {folder}"
        if folder in done:
            return
        visiting.add(folder)
        for below in ALLOWED[folder]:
            visit(below)
        visiting.discard(folder)
        done.add(folder)

    for folder in FOLDERS:
        visit(folder)


def test_tools_modules_stay_small() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for path in (REPO / "tools").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_TOOLS_LINES
    }
    assert long == {}
