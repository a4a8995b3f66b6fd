"""Types: mypy with django-stubs (settings in pyproject.toml, [tool.mypy]) passes on the
whole project, strict on the platform (events/) and the orders domain, at mypy's
defaults plus check_untyped_defs elsewhere; and a copy of the tree with planted errors
fails, so a configuration that checks nothing cannot pass. ``make test`` runs mypy too.

Every ``# type: ignore`` names its error code (mypy's ignore-without-code) and says
why, in a comment on its line or on the line above."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.static  # code and files only: run once, in the SQLite pass

ROOT = Path(__file__).resolve().parent.parent
# What mypy reads (pyproject.toml: files = ["."]; every top-level module and package,
# found, so that a new one is copied too; tools/ and .venv/ excluded), and
# its cache, copied with the files' times so that the copy is checked incrementally.
TREE = [
    "pyproject.toml",
    *sorted(
        entry.name
        for entry in ROOT.iterdir()
        if (entry.suffix == ".py" and entry.is_file())
        or (entry / "__init__.py").is_file()
    ),
]
IGNORE = re.compile(r"#\s*type:\s*ignore\b(\[[^\]]*\])?(.*)$")


def _mypy(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def checked() -> subprocess.CompletedProcess[str]:
    """One run over the real tree; it also warms the cache the copies start from."""
    return _mypy(ROOT)


def test_the_project_passes_mypy(checked):
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("Success: no issues found")


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "node_modules")
    for name in [*TREE, ".mypy_cache"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=skip)
        elif source.exists():
            shutil.copy2(source, tree / name)
    return tree


def test_mypy_fails_on_planted_errors_at_each_level(checked, tmp_path):
    # given a copy of the tree with, in the platform, a function without annotations
    # (allowed at mypy's defaults, refused by the strict flags); in the orders domain,
    # a generic without its type arguments (strict too); in an app, a wrong type inside
    # an unannotated function (seen only with check_untyped_defs); and an ignore that
    # names no error code
    tree = _copy_tree(tmp_path)
    (tree / "events" / "log" / "planted.py").write_text(
        "def planted(value):\n    return value\n"
    )
    (tree / "orders" / "domain" / "planted.py").write_text(
        "def planted(values: list) -> int:\n    return len(values)\n"
    )
    (tree / "inventory" / "planted.py").write_text(
        'def planted():\n    count: int = "three"\n    return count\n'
        'total: int = "four"  # type: ignore\n'
    )
    # when
    done = _mypy(tree)
    # then each is reported, with its error code
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"events/log/planted\.py:1: .*\[no-untyped-def\]", output)
    assert re.search(r"orders/domain/planted\.py:1: .*\[type-arg\]", output)
    assert re.search(r"inventory/planted\.py:2: .*\[assignment\]", output)
    assert re.search(r"inventory/planted\.py:4: .*\[ignore-without-code\]", output)
    assert "Found 4 errors in 3 files" in output, output


def _python_files() -> list[Path]:
    """What mypy checks, less this module (its planted ignore is a string)."""
    found = [ROOT / name for name in TREE if name.endswith(".py")]
    for name in TREE:
        if (ROOT / name).is_dir():
            found += (ROOT / name).rglob("*.py")
    return [p for p in found if "migrations" not in p.parts and p != Path(__file__)]


def _said_above(lines: list[str], index: int) -> bool:
    """A comment on the line above, past any decorators."""
    while index > 0 and lines[index - 1].strip().startswith("@"):
        index -= 1
    return index > 0 and lines[index - 1].strip().startswith("#")


def test_every_type_ignore_names_its_code_and_says_why():
    unexplained = []
    for path in _python_files():
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            found = IGNORE.search(line)
            if found is None:
                continue
            code, rest = found.groups()
            said = rest.strip().startswith("#") or _said_above(lines, index)
            if not code or not said:
                where = f"{path.relative_to(ROOT)}:{index + 1}"
                unexplained.append(f"{where}: {line.strip()}")
    assert not unexplained, "\n".join(unexplained)
