"""``mlreg tag``: set and remove a version's tags, by compare-and-swap on its
version.toml (tags live with the version; a model's shared state is not touched)."""

from __future__ import annotations

from typing import Mapping, Sequence

from .. import identity
from ..errors import StillDeploying, UsageError, VersionNotFound
from ..fields import MAX_FIELDS
from ..metadata import HistoryEvent, VersionRecord, now
from ..repo import Repository


def tag(repo: Repository, name: str, ref: str, set_tags: Mapping[str, str], remove: Sequence[str] = ()) -> VersionRecord:
    """Set ``set_tags`` and remove the keys ``remove`` on version ``ref`` (a key both set
    and removed is an error); return the version after the change.

    Raises:
        UsageError: nothing to do, or a key both set and removed.
        VersionNotFound; StillDeploying (exit 6: its deploy still writes its record).
    """
    both = set(set_tags) & set(remove)
    if both:
        raise UsageError(f"tag {sorted(both)[0]} is both set and removed")
    if not set_tags and not remove:
        raise UsageError("give tags to set (KEY=VALUE) or --remove KEY")
    model = repo.load_model(name)
    vfolder = repo.resolve(model, ref)
    changes: list[tuple[str, str | None, str | None]] = []
    seen: list[VersionRecord] = []

    def change(record: VersionRecord | None) -> VersionRecord | None:
        if record is None:
            raise VersionNotFound(f"{model.name!r} {vfolder} was deleted meanwhile")
        if record.status == "deploying" and repo.deploy_alive(model.folder, vfolder):
            raise StillDeploying(f"{model.name!r} {record.version} is still Deploying; tag it once it is done")
        tags = {k: v for k, v in record.tags.items() if k not in remove}
        tags.update(set_tags)
        if len(tags) > MAX_FIELDS:
            raise UsageError(f"at most {MAX_FIELDS} tags a version")
        changes[:] = [(k, record.tags.get(k), tags.get(k)) for k in sorted(set(set_tags) | set(remove))
                      if record.tags.get(k) != tags.get(k)]
        seen[:] = [record]
        return record.replace(tags=tags) if changes else None

    repo.update_version(model.folder, vfolder, change)
    record = seen[0]
    if changes:
        by, at = identity.user_at_host(), now()
        repo.history(model.folder).record([HistoryEvent(at=at, by=by, event="tag", version=record.version,
                                                version_id=record.version_id, from_=old, to=new, detail=key)
                                   for key, old, new in changes])
    return repo.read_version(repo.read_model(model.folder), vfolder)
