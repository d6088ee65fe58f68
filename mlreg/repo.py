"""The repository: records <-> the registry's tree. Listing (and its cache), reading
and resolving versions and IDs, the history, the README, the model's lock, and the
one compare-and-swap helper (``Repository.update``) through which every
read-modify-write of a model's shared state goes. Operations (``mlreg.ops``) and
``doctor`` work through it; the ``Registry`` facade hands it out.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from . import atomic, lock, names, versions
from .checkpoints import checkpoint
from .errors import (
    FormatTooNew,
    IntegrityError,
    InvalidVersion,
    ModelNotFound,
    NotWritable,
    RegistryNotFound,
    UsageError,
    VersionNotFound,
)
from .layout import (
    DEPLOY_LOCK,
    HISTORY_FILE,
    IDS,
    LOCK_FILE,
    MARKER,
    MODEL_FILE,
    MODELS,
    README_FILE,
    STAGING,
    TEMPLATES,
    VERSION_FILE,
    VERSIONS,
)
from .metadata import (
    FORMAT,
    INTERRUPTED,
    MAX_METADATA_BYTES,
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    check_home,
    committed_outcome,
    dump_toml,
    now,
    parse_toml,
    read_toml,
    read_version_file,
)


_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MAX_README_BYTES = 1 << 20
MAX_HISTORY_BYTES = 256 << 20


class Repository:
    """A registry's tree on this machine, as records."""

    def __init__(self, path: str, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"Repository({self.path!r})"

    def p(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    def inside(self, *parts: str) -> str:
        """A path inside the registry whose every component below it is not a symlink.

        Raises:
            IntegrityError: a component is a symlink (mlreg never follows one
                inside a registry, so a planted link cannot redirect it).
        """
        current = self.path
        for part in parts:
            if not part or part in (".", "..") or os.sep in part:
                raise IntegrityError(f"refusing the path component {part!r} inside {self.path}")
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise IntegrityError(f"{current} is a symlink; mlreg never follows links inside a registry")
        return current

    def check_format(self) -> None:
        path = self.p(MARKER)
        data = read_toml(path, links_ok=True)  # made by create_exclusive: two names for a moment
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool):
            raise IntegrityError(f"metadata file {path} has no integer 'format'")
        if fmt > FORMAT:
            raise FormatTooNew(
                f"registry {self.path} has format {fmt}, newer than the format {FORMAT} this mlreg "
                "knows; upgrade mlreg (the registry was left untouched)"
            )

    def require(self) -> None:
        """Raises: RegistryNotFound naming the path looked at; FormatTooNew."""
        try:
            self.check_format()
        except (FileNotFoundError, NotADirectoryError):
            if not os.path.exists(self.path):
                where = "no registry"
            elif not os.path.isdir(self.path):
                where = "a file, not a registry folder,"
            else:
                where = "not an mlreg registry (no mlreg.toml)"
            raise RegistryNotFound(
                f"{where} at {self.path}; create one with `mlreg init {self.path}` or name another "
                "with --registry / MLREG_REGISTRY"
            ) from None

    def init(self) -> bool:
        """Create the registry if it does not exist; return whether it was created.

        Raises:
            UsageError: the path is a non-empty folder that is not a registry.
            FormatTooNew: it is a registry of a newer format.
        """
        try:
            self.check_format()
            return False
        except (FileNotFoundError, NotADirectoryError):
            pass
        if os.path.isdir(self.path) and [n for n in os.listdir(self.path) if not n.startswith(".")]:
            raise UsageError(f"{self.path} is a non-empty folder that is not an mlreg registry; choose another path")
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise UsageError(f"{self.path} exists and is not a folder")
        atomic.make_dirs(self.path)
        # The marker comes first: a concurrent first write then sees a registry,
        # never a non-empty folder without a marker.
        created = atomic.create_exclusive(self.p(MARKER), f'format = {FORMAT}\ncreated_at = "{now()}"\n')
        self.check_format()
        for sub in (MODELS, STAGING, IDS):
            atomic.make_dirs(self.p(sub))
        return created

    def ensure(self) -> None:
        """Write commands create the registry on first use (with a note, so that a
        mistyped --registry does not go unseen)."""
        try:
            self.check_format()
        except (FileNotFoundError, NotADirectoryError):
            if self.init():
                note(f"created registry at {self.path}")

    def model_dir(self, folder: str) -> str:
        return self.inside(MODELS, folder)

    def read_model(self, folder: str) -> ModelRecord:
        path = os.path.join(self.model_dir(folder), MODEL_FILE)
        return ModelRecord.from_toml(read_toml(path), path)

    def load_model(self, name: str) -> ModelRecord:
        """Raises: InvalidName, RegistryNotFound, ModelNotFound, IntegrityError."""
        folder = names.folder_name(name)
        self.require()
        try:
            return self.read_model(folder)
        except FileNotFoundError:
            import difflib

            known = self.model_folders()
            close = difflib.get_close_matches(folder, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `mlreg models`"
            raise ModelNotFound(f"no model {name!r} in {self.path}{hint}") from None

    def model_folders(self) -> list[str]:
        try:
            entries = os.listdir(self.inside(MODELS))
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if not e.startswith("."))

    def info(self, record: ModelRecord) -> ModelInfo:
        return ModelInfo(record, len(self.version_folders(record.folder)))

    def lock(self, folder: str) -> lock.Lock:
        path = os.path.join(self.model_dir(folder), LOCK_FILE)
        return lock.Lock(path, self.lock_timeout, what=f"model {folder!r} ({path})")

    def versions_dir(self, folder: str) -> str:
        return self.inside(MODELS, folder, VERSIONS)

    def version_folders(self, folder: str) -> list[str]:
        """The model's version folders, lowest number first."""
        return [entry.name for entry in self.version_entries(folder)]

    def version_entries(self, folder: str) -> list[os.DirEntry]:
        """The model's version folders as directory entries (which know whether they
        are symlinks without another system call), lowest number first."""
        try:
            with os.scandir(self.versions_dir(folder)) as it:
                keyed = [(key, entry) for entry in it if (key := versions.sort_key(entry.name)) is not None]
        except FileNotFoundError:
            return []
        # anything that is not a version number is not a version folder; `doctor` reports it
        keyed.sort(key=lambda pair: (pair[0], pair[1].name))
        return [entry for _, entry in keyed]

    def read_version(self, folder: str, vfolder: str, primary: str | None) -> VersionRecord:
        """A version's record, with ``primary`` set and interrupted deploys read as failed."""
        vdir = self.inside(MODELS, folder, VERSIONS, vfolder)
        path = os.path.join(vdir, VERSION_FILE)
        return self.as_read(read_version_file(path, folder, vfolder), folder, vdir, vfolder,
                             primary_folder(primary))

    def as_read(self, record: VersionRecord, folder: str, vdir: str, vfolder: str,
                 primary_folder: str | None) -> VersionRecord:
        """``record`` as readers see it: marked primary, and failed (interrupted) when its
        file still says deploying but its deploy process is gone.

        A deploy that passed its check makes itself primary (model.toml) before it
        renames its outcome (``outcome.toml``) over version.toml, so a version
        that is the primary while its file still says deploying has become
        Active: its outcome is read from ``outcome.toml``.
        """
        if record.status == "deploying":
            path = os.path.join(vdir, VERSION_FILE)
            if vfolder == primary_folder:
                record = read_version_file(path, folder, vfolder)  # it may have been renamed meanwhile
                if record.status == "deploying":
                    record = committed_outcome(vdir, folder, vfolder, record)
            if record.status == "deploying" and not lock.is_held(os.path.join(vdir, DEPLOY_LOCK)):
                # The deploy may have finished between the read and the probe: read again.
                record = read_version_file(path, folder, vfolder)
                if record.status == "deploying":
                    record = record.replace(status="failed", interrupted=True, reason=INTERRUPTED)
        return record.replace(primary=True) if vfolder == primary_folder else record

    def versions(self, record: ModelRecord, cached: bool = True) -> list[VersionRecord]:
        """Every version of a model, oldest number first; many are read through ``mlreg.index``
        unless ``cached`` is False (integrity checks read every file: a cache anyone
        can edit is never their source of truth)."""
        from . import index

        entries = self.version_entries(record.folder)
        if not cached or len(entries) < index.MIN_VERSIONS:  # few: parsing the files is as fast as a cache
            found = []
            for dir_entry in entries:
                try:
                    found.append(self.read_version(record.folder, dir_entry.name, record.primary))
                except FileNotFoundError:
                    continue  # a folder without version.toml is not a version; `doctor` reports it
            return found
        with gc_paused():
            return self.versions_indexed(record, entries)

    def versions_indexed(self, record: ModelRecord, entries: list[os.DirEntry]) -> list[VersionRecord]:
        """The records of many versions: from the cache where each file is unchanged."""
        from . import index

        primary_vfolder = primary_folder(record.primary)
        folder = record.folder
        index_path = os.path.join(self.model_dir(folder), index.INDEX_FILE)
        cached = index.load(index_path)
        fresh: dict[str, Any] = {}
        found = []
        stale = False
        for dir_entry in entries:
            vdir, vfolder = dir_entry.path, dir_entry.name
            if dir_entry.is_symlink():
                raise IntegrityError(f"{vdir} is a symlink; mlreg never follows links inside a registry")
            path = f"{vdir}/{VERSION_FILE}"
            key = index.stat_key(path)  # taken before reading: a file replaced meanwhile only misses later
            if key is None:
                continue
            entry = cached.get(vfolder)
            if entry is not None and entry[0] == key:
                data = entry[1]
            else:
                data, stale = read_toml(path), True
            fresh[vfolder] = (key, data)
            version = VersionRecord.from_toml(data, path)
            check_home(version, folder, vfolder, path)
            found.append(self.as_read(version, folder, vdir, vfolder, primary_vfolder))
        if stale or len(fresh) != len(cached):
            index.save(index_path, fresh)
        return found

    def resolve(self, record: ModelRecord, ref: str) -> str:
        """The version folder that ``ref`` (a version number or a version ID) names.

        Raises:
            InvalidVersion: ``ref`` is neither.
            VersionNotFound: no such version of this model.
        """
        ref = str(ref).strip()
        if versions.is_version(ref):
            vfolder = versions.folder_for(ref)
            if os.path.isfile(os.path.join(self.versions_dir(record.folder), vfolder, VERSION_FILE)):
                return vfolder
        elif versions.is_version_id(ref):
            owner = self.owner_of_id(ref)
            if owner is not None and owner[0] == record.folder and self.carries_id(owner, ref):
                return owner[1]
            if owner is not None:
                raise VersionNotFound(f"version ID {ref} belongs to another model ({owner[0]}), not {record.name!r}")
        else:
            raise InvalidVersion(f"{ref!r} is neither a version (such as 1.2.3) nor a version ID (8 letters and digits)")
        have = self.version_folders(record.folder)
        listed = ", ".join(have[-8:]) if have else "none"
        raise VersionNotFound(
            f"{record.name!r} has no version {ref} (has {listed}); see `mlreg versions {quote_arg(record.name)}`"
        )

    def owner_of_id(self, version_id: str) -> tuple[str, str] | None:
        path = self.inside(IDS, version_id)
        try:
            # made by create_exclusive: two names for a moment
            text = atomic.read_bytes(path, 4096, links_ok=True).decode("utf-8", "replace").strip()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise IntegrityError(f"cannot read version ID file {path}: {e}") from None
        folder, _, vfolder = text.partition("/")
        if names.folder_of(folder) != folder or not versions.is_version(vfolder) or "/" in vfolder:
            raise IntegrityError(f"version ID file {path} is corrupt: {text[:80]!r}")
        return folder, vfolder

    def carries_id(self, owner: tuple[str, str], version_id: str) -> bool:
        """Whether the version an ID file names carries that ID. An ID file is made
        before its version is published; a deploy killed in between leaves one
        naming a number another deploy may take (`doctor --fix` removes it)."""
        path = os.path.join(self.inside(MODELS, owner[0], VERSIONS, owner[1]), VERSION_FILE)
        try:
            return read_toml(path).get("id") == version_id
        except FileNotFoundError:
            return False

    def version_dir(self, record: VersionRecord) -> str:
        """The folder a version lies in (readers check that its record names it)."""
        return self.inside(MODELS, names.folder_of(record.model), VERSIONS, versions.folder_for(record.version))

    def readme_path(self, folder: str) -> str:
        return os.path.join(self.model_dir(folder), README_FILE)

    @staticmethod
    def read_readme(path: str) -> str | None:
        data = raw(path, MAX_README_BYTES)
        return None if data is None else data.decode("utf-8", "replace")

    def templates_dir(self) -> str | None:
        path = self.p(TEMPLATES)
        return path if os.path.isdir(path) and not os.path.islink(path) else None

    def versions_or_none(self, folder: str) -> list[VersionRecord]:
        try:
            return self.versions(self.read_model(folder), cached=False)
        except FileNotFoundError:
            return []

    def append_history(self, folder: str, event: HistoryEvent) -> None:
        """Append one event to the model's history (the caller holds the model's lock).

        Raises:
            IntegrityError: the history is a symlink, a FIFO or hard-linked.
        """
        with self.history(folder) as history:
            history.append(event)

    def read_history(self, name: str) -> list[HistoryEvent]:
        """Every deploy outcome and change of primary, oldest first.

        A torn last line (a writer killed mid-append) is skipped.
        """
        record = self.load_model(name)
        path = os.path.join(self.model_dir(record.folder), HISTORY_FILE)
        try:
            text = atomic.read_bytes(path, MAX_HISTORY_BYTES).decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise IntegrityError(f"cannot read the history {path}: {getattr(e, 'strerror', None) or e}") from None
        lines = text.split("\n")[:-1]  # the part after the last newline is torn or empty
        return [e for e in map(HistoryEvent.from_line, lines) if e is not None]

    def update(self, folder: str, prepare: Callable[[Seen], Change], *, sync: bool = True,
                marks: tuple[str | None, str | None] = (None, None)) -> Any:
        """The one compare-and-swap of a model's shared state (model.toml and README).

        Reads both, and lets ``prepare`` decide from what it read what to write
        (it may raise: a version taken, a primary that moved). The files are
        written and fsynced before taking the model's lock, which then covers
        only the check that both files still hold the bytes read (and
        ``change.check``), the renames, ``change.then`` and the history lines.
        Had another writer changed either file meanwhile, the attempt is thrown
        away and ``prepare`` runs again on what is there now. Bytes, not inode
        and mtime: an inode number can be reused, and some filesystems keep
        mtimes to the second. ``marks`` name the crash-test checkpoints after
        the renames and after the history.

        The truth (model.toml) is renamed before its history line is written: a
        crash in between loses the line, which `doctor --fix` restores, never
        invents one. With ``sync=False`` the caller fsyncs the history after.
        """
        model_dir = self.model_dir(folder)
        model_path, readme_path = os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, README_FILE)
        while True:
            seen = (raw(model_path, MAX_METADATA_BYTES), raw(readme_path, MAX_README_BYTES))
            model = None if seen[0] is None else ModelRecord.from_toml(parse_toml(seen[0], model_path), model_path)
            change = prepare(Seen(model, seen[1]))
            if not change.files and change.then is None and not change.events:
                return change.result
            with staging() as staged:
                for path, data in change.files:
                    staged.append((atomic.stage(path, data), path))
                with self.lock(folder):
                    current = (raw(model_path, MAX_METADATA_BYTES), raw(readme_path, MAX_README_BYTES))
                    if current == seen and (change.check is None or change.check()):
                        with self.history(folder, sync=sync) as history:
                            rename_staged(staged)
                            mark(marks[0])
                            if change.then is not None:
                                change.then()
                            history.extend(change.events)
                        mark(marks[1])
                        return change.result
            if change.lost is not None:
                change.lost()

    @contextlib.contextmanager
    def history(self, folder: str, sync: bool = True) -> Iterator[list[HistoryEvent]]:
        """Collect history events to append to the model's history (the caller holds
        the model's lock).

        The history is opened before the block runs, so that a history that
        cannot be written (a symlink, a FIFO, no permission) stops the change
        before anything is renamed. An append that still fails once the change
        took effect (a full disk) is a warning, not an error: the change is
        done, a script must be able to trust the exit code, and `doctor --fix`
        restores the lost line.
        """
        path = os.path.join(self.model_dir(folder), HISTORY_FILE)
        try:
            fd = atomic.open_append(path)
        except atomic.UnsafeFile as e:
            raise IntegrityError(f"history {path} is {e.strerror}; nothing was changed") from None
        except OSError as e:
            raise NotWritable(f"cannot write the history {path}: {e.strerror}; nothing was changed") from None
        events: list[HistoryEvent] = []
        try:
            yield events
            for event in events:
                try:
                    atomic.write_line(fd, event.to_line())
                except OSError as e:
                    warnings.warn(f"the change was made, but its history line could not be written to {path} "
                                  f"({e.strerror}); `mlreg doctor --fix` restores it", RuntimeWarning, stacklevel=3)
                    break
            else:
                if sync and events:
                    with contextlib.suppress(OSError):
                        os.fsync(fd)
        finally:
            os.close(fd)

    def new_id(self, folder: str, vfolder: str) -> str:
        import secrets

        ids = self.inside(IDS)
        atomic.make_dirs(ids)
        while True:
            candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(versions.ID_LENGTH))
            if atomic.create_exclusive(os.path.join(ids, candidate), f"{folder}/{vfolder}\n"):
                return candidate



