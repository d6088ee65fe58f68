"""The repository: records <-> storage keys. Listing (and its cache), reading and
resolving versions and IDs, the history, the README, and the one compare-and-swap
(``Repository.update``) through which every read-modify-write of a model's shared
state goes. It speaks only to a ``mlreg.storage.Storage``: a folder on this
machine and an in-memory store (and, later, an object store) alike. Operations
(``mlreg.ops``) and ``doctor`` work through it; the ``Registry`` facade hands it out.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from . import collector, names, parsecache, versions
from .checkpoints import checkpoint
from .errors import (
    Busy,
    FormatTooNew,
    IntegrityError,
    InvalidVersion,
    ModelNotFound,
    RegistryNotFound,
    UsageError,
    VersionNotFound,
    note,
    quote_arg,
)
from .layout import (
    MARKER,
    MODEL_FILE,
    MODELS,
    OUTCOME_FILE,
    README_FILE,
    SIGNATURES,
    STAGING,
    TEMPLATES,
    VERSION_FILE,
    model_key,
    staging_key,
    version_key,
    versions_key,
)
from .metadata import (
    FORMAT,
    INTERRUPTED,
    MAX_METADATA_BYTES,
    HistoryEvent,
    ModelInfo,
    ModelRecord,
    VersionRecord,
    check_home,
    dump_toml,
    now,
    parse_toml,
)
from .folders import Folder, get_checked, put_checked
from .storage.base import CREATE, Object, Precondition, Storage, Update, cas_attempts

if TYPE_CHECKING:
    from .changes import Change, Seen
    from .history import History
    from .ids import IdIndex
    from .tombstones import Tombstones
    from .signatures import Signatures

CAS_ATTEMPTS = 1000  # tries of one compare-and-swap of model.toml before giving up (exit 6)
MAX_README_BYTES = 1 << 20
MAX_PARSED = 4096  # metadata files kept parsed (Repository.toml); past it, all are forgotten


class Repository:
    """A registry's keys, as records."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.path = storage.where("")
        self._parsed: dict[str, tuple[bytes, dict[str, Any]]] = {}  # key -> (its bytes, parsed)

    def __repr__(self) -> str:
        return f"Repository({self.storage!r})"

    @classmethod
    def in_folder(cls, path: str) -> Repository:
        """The registry in the local folder ``path`` (a scratch one: an archive's)."""
        from .storage.local import LocalStorage

        return cls(LocalStorage(path))

    def where(self, key: str) -> str:
        return self.storage.where(key)

    @property
    def remote(self) -> bool:
        """Whether the registry is an object store (every read a request, a move a copy)."""
        return self.storage.remote

    # ------------------------------------------------------------ folders
    # The doors through which operations and doctor touch the files they own.

    def model_folder(self, folder: str) -> Folder:
        return Folder(self.storage, model_key(folder))

    def model_where(self, folder: str) -> str:
        """The model's model.toml, as a person finds it (for messages)."""
        return self.where(model_key(folder, MODEL_FILE))

    def version_folder(self, folder: str, vfolder: str) -> Folder:
        return Folder(self.storage, version_key(folder, vfolder))

    def staging(self, token: str) -> Folder:
        """A deploy's staging folder (``staging_tokens`` lists them)."""
        return Folder(self.storage, staging_key(token))

    def staging_tokens(self) -> list[str]:
        return self.top_folder(STAGING).names()

    def tombstones(self, folder: str) -> Tombstones:
        """The model's deleted versions (``tombstones.Tombstones``)."""
        from .tombstones import Tombstones

        return Tombstones(self, folder)

    def signatures(self, record: VersionRecord) -> Signatures:
        """The version's signature files (``signatures.Signatures``)."""
        from .signatures import Signatures

        return Signatures(self.version_folder(names.folder(record.model), versions.folder(record.version)))

    def signed_folders(self, folder: str) -> set[str]:
        """The version folders of model ``folder`` that hold signature files, in one
        listing (listing each version's own costs a request, or a walk, each).

        Raises:
            OSError: a version folder is a link.
        """
        return self.storage.holding(versions_key(folder), SIGNATURES)

    @property
    def ids(self) -> IdIndex:
        """The version ID index (``ids.IdIndex``)."""
        from .ids import IdIndex

        return IdIndex(self)

    def top_folder(self, name: str) -> Folder:
        """A folder at the registry's top (``ids``, ``staging``)."""
        return Folder(self.storage, name)

    @property
    def local_root(self) -> str | None:
        """The folder on this machine that is the registry (None for an object store):
        for what only a filesystem can hold (links, FIFOs: doctor's walk)."""
        return self.storage.folder

    def raw(self, key: str, limit: int = MAX_METADATA_BYTES, *, what: str = "") -> bytes | None:
        """The bytes of a key that is only ever replaced whole; None when absent.

        Raises:
            IntegrityError: unreadable, a symlink, a FIFO, hard-linked, or larger than ``limit``.
        """
        found = self.object(key, limit, what or "file")
        return None if found is None else found.data

    def toml(self, key: str, *, keep: bool = True) -> dict[str, Any]:
        """A metadata file, parsed. With ``keep=False`` its parse is not kept for later
        processes (``parsecache``): a file read only to fill the listing cache, which
        holds it from then on.

        Raises:
            FileNotFoundError; IntegrityError.
        """
        data = self.raw(key, what="metadata file")
        if data is None:
            raise FileNotFoundError(self.where(key))
        # Parsing is most of a read (version.toml: about 0.25 ms, a predict's largest cost
        # in serve): the same bytes are parsed once. Kept with the bytes themselves, so
        # whatever changed them, however, is parsed afresh (a digest would cost every
        # command hashlib's import, 3.5 ms); and across processes (``parsecache``), so that a
        # read command rarely imports tomllib at all.
        kept = self._parsed.get(key)
        if kept is not None and kept[0] == data:
            return _copied(kept[1])
        parsed = parsecache.recall(data)
        if parsed is None:
            parsed = parse_toml(data, self.where(key))
            if keep:
                parsecache.remember(data, parsed)
        if len(self._parsed) >= MAX_PARSED:
            self._parsed.clear()
        self._parsed[key] = (data, parsed)
        return _copied(parsed)

    def check_format(self) -> None:
        data = self.toml(MARKER)
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool):
            raise IntegrityError(f"metadata file {self.where(MARKER)} has no integer 'format'")
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
            # Suggest `mlreg init PATH` only where init would succeed: a missing or empty folder.
            if not self.storage.exists(""):
                where, fix = "no registry", f"create one with `mlreg init {self.path}` or name another"
            elif self._is_file():
                where, fix = "a file, not a registry folder,", "name a registry folder"
            elif [n for n in self.storage.children("") if not n.startswith(".")]:
                where, fix = ("not an mlreg registry (a folder of other files, without mlreg.toml)",
                              "name the registry's folder, or a new one,")
            else:
                where = "not an mlreg registry yet (an empty folder)"
                fix = f"create one with `mlreg init {self.path}` or name another"
            raise RegistryNotFound(f"{where} at {self.path}; {fix} with --registry / MLREG_REGISTRY") from None

    def _is_file(self) -> bool:
        return os.path.isfile(self.path) if self.storage.folder is not None else False

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
        if self._is_file():
            raise UsageError(f"{self.path} exists and is not a folder")
        if [n for n in self.storage.children("") if not n.startswith(".")]:
            try:  # another process's init may have written the marker since it was looked for
                self.check_format()
                return False
            except (FileNotFoundError, NotADirectoryError):
                raise UsageError(f"{self.path} is a non-empty folder that is not an mlreg registry; "
                                 "choose another path") from None
        # mlreg never runs where updates could be lost silently (SPEC §8): a store that
        # lets a stale compare-and-swap succeed is refused before the marker is written.
        self.storage.check_conditional_writes()
        # The marker comes first: a concurrent first write then sees a registry,
        # never a non-empty folder without a marker.
        try:
            self.storage.put(MARKER, f'format = {FORMAT}\ncreated_at = "{now()}"\n'.encode(), CREATE)
            created = True
        except Precondition:
            created = False
        self.check_format()
        return created

    def ensure(self) -> None:
        """Write commands create the registry on first use (with a note, so that a
        mistyped --registry does not go unseen)."""
        try:
            self.check_format()
        except (FileNotFoundError, NotADirectoryError):
            if self.init():
                note(f"created registry at {self.path}")

    # --------------------------------------------------------------- models

    def read_model(self, folder: str) -> ModelRecord:
        """Raises: FileNotFoundError; IntegrityError."""
        key = model_key(folder, MODEL_FILE)
        return ModelRecord.from_toml(self.toml(key), self.where(key))

    def load_model(self, name: str) -> ModelRecord:
        """Raises: InvalidName, RegistryNotFound, ModelNotFound, IntegrityError."""
        folder = names.folder(name)
        self.require()
        try:
            record = self.read_model(folder)
            if record.deleting_model is None:
                return record
            raise FileNotFoundError(folder)  # its delete has begun: gone for readers
        except FileNotFoundError:
            import difflib

            known = self.model_folders()
            close = difflib.get_close_matches(folder, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `mlreg models`"
            raise ModelNotFound(f"no model {name!r} in {self.path}{hint}") from None

    def model_folders(self) -> list[str]:
        return sorted(e for e in self._children(MODELS) if not e.startswith("."))

    def _children(self, prefix: str) -> list[str]:
        try:
            return self.storage.children(prefix)
        except OSError as e:
            raise IntegrityError(f"{self.where(prefix)} is {e.strerror}; refusing to read it") from None

    def info(self, record: ModelRecord) -> ModelInfo:
        return ModelInfo(record, len(self.version_folders(record.folder)))

    # ------------------------------------------------------------- versions

    def version_folders(self, folder: str, names: list[str] | None = None) -> list[str]:
        """The model's version folders (of ``names``, when listed already), lowest number
        first (anything that is not a version number is not a version folder;
        `doctor` reports it)."""
        keyed = [(key, name) for name in (self._children(versions_key(folder)) if names is None else names)
                 if (key := versions.sort_key(name)) is not None]
        keyed.sort()
        return [name for _, name in keyed]

    def read_version(self, model: ModelRecord, vfolder: str) -> VersionRecord:
        """A version's record as readers see it: marked primary, with its aliases, and an
        interrupted deploy read as failed.

        Raises:
            FileNotFoundError: no version.toml (not a version, one being claimed, or
                one being deleted).
            IntegrityError: unreadable, or it claims another home.
        """
        if model.deleting and model.is_deleting(vfolder):
            raise FileNotFoundError(self.where(version_key(model.folder, vfolder)))
        return self.as_read(self.version_file(model.folder, vfolder), model.folder, vfolder,
                            primary_folder(model.primary), alias_folders(model).get(vfolder, ()))

    def version_of(self, model: ModelRecord, ref: str) -> VersionRecord:
        """The version ``ref`` names (``resolve``), as readers see it.

        Raises:
            InvalidVersion; VersionNotFound, also when it is deleted between the two reads.
        """
        vfolder = self.resolve(model, ref)
        try:
            return self.read_version(model, vfolder)
        except FileNotFoundError:
            raise VersionNotFound(f"{model.name!r} {vfolder} was deleted meanwhile") from None

    def update_version(self, folder: str, vfolder: str,
                       change: Callable[[VersionRecord | None], VersionRecord | None]) -> VersionRecord | None:
        """The compare-and-swap of a version's own record (its version.toml, which holds
        what only that version has: its tags, its outcome). ``change`` gets the record
        as read (None: there is none) and returns the record to write (None: leave it);
        on a lost race it runs again on what is there now. Returns what is there when
        it stops. ``change`` may raise, and nothing is written.

        Raises:
            IntegrityError: the record cannot be read, or names another version.
        """
        key = version_key(folder, vfolder, VERSION_FILE)
        where = self.where(key)
        there: list[VersionRecord | None] = [None]

        def raw(seen: Object | None) -> bytes | None:
            current = None
            if seen is not None:
                current = VersionRecord.from_toml(parse_toml(seen.data, where), where)
                check_home(current, folder, vfolder, where)
            new = change(current)
            there[0] = current if new is None else new
            return None if new is None else dump_toml(new.to_toml()).encode()

        self.storage.update(key, raw, limit=MAX_METADATA_BYTES)
        return there[0]

    def version_file(self, folder: str, vfolder: str, name: str = VERSION_FILE) -> VersionRecord:
        """The record in a version's version.toml (or ``name``), checked to describe its folder.

        Raises:
            FileNotFoundError; IntegrityError.
        """
        key = version_key(folder, vfolder, name)
        record = VersionRecord.from_toml(self.toml(key), self.where(key))
        check_home(record, folder, vfolder, self.where(key))
        return record

    def committed_outcome(self, folder: str, vfolder: str, record: VersionRecord) -> VersionRecord:
        """The outcome a deploy staged in ``outcome.toml`` before it became primary; when
        there is none fit to use, ``record`` as it is."""
        try:
            outcome = self.version_file(folder, vfolder, OUTCOME_FILE)
        except (FileNotFoundError, IntegrityError):
            return record
        if outcome.status == "active" and outcome.version_id == record.version_id and outcome.sha256 == record.sha256:
            return outcome
        return record

    def deploy_alive(self, folder: str, vfolder: str) -> bool:
        """Whether the deploy of a version still lives (holds its lease).

        Raises:
            IntegrityError: the lease's file is unsafe (a FIFO, a link).
        """
        return self.version_folder(folder, vfolder).alive()

    def as_read(self, record: VersionRecord, folder: str, vfolder: str, primary_folder: str | None,
                aliases: tuple[str, ...] = ()) -> VersionRecord:
        """``record`` as readers see it: marked primary, and failed (interrupted) when its
        file still says deploying but its deploy process is gone.

        A deploy that passed its check makes itself primary (model.toml) before it
        writes its outcome (``outcome.toml``) over version.toml, so a version
        that is the primary while its file still says deploying has become
        Active: its outcome is read from ``outcome.toml``.
        """
        if record.status == "deploying":
            if vfolder == primary_folder:
                record = self.version_file(folder, vfolder)  # it may have been written meanwhile
                if record.status == "deploying":
                    record = self.committed_outcome(folder, vfolder, record)
            if record.status == "deploying" and not self.deploy_alive(folder, vfolder):
                # The deploy may have finished between the read and the probe: read again.
                record = self.version_file(folder, vfolder)
                if record.status == "deploying":
                    record = record.replace(status="failed", interrupted=True, reason=INTERRUPTED)
        if aliases:
            record = record.replace(aliases=aliases)
        return record.replace(primary=True) if vfolder == primary_folder else record

    def versions(self, record: ModelRecord, cached: bool = True) -> list[VersionRecord]:
        """Every version of a model, oldest number first; read through ``mlreg.index``
        unless ``cached`` is False (integrity checks read every file: a cache anyone
        can edit is never their source of truth)."""
        from . import index

        if cached:
            try:  # (before any read: a file replaced meanwhile is only missed by a later listing)
                stamps = self.storage.stamps(versions_key(record.folder), VERSION_FILE)
            except OSError as e:
                raise IntegrityError(f"{e.filename} is {e.strerror}; refusing to read it") from None
            if len(stamps) >= index.MIN_VERSIONS or self.storage.remote:
                with collector.paused():
                    return self.versions_indexed(record, stamps)
        found = []
        for vfolder in self.version_folders(record.folder, list(stamps) if cached else None):
            try:
                found.append(self.read_version(record, vfolder))
            except FileNotFoundError:
                continue  # a folder without version.toml is not a version; `doctor` reports it
        return found

    def versions_indexed(self, record: ModelRecord, stamps: dict[str, Any]) -> list[VersionRecord]:
        """The records of the versions whose version.toml have ``stamps`` (``Storage.stamps``):
        from the cache where each file is unchanged."""
        from . import index

        primary_vfolder = primary_folder(record.primary)
        aliased = alias_folders(record)
        folder = record.folder
        prefix = versions_key(folder)
        index_key = model_key(folder, index.INDEX_FILE)
        try:
            cached = index.load(self.storage.get(index_key, index.MAX_INDEX_BYTES).data, VersionRecord.KEYS)
        except (OSError, ValueError):
            cached = {}
        fresh: dict[str, tuple[Any, VersionRecord]] = {}
        found = []
        stale = False
        base = self.where(prefix)  # for messages: where(key) for every version costs a tenth of the listing
        keyed = sorted((k, v) for v in stamps if (k := versions.sort_key(v)) is not None)
        for _, vfolder in keyed:
            if record.deleting and record.is_deleting(vfolder):
                continue
            stamp = stamps[vfolder]
            where = f"{base}/{vfolder}/{VERSION_FILE}"
            entry = cached.get(vfolder)
            version = None
            if entry is not None and entry[0] == stamp:
                try:
                    version = VersionRecord.from_stored(entry[1], where)
                except IntegrityError:
                    pass  # a forged entry: the file says what it holds
            if version is None:
                try:
                    version, stale = VersionRecord.from_toml(
                        self.toml(version_key(folder, vfolder, VERSION_FILE), keep=False), where), True
                except FileNotFoundError:
                    continue
            fresh[vfolder] = (stamp, version)
            check_home(version, folder, vfolder, where)
            found.append(self.as_read(version, folder, vfolder, primary_vfolder, aliased.get(vfolder, ())))
        if stale or len(fresh) != len(cached):
            # A read-only registry goes without, as does a model whose files hold what JSON
            # cannot (a TOML date a hand wrote: TypeError): its files are read each time.
            with contextlib.suppress(OSError, ValueError, TypeError):
                self.storage.put(index_key, index.dump(VersionRecord.KEYS, {
                    vfolder: (stamp, version.stored()) for vfolder, (stamp, version) in fresh.items()}))
        return found

    def cache_disagreements(self, folder: str) -> list[str]:
        """The version folders whose entry in the listing cache is current (its stamp is
        their version.toml's now) yet holds other than that file holds: what only a
        hand could do, and what listings would show were the entry a valid record.
        [] without a cache.

        Raises:
            OSError, ValueError: the cache, or the versions' folder, unreadable.
        """
        from . import index

        try:
            cached = index.load(self.storage.get(model_key(folder, index.INDEX_FILE), index.MAX_INDEX_BYTES).data,
                                VersionRecord.KEYS)
        except FileNotFoundError:
            return []
        stamps = self.storage.stamps(versions_key(folder), VERSION_FILE)
        wrong = []
        for vfolder, (stamp, values) in sorted(cached.items()):
            if stamps.get(vfolder) != stamp:
                continue  # stale: never used, rewritten by the next listing
            where = self.where(version_key(folder, vfolder, VERSION_FILE))
            try:
                real = VersionRecord.from_toml(self.toml(version_key(folder, vfolder, VERSION_FILE)), where)
            except (FileNotFoundError, IntegrityError):
                continue  # doctor reports it with the version
            try:
                held = VersionRecord.from_stored(values, where)
            except IntegrityError:
                continue  # never used: listings read the file instead
            if held != real or held.extra != real.extra:
                wrong.append(vfolder)
        return wrong

    def cache_where(self, folder: str) -> str:
        from . import index

        return self.where(model_key(folder, index.INDEX_FILE))

    def drop_cache(self, folder: str) -> None:
        """Remove the model's listing cache (never the truth: the next listing writes it again)."""
        from . import index

        self.storage.delete(model_key(folder, index.INDEX_FILE))

    def resolve(self, record: ModelRecord, ref: str) -> str:
        """The version folder that ``ref`` names: a version number, a version ID, or a
        built-in reference (SPEC §7): ``@primary`` (the primary) or ``@latest`` (the
        most recently deployed Active version).

        Raises:
            InvalidVersion: ``ref`` is none of these.
            VersionNotFound: no such version of this model (or no primary, no Active
                version, for the references).
        """
        ref = str(ref).strip()
        if ref.startswith("@"):
            return self._reference(record, ref[1:])
        if versions.is_version(ref):
            vfolder = versions.folder(ref)
            if record.deleting and record.is_deleting(vfolder):
                pass
            elif self.storage.exists(version_key(record.folder, vfolder, VERSION_FILE)):
                return vfolder  # read by the caller: unreadable is its IntegrityError
        elif versions.is_version_id(ref):
            owner = self.ids.owner(ref)
            if (owner is not None and owner[0] == record.folder and not record.is_deleting(owner[1])
                    and self.ids.carries(owner, ref)):
                return owner[1]
            if owner is not None:
                raise VersionNotFound(f"version ID {ref} belongs to another model ({owner[0]}), not {record.name!r}")
        else:
            raise InvalidVersion(f"{ref!r} is neither a version (such as 1.2.3) nor a version ID (8 letters and digits)")
        have = [v for v in self.version_folders(record.folder) if not record.is_deleting(v)]
        listed = ", ".join(have[-8:]) if have else "none"
        raise VersionNotFound(
            f"{record.name!r} has no version {ref} (has {listed}); see `mlreg versions {quote_arg(record.name)}`"
        )

    def _reference(self, record: ModelRecord, name: str) -> str:
        if name == "primary":
            if record.primary is None:
                raise VersionNotFound(f"{record.name!r} has no primary version (@primary); promote one")
            return versions.folder(record.primary)
        if name == "latest":
            active = [v for v in self.versions(record) if v.status == "active"]
            if not active:
                raise VersionNotFound(f"{record.name!r} has no Active version (@latest)")
            return versions.folder(max(active, key=lambda v: v.deployed_at).version)
        from .fields import is_alias

        if not is_alias(name):
            raise InvalidVersion(f"@{name!r} is not a reference: use @primary, @latest or an alias")
        if name in record.aliases:
            return versions.folder(record.aliases[name])
        known = ", ".join(f"@{a}" for a in sorted(record.aliases)) or "none"
        raise VersionNotFound(f"{record.name!r} has no alias @{name} (its aliases: {known}; "
                              "@primary and @latest are built in)")

    def artifact_path(self, record: VersionRecord, cached: bool = True) -> str:
        """A path on this machine to load a version's artifact from (where it would be,
        when it is missing: every reader opens it through ``predict.open_verified``).
        On a remote store, a copy from the per-user cache, unless ``cached`` is False
        (integrity checks download what the store holds now).

        Raises:
            IntegrityError: a folder on its way is a symlink.
        """
        key = version_key(names.folder(record.model), versions.folder(record.version), record.artifact)
        try:
            return self.storage.local_path(key, record.sha256 if cached else None)
        except FileNotFoundError:
            return self.where(key)  # its readers say it is missing
        except OSError as e:
            raise IntegrityError(f"artifact {self.where(key)} is {e.strerror}; refusing to load it") from None

    def open_artifact(self, record: VersionRecord) -> tuple[BinaryIO, str]:
        """A version's artifact, opened and verified (size and sha256), and where it was
        read. On a remote store a cached copy that disagrees is fetched again (and the
        cache mended); if the store's own copy disagrees, the error names its key.

        Raises:
            IntegrityError: the artifact is missing, unsafe or not what was deployed.
        """
        from .predict import open_verified

        key = version_key(names.folder(record.model), versions.folder(record.version), record.artifact)
        path = self.artifact_path(record)
        try:
            return open_verified(path, record.size, record.sha256), path
        except IntegrityError:
            if not self.storage.remote or path == self.where(key):
                raise
        fresh = self.artifact_path(record, cached=False)  # what the store holds now, cached by its digest
        try:
            f = open_verified(fresh, record.size, record.sha256)
        except IntegrityError as e:
            raise IntegrityError(str(e).replace(fresh, self.where(key)) + f" (the store's copy, read afresh; "
                                 f"the cached copy {path} disagreed too)") from None
        note(f"the cached copy {path} of {record.model} {record.version} was damaged; fetched it again")
        return f, fresh

    def code_folder(self, record: VersionRecord, cached: bool = True) -> str | None:
        """A folder on this machine holding a version's own code (None without any);
        on a remote store from the per-user cache unless ``cached`` is False."""
        from .layout import CODE_DIR

        key = version_key(names.folder(record.model), versions.folder(record.version), CODE_DIR)
        try:
            return self.storage.local_folder(key, record.code_sha256 if cached else None)
        except OSError as e:
            raise IntegrityError(f"code {self.where(key)} is {e.strerror}; refusing to load it") from None

    def code_path(self, record: VersionRecord, cached: bool = True) -> str:
        """``code_folder``, or where it would be when the version has none."""
        from .layout import CODE_DIR

        return self.code_folder(record, cached) or self.version_where(record, CODE_DIR)

    def version_where(self, record: VersionRecord, name: str = "") -> str:
        return self.where(version_key(names.folder(record.model), versions.folder(record.version), name))

    # ----------------------------------------------------------- documents

    def read_readme(self, folder: str) -> str | None:
        data = self.raw(model_key(folder, README_FILE), MAX_README_BYTES)
        return None if data is None else data.decode("utf-8", "replace")

    def templates_dir(self) -> str | None:
        """The registry's own templates folder on this machine (None without one)."""
        try:
            return self.storage.local_folder(TEMPLATES)
        except OSError:
            return None

    def versions_or_none(self, folder: str) -> list[VersionRecord]:
        try:
            return self.versions(self.read_model(folder), cached=False)
        except FileNotFoundError:
            return []

    # -------------------------------------------------------------- history

    def read_history(self, name: str) -> list[HistoryEvent]:
        """Every deploy outcome and change of primary, oldest first: the lines of an
        earlier mlreg's ``history.jsonl`` (a torn last line is skipped), then one
        object per event, in the order of their keys (their time)."""
        return self.history(self.load_model(name).folder).events()

    def history(self, folder: str) -> History:
        """The model's history (``history.History``)."""
        from .history import History

        return History(self, folder)

    # ---------------------------------------------------- compare-and-swap

    def update(self, folder: str, prepare: Callable[[Seen], Change], *,
               marks: tuple[str | None, str | None] = (None, None)) -> Any:
        """The one compare-and-swap of a model's shared state.

        Reads model.toml and the README, and lets ``prepare`` decide from what it
        read what to write (it may raise: a version taken, a primary that moved).
        model.toml is then replaced only if it still holds what was read (created
        only if it was absent): had another writer changed it meanwhile, the
        attempt is thrown away and ``prepare`` runs again on what is there now.
        model.toml is the one truth, so one key is compared: the same protocol
        holds on a folder (a compare under a brief lock, then a rename) and on an
        object store (``If-Match``). The README follows, replaced only if it is
        still what was read; a README someone edited meanwhile is theirs to keep
        (``Change.readme_first`` writes it first and retries when it changed,
        for a README edit itself). Then ``change.then``, then the history.
        ``marks`` name the crash-test checkpoints after the writes and after the
        history: a crash before the history loses an event, which `doctor --fix`
        restores, and never invents one.
        """
        from .changes import Seen  # (writes only: a read's start-up does without)

        model_k, readme_k = model_key(folder, MODEL_FILE), model_key(folder, README_FILE)
        for _ in cas_attempts(CAS_ATTEMPTS):
            seen_model = self.object(model_k, MAX_METADATA_BYTES, "metadata file")
            seen_readme = self.object(readme_k, MAX_README_BYTES, "README")
            model = None if seen_model is None else ModelRecord.from_toml(
                parse_toml(seen_model.data, self.where(model_k)), self.where(model_k))
            change = prepare(Seen(model, None if seen_readme is None else seen_readme.data))
            if change.model is None and change.readme is None and change.then is None and not change.events:
                return change.result
            if change.events:
                self.history(folder).check()
            readme = None if change.readme is None else (
                change.readme.encode("utf-8") if isinstance(change.readme, str) else change.readme)
            readme_mode = CREATE if seen_readme is None else Update(seen_readme.token)
            try:
                if change.readme_first and readme is not None:
                    self._put(readme_k, readme, readme_mode)
                    readme = None
                if change.model is not None:
                    # A revision one higher than what was read: a compare-and-swap compares
                    # bytes (or an ETag, an MD5 of them), so model.toml must never return to
                    # bytes it held, or a writer that read them long ago would win against
                    # a change made and undone meanwhile (a delete that marks and unmarks).
                    written = change.model.replace(revision=(model.revision if model is not None else 0) + 1)
                    self._put(model_k, model_toml(written).encode("utf-8"),
                              CREATE if seen_model is None else Update(seen_model.token))
            except Precondition:
                if change.lost is not None:
                    change.lost()
                continue
            if readme is not None:
                with contextlib.suppress(Precondition):  # edited meanwhile: that edit stands
                    self._put(readme_k, readme, readme_mode)
            mark(marks[0])
            if change.then is not None:
                change.then()
            self.history(folder).record(change.events)
            mark(marks[1])
            return change.result
        raise Busy(f"{self.where(model_k)}: other writers changed it {CAS_ATTEMPTS} times while this change "
                   "was being made; nothing was changed; try again")

    def object(self, key: str, limit: int, what: str) -> Object | None:
        """``raw``, with the key's version token (for a compare-and-swap)."""
        return get_checked(self.storage, key, limit, what)

    def _put(self, key: str, data: bytes, mode: Any) -> None:
        """``storage.put``, an unsafe file (a link, a FIFO) an IntegrityError."""
        put_checked(self.storage, key, data, *(() if mode is None else (mode,)))



def _copied(value: Any) -> Any:
    """A copy of parsed TOML that shares nothing mutable with ``value`` (its tables and
    arrays; strings, numbers and dates are immutable)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def mark(name: str | None) -> None:
    if name is not None:
        checkpoint(name)


def model_toml(record: ModelRecord) -> str:
    return dump_toml(record.to_toml())


def alias_folders(model: ModelRecord) -> dict[str, tuple[str, ...]]:
    """The model's aliases by the version folder they name, each sorted."""
    if not model.aliases:
        return {}
    found: dict[str, list[str]] = {}
    for alias, version in sorted(model.aliases.items()):
        found.setdefault(versions.folder(version), []).append(alias)
    return {vfolder: tuple(names) for vfolder, names in found.items()}


def primary_folder(primary: str | None) -> str | None:
    """The version folder of a model's primary (None without one)."""
    return None if primary is None else versions.folder(primary)
