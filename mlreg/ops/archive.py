"""``mlreg export`` and ``mlreg import``: a model in a tar archive (SPEC §7).

An archive is a small registry holding the one model: ``mlreg.toml`` and
``models/FOLDER/`` (model.toml, README, history and the chosen versions, by default
every version but those still Deploying, each
version's folder as the registry keeps it). So export is a push into a scratch
registry that is then tarred, and import a pull from the archive's registry,
once every member has been checked:

- only regular files and folders below ``mlreg.toml`` and ``models/ONE-FOLDER/``,
  never ``..``, an absolute name, a link or a device (exit 7, nothing written),
  and extracted by the standard library's ``data`` filter into a scratch
  folder outside the registry, which is removed afterwards;
- every artifact's size and sha256 (and its code's digest) verified before
  anything is published (exit 7, nothing written);
- then the rules of push and pull: versions already present with the same
  sha256 are skipped, a number present with other content or an ID used by
  another version is exit 4 with nothing written, and into a registry
  without the model, the archive's primary becomes the primary.
"""

from __future__ import annotations

import functools
import os
import shutil
import tarfile
import tempfile
from typing import NamedTuple, Sequence

from .. import names
from ..errors import IntegrityError, MlregError, UsageError
from ..history import Carried
from ..layout import CODE_DIR, HISTORY_FILE, MARKER, MODEL_FILE, MODELS, SIGNATURES, SIGNED_FILE
from ..metadata import ModelRecord
from ..repo import Repository
from .transfer import TransferResult, transfer

_GZIP = (".tar.gz", ".tgz")