class ModelInfo(NamedTuple):
    """A model's record with what is counted from the tree."""

    record: ModelRecord
    version_count: int

    def to_json(self) -> dict[str, Any]:
        """The model object of SPEC §2."""
        r = self.record
        return {
            "name": r.name,
            "folder": r.folder,
            "description": r.description,
            "type": r.type,
            "framework": r.framework,
            "primary": r.primary,
            "version_count": self.version_count,
            "created_at": r.created_at,
            "created_by": r.created_by,
        }


def existing(seen: Seen, model_path: str) -> ModelRecord:
    """The model record an update of an existing model read.

    Raises:
        IntegrityError: model.toml has disappeared.
    """
    if seen.model is None:
        raise IntegrityError(f"{model_path} disappeared")
    return seen.model


def mark(name: str | None) -> None:
    if name is not None:
        checkpoint(name)


def model_toml(record: ModelRecord) -> str:
    return dump_toml(record.to_toml())


def note(text: str) -> None:
    """Tell the user something worth knowing that is not an error (the CLI prints
    it on stderr as ``mlreg: note: ...``; Python callers get a ``Note`` warning)."""
    from .errors import Note

    warnings.warn(text, Note, stacklevel=3)


class Seen(NamedTuple):
    """A model's shared state as one attempt of a read-modify-write read it."""

    model: ModelRecord | None  # None before the model's first deploy has written model.toml
    readme: bytes | None


