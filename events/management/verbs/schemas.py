"""``manage.py events schemas export|check|asyncapi``: the event schema registry
(``events.schemas``).

- ``export [--retire NAME ...] [--force]`` writes the registry and the documents
  generated from it (``make schemas``); it refuses while the code breaks the
  committed registry, unless ``--force`` (only when no stored message can have the
  old shape).
- ``check`` compares the code with the committed registry: exit 1 on a breaking
  change, 0 with a request to re-export on a compatible one.
- ``check --stored [--sample N]`` reads the history of the database it points at.
- ``asyncapi`` prints the AsyncAPI 3.0 document.

``--dir`` names the docs folder (default ``EVENTS_SCHEMAS_DIR``), so tests work on
copies of the registry and never on the committed files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events.schemas import asyncapi, compatibility, documents, registry, sources, stored
from events.schemas.compatibility import BREAKING_ADVICE, Finding

from . import count_arg

NAME = "schemas"
HELP = "Export and check the event schema registry; AsyncAPI."


def shown(path: Path) -> str:
    """A path as an operator reads it: relative to the working folder when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def add_arguments(parser: CommandParser) -> None:
    verbs = parser.add_subparsers(dest="schemas_verb", required=True)
    export = verbs.add_parser(
        "export", help="Write docs/events/ (registry, README) and docs/asyncapi.yaml."
    )
    export.add_argument(
        "--retire",
        action="append",
        default=[],
        metavar="WIRE_NAME",
        help="A type deleted from the code whose name is retired (repeatable).",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="Write even over breaking changes (no stored message has the old shape).",
    )
    check = verbs.add_parser(
        "check", help="Fail on a breaking change against the committed registry."
    )
    check.add_argument(
        "--stored",
        action="store_true",
        help="Instead, read every (type, version) stored in this database.",
    )
    check.add_argument(
        "--sample",
        type=count_arg,
        default=50,
        help="With --stored: rows read per (type, version); 0 reads every row.",
    )
    verbs.add_parser("asyncapi", help="Print the AsyncAPI 3.0 document.")
    for verb in (export, check, verbs.choices["asyncapi"]):
        verb.add_argument(
            "--dir", type=Path, help="The docs folder (default EVENTS_SCHEMAS_DIR)."
        )


def run(options: dict[str, Any], command: BaseCommand) -> None:
    root = options.get("dir") or registry.docs_dir()
    verb = options["schemas_verb"]
    if verb == "check" and options["stored"]:
        _check_stored(command, options["sample"])
    elif verb == "check":
        _check(command, root)
    elif verb == "export":
        _export(command, root, options["retire"], force=options["force"])
    else:
        command.stdout.write(asyncapi.render(_merged(root)), ending="")


def _committed(root: Path) -> registry.Registry | None:
    try:
        return registry.load(root)
    except registry.RegistryError as error:
        raise CommandError(str(error)) from None


def _merged(root: Path) -> registry.Registry:
    return registry.merge(_committed(root), sources.current())


def _check(command: BaseCommand, root: Path) -> None:
    committed = _committed(root)
    if committed is None:
        raise CommandError(
            f"no committed registry at {shown(root / registry.INDEX)}: run "
            "`make schemas` (manage.py events schemas export) and commit it"
        )
    contract = sources.current()
    findings = compatibility.check(committed, contract)
    breaking = [f for f in findings if f.level == "breaking"]
    if not breaking:
        merged = registry.merge(committed, contract)
        for path in documents.stale(root, documents.generated(merged)):
            findings.append(
                Finding(shown(root / path), None, "", "out of date", "export")
            )
    _report(command, findings)
    if breaking:
        raise CommandError(
            f"{len(breaking)} breaking change{'s' if len(breaking) > 1 else ''} "
            f"against the committed registry ({shown(root / registry.INDEX)}): "
            f"{BREAKING_ADVICE}"
        )
    if any(f.level == "export" for f in findings):
        command.stdout.write(
            "compatible with the committed registry, which is out of date: run `make "
            f"schemas` (manage.py events schemas export) and commit {shown(root)}/"
        )
        return
    versions = sum(len(e.versions) for e in committed.messages.values())
    command.stdout.write(
        f"the code matches the committed registry: {len(contract.messages)} message "
        f"types, {versions} schema versions"
    )


def _report(command: BaseCommand, findings: list[Finding]) -> None:
    for finding in findings:
        if finding.level == "breaking":
            command.stderr.write(f"BREAKING {finding}")
        elif finding.level == "export":
            command.stdout.write(f"re-export: {finding}")
        else:
            command.stdout.write(f"note: {finding}")


def _export(
    command: BaseCommand, root: Path, retire: list[str], *, force: bool
) -> None:
    previous = _committed(root)
    contract = sources.current()
    if previous is not None:
        findings = compatibility.check(previous, contract, retire=retire)
        breaking = [f for f in findings if f.level == "breaking"]
        if breaking and not force:
            _report(command, breaking)
            raise CommandError(
                f"nothing written: {len(breaking)} breaking change"
                f"{'s' if len(breaking) > 1 else ''} against "
                f"{shown(root / registry.INDEX)} "
                f"({BREAKING_ADVICE}; --force only when no stored message can have "
                "the old shape)"
            )
    try:
        merged = registry.merge(previous, contract, retire=retire)
    except registry.RegistryError as error:
        raise CommandError(str(error)) from None
    touched = documents.write(root, documents.generated(merged))
    for path in touched:
        command.stdout.write(f"wrote {shown(root / path)}")
    command.stdout.write(
        f"{len(touched)} files changed under {shown(root)}"
        if touched
        else f"{shown(root)} is up to date"
    )


def _check_stored(command: BaseCommand, sample: int) -> None:
    groups = stored.check(sample=sample)
    for group in groups:
        if group.readable:
            command.stdout.write(str(group))
        else:
            command.stderr.write(f"UNREADABLE {group}")
    unreadable = [g for g in groups if not g.readable]
    if unreadable:
        names = "; ".join(g.name for g in unreadable)
        raise CommandError(
            f"{len(unreadable)} stored (type, version) cannot be read by this code: "
            f"{names}. Fix the upcaster or the model before deploying."
        )
    rows = sum(g.rows for g in groups)
    command.stdout.write(
        f"stored history readable: {len(groups)} (type, version) groups in {rows} rows"
    )
