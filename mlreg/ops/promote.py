"""``mlreg promote``: make an Active version the primary, by compare-and-swap."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import identity, versions
from ..errors import (
    NotActive,
    PrimaryMoved,
)
from ..layout import MODEL_FILE, model_key
from ..metadata import (
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    now,
)
from ..repo import (
    Change,
    Repository,
    Seen,
    existing,
)

from . import docs


def primary_event(model: ModelRecord, target: VersionRecord, cause: str) -> HistoryEvent:
    """The history line of ``target`` becoming the primary of ``model``."""
    return HistoryEvent(at=now(), by=identity.user_at_host(), event="primary", version=target.version,
                        version_id=target.version_id, from_=model.primary, to=target.version, detail=cause)


def _expected_primary(text: str) -> str | None:
    if text.strip().lower() in ("", "none"):
        return None
    versions.folder_for(text.strip())
    return text.strip()


class PromoteResult(NamedTuple):
    """What `promote` did: the primary before, the version now primary, and
    whether anything changed."""

    model: str
    previous: str | None
    record: VersionRecord
    changed: bool

    def to_json(self) -> dict[str, Any]:
        from ..views import promoted

        return promoted(self)



def promote(repo: Repository, name: str, ref: str, expect_primary: str | None = None) -> PromoteResult:
    """``Registry.promote`` on ``repo`` (its docstring tells the guard and the errors)."""
    expected = _expected_primary(expect_primary) if expect_primary is not None else None
    folder = repo.load_model(name).folder
    model_path = repo.where(model_key(folder, MODEL_FILE))
    # A version that is Active stays Active, so reading it outside the lock is safe.

    def prepare(seen: Seen) -> Change:
        record = existing(seen, model_path)
        target = repo.version_of(record, ref)
        if target.status != "active":
            raise NotActive(
                f"{record.name!r} {target.version} is {target.status_label}; only an Active version can be primary"
            )
        if expect_primary is not None and not versions.same(record.primary, expected):
            raise PrimaryMoved(
                f"the primary of {record.name!r} is {record.primary or 'none'}, not {expect_primary}; nothing changed"
            )
        if target.primary:
            return Change(result=PromoteResult(record.name, record.primary, target, changed=False))
        updated = record.replace(primary=target.version, type=target.type, framework=target.framework)
        # A README mlreg generated (and nobody edited) follows the primary.
        readme = docs.readme_after(record, target.replace(primary=True), seen.readme)
        if readme is not None:
            updated = updated.replace(readme_generated=readme.generated)
        return Change(model=updated, readme=None if readme is None else readme.text,
                      events=[primary_event(record, target, "promote")],
                      result=PromoteResult(record.name, record.primary, target.replace(primary=True), changed=True))

    return repo.update(folder, prepare, marks=("promote:model-written", "promote:history-written"))

