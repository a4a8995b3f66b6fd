"""The production process set is declared twice, once per runner: the Procfile (honcho,
development) and deploy/supervisor/shop.conf (supervisord, production, which restarts
what exits). Both must run the same commands, and supervisord must restart every one
of them, whatever its exit status."""

from __future__ import annotations

import shlex
from configparser import RawConfigParser
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SUPERVISOR = BASE_DIR / "deploy" / "supervisor"


def procfile() -> dict[str, str]:
    entries = {}
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def programs() -> dict[str, dict[str, str]]:
    parser = RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(SUPERVISOR / "shop.conf")
    return {
        section.removeprefix("program:"): dict(parser[section])
        for section in parser.sections()
        if section.startswith("program:")
    }


def script(command: str) -> str:
    """The shell script a command runs: ``sh -c 'X'`` is X, and a leading ``exec``
    (supervisord signals the program itself, not a shell) is dropped."""
    words = shlex.split(command)
    if Path(words[0]).name == "sh" and words[1] == "-c":
        command = words[2]
    return command.removeprefix("exec ")


def test_supervisor_runs_the_procfile_commands():
    supervised = programs()
    assert set(supervised) == set(procfile())
    for name, command in procfile().items():
        # supervisord reads "%%" as a literal "%"
        assert script(supervised[name]["command"].replace("%%", "%")) == script(
            command
        ), name


def test_supervisor_restarts_every_program_with_its_process_group():
    for name, program in programs().items():
        assert program["autorestart"] == "true", name
        assert int(program["startretries"]) >= 100, name
        assert (program["stopasgroup"], program["killasgroup"]) == ("true", "true")
        assert program["directory"] == "%(here)s/../..", name


def test_supervisord_config_includes_the_process_set():
    parser = RawConfigParser(inline_comment_prefixes=(";",))
    parser.read(SUPERVISOR / "supervisord.conf")
    assert parser["include"]["files"] == "shop.conf"
    assert parser["supervisord"]["nodaemon"] == "true"
