"""The project's own docs stay true: every test ``docs/guarantees.md`` names exists, and
the README and docs/ link nothing outside the repository."""

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.static  # code and files only: run once, in the SQLite pass

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *ROOT.glob("docs/**/*.md")]


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def test_every_test_the_guarantees_name_exists():
    named = re.findall(
        r"`([\w/]+\.py)::(test_\w+)`", (ROOT / "docs/guarantees.md").read_text()
    )
    assert len(named) > 50
    missing = [
        f"{path}::{test}"
        for path, test in named
        if not (ROOT / path).exists() or test not in _tests_in(ROOT / path)
    ]
    assert not missing, missing


def test_docs_link_nothing_outside_the_repository():
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text, doc
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            assert not target.startswith(("http:", "https:")), (doc, target)
            assert (doc.parent / target).resolve().is_relative_to(ROOT), (doc, target)
            assert (doc.parent / target).exists(), (doc, target)


def test_the_files_the_architecture_walk_names_exist():
    walk = (ROOT / "docs/architecture.md").read_text()
    paths = set(
        re.findall(
            r"`((?:events|orders|shop|customers|inventory|payments|"
            r"shipping)/[\w/]+\.py)`",
            walk,
        )
    )
    assert len(paths) > 20
    assert not [p for p in paths if not (ROOT / p).exists()]
