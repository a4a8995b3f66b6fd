"""Every committed file generated from the registry, written or compared as a set.

Under the docs folder: ``events/index.json`` and ``events/schemas/*.json`` (the
registry), ``events/README.md`` (tables and diagrams) and ``asyncapi.yaml``. One
export writes them all (``make schemas``); the test suite fails when any of them
differs from what the code gives now, like ``docs/openapi.json``.
"""

from __future__ import annotations

from pathlib import Path

from . import asyncapi, readme, registry
from .registry import Registry

README = Path("events") / "README.md"
ASYNCAPI = Path("asyncapi.yaml")


def generated(reg: Registry) -> dict[Path, str]:
    """Path under the docs folder -> content."""
    files = registry.files(reg)
    files[README] = readme.render(reg)
    files[ASYNCAPI] = asyncapi.render(reg)
    return dict(sorted(files.items()))


def orphans(root: Path, files: dict[Path, str]) -> list[Path]:
    """Schema files on disk that the registry no longer has."""
    folder = root / registry.SCHEMAS
    if not folder.is_dir():
        return []
    return sorted(
        p.relative_to(root)
        for p in folder.glob("*.json")
        if p.relative_to(root) not in files
    )


def stale(root: Path, files: dict[Path, str]) -> list[Path]:
    """The generated files missing or different on disk, and orphans to delete."""
    different = [
        path
        for path, text in files.items()
        if not (root / path).exists() or (root / path).read_text() != text
    ]
    return sorted(different + orphans(root, files))


def write(root: Path, files: dict[Path, str]) -> list[Path]:
    """Write what changed and delete orphans; returns the paths touched."""
    touched = stale(root, files)
    for path in orphans(root, files):
        (root / path).unlink()
    for path, text in files.items():
        target = root / path
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return touched
