"""The dependency rule, checked by import-linter (contracts in pyproject.toml): events
imports no app, and apps reach each other only through their ``contracts`` module."""

import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_import_contracts_are_kept():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_app_and_the_platform_have_a_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "importlinter"
    ]
    sources = {m for c in config["contracts"] for m in c["source_modules"]}
    assert sources == {"events", *APPS}
    for contract in config["contracts"]:
        (source,) = contract["source_modules"]
        others = set(APPS) - {source}
        assert others <= set(contract["forbidden_modules"]), source


def test_the_linter_catches_a_forbidden_import(tmp_path):
    # given a copy of the tree in which inventory imports orders' models
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ["pyproject.toml", "shop", "events", *APPS]:
        subprocess.run(["cp", "-r", str(ROOT / name), str(tree)], check=True)
    (tree / "inventory" / "leak.py").write_text("from orders import models  # noqa\n")
    # when / then
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "inventory.leak -> orders.models" in done.stdout
