"""Who and which process is acting: ``user@host`` and a process identity.

A process identity is (host, pid, boot id, start time): a pid alone can be
reused after a reboot or a wrap-around, the start time cannot. It is recorded
in a deploying version for people and ``doctor``; whether a deploy is alive is
decided by the lock it holds (see ``lock.is_held``), which also works across
hosts that share a filesystem with working locks.
"""

from __future__ import annotations

import os
from typing import Any


ENV_USER = "MLREG_USER"


def hostname() -> str:
    """This host's name (``uname -n``, as ``socket.gethostname`` gives, without importing socket)."""
    return os.uname().nodename


def user_at_host() -> str:
    """Who acts: ``$MLREG_USER`` when set (e.g. a CI job's name), else ``user@host``."""
    chosen = os.environ.get(ENV_USER, "").strip()
    if chosen and chosen.isprintable():
        return chosen
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (containers): fall back to the number
        user = str(os.getuid())
    return f"{user}@{hostname()}"


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks after boot ('' where unknown)."""
    stat = _read(f"/proc/{pid}/stat")
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def this_process() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": hostname(),
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
        "started": process_start(pid),
    }


def same_process_alive(process: dict[str, Any]) -> bool | None:
    """Whether the recorded process still runs: None when it ran on another host."""
    if process.get("host") != hostname():
        return None
    if process.get("boot_id") and process["boot_id"] != _read("/proc/sys/kernel/random/boot_id"):
        return False
    pid = process.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    started = process_start(pid)
    if not started:
        return False
    return not process.get("started") or started == process["started"]
