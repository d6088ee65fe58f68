"""``mlreg delete`` and ``mlreg prune``: remove versions (or a whole model) so that a
process killed at any instant leaves a registry that works.

A version's delete is decided by one compare-and-swap of model.toml, which lists
it under ``deleting``: from then on every reader treats it as gone, and a
promote or an alias set that races the delete reads the same model.toml, so it
either wins first (and the delete is refused: the version is in use) or finds
the version gone. Then its tombstone is written (``deleted/VERSION.toml``: the
number is never given again), its ID file is retired, its version.toml and
the rest of its folder removed, and a second compare-and-swap takes it off
``deleting`` and records the history. ``doctor --fix`` completes a delete that
was cut short, from whichever step it stopped at.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

from .. import identity, versions
from ..checkpoints import checkpoint
from ..errors import InUse, IntegrityError, StillDeploying, VersionNotFound, quote_arg
from ..layout import MODEL_FILE, VERSION_FILE
from ..metadata import HistoryEvent, ModelInfo, ModelRecord, VersionRecord, dump_toml, now
from ..changes import Change, Seen, existing
from ..repo import Repository


def _refusal(model: ModelRecord, v: VersionRecord) -> Exception | None:
    """Why ``v`` may not be deleted now (None when it may)."""
    quoted = quote_arg(model.name)
    if v.primary:
        return InUse(f"{model.name!r} {v.version} is the primary; promote another version first "
                     f"(`mlreg promote {quoted} VERSION`)")
    if v.aliases:
        return InUse(f"{model.name!r} {v.version} carries the alias{'es' if len(v.aliases) > 1 else ''} "
                     f"{', '.join('@' + a for a in v.aliases)}; remove {'them' if len(v.aliases) > 1 else 'it'} "
                     f"first (`mlreg alias rm {quoted} {v.aliases[0]}`)")
    if v.status == "deploying":
        return StillDeploying(f"{model.name!r} {v.version} is still Deploying; delete it once it is done")
    return None


def delete_versions(repo: Repository, name: str, refs: Sequence[str], *, skip_refused: bool = False,
                    detail: str | None = None) -> list[VersionRecord]:
    """Delete the versions ``refs`` name; return their records as they were.

    With ``skip_refused`` (prune), a version that may not be deleted (it became
    the primary meanwhile, or is gone) is left out rather than refused.

    Raises:
        VersionNotFound; InUse (exit 4: the primary, or an aliased version);
        StillDeploying (exit 6). Nothing is deleted then.
    """
    start = repo.load_model(name)
    folder = start.folder
    model_path = repo.model_where(folder)
    wanted: list[str] = []
    for ref in refs:
        try:
            vfolder = repo.resolve(start, ref)
        except VersionNotFound:
            if skip_refused:
                continue
            raise
        if vfolder not in wanted:
            wanted.append(vfolder)

    def mark(seen: Seen) -> Change:
        model = existing(seen, model_path)
        chosen = []
        for vfolder in wanted:
            try:
                v = repo.read_version(model, vfolder)
            except FileNotFoundError:
                if skip_refused:
                    continue
                raise VersionNotFound(f"{model.name!r} has no version {vfolder} (deleted meanwhile)") from None
            refused = _refusal(model, v)
            if refused is not None:
                if skip_refused:
                    continue
                raise refused
            chosen.append(v)
        if not chosen:
            return Change(result=[])
        return Change(model=model.replace(deleting=tuple(model.deleting) + tuple(v.version for v in chosen)),
                      result=chosen)

    chosen = repo.update(folder, mark, marks=("delete:marked", None))
    if chosen:
        finish_delete(repo, folder, [v.version for v in chosen], {v.version: v for v in chosen}, detail)
    return chosen


def finish_delete(repo: Repository, folder: str, numbers: Sequence[str],
                  records: dict[str, VersionRecord] | None = None, detail: str | None = None) -> None:
    """Every step of the deletes of ``numbers`` (listed under ``deleting``) after the
    first; each step is safe to repeat, so ``doctor --fix`` calls this too."""
    events = []
    for number in numbers:
        vfolder = versions.folder(number)
        record = (records or {}).get(number)
        if record is None:
            with contextlib.suppress(FileNotFoundError, IntegrityError):
                record = repo.version_file(folder, vfolder)
        if not repo.tombstones(folder).has(vfolder):
            repo.tombstones(folder).write(vfolder, dump_toml({
                "version": number, "id": None if record is None else record.version_id,
                "sha256": None if record is None else record.sha256,
                "deleted_at": now(), "deleted_by": identity.user_at_host()}).encode())
        checkpoint("delete:tombstoned")
        version_id = record.version_id if record is not None else _tombstone_id(repo, folder, vfolder)
        if version_id is not None and _owner(repo, version_id) == (folder, vfolder):
            repo.ids.retire(version_id, folder, vfolder)
        checkpoint("delete:id-retired")
        gone = repo.version_folder(folder, vfolder)
        gone.remove(VERSION_FILE)  # no longer a version, for any mlreg
        checkpoint("delete:unpublished")
        gone.remove()
        checkpoint("delete:removed")
        events.append(HistoryEvent(at=now(), by=identity.user_at_host(), event="delete", version=number,
                                   version_id=version_id, from_=number,
                                   to=None, detail=detail))

    gone = {versions.folder(n) for n in numbers}

    def unmark(seen: Seen) -> Change:
        model = seen.model
        if model is None:
            return Change()
        left = tuple(v for v in model.deleting if versions.folder(v) not in gone)
        return Change(model=model.replace(deleting=left) if left != model.deleting else None, events=events)

    repo.update(folder, unmark, marks=("delete:unmarked", "delete:history-written"))


def _tombstone_id(repo: Repository, folder: str, vfolder: str) -> str | None:
    """The version ID a tombstone records (None when it records none, or is unreadable)."""
    try:
        found = repo.tombstones(folder).read(vfolder).get("id")
    except (FileNotFoundError, IntegrityError):
        return None
    return found if isinstance(found, str) and versions.is_version_id(found) else None


def _owner(repo: Repository, version_id: str) -> tuple[str, str] | None:
    try:
        return repo.ids.owner(version_id)
    except Exception:
        return None  # a corrupt ID file is doctor's to report, never overwritten on a guess


def delete_model(repo: Repository, name: str) -> ModelInfo:
    """Delete the whole model: versions, README, history. Its IDs are retired.

    Raises:
        ModelNotFound; StillDeploying (exit 6) while a version is Deploying.
    """
    folder = repo.load_model(name).folder
    model_path = repo.model_where(folder)

    def mark(seen: Seen) -> Change:
        model = existing(seen, model_path)
        found = repo.versions(model, cached=False)
        deploying = [v.version for v in found if v.status == "deploying"]
        # A deploy that claimed its number and still streams its artifact (no version.toml yet).
        published = {versions.folder(v.version) for v in found}
        deploying += [v for v in repo.version_folders(folder) if v not in published and repo.deploy_alive(folder, v)]
        if deploying:
            raise StillDeploying(f"{model.name!r} {deploying[0]} is still Deploying; delete the model once it is done")
        return Change(model=model.replace(deleting_model=now()), result=ModelInfo(model, len(found)))

    info = repo.update(folder, mark, marks=("delete-model:marked", None))
    finish_model_delete(repo, folder)
    return info


def finish_model_delete(repo: Repository, folder: str) -> None:
    """Every step of a model's delete after the mark; safe to repeat (doctor)."""
    for v in repo.version_folders(folder):
        with contextlib.suppress(FileNotFoundError, IntegrityError):
            record = repo.version_file(folder, v)
            if _owner(repo, record.version_id) == (folder, v):
                repo.ids.retire(record.version_id, folder, v)
    checkpoint("delete-model:ids-retired")
    model = repo.model_folder(folder)
    for child in model.names():  # hidden ones (its lock) stay until the end
        if child != MODEL_FILE:
            model.remove_tree(child)
            model.remove(child)
    checkpoint("delete-model:removed")
    model.remove(MODEL_FILE)
    model.remove()


