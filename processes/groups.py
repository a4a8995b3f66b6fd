"""Subprocesses in sessions of their own: stopping one (TERM, then KILL of its process
group after a grace period) also ends its children (a Celery pool, gunicorn's
workers, an embedded beat) and nothing else."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path


def exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether it has exited, without reaping it (WNOWAIT): while it is not reaped,
    its pid (the group id) cannot be reused."""
    if proc.returncode is not None:
        return True
    try:
        found = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return found is not None


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)  # the session we started it in: pgid == its pid
    except ProcessLookupError:
        pass


def reap_group(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until ``deadline`` (monotonic) for it to exit, then KILL what is left of
    its process group (children left behind) and reap it."""
    while not exited(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Not reaped yet, so its pid (the group id) cannot have been reused.
    signal_group(proc, signal.SIGKILL)
    proc.wait()


def stop_groups(procs: list[subprocess.Popen[bytes]], *, grace: float) -> None:
    """TERM every process group at once (a graceful or warm shutdown), give them
    ``grace`` seconds together, then KILL and reap each."""
    for proc in procs:
        if not exited(proc):
            signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        reap_group(proc, deadline)


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group, with the
    children they have reaped (``/proc/<pid>/stat``: pgrp is field 5, utime, stime,
    cutime, cstime fields 14 to 17; NaN without ``/proc``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except FileNotFoundError:
        return math.nan
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


class NoFreePort(RuntimeError):
    """Every port of the range is taken."""


def spare_port(ports: Iterable[int]) -> int:
    """The first port of ``ports`` nothing listens on (or is bound to) now, so runs
    side by side on one machine stay within the ranges they were given."""
    ports = list(ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise NoFreePort(f"no free port in {ports[0]}-{ports[-1]}" if ports else "no ports")
