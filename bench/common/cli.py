"""What every bench entry point shares (``python -m bench``, ``bench.api``,
``bench.blackfriday``): progress lines, a clean stop on SIGTERM and Ctrl-C, and the
JSON results file. No Django here: entry points import it before setting Django up."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def step(text: str) -> None:
    """A progress line on stderr (stdout carries the figures)."""
    print(f"-- {text}", file=sys.stderr, flush=True)


def fill_defaults(
    args: argparse.Namespace, defaults: Iterable[tuple[str, Any, Any]]
) -> None:
    """Give each flag left out (``None``) its default: ``(name, with --quick,
    without)``. A value given stays, 0 included, for :func:`require_positive` to
    refuse (``args.x = args.x or default`` would take a 0 for the default)."""
    for name, quick, full in defaults:
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)


def require_positive(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: Iterable[str]
) -> None:
    """Exit with argparse's usage error (status 2) when any of ``names`` is 0 or
    less, naming the flags."""
    names = list(names)
    if min(getattr(args, name) for name in names) <= 0:
        *others, last = [f"--{name.replace('_', '-')}" for name in names]
        listed = f"{', '.join(others)} and {last}" if others else last
        parser.error(f"{listed} must be positive")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_signals() -> None:
    """Turn SIGTERM, and SIGINT even where it was inherited ignored, into
    KeyboardInterrupt, so the entry point's cleanup stops workers and servers."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def save_json(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
