"""What every bench entry point shares (``python -m bench``, ``bench.api``,
``bench.blackfriday``): progress lines, a clean stop on SIGTERM and Ctrl-C, and the
JSON results file. No Django here: entry points import it before setting Django up."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any


def step(text: str) -> None:
    """A progress line on stderr (stdout carries the figures)."""
    print(f"-- {text}", file=sys.stderr, flush=True)


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
