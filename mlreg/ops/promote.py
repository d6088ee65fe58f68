"""``mlreg promote``: make an Active version the primary, by compare-and-swap."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import identity, versions
from ..errors import (
    NotActive,
    PrimaryMoved,
)
from ..metadata import (
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    now,
)
from ..changes import Change, Seen, existing
from ..repo import Repository

from . import docs


def primary_event(model: ModelRecord, target: VersionRecord, cause: str) -> HistoryEvent:
    """The history line of ``target`` becoming the primary of ``model``."""
    return HistoryEvent(at=now(), by=identity.user_at_host(), event="primary", version=target.version,
                        version_id=target.version_id, from_=model.primary, to=target.version, detail=cause)


class Primary(NamedTuple):
    """A change of primary, prepared inside a compare-and-swap of model.toml."""

    model: ModelRecord  # names the new primary, with its Type and Framework
    readme: str | None  # the README to write (one mlreg generated follows the primary), or None
    event: HistoryEvent


def make_primary(model: ModelRecord, target: VersionRecord, readme: bytes | None, cause: str,
                 follow_readme: bool = True) -> Primary:
    """The one rule of a change of primary, for promote, a deploy's outcome and a
    copy (push, pull, import): the model names ``target`` (an Active version) and
    takes its Type and Framework, a README mlreg generated (and nobody edited)
    follows it (unless the caller writes the README itself: ``follow_readme``),
    and the history says who moved it, from what, and why (``cause``)."""
    updated = model.replace(primary=target.version, type=target.type, framework=target.framework)
    text = None
    if follow_readme:
        after = docs.readme_after(model, target.replace(primary=True), readme)
        if after is not None:
            updated, text = updated.replace(readme_generated=after.generated), after.text
    return Primary(updated, text, primary_event(model, target, cause))


def _expected_primary(text: str) -> str | None:
    if text.strip().lower() in ("", "none"):
        return None
    versions.folder(text.strip())
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
    model_path = repo.model_where(folder)
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
        primary = make_primary(record, target, seen.readme, "promote")
        return Change(model=primary.model, readme=primary.readme, events=[primary.event],
                      result=PromoteResult(record.name, record.primary, target.replace(primary=True), changed=True))

    return repo.update(folder, prepare, marks=("promote:model-written", "promote:history-written"))

