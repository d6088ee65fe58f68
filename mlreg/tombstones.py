"""A model's deleted versions: each leaves a tombstone (``deleted/VERSION.toml``: its
number, ID, sha256, when and by whom), so that its number is never given again,
wherever the model goes (export and import carry them). ``Repository.tombstones``
hands them out.
"""

from __future__ import annotations

from typing import Any

from .folders import put_checked
from .layout import deleted_key


class Tombstones:
    def __init__(self, repo: Any, folder: str) -> None:  # a ``repo.Repository``
        self._repo = repo
        self._storage = repo.storage
        self.folder = folder

    def has(self, vfolder: str) -> bool:
        """Whether the version ``vfolder`` was deleted (its number is never given again)."""
        return self._storage.exists(deleted_key(self.folder, vfolder))

    def write(self, vfolder: str, data: bytes) -> None:
        put_checked(self._storage, deleted_key(self.folder, vfolder), data)

    def read(self, vfolder: str) -> dict[str, Any]:
        """One tombstone, parsed.

        Raises:
            FileNotFoundError; IntegrityError.
        """
        return self._repo.toml(deleted_key(self.folder, vfolder))

    def all(self, limit: int) -> list[tuple[str, bytes]]:
        """(version folder, bytes) of each tombstone (names that are not a tombstone's,
        ``NAME.toml``, left out).

        Raises:
            IntegrityError: one unreadable, or larger than ``limit``.
        """
        found = []
        for key in self._storage.list(deleted_key(self.folder) + "/"):
            name = key.rsplit("/", 1)[-1]
            if name.endswith(".toml") and not name.startswith("."):
                data = self._repo.raw(key, limit, what="tombstone")
                if data is not None:
                    found.append((name[:-len(".toml")], data))
        return found