class Change(NamedTuple):
    """What one attempt of a read-modify-write wants done, prepared from what it read
    (``Repository.update``). Nothing to write and nothing to record is a no-op."""

    files: Sequence[tuple[str, str | bytes]] = ()  # staged before the lock, renamed under it, in order
    check: Callable[[], bool] | None = None  # under the lock, before any rename: False tries again
    then: Callable[[], None] | None = None  # under the lock, after the renames, before the history
    events: Sequence[HistoryEvent] = ()  # appended to the history last
    result: Any = None  # what update returns
    lost: Callable[[], None] | None = None  # this attempt lost its race: undo what it prepared


@contextlib.contextmanager
def staging() -> Iterator[list[tuple[str, str]]]:
    """A list for the (temporary, final) pairs of files staged before taking a lock;
    those ``rename_staged`` did not rename into place are removed at the end."""
    staged: list[tuple[str, str]] = []
    try:
        yield staged
    finally:
        for tmp, _ in staged:
            atomic.discard(tmp)


def rename_staged(staged: list[tuple[str, str]]) -> None:
    """Rename the staged files into place, in order, each leaving the list once renamed."""
    while staged:
        tmp, final = staged[0]
        os.replace(tmp, final)
        del staged[0]


def raw(path: str, limit: int) -> bytes | None:
    """The bytes of a file that is only ever replaced whole; None when absent.

    Raises:
        IntegrityError: unreadable, a symlink, or larger than ``limit``.
    """
    try:
        return atomic.read_bytes(path, limit)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise IntegrityError(f"cannot read {path}: {e}") from None


@contextlib.contextmanager
def gc_paused() -> Any:
    """Pause Python's cyclic garbage collector while thousands of records are built.

    They hold no reference cycles, yet every few hundred new objects the
    collector walked the growing heap: about a tenth of listing 10,000 versions.
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def primary_folder(primary: str | None) -> str | None:
    """The version folder of a model's primary (None without one)."""
    return None if primary is None else versions.folder_for(primary)


def quote_arg(text: str) -> str:
    import shlex

    return shlex.quote(text)

