"""A version's deploy log: one timestamped line per step, appended as it happens.

The log is opened once, in the staging folder, and written through the same
descriptor after the folder is published, so no line is lost to the rename.
"""

from __future__ import annotations

import os

from .layout import LOG_FILE as LOG_NAME  # noqa: F401  (its name, for the readers of logs)
from .metadata import now


class DeployLog:
    def __init__(self, path: str) -> None:
        from .atomic import open_regular

        self._fd = open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def write(self, message: str, at: str | None = None) -> None:
        """Append ``message``; lines after the first are indented under it."""
        first, *rest = (message.rstrip() or "-").splitlines()
        text = f"{at or now()}  {first}\n" + "".join(f"    {line}\n" for line in rest)
        os.write(self._fd, text.encode("utf-8", "replace"))

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1


MAX_LOG_BYTES = 64 << 20


def read_lines(path: str) -> list[str]:
    """The log's lines.

    Raises:
        FileNotFoundError; UnsafeFile (a symlink, a FIFO, a hard link); ValueError (over 64 MiB).
    """
    from .atomic import read_bytes

    return read_bytes(path, MAX_LOG_BYTES).decode("utf-8", "replace").splitlines()


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
