"""The committed OpenAPI document, ``docs/openapi.json``, and the way to renew it.

The storefront is built against that file; CI (``test_openapi_snapshot.py``) fails
when the schema the API serves differs from it, printing the diff, so a contract
change is always a deliberate, reviewed edit of the file. Renew it on purpose with
``make openapi`` (``python -m tests.contract.snapshot``); ``--check`` only compares.

It is written with sorted keys and two-space indents, so a diff shows the change and
nothing else (moving a route in the code is not a contract change).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
SNAPSHOT = ROOT / "docs" / "openapi.json"
SCHEMA_URL = "/api/v1/openapi.json"


def live_schema() -> dict[str, Any]:
    """What the API serves at /api/v1/openapi.json (through the WSGI app)."""
    from django.test import Client

    response = Client().get(SCHEMA_URL)
    if response.status_code != 200:
        raise RuntimeError(f"GET {SCHEMA_URL} answered {response.status_code}")
    return json.loads(response.content)


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stored() -> dict[str, Any] | None:
    return json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else None


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """A unified diff from the committed document to the served one."""
    before = render(old).splitlines(keepends=True) if old is not None else []
    return "".join(
        difflib.unified_diff(
            before,
            render(new).splitlines(keepends=True),
            fromfile=f"{SNAPSHOT.relative_to(ROOT)} (committed)",
            tofile=f"{SCHEMA_URL} (served)",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.contract.snapshot", description=__doc__
    )
    parser.add_argument(
        "--check", action="store_true", help="compare only; exit 1 on a difference"
    )
    args = parser.parse_args(argv)
    # The settings CI checks the document under, whatever the shell has exported.
    os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings.test"
    import django

    django.setup()
    served, committed = live_schema(), stored()
    if served == committed:
        print(f"{SNAPSHOT.relative_to(ROOT)} is up to date")
        return 0
    if args.check:
        sys.stdout.write(diff(committed, served))
        return 1
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(render(served))
    sys.stdout.write(diff(committed, served))
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}: review the diff above and commit it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
