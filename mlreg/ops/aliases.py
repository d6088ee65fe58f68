"""``mlreg alias``: named pointers beside the primary (SPEC §7), kept in model.toml and
changed by its compare-and-swap, so that ``--expect`` holds across processes and hosts."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import identity, versions
from ..errors import AliasMoved, AliasNotFound, NotActive
from ..fields import alias_name
from ..metadata import HistoryEvent, VersionRecord, now
from ..changes import Change, Seen, existing
from ..repo import Repository


class AliasResult(NamedTuple):
    """One alias and the version it names (after ``set``; before ``rm``)."""

    alias: str
    record: VersionRecord
    previous: str | None = None  # the version it named before (``set``)
    changed: bool = True

    def to_json(self) -> dict[str, Any]:
        from ..views import alias

        return alias(self.alias, self.record)


def list_aliases(repo: Repository, name: str) -> list[AliasResult]:
    model = repo.load_model(name)
    found = []
    for alias in sorted(model.aliases):
        try:
            found.append(AliasResult(alias, repo.read_version(model, versions.folder(model.aliases[alias]))))
        except FileNotFoundError:
            continue  # `doctor` reports an alias that names no version
    return found


def _expected(text: str) -> str | None:
    text = text.strip()
    if text.lower() == "none":
        return None
    versions.folder(text)  # InvalidVersion when it is no version
    return text


def set_alias(repo: Repository, name: str, alias: str, ref: str, expect: str | None = None) -> AliasResult:
    """Point ``alias`` at the Active version ``ref``; with ``expect`` (a version, or
    ``"none"``), only while the alias still names that version (or none).

    Raises:
        UsageError (a bad or reserved alias name), VersionNotFound,
        NotActive (exit 4), AliasMoved (``expect`` no longer holds; nothing changed).
    """
    alias = alias_name(alias)
    expected = _expected(expect) if expect is not None else None
    folder = repo.load_model(name).folder
    model_path = repo.model_where(folder)

    def prepare(seen: Seen) -> Change:
        model = existing(seen, model_path)
        target = repo.version_of(model, ref)
        if target.status != "active":
            raise NotActive(f"{model.name!r} {target.version} is {target.status_label}; "
                            "only an Active version can carry an alias")
        current = model.aliases.get(alias)
        if expect is not None and not versions.same(current, expected):
            raise AliasMoved(f"@{alias} of {model.name!r} names {current or 'no version'}, not {expect}; "
                             "nothing changed")
        if versions.same(current, target.version):
            return Change(result=AliasResult(alias, target, current, changed=False))
        aliases = {**model.aliases, alias: target.version}
        event = HistoryEvent(at=now(), by=identity.user_at_host(), event="alias", version=target.version,
                             version_id=target.version_id, from_=current, to=target.version, detail=f"@{alias}")
        shown = target.replace(aliases=tuple(sorted({*target.aliases, alias})))
        return Change(model=model.replace(aliases=aliases), events=[event],
                      result=AliasResult(alias, shown, current))

    return repo.update(folder, prepare, marks=("alias:model-written", "alias:history-written"))


def remove_alias(repo: Repository, name: str, alias: str) -> AliasResult:
    """Remove ``alias``; the result names the version it named.

    Raises:
        AliasNotFound (exit 3).
    """
    alias = alias_name(alias)
    folder = repo.load_model(name).folder
    model_path = repo.model_where(folder)

    def prepare(seen: Seen) -> Change:
        model = existing(seen, model_path)
        current = model.aliases.get(alias)
        if current is None:
            known = ", ".join(f"@{a}" for a in sorted(model.aliases)) or "none"
            raise AliasNotFound(f"{model.name!r} has no alias @{alias} (its aliases: {known})")
        try:
            named = repo.read_version(model, versions.folder(current))
        except FileNotFoundError:
            named = None
        aliases = {a: v for a, v in model.aliases.items() if a != alias}
        event = HistoryEvent(at=now(), by=identity.user_at_host(), event="alias", version=current,
                             version_id=None if named is None else named.version_id, from_=current, to=None,
                             detail=f"@{alias}")
        shown = named.replace(aliases=tuple(a for a in named.aliases if a != alias)) if named is not None else \
            VersionRecord(model=model.name, version=current, version_id="", status="failed", deployed_at="",
                          deployed_by="", size=0, sha256="", artifact="missing")
        return Change(model=model.replace(aliases=aliases), events=[event], result=AliasResult(alias, shown, current))

    return repo.update(folder, prepare, marks=("alias:model-written", "alias:history-written"))
