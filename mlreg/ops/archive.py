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

import os
import shutil
import tarfile
import tempfile
from typing import Sequence

from ..errors import IntegrityError, UsageError
from ..layout import HISTORY_FILE, MARKER, MODEL_FILE, MODELS, history_key, model_key
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
    from ..storage.local import LocalStorage

    if not output.endswith((".tar", *_GZIP)):
        raise UsageError(f"--output {output}: name a .tar, .tar.gz or .tgz file")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise UsageError(f"--output {output}: the folder {parent} does not exist")
    record = repo.load_model(name)
    scratch = tempfile.mkdtemp(prefix="mlreg-export-")
    try:
        staged = Repository(LocalStorage(os.path.join(scratch, "registry")))
        staged.init()
        result = transfer(repo, staged, name, refs, promote=True, include_failed=True)
        _copy_history(repo, staged, record.folder)
        tmp = os.path.join(parent, f".{os.path.basename(output)}.{os.getpid()}.part")
        try:
            with tarfile.open(tmp, "w:gz" if output.endswith(_GZIP) else "w") as tar:
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


def _copy_history(source: Repository, target: Repository, folder: str) -> None:
    """The model's whole history, as the source holds it (the copy's own events dropped)."""
    target.storage.delete_folder(history_key(folder))
    old = source.raw(model_key(folder, HISTORY_FILE), 256 << 20, what="history")
    if old is not None:
        target.storage.put(model_key(folder, HISTORY_FILE), old)
    for key in source.storage.list(history_key(folder) + "/"):
        name = key.rsplit("/", 1)[-1]
        if name.endswith(".json") and not name.startswith("."):
            data = source.raw(key, 64 << 10, what="history event")
            if data is not None:
                target.storage.put(history_key(folder, name), data)


def import_archive(repo: Repository, path: str) -> TransferResult:
    """Add the model an export wrote to ``repo``; never replaces anything.

    Raises:
        UsageError: not a readable tar archive.
        IntegrityError (exit 7, nothing written): a member that could escape,
            a link or a device, or an artifact that does not match its record.
        VersionExists (exit 4, nothing written): a number present with other
            content, or an ID used by another version.
    """
    from ..doctor import verify_artifact
    from ..storage.local import LocalStorage

    scratch = tempfile.mkdtemp(prefix="mlreg-import-")
    try:
        root = os.path.join(scratch, "registry")
        folder = _extract(path, root)
        staged = Repository(LocalStorage(root))
        staged.require()
        try:
            record = staged.read_model(folder)
        except FileNotFoundError:
            raise IntegrityError(f"{path}: the archive holds no models/{folder}/{MODEL_FILE}") from None
        for v in staged.versions(record, cached=False):
            if v.status != "deploying" and (problem := verify_artifact(staged, v)):
                raise IntegrityError(f"{path}: {v.model} {v.version}: {problem}; nothing was imported")
        had_model = _has_model(repo, folder)
        result = transfer(staged, repo, record.name, (), promote=False, include_failed=True)
        if not had_model:
            _copy_history(staged, repo, folder)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _has_model(repo: Repository, folder: str) -> bool:
    from ..errors import RegistryNotFound

    try:
        repo.require()
    except RegistryNotFound:
        return False  # import creates it
    return repo.storage.exists(model_key(folder, MODEL_FILE))


def _is_folder(name: str) -> bool:
    from .. import names
    from ..errors import InvalidName

    try:
        return names.folder_of(name) == name
    except InvalidName:
        return False


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
        try:
            members = tar.getmembers()
        except (OSError, tarfile.TarError, EOFError) as e:
            raise UsageError(f"{path} is not a readable tar archive: {e}") from None
        folders = set()
        for m in members:
            name = m.name
            parts = name.split("/")
            unsafe = (not (m.isfile() or m.isdir()) or name.startswith(("/", "\\")) or ".." in parts
                      or "\\" in name or any(p in ("", ".") for p in parts[:-1]) or ":" in parts[0])
            if not unsafe:
                try:
                    tarfile.data_filter(m, root)
                except tarfile.FilterError:
                    unsafe = True
            if unsafe:
                kind = "a link" if m.issym() or m.islnk() else "not a file" if not (m.isfile() or m.isdir()) else "a name"
                raise IntegrityError(f"{path}: the member {name[:120]!r} is {kind} that could write outside "
                                     "the registry; nothing was imported")
            if name == MARKER or (m.isdir() and name.rstrip("/") == MODELS):
                continue
            if parts[0] != MODELS or len(parts) < 2 or not _is_folder(parts[1]):
                raise IntegrityError(f"{path}: the member {name[:120]!r} is not part of an exported model; "
                                     "nothing was imported")
            folders.add(parts[1])
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

