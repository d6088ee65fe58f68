"""The version ID index: ``ids/ID`` names the folder of the version that carries the
ID (``folder/version``), created exclusively, so that no ID is ever given twice;
once its version is deleted it says so (``deleted folder/version``) and names
nothing, never to be given again. ``Repository.ids`` hands it out.
"""

from __future__ import annotations

from typing import Any

from . import names, versions
from .errors import IntegrityError
from .folders import put_checked
from .layout import VERSION_FILE, id_key, version_key
from .storage.base import CREATE, Precondition

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
RETIRED = "deleted "  # an ID file's text once its version is deleted: "deleted folder/version"


class IdIndex:
    def __init__(self, repo: Any) -> None:  # a ``repo.Repository``
        self._repo = repo
        self._storage = repo.storage

    def owner(self, version_id: str) -> tuple[str, str] | None:
        key = id_key(version_id)
        try:
            found = self._storage.get(key, 4096).data
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as e:
            raise IntegrityError(f"cannot read version ID file {self._repo.where(key)}: "
                                 f"{getattr(e, 'strerror', None) or e}") from None
        text = found.decode("utf-8", "replace").strip()
        if text.startswith(RETIRED):
            return None  # its version was deleted: the ID names nothing, and is never given again
        folder, _, vfolder = text.partition("/")
        if names.folder(folder) != folder or not versions.is_version(vfolder) or "/" in vfolder:
            raise IntegrityError(f"version ID file {self._repo.where(key)} is corrupt: {text[:80]!r}")
        return folder, vfolder

    def carries(self, owner: tuple[str, str], version_id: str) -> bool:
        """Whether the version an ID file names carries that ID. An ID file is made
        before its version is published; a deploy killed in between leaves one
        naming a number another deploy may take (`doctor --fix` removes it)."""
        try:
            return self._repo.toml(version_key(owner[0], owner[1], VERSION_FILE)).get("id") == version_id
        except FileNotFoundError:
            return False

    def new(self, folder: str, vfolder: str) -> str:
        """A version ID never given before, its ID file made (naming ``folder/vfolder``)."""
        import secrets

        while True:
            candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(versions.ID_LENGTH))
            if self.register(candidate, folder, vfolder):
                return candidate

    def register(self, version_id: str, folder: str, vfolder: str, *, retired: bool = False) -> bool:
        """Create the ID file of ``version_id`` naming ``folder/vfolder`` (``retired``: a
        deleted version's, which names nothing and is never given again); False
        when the ID has a file already."""
        text = f"{RETIRED if retired else ''}{folder}/{vfolder}\n"
        try:
            self._storage.put(id_key(version_id), text.encode(), CREATE)
            return True
        except Precondition:
            return False

    def retire(self, version_id: str, folder: str, vfolder: str) -> None:
        """The ID file of a deleted version: it names nothing from now on, and is never given again."""
        put_checked(self._storage, id_key(version_id), f"{RETIRED}{folder}/{vfolder}\n".encode())

    def forget(self, version_id: str) -> None:
        """Remove an ID file no version carries (taken back before it was shown to anyone)."""
        self._storage.delete(id_key(version_id))
