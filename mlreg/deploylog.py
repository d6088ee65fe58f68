"""A version's deploy log: one timestamped line per step, appended as it happens.

The log starts in the deploy's staging folder and moves into its version's
folder once the version is claimed; only the deploy writes it while it lives.
"""

from __future__ import annotations

from typing import Any

from .metadata import now


class DeployLog:
    """Appends to the log at ``key`` of ``storage`` (a ``mlreg.storage.Storage``);
    ``move`` follows the log to its version's folder once the version is claimed."""

    def __init__(self, storage: Any, key: str) -> None:
        self._storage = storage
        self.key = key
        storage.append(key, b"", sync=False)

    def write(self, message: str, at: str | None = None) -> None:
        """Append ``message``; lines after the first are indented under it."""
        first, *rest = (message.rstrip() or "-").splitlines()
        text = f"{at or now()}  {first}\n" + "".join(f"    {line}\n" for line in rest)
        self._storage.append(self.key, text.encode("utf-8", "replace"), sync=False)

    def sync(self) -> None:
        self._storage.append(self.key, b"", sync=True)

    def move(self, key: str) -> None:
        self._storage.move(self.key, key)
        self.key = key


MAX_LOG_BYTES = 64 << 20


def entries(lines: list[str]) -> list[dict[str, str | None]]:
    """Log lines as ``{"at": ISO 8601 UTC, "text": the line without its timestamp}``.

    Lines that continue an entry (indented under it, e.g. a traceback) carry
    the time of the entry they belong to.
    """
    found: list[dict[str, str | None]] = []
    at: str | None = None
    for line in lines:
        stamp, sep, text = line.partition("  ")
        if sep and len(stamp) >= 20 and stamp[4:5] == "-" and stamp[10:11] == "T" and stamp.endswith("Z"):
            at = stamp
        else:
            text = line[4:] if line.startswith("    ") else line
        found.append({"at": at, "text": text})
    return found
