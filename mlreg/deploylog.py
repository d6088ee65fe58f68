"""A version's deploy log: one timestamped line per step, appended as it happens.

The log is opened once, in the staging folder, and written through the same
descriptor after the folder is published, so no line is lost to the rename.
"""

from __future__ import annotations

import os

from .metadata import now

LOG_NAME = "deploy.log"


class DeployLog:
    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)

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


def read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()
