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
        self.stopped = False
        storage.append(key, b"", sync=False)

    def stop(self) -> None:
        """Write nothing more: the deploy lost its version (the folder may be gone)."""
        self.stopped = True

    def write(self, message: str, at: str | None = None) -> None:
        """Append ``message``; lines after the first are indented under it."""
        if self.stopped:
            return
        first, *rest = (message.rstrip() or "-").splitlines()
        text = f"{at or now()}  {first}\n" + "".join(f"    {line}\n" for line in rest)
        self._storage.append(self.key, text.encode("utf-8", "replace"), sync=False)

    def sync(self) -> None:
        if self.stopped:
            return
        self._storage.append(self.key, b"", sync=True)

    def move(self, key: str) -> None:
        self._storage.move(self.key, key)
        self.key = key


MAX_LOG_BYTES = 64 << 20
