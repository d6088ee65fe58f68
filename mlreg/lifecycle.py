"""The ``Registry`` methods of a model's lifecycle (SPEC §7): aliases, tags, delete,
prune, diff, export and import. ``mlreg.registry.Registry`` inherits them; each is a
few lines over an operation in ``mlreg.ops``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:
    from .metadata import VersionRecord
    from .ops.aliases import AliasResult
    from .ops.diff import Diff
    from .ops.transfer import TransferResult
    from .repo import ModelInfo, Repository


class Lifecycle:
    repo: Repository

    def aliases(self, name: str) -> list[AliasResult]:
        """The model's aliases and the versions they name, sorted by alias.

        Raises:
            InvalidName, ModelNotFound, IntegrityError.
        """
        from .ops.aliases import list_aliases

        return list_aliases(self.repo, name)

    def set_alias(self, name: str, alias: str, ref: str, expect: str | None = None) -> AliasResult:
        """Point ``alias`` (1-32 of a-z, 0-9, ``-``, ``_``; not ``primary`` or ``latest``)
        at the Active version ``ref``. ``expect`` is a compare-and-swap guard: a
        version, or ``"none"`` for an alias that must not exist yet.

        Raises:
            UsageError (a bad alias), VersionNotFound, NotActive, AliasMoved.
        """
        from .ops.aliases import set_alias

        return set_alias(self.repo, name, alias, ref, expect)

    def remove_alias(self, name: str, alias: str) -> AliasResult:
        """Remove ``alias``; the result names the version it named.

        Raises:
            AliasNotFound.
        """
        from .ops.aliases import remove_alias

        return remove_alias(self.repo, name, alias)

    def tag(self, name: str, ref: str, set: Mapping[str, str] | None = None, remove: Sequence[str] = ()
            ) -> VersionRecord:
        """Set and remove tags on a version; returns the version after the change.

        Raises:
            UsageError (bad keys or values), VersionNotFound, StillDeploying.
        """
        from .errors import UsageError
        from .fields import bad_table, tag_keys
        from .ops.tags import tag

        checked = dict(set or {})
        if (why := bad_table(checked, "tags")) is not None:
            raise UsageError(f"cannot set these tags: {why}")
        return tag(self.repo, name, ref, checked, tag_keys(remove))

    def delete(self, name: str, ref: str) -> VersionRecord:
        """Delete one version: its folder and artifact. Its number and ID are never
        given again. Returns its record as it was.

        Raises:
            VersionNotFound; InUse (the primary, or a version with an alias);
            StillDeploying.
        """
        from .ops.delete import delete_versions

        return delete_versions(self.repo, name, [ref])[0]

    def delete_model(self, name: str) -> ModelInfo:
        """Delete the whole model: versions, README, history; its IDs are never given again.

        Raises:
            ModelNotFound; StillDeploying (a version is Deploying).
        """
        from .ops.delete import delete_model

        return delete_model(self.repo, name)

    def prune(self, name: str, keep: int = 5, failed_only: bool = False, dry_run: bool = False
              ) -> list[VersionRecord]:
        """Delete every version but the primary, aliased and Deploying versions and the
        ``keep`` most recently deployed Active ones (``failed_only``: only Deployment
        Failed versions); with ``dry_run``, only list them. Returns those deleted
        (or that would be), oldest number first."""
        from .errors import UsageError
        from .ops.delete import prune

        if keep < 0:
            raise UsageError("--keep must be 0 or more")
        return prune(self.repo, name, keep, failed_only, dry_run)

    def diff(self, name: str, a: str, b: str) -> Diff:
        """What differs between versions ``a`` and ``b``: ``changes`` by dotted field."""
        from .ops.diff import diff

        return diff(self.repo, name, a, b)

    def export(self, name: str, output: str | os.PathLike[str], versions: Sequence[str] = ()) -> TransferResult:
        """Write the model and its Active versions (``versions``: those refs, else all),
        with README and history, to a tar archive (gzip for ``.tar.gz``/``.tgz``)."""
        from .ops.archive import export

        return export(self.repo, name, versions, os.fspath(output))

    def import_archive(self, path: str | os.PathLike[str]) -> TransferResult:
        """Add the model an ``export`` wrote (see ``mlreg.ops.archive``); never replaces
        anything.

        Raises:
            IntegrityError (a hostile member, or an artifact that does not match:
            nothing written), VersionExists (a clash: nothing written), UsageError.
        """
        from .ops.archive import import_archive

        return import_archive(self.repo, os.fspath(path))