def prune_candidates(versions_: Sequence[VersionRecord], keep: int, failed_only: bool) -> list[VersionRecord]:
    """What ``prune`` deletes: every version but the primary, aliased and Deploying
    ones and the ``keep`` most recently deployed Active ones; with ``failed_only``,
    only Deployment Failed versions. Oldest number first."""
    active = sorted((v for v in versions_ if v.status == "active"), key=lambda v: v.deployed_at, reverse=True)
    kept = {v.version for v in active[:max(keep, 0)]}
    found = []
    for v in versions_:
        if v.primary or v.aliases or v.status == "deploying" or v.version in kept:
            continue
        if failed_only and v.status != "failed":
            continue
        found.append(v)
    return found


def prune(repo: Repository, name: str, keep: int = 5, failed_only: bool = False, dry_run: bool = False
          ) -> list[VersionRecord]:
    """Delete (or, with ``dry_run``, list) what ``prune_candidates`` chooses; a version
    that became the primary or gained an alias meanwhile is kept."""
    model = repo.load_model(name)
    chosen = prune_candidates(repo.versions(model), keep, failed_only)
    if dry_run or not chosen:
        return chosen
    return delete_versions(repo, name, [v.version for v in chosen], skip_refused=True, detail="prune")


def was_deleted(repo: Repository, model: ModelRecord, vfolder: str) -> bool:
    """Whether version folder ``vfolder`` of ``model`` was (or is being) deleted."""
    return model.is_deleting(vfolder) or repo.tombstones(model.folder).has(vfolder)