def export(repo: Repository, name: str, refs: Sequence[str], output: str) -> TransferResult:
    """Write model ``name`` with its versions (those ``refs`` name, else every Active and
    Deployment Failed one) to
    the tar archive ``output`` (gzip for ``.tar.gz``/``.tgz``), replaced whole.

    Raises:
        ModelNotFound, VersionNotFound, NotActive, IntegrityError (an artifact
        that does not match its record: nothing is written), UsageError (a bad output).
    """
    if not output.endswith((".tar", *_GZIP)):
        raise UsageError(f"--output {output}: name a .tar, .tar.gz or .tgz file")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise UsageError(f"--output {output}: the folder {parent} does not exist")
    record = repo.load_model(name)
    scratch = tempfile.mkdtemp(prefix="mlreg-export-")
    try:
        staged = Repository.in_folder(os.path.join(scratch, "registry"))
        staged.init()
        result = transfer(repo, staged, name, refs, promote=True, include_failed=True)
        staged.history(record.folder).replace(_read_history(repo, record.folder, repo.where(record.folder)))
        _write_retired(staged, record.folder, _read_retired(repo, record.folder, repo.where(record.folder)))
        _carry_aliases(staged, record)
        # A name of its own, created new (O_EXCL): never written through a link planted there.
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(output)}.", suffix=".part", dir=parent)
        mask = os.umask(0o022)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        try:
            with os.fdopen(fd, "wb") as raw, \
                    tarfile.open(fileobj=raw, mode="w:gz" if output.endswith(_GZIP) else "w") as tar:
                root = os.path.join(scratch, "registry")
                tar.add(os.path.join(root, MARKER), MARKER)
                tar.add(os.path.join(root, MODELS, record.folder), f"{MODELS}/{record.folder}",
                        filter=_without_locks)
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _without_locks(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    base = os.path.basename(member.name)
    if base.startswith("."):
        return None  # lock files, leases: this registry's, not the model's
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


MAX_TOMBSTONE = 4096


def _read_history(source: Repository, folder: str, where: str) -> Carried:
    """The model's whole history, read and checked before anything is written.

    Raises:
        IntegrityError: an event too large or unreadable (naming it).
    """
    try:
        return source.history(folder).carried()
    except IntegrityError as e:
        raise IntegrityError(f"{where}: the history cannot be carried ({e}); nothing was imported") from None


class _Retired(NamedTuple):
    vfolder: str
    data: bytes  # the tombstone, as the source holds it
    version_id: str | None


def _read_retired(source: Repository, folder: str, where: str) -> list[_Retired]:
    """The model's deleted versions (tombstones), checked: numbers and IDs that must
    never be given again wherever the model goes.

    Raises:
        IntegrityError: a tombstone that is not one.
    """
    from .. import versions
    from ..metadata import parse_toml

    found = []
    for vfolder, data in source.tombstones(folder).all(MAX_TOMBSTONE):
        fields = parse_toml(data, f"{where}/{vfolder}.toml")
        version_id = fields.get("id")
        if not versions.is_version(vfolder) or versions.folder(vfolder) != vfolder or (
                version_id is not None and not (isinstance(version_id, str) and versions.is_version_id(version_id))):
            raise IntegrityError(f"{where}: the tombstone {vfolder + '.toml'!r} is not one mlreg wrote; "
                                 "nothing was imported")
        found.append(_Retired(vfolder, data, version_id))
    return found


def _write_retired(target: Repository, folder: str, retired: list[_Retired]) -> None:
    """Carry each deleted number (and its ID, retired) the target does not have as a version."""
    for r in retired:
        if target.version_folder(folder, r.vfolder).exists() or target.tombstones(folder).has(r.vfolder):
            continue  # the target's own version, or its own tombstone
        target.tombstones(folder).write(r.vfolder, r.data)
        if r.version_id is not None:  # known to the target already: not given again either way
            target.ids.register(r.version_id, folder, r.vfolder, retired=True)


def _carry_aliases(target: Repository, source_model: ModelRecord) -> list[str]:
    """Each alias of ``source_model`` whose version the target has, Active, and that
    the target does not have itself (its own stay as they are); the names set."""
    from .. import identity, versions
    from ..metadata import HistoryEvent, now
    from ..changes import Change, Seen, existing

    wanted = dict(source_model.aliases)
    if not wanted:
        return []

    def prepare(seen: Seen) -> Change:
        current = existing(seen, target.model_where(source_model.folder))
        added, events = {}, []
        for alias, number in sorted(wanted.items()):
            if alias in current.aliases:
                continue
            try:
                there = target.read_version(current, versions.folder(number))
            except (FileNotFoundError, IntegrityError):
                continue
            if there.status == "active":
                added[alias] = there.version
                events.append(HistoryEvent(at=now(), by=identity.user_at_host(), event="alias",
                                           version=there.version, version_id=there.version_id, to=there.version,
                                           detail=f"@{alias} (carried with the model)"))
        if not added:
            return Change(result=[])
        return Change(model=current.replace(aliases={**current.aliases, **added}), events=events,
                      result=sorted(added))

    return target.update(source_model.folder, prepare)


def import_archive(repo: Repository, path: str) -> TransferResult:
    """Add the model an export wrote to ``repo``; never replaces anything.

    Raises:
        UsageError: not a readable tar archive.
        IntegrityError (exit 7, nothing written): a member that could escape,
            a link or a device, or an artifact that does not match its record.
        VersionExists (exit 4, nothing written): a number present with other
            content, or an ID used by another version.
    """
    from .integrity import problem as integrity_problem
    scratch = tempfile.mkdtemp(prefix="mlreg-import-")
    try:
        root = os.path.join(scratch, "registry")
        folder = _extract(path, root)
        staged = Repository.in_folder(root)
        staged.require()
        member = f"{path}: models/{folder}/{MODEL_FILE}"
        try:
            record = staged.read_model(folder)
        except FileNotFoundError:
            raise IntegrityError(f"{path}: the archive holds no models/{folder}/{MODEL_FILE}") from None
        except MlregError as e:
            raise IntegrityError(f"{member} cannot be read ({_inside(e, root, path)}); nothing was imported") from None
        if names.folder(record.name) != folder:
            raise IntegrityError(f"{member} names the model {record.name!r}, not the folder it lies in "
                                 f"({folder}); nothing was imported")
        # Everything is read and checked before anything is written.
        try:
            found = staged.versions(record, cached=False)
        except MlregError as e:
            raise IntegrityError(f"{path}: {_inside(e, root, path)}; nothing was imported") from None
        for v in found:
            if v.status != "deploying" and (problem := integrity_problem(staged, v)):
                raise IntegrityError(f"{path}: {v.model} {v.version}: {problem}; nothing was imported")
        history = _read_history(staged, folder, path)
        retired = _read_retired(staged, folder, path)
        had_model = _has_model(repo, folder)
        result = transfer(staged, repo, record.name, (), promote=False, include_failed=True)
        _write_retired(repo, folder, retired)
        _carry_aliases(repo, record)
        if not had_model:
            repo.history(folder).replace(history)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _inside(e: Exception, root: str, path: str) -> str:
    """An error's words with the scratch folder's path replaced by the archive's."""
    return str(e).replace(root + os.sep, "").replace(root, path)


def _has_model(repo: Repository, folder: str) -> bool:
    from ..errors import RegistryNotFound

    try:
        repo.require()
    except RegistryNotFound:
        return False  # import creates it
    return repo.model_folder(folder).exists(MODEL_FILE)


@functools.lru_cache(maxsize=64)
def _is_folder(name: str) -> bool:
    from .. import names
    from ..errors import InvalidName

    try:
        return names.folder(name) == name
    except InvalidName:
        return False


MAX_MEMBERS = 100_000  # an export holds a few files a version and an event a change
ALLOWANCE = 256 << 20  # bytes beyond the recorded artifacts: metadata, logs, code, history


def _check_member(path: str, root: str, m: tarfile.TarInfo, folders: set[str]) -> None:
    """Raises IntegrityError unless member ``m`` is a plain file or folder that is part
    of one exported model: its metadata, README, history, tombstones and versions."""
    name = m.name
    parts = name.split("/")
    unsafe = (not (m.isfile() or m.isdir()) or name.startswith(("/", "\\")) or ".." in parts
              or "\\" in name or any(p in ("", ".") for p in parts[:-1]) or ":" in parts[0])
    # (the standard library's ``data`` filter applies again as the checked members are
    # extracted into the scratch folder; it is not run here, where it would cost a
    # realpath per member of an archive that may be refused for its size anyway)
    if unsafe:
        kind = "a link" if m.issym() or m.islnk() else "not a file" if not (m.isfile() or m.isdir()) else "a name"
        raise IntegrityError(f"{path}: the member {name[:120]!r} is {kind} that could write outside "
                             "the registry; nothing was imported")
    parts = name.rstrip("/").split("/")
    if parts == [MARKER] or parts == [MODELS] and m.isdir():
        return
    if parts[0] != MODELS or len(parts) < 2 or not _is_folder(parts[1]) or not _in_a_model(parts[2:], m.isdir()):
        raise IntegrityError(f"{path}: the member {name[:120]!r} is not part of an exported model; "
                             "nothing was imported")
    folders.add(parts[1])


def _in_a_model(rest: list[str], is_dir: bool) -> bool:
    """Whether ``models/FOLDER/`` + ``rest`` is a place an export puts something."""
    from .. import versions

    if not rest:
        return is_dir
    if len(rest) == 1:
        return rest[0] in (MODEL_FILE, "README.md", HISTORY_FILE) if not is_dir else rest[0] in (
            "history", "deleted", "versions")
    if rest[0] == "history":
        return len(rest) == 2 and not is_dir and rest[1].endswith(".json")
    if rest[0] == "deleted":
        return len(rest) == 2 and not is_dir and rest[1].endswith(".toml")
    if rest[0] != "versions" or not versions.is_version(rest[1]):
        return False
    if len(rest) == 2:
        return is_dir
    if len(rest) == 3:
        return is_dir == (rest[2] in (CODE_DIR, SIGNATURES))
    return rest[2] == CODE_DIR or (rest[2] == SIGNATURES and len(rest) == 4 and not is_dir)


def _peek_record(path: str, tar: tarfile.TarFile, m: tarfile.TarInfo) -> dict[str, object]:
    """The fields of a version.toml member (read where the stream is, before extracting)."""
    from ..metadata import MAX_METADATA_BYTES, parse_toml

    if m.size > MAX_METADATA_BYTES:
        raise IntegrityError(f"{path}: the member {m.name[:120]!r} is {m.size} bytes, more than metadata can be; "
                             "nothing was imported")
    f = tar.extractfile(m)
    assert f is not None
    return parse_toml(f.read(), f"{path}: {m.name}")


def _check_sizes(path: str, members: list[tarfile.TarInfo], records: dict[str, dict[str, object]]) -> None:
    """Raises IntegrityError unless each artifact is the size its version.toml records,
    and everything else fits in ``ALLOWANCE``: an archive cannot expand past what the
    model is (a small .tar.gz of gigabytes of zeros is refused before a byte is written)."""
    rest = 0
    for m in members:
        parts = m.name.rstrip("/").split("/")
        if not m.isfile():
            continue
        if len(parts) == 5 and parts[2] == "versions" and parts[4] not in ("version.toml", "deploy.log",
                                                                           "outcome.toml", SIGNED_FILE):
            record = records.get(parts[3])
            if record is None or record.get("artifact") != parts[4] or record.get("size") != m.size:
                raise IntegrityError(f"{path}: the member {m.name[:120]!r} ({m.size} bytes) is not the artifact "
                                     "its version.toml records; nothing was imported")
            continue
        rest += m.size
        if rest > ALLOWANCE:
            raise IntegrityError(f"{path}: its metadata, logs, code and history come to more than "
                                 f"{ALLOWANCE >> 20} MiB: not an exported model; nothing was imported")


def _extract(path: str, root: str) -> str:
    """Check every member of the archive at ``path`` and extract it below ``root``;
    return the model folder it holds.

    Raises:
        UsageError, IntegrityError (see ``import_archive``).
    """
    try:
        tar = tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError) as e:
        raise UsageError(f"{path} is not a readable tar archive: {getattr(e, 'strerror', None) or e}") from None
    with tar:
        members: list[tarfile.TarInfo] = []
        records: dict[str, dict[str, object]] = {}  # versions/V -> its version.toml's fields
        folders = set()
        try:
            for m in tar:  # headers one by one: an archive of too many members stops early
                if len(members) >= MAX_MEMBERS:
                    raise IntegrityError(f"{path} holds more than {MAX_MEMBERS} members: not an exported model; "
                                         "nothing was imported")
                members.append(m)
                _check_member(path, root, m, folders)
                parts = m.name.rstrip("/").split("/")
                if m.isfile() and len(parts) == 5 and parts[2] == "versions" and parts[4] == "version.toml":
                    records[parts[3]] = _peek_record(path, tar, m)
        except (OSError, tarfile.TarError, EOFError) as e:
            raise UsageError(f"{path} is not a readable tar archive: {getattr(e, 'strerror', None) or e}") from None
        _check_sizes(path, members, records)
        if len(folders) != 1:
            raise IntegrityError(f"{path}: an export holds one model, this holds {len(folders)}; nothing was imported")
        os.makedirs(root)
        try:
            tar.extractall(root, members=members, filter="data")
        except (OSError, tarfile.TarError) as e:
            raise IntegrityError(f"{path}: cannot extract it ({getattr(e, 'strerror', None) or e}); "
                                 "nothing was imported") from None
    if not os.path.isfile(os.path.join(root, MARKER)):
        raise IntegrityError(f"{path}: the archive holds no {MARKER}; nothing was imported")
    return folders.pop()

