"""The dependency rules, checked by import-linter (contracts in pyproject.toml) and by
an import graph of our own:

* events imports no app, and apps reach each other only through their ``contracts``
  module, and the platform only through its public face (``events/__init__.py``);
* inside events, wings stand on floors (a layers contract), and no module imports
  another that imports it back, counting imports inside functions, which Python only
  runs later and which would otherwise hide a cycle;
* the orders domain is plain Python: no Django, no platform persistence, also when it
  is imported for real.
"""

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.static  # code and files only: run once, in the SQLite pass

ROOT = Path(__file__).resolve().parent.parent
APPS = [
    "customers",
    "orders",
    "inventory",
    "payments",
    "shipping",
    "notifications",
    "loyalty",
]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_import_contracts_are_kept():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    return config["importlinter"]["contracts"]


def test_every_app_and_the_platform_have_a_contract():
    isolation = [
        c
        for c in _contracts()
        if c["type"] == "forbidden"
        and len(c["source_modules"]) == 1
        and c["source_modules"][0] in {"events", *APPS}
    ]
    sources = {m for c in isolation for m in c["source_modules"]}
    assert sources == {"events", *APPS}
    for contract in isolation:
        (source,) = contract["source_modules"]
        others = set(APPS) - {source}
        assert others <= set(contract["forbidden_modules"]), source


def test_events_has_a_layers_contract_over_every_wing():
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    named = {m.strip() for layer in layers["layers"] for m in layer.split("|")}
    wings = {
        p.name if p.is_dir() else p.stem
        for p in (ROOT / "events").iterdir()
        if (
            p.is_dir()
            and (p / "__init__.py").exists()
            and p.name not in {"tests", "migrations"}
        )
        or (p.suffix == ".py" and p.stem != "__init__")
    }
    assert wings <= named, wings - named


def test_every_wing_says_what_it_owns_and_may_import():
    """A wing's docstring names each of its modules (``name``) and its floor, so a
    module added later cannot go unlisted."""
    for wing in sorted((ROOT / "events").iterdir()):
        init = wing / "__init__.py"
        if wing.name in {"tests", "migrations"} or not init.exists():
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "may import" in doc.lower(), f"events/{wing.name} names no floor"
        modules = {p.stem for p in wing.glob("*.py") if p.stem != "__init__"}
        modules |= {p.name for p in wing.iterdir() if (p / "__init__.py").exists()}
        unnamed = {m for m in modules if f"``{m}``" not in doc}
        assert not unnamed, f"events/{wing.name} does not name {sorted(unnamed)}"


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ["pyproject.toml", "shop", "events", "processes", *APPS]:
        subprocess.run(["cp", "-r", str(ROOT / name), str(tree)], check=True)
    return tree


def test_the_linter_catches_a_forbidden_import(tmp_path):
    # given a copy of the tree in which inventory imports orders' models
    tree = _copy_tree(tmp_path)
    (tree / "inventory" / "leak.py").write_text("from orders import models  # noqa\n")
    # when / then
    done = _lint(tree)
    assert done.returncode != 0
    assert "inventory.leak -> orders.models" in done.stdout


# --- the import graph of events/, imports inside functions included -----------------


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (functions, methods, branches), except
    those only a type checker runs."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path, package: str = "events") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (tests and migrations left out:
    they are not floors)."""
    modules = {
        _module_name(path, root): path
        for path in (root / package).rglob("*.py")
        if not {"tests", "migrations"} & set(path.relative_to(root).parts)
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_events_has_no_import_cycle_even_through_imports_inside_functions():
    graph = import_graph(ROOT)
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
    # the public face is the roof: no module of the platform imports it
    assert not [m for m, targets in graph.items() if "events" in targets]


def test_an_upward_import_inside_a_function_is_caught_by_both_checks(tmp_path):
    # given a copy of the tree in which the log's writer, deep down, reaches up to the
    # dispatchers from inside a function (the shape of the old hidden circle)
    tree = _copy_tree(tmp_path)
    writer = tree / "events" / "log" / "writer.py"
    writer.write_text(
        writer.read_text()
        + "\n\ndef _wake() -> None:\n"
        + "    from ..dispatch.current import get_dispatcher  # noqa: F401\n"
    )
    # when / then: the cycle test sees a cycle
    cycle = find_cycle(import_graph(tree))
    assert cycle is not None and "events.log.writer" in cycle
    assert "events.dispatch.current" in cycle
    # and the layers contract is broken
    done = _lint(tree)
    assert done.returncode != 0
    assert "events.log.writer -> events.dispatch.current" in done.stdout


def test_the_orders_domain_imports_no_django_when_it_is_really_imported():
    # a fresh interpreter with no settings: importing the domain must not need them
    code = (
        "import sys, orders.domain\n"
        "leaks = sorted(m for m in sys.modules if m == 'django' or m.startswith("
        "('django.', 'events.log', 'events.models', 'events.store.repository', "
        "'events.delivery', 'events.commands', 'orders.models')))\n"
        "print(leaks)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
