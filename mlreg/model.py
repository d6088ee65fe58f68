"""One model, read once: ``Registry.model(name)`` hands one out.

Like sqlite-utils' ``db.table(name)``: the model's record (``model.toml``) is
read when it is made, its versions and README when first asked for, and each is
kept, so a page or a command that shows a model reads each file once
(``registry.toml`` included). It is a snapshot: what others write meanwhile is
seen by the next ``Registry.model``. Writes go through the ``Registry`` (its
compare-and-swap reads afresh), so a handle never writes what it read.

It also answers what ``ModelInfo`` did (``record``, ``version_count``,
``to_json``), so existing code that took one keeps working.
"""

from __future__ import annotations

from typing import Any

from .deploylog import MAX_LOG_BYTES
from .layout import LOG_FILE, version_key
from .metadata import HistoryEvent, ModelRecord, VersionRecord
from .repo import ModelInfo


class Model:
    def __init__(self, registry: Any, record: ModelRecord) -> None:
        self._registry = registry  # the Registry that made it
        self._repo = registry.repo
        self.record = record
        self._versions: list[VersionRecord] | None = None
        self._readme: str | None = None

    def __repr__(self) -> str:
        return f"Model({self.record.name!r})"

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def folder(self) -> str:
        return self.record.folder

    def versions(self) -> list[VersionRecord]:
        """Every version, oldest number first (read once)."""
        if self._versions is None:
            self._versions = self._repo.versions(self.record)
        return list(self._versions)

    @property
    def version_count(self) -> int:
        if self._versions is not None:
            return len(self._versions)
        return len(self._repo.version_folders(self.record.folder))

    def version(self, ref: str) -> VersionRecord:
        """One version by number, ID or ``@reference``.

        Raises:
            InvalidVersion, VersionNotFound, IntegrityError.
        """
        if self._versions is not None:
            from . import versions as _versions

            wanted = self._repo.resolve(self.record, ref)
            for v in self._versions:
                if _versions.folder_for(v.version) == wanted:
                    return v
        return self._repo.version_of(self.record, ref)

    @property
    def readme(self) -> str:
        """The README (Markdown), empty when there is none (read once)."""
        if self._readme is None:
            self._readme = self._repo.read_readme(self.record.folder) or ""
        return self._readme

    def history(self) -> list[HistoryEvent]:
        """Every event, oldest first."""
        return self._repo.history(self.record.folder).events()

    def logs(self, version: str | VersionRecord) -> list[str]:
        """A version's deploy log (a version read, or a number, ID or ``@reference``), a
        line each.

        Raises:
            InvalidVersion, VersionNotFound.
        """
        from . import versions as _versions

        vfolder = _versions.folder_for(version.version) if isinstance(version, VersionRecord) else \
            self._repo.resolve(self.record, version)
        data = self._repo.raw(version_key(self.record.folder, vfolder, LOG_FILE), MAX_LOG_BYTES, what="deploy log")
        return [] if data is None else data.decode("utf-8", "replace").splitlines()

    def info(self) -> ModelInfo:
        return ModelInfo(self.record, self.version_count)

    def to_json(self) -> dict[str, Any]:
        """The model object of SPEC §2."""
        return self.info().to_json()
