"""``mlreg push`` and ``mlreg pull``: copy a model's Active versions between any two
registries (folders or ``s3://``), keeping what each version is (SPEC §8).

Everything is checked before anything is copied: a version the target already
has with the same sha256 is skipped; a number (or an ID) there with other
content stops the whole transfer (exit 4). Each version is then written into
the target as a deploy writes one, so the target's rules hold throughout:
its number recorded in model.toml (compare-and-swap), claimed by creating its
``.deploy.lock``, its artifact and code streamed in and checked against the
recorded sha256 and digest, its ID file created, and its ``version.toml``
(the source's, byte for byte) created last. Running it again copies nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple, Sequence

from .. import identity, names, versions
from ..errors import IntegrityError, LeaseLost, NotActive, VersionExists
from ..folders import Folder
from ..layout import CODE_DIR, LOG_FILE, VERSION_FILE
from ..metadata import MAX_METADATA_BYTES, HistoryEvent, ModelRecord, VersionRecord, now
from ..changes import Change, Seen, existing
from ..repo import Repository
from .promote import make_primary
from .publish import claim_version, discard_claimed, publish_version

_MAX_CODE_FILE = 256 << 20


class TransferResult(NamedTuple):
    """What a push or a pull did: the versions copied and those already there."""

    model: str
    copied: list[str]
    skipped: list[str]
    primary: str | None  # the target's primary afterwards

    def to_json(self) -> dict[str, Any]:
        from ..views import transferred

        return transferred(self)


def transfer(source: Repository, target: Repository, name: str, refs: Sequence[str] = (),
             promote: bool = False, include_failed: bool = False) -> TransferResult:
    """Copy model ``name``'s Active versions (those ``refs`` name, else all) from
    ``source`` to ``target``; with ``include_failed`` (export and import), its
    Deployment Failed versions too, their logs and reasons with them (never one
    whose deploy was interrupted: its record is not final).

    The target's primary becomes the source's when the target had none, or
    with ``promote`` (when that version is in the target).

    Raises:
        ModelNotFound, VersionNotFound, InvalidVersion (a ref), NotActive (a ref
        names a version that is not Active), VersionExists (the target has a
        chosen number or ID with other content: nothing was copied),
        IntegrityError (an artifact that does not match its record).
    """
    record = source.load_model(name)
    folder = record.folder

    def wanted(v: VersionRecord) -> bool:
        return v.status == "active" or include_failed and v.status == "failed" and not v.interrupted

    if refs:
        chosen = []
        for ref in refs:
            v = source.version_of(record, ref)
            if not wanted(v):
                raise NotActive(f"{record.name!r} {v.version} is {v.status_label}; only Active versions are copied"
                                + (" (and finished Deployment Failed ones)" if include_failed else ""))
            if all(c.version != v.version for c in chosen):
                chosen.append(v)
    else:
        chosen = [v for v in source.versions(record, cached=False) if wanted(v)]
    target.ensure()
    plan, skipped = _plan(target, folder, chosen)
    for v in plan:
        _copy(source, target, record, v)
    _readme(source, target, record)
    primary = _primary(target, record, promote)
    return TransferResult(record.name, [v.version for v in plan], [v.version for v in skipped], primary)


def _plan(target: Repository, folder: str, chosen: list[VersionRecord]) -> tuple[list[VersionRecord], list[VersionRecord]]:
    """The versions to copy and those the target has already; any other clash raises."""
    from .delete import was_deleted

    plan, skipped = [], []
    try:
        there_model: ModelRecord | None = target.read_model(folder)
    except FileNotFoundError:
        there_model = None
    ids: dict[str, str] = {}
    for v in chosen:  # what the source claims, checked as hostile input before anything is written
        if not versions.is_version_id(v.version_id):
            raise IntegrityError(f"{v.model!r} {v.version} has the version ID {v.version_id[:40]!r}, which is not "
                                 f"one ({versions.ID_LENGTH} lowercase letters and digits); nothing was copied")
        if v.version_id in ids:
            raise IntegrityError(f"{v.model!r} {ids[v.version_id]} and {v.version} share the version ID "
                                 f"{v.version_id}, which names one version only; nothing was copied")
        ids[v.version_id] = v.version
    for v in chosen:
        vfolder = versions.folder(v.version)
        if there_model is not None and was_deleted(target, there_model, vfolder):
            raise VersionExists(f"{target.path} deleted {v.model!r} {v.version}, and a deleted number is never "
                                "given again; nothing was copied")
        try:
            there = target.version_file(folder, vfolder)
        except FileNotFoundError:
            there = None
        if there is not None:
            if there.sha256 != v.sha256:
                raise VersionExists(
                    f"{target.path} already has {v.model!r} {v.version} with other content (sha256 "
                    f"{there.sha256[:12]}..., not {v.sha256[:12]}...); nothing was copied")
            skipped.append(v)
            continue
        if target.version_folder(folder, vfolder).exists():
            raise VersionExists(f"{target.path} has {v.model!r} {v.version} being deployed, or left by a deploy "
                                "that ended early (see `mlreg doctor`); nothing was copied")
        owner = target.ids.owner(v.version_id)
        if owner is not None and owner != (folder, vfolder) and target.ids.carries(owner, v.version_id):
            raise VersionExists(f"{target.path} has the version ID {v.version_id} on {owner[0]} {owner[1]}; "
                                "nothing was copied")
        plan.append(v)
    return plan, skipped


def _copy(source: Repository, target: Repository, model: ModelRecord, v: VersionRecord) -> None:
    """Write one version into the target as a deploy does."""
    folder, vfolder = model.folder, versions.folder(v.version)
    number = versions.parse(v.version)

    def record_number(seen: Seen) -> Change:
        current = seen.model or model.replace(primary=None, highest_version=None, readme_generated=None, aliases={},
                                              deleting=(), deleting_model=None, revision=0,
                                              last_deployed_at=None)
        highest = versions.parse(current.highest_version) if current.highest_version else None
        if current.last_deployed_at is None or v.deployed_at > current.last_deployed_at:
            current = current.replace(last_deployed_at=v.deployed_at)
        if highest is not None and highest >= number:
            return Change(model=current if current != seen.model else None)
        return Change(model=current.replace(highest_version=str(number)))

    target.update(folder, record_number)
    with contextlib.ExitStack() as leases:
        got = claim_version(target, folder, vfolder, leases)
        if got is None:
            raise VersionExists(f"{target.path}: {v.model!r} {v.version} was taken meanwhile; "
                                "nothing more was copied")
        claimed, lease = got
        published = False
        try:
            _copy_files(source, target, claimed, v)
            if not target.ids.register(v.version_id, folder, vfolder) and \
                    target.ids.owner(v.version_id) != (folder, vfolder):
                raise VersionExists(f"{target.path} has the version ID {v.version_id} already; "
                                    "nothing more was copied")
            data = source.version_folder(folder, vfolder).read(VERSION_FILE, MAX_METADATA_BYTES)
            if data is None:
                raise IntegrityError(f"{source.version_folder(folder, vfolder).where(VERSION_FILE)} disappeared")
            try:
                publish_version(claimed, lease, data, f"{target.path}: the copy of {v.model!r} {v.version}")
            except LeaseLost:
                published = True  # the folder may be another's now: nothing to clean up that is surely ours
                raise
            published = True
        finally:
            if not published:
                discard_claimed(claimed, leases)
    target.history(folder).record([HistoryEvent(
        at=now(), by=identity.user_at_host(), event="deploy", version=v.version, version_id=v.version_id,
        status=v.status, detail=f"copied from {source.path} (deployed {v.deployed_at} by {v.deployed_by})")])


def _copy_files(source: Repository, target: Repository, claimed: Folder, v: VersionRecord) -> None:
    """The artifact (checked against its sha256 as it streams), the code (against its
    digest), the signatures and the deploy log, with a line saying where it came from."""
    from ..predict import open_verified

    there = source.version_folder(names.folder(v.model), versions.folder(v.version))
    with open_verified(source.artifact_path(v), v.size, v.sha256) as f:
        size, sha256 = claimed.stream_in(v.artifact, f)
    if (size, sha256) != (v.size, v.sha256):
        raise IntegrityError(f"the artifact of {v.model} {v.version} changed while it was copied; nothing more was copied")
    for name in there.files(CODE_DIR):
        data = there.read(name, _MAX_CODE_FILE)
        if data is not None:
            claimed.create(name, data)
    if v.code_sha256 is not None:
        from ..usercode import verify

        verify(target.code_path(v), v.code_sha256)
    _copy_signatures(source, target, v)
    log = there.read(LOG_FILE, 64 << 20) or b""
    line = f"{now()}  copied from {source.path} to {claimed.where()} by {identity.user_at_host()}\n"
    claimed.write(LOG_FILE, log + line.encode("utf-8"))


def _copy_signatures(source: Repository, target: Repository, v: VersionRecord) -> None:
    """``signed.toml`` and every signature go along as they are: each is checked where
    it is read, against the version it names, so a copy needs to trust none of them."""
    there, here = source.signatures(v), target.signatures(v)
    signed = there.signed()
    if signed is not None:
        here.write_signed(signed)
    for hex_key in there.keys():
        bundle, pem = there.read(hex_key)
        if bundle is not None and pem is not None:
            here.add(hex_key, bundle, pem)


def _readme(source: Repository, target: Repository, model: ModelRecord) -> None:
    """The source's README goes along, unless someone wrote the target's own."""
    from ..readme import sha256 as text_sha256

    text = source.read_readme(model.folder)
    if text is None:
        return
    generated = model.readme_generated if model.readme_generated == text_sha256(text) else None

    def prepare(seen: Seen) -> Change:
        current = existing(seen, target.model_where(model.folder))
        there = None if seen.readme is None else seen.readme.decode("utf-8", "replace")
        if there == text:
            return Change()
        if there is not None and current.readme_generated != text_sha256(there):
            return Change()  # written by someone: theirs stays
        return Change(model=current.replace(readme_generated=generated), readme=text,
                      events=[HistoryEvent(at=now(), by=identity.user_at_host(), event="readme",
                                           detail=f"copied from {source.path}")])

    target.update(model.folder, prepare)


def _primary(target: Repository, model: ModelRecord, promote: bool) -> str | None:
    """The source's primary becomes the target's when the target has none, or with
    ``promote``; only a version the target has, Active."""
    wanted = model.primary

    def prepare(seen: Seen) -> Change:
        current = existing(seen, target.model_where(model.folder))
        if wanted is None or versions.same(current.primary, wanted) or (current.primary is not None and not promote):
            return Change(result=current.primary)
        with contextlib.suppress(FileNotFoundError):
            there = target.read_version(current, versions.folder(wanted))
            if there.status == "active":
                primary = make_primary(current, there, seen.readme, "copied from the source")
                return Change(model=primary.model, readme=primary.readme, events=[primary.event],
                              result=there.version)
        return Change(result=current.primary)

    return target.update(model.folder, prepare)
