"""One model, read once: ``Registry.model(name)`` hands one out.

Like sqlite-utils' ``db.table(name)``: the model's record (``model.toml``) is
read when it is made, its versions and README when first asked for, and each is
kept, so a page or a command that shows a model reads each file once
(``registry.toml`` included). It is a snapshot: what others write meanwhile is
seen by the next ``Registry.model``. Its writes (``promote``, ``set_alias``,
``tag``, ``delete``, ...) are the operations the ``Registry`` runs by name, each
a compare-and-swap that reads afresh, so a handle never writes what it read;
after one, the handle reads again when next asked.

It also answers what ``ModelInfo`` did (``record``, ``version_count``,
``to_json``), so existing code that took one keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from .deploylog import MAX_LOG_BYTES
from .layout import LOG_FILE
from .metadata import HistoryEvent, ModelInfo, ModelRecord, VersionRecord

if TYPE_CHECKING:
    from .ops.aliases import AliasResult
    from .ops.promote import PromoteResult


class ModelOverview(NamedTuple):
    """``mlreg show``: the model, its versions and invocation code."""

    info: ModelInfo
    versions: list[VersionRecord]
    invocation: dict[str, str]
    readme_intro: str = ""

    def to_json(self) -> dict[str, Any]:
        from .views import overview

        return overview(self)


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
                if _versions.folder(v.version) == wanted:
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

        vfolder = _versions.folder(version.version) if isinstance(version, VersionRecord) else \
            self._repo.resolve(self.record, version)
        data = self._repo.version_folder(self.record.folder, vfolder).read(LOG_FILE, MAX_LOG_BYTES)
        return [] if data is None else data.decode("utf-8", "replace").splitlines()

    def info(self) -> ModelInfo:
        return ModelInfo(self.record, self.version_count)

    def to_json(self) -> dict[str, Any]:
        """The model object of SPEC §2."""
        return self.info().to_json()

    # -------------------------------------------------------------- writes
    # Each is the Registry's operation by this model's name; afterwards the
    # handle reads the model again when next asked.

    def _changed(self, result: Any) -> Any:
        self.record = self._repo.load_model(self.record.name)
        self._versions = self._readme = None
        return result

    def promote(self, ref: str, expect_primary: str | None = None) -> PromoteResult:
        """Make an Active version primary (``Registry.promote``)."""
        return self._changed(self._registry.promote(self.name, ref, expect_primary))

    def describe(self, text: str) -> ModelInfo:
        return self._changed(self._registry.describe(self.name, text))

    def set_readme(self, text: str, expect_sha256: str | None = None) -> str:
        return self._changed(self._registry.set_readme(self.name, text, expect_sha256))

    def aliases(self) -> list[AliasResult]:
        return self._registry.aliases(self.name)

    def set_alias(self, alias: str, ref: str, expect: str | None = None) -> AliasResult:
        return self._changed(self._registry.set_alias(self.name, alias, ref, expect))

    def remove_alias(self, alias: str) -> AliasResult:
        return self._changed(self._registry.remove_alias(self.name, alias))

    def tag(self, ref: str, set: Mapping[str, str] | None = None, remove: Sequence[str] = ()) -> VersionRecord:
        return self._changed(self._registry.tag(self.name, ref, set, remove))

    def delete(self, ref: str) -> VersionRecord:
        """Delete one version (``Registry.delete``)."""
        return self._changed(self._registry.delete(self.name, ref))

    def prune(self, keep: int = 5, failed_only: bool = False, dry_run: bool = False) -> list[VersionRecord]:
        return self._changed(self._registry.prune(self.name, keep, failed_only, dry_run))
