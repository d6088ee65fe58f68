"""The registry: every operation, and the only module that changes the tree.

The tree's layout (every file and folder name) is in ``mlreg.layout``.

Rules: a write that others can see is atomic; a read-modify-write of a
model's shared state holds the model's lock, once, at the public entry point
(helpers that need it say ``_locked`` in their name); the copy, the hash and
the check run outside any lock; readers never lock.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple, Sequence

from . import atomic, identity, lock, names, versions
from .checkpoints import checkpoint
from .errors import (
    BadInput,
    DeploymentFailed,
    FormatTooNew,
    IntegrityError,
    InvalidVersion,
    ModelNotFound,
    NotActive,
    NotWritable,
    PartlyUnreadable,
    PrimaryMoved,
    ReadmeChanged,
    RegistryNotFound,
    UsageError,
    VersionExists,
    VersionNotFound,
)
from .location import ENV_TRUST_FILE, resolve_lock_timeout, resolve_registry
from .metadata import (
    CUSTOM,
    FORMAT,
    INTERRUPTED,
    check_home,
    committed_outcome,
    dump_toml,
    read_version_file,
    MAX_METADATA_BYTES,
    STATUSES,
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    now,
    parse_toml,
    read_toml,
    write_toml,
)

# Read commands must start fast: modules that only deploys, loads or
# documentation need (subprocess, hashing, templates...) are imported where used.
if TYPE_CHECKING:
    from .artifacts import CheckResult
    from .deploylog import DeployLog
    from .doctor import Report, Verified
    from .templates import Template

from .layout import (
    CODE_DIR,
    DEPLOY_LOCK,
    HISTORY_FILE,
    IDS,
    LOCK_FILE,
    MARKER,
    MODEL_FILE,
    MODELS,
    OUTCOME_FILE,
    README_FILE,
    STAGING,
    TEMPLATES,
    VERSION_FILE,
    VERSIONS,
)
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MAX_README_BYTES = 1 << 20
MAX_HISTORY_BYTES = 256 << 20


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


class ModelOverview(NamedTuple):
    """``mlreg show``: the model, its versions and invocation code."""

    info: ModelInfo
    versions: list[VersionRecord]
    invocation: dict[str, str]
    readme_intro: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.info.to_json(),
            "readme_intro": self.readme_intro,
            "versions": [v.to_json() for v in self.versions],
            "invocation": self.invocation,
        }


class PromoteResult(NamedTuple):
    """What `promote` did: the primary before, the version now primary, and
    whether anything changed."""

    model: str
    previous: str | None
    record: VersionRecord
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "from": self.previous,
            "to": self.record.version,
            "changed": self.changed,
            "version": self.record.to_json(),
        }


class _Deploy:
    """What one deploy carries from its first lock to its second."""

    __slots__ = ("folder", "staging", "log", "hold_fd", "record", "primary_at_start", "published")

    def __init__(self, folder: str, staging: str, log: DeployLog, hold_fd: int) -> None:
        self.folder = folder
        self.staging = staging
        self.log = log
        self.hold_fd = hold_fd
        self.record: VersionRecord | None = None
        self.primary_at_start: str | None = None
        self.published: str | None = None


class Registry:
    """A model registry in a folder; every mlreg operation is a method.

    ``path`` is chosen like the CLI's: the argument, else ``MLREG_REGISTRY``,
    else the per-user data folder. ``lock_timeout`` (seconds, -1 for ever)
    bounds the wait for a model's lock; default ``MLREG_LOCK_TIMEOUT`` or 30.
    ``trust_file`` (default ``MLREG_TRUST_FILE``) names a file kept outside
    the registry that lists the sha256 values each model may load (see
    ``mlreg.trust``); without one, loads trust the registry's own records.

    Example::

        reg = mlreg.Registry("./registry")
        record = reg.deploy("model.joblib", name="Iris Classifier")
        reg.promote("iris classifier", "0.1.0")
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float | None = None,
                 trust_file: str | os.PathLike[str] | None = None) -> None:
        self.path = resolve_registry(path)
        self.lock_timeout = resolve_lock_timeout(lock_timeout)
        chosen = trust_file or os.environ.get(ENV_TRUST_FILE)
        self.trust_file = os.path.abspath(os.fspath(chosen)) if chosen else None

    def __repr__(self) -> str:
        return f"Registry({self.path!r})"

    # ----------------------------------------------------------------- layout

    def _p(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    def _inside(self, *parts: str) -> str:
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

    # --------------------------------------------------------------- registry

    def _check_format(self) -> None:
        path = self._p(MARKER)
        data = read_toml(path, links_ok=True)  # made by create_exclusive: two names for a moment
        fmt = data.get("format")
        if not isinstance(fmt, int) or isinstance(fmt, bool):
            raise IntegrityError(f"metadata file {path} has no integer 'format'")
        if fmt > FORMAT:
            raise FormatTooNew(
                f"registry {self.path} has format {fmt}, newer than the format {FORMAT} this mlreg "
                "knows; upgrade mlreg (the registry was left untouched)"
            )

    def _require(self) -> None:
        """Raises: RegistryNotFound naming the path looked at; FormatTooNew."""
        try:
            self._check_format()
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
            self._check_format()
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
        created = atomic.create_exclusive(self._p(MARKER), f'format = {FORMAT}\ncreated_at = "{now()}"\n')
        self._check_format()
        for sub in (MODELS, STAGING, IDS):
            atomic.make_dirs(self._p(sub))
        return created

    def _ensure(self) -> None:
        """Write commands create the registry on first use (with a note, so that a
        mistyped --registry does not go unseen)."""
        try:
            self._check_format()
        except (FileNotFoundError, NotADirectoryError):
            if self.init():
                _note(f"created registry at {self.path}")

    # ----------------------------------------------------------------- models

    def _model_dir(self, folder: str) -> str:
        return self._inside(MODELS, folder)

    def _read_model(self, folder: str) -> ModelRecord:
        path = os.path.join(self._model_dir(folder), MODEL_FILE)
        return ModelRecord.from_toml(read_toml(path), path)

    def _load_model(self, name: str) -> ModelRecord:
        """Raises: InvalidName, RegistryNotFound, ModelNotFound, IntegrityError."""
        folder = names.folder_name(name)
        self._require()
        try:
            return self._read_model(folder)
        except FileNotFoundError:
            import difflib

            known = self._model_folders()
            close = difflib.get_close_matches(folder, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `mlreg models`"
            raise ModelNotFound(f"no model {name!r} in {self.path}{hint}") from None

    def _model_folders(self) -> list[str]:
        try:
            entries = os.listdir(self._inside(MODELS))
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if not e.startswith("."))

    def _info(self, record: ModelRecord) -> ModelInfo:
        return ModelInfo(record, len(self._version_folders(record.folder)))

    def models(self) -> list[ModelInfo]:
        """Every model, sorted by folder name.

        Raises:
            RegistryNotFound, FormatTooNew.
            PartlyUnreadable: some models' metadata cannot be read; ``error.found``
                lists the others, ``error.problems`` names each bad file.
        """
        self._require()
        found, problems = [], []
        for folder in self._model_folders():
            try:
                found.append(self._info(self._read_model(folder)))
            except FileNotFoundError:
                continue  # a first deploy that has not written model.toml yet
            except IntegrityError as e:
                problems.append(str(e))  # one model's bad metadata must not hide the others
        if problems:
            raise PartlyUnreadable(_listing_failed(problems, "model"), found, problems)
        return found

    def model(self, name: str) -> ModelInfo:
        """One model's record and version count.

        Raises:
            InvalidName, ModelNotFound, RegistryNotFound, IntegrityError.
        """
        return self._info(self._load_model(name))

    def show(self, name: str) -> ModelOverview:
        """The model's overview: record, versions and invocation code."""
        from .invocation import snippets
        from .readme import summary

        record = self._load_model(name)
        all_versions = self._versions(record)
        sample = self._sample_input(record, all_versions)
        registry = None if self.path == resolve_registry() else self.path
        return ModelOverview(
            info=ModelInfo(record, len(all_versions)),
            versions=all_versions,
            invocation=snippets(record.name, record.folder, registry, sample),
            readme_intro=summary(self._read_readme(self._readme_path(record.folder)) or ""),
        )

    def _sample_input(self, record: ModelRecord, all_versions: list[VersionRecord]) -> Any:
        """Rows for the invocation snippets: the primary's sample input, else the
        newest version's that has one, else zeros of the right width."""
        import json

        ordered = sorted(all_versions, key=lambda v: (v.primary, v.deployed_at), reverse=True)
        for v in ordered:
            text = v.extra.get("sample_input")
            if isinstance(text, str):
                try:
                    return json.loads(text)
                except ValueError:
                    continue
        for v in ordered:
            signature = v.extra.get("signature")
            n = signature.get("n_features") if isinstance(signature, dict) else None
            if isinstance(n, int) and 0 < n <= 64:
                return [[0.0] * n]
        return [[0.0]]

    def describe(self, name: str, text: str) -> ModelInfo:
        """Set the model's description.

        Raises:
            InvalidName, ModelNotFound, LockTimeout, UsageError (over 4,096 characters).
        """
        if len(text) > 4096:
            raise UsageError(f"a description has at most 4096 characters (got {len(text)})")
        folder = self._load_model(name).folder
        model_path = os.path.join(self._model_dir(folder), MODEL_FILE)

        def prepare(seen: _Seen) -> _Change:
            model = _existing(seen, model_path)
            if model.description == text:
                return _Change(result=model)
            updated = model.replace(description=text)
            return _Change(files=[(model_path, _model_toml(updated))], result=updated, events=[
                HistoryEvent(at=now(), by=identity.user_at_host(), event="describe", detail=text)])

        return self._info(self._update(folder, prepare))

    def _write_model_locked(self, record: ModelRecord) -> None:
        write_toml(os.path.join(self._model_dir(record.folder), MODEL_FILE), record.to_toml())

    def _lock(self, folder: str) -> lock.Lock:
        path = os.path.join(self._model_dir(folder), LOCK_FILE)
        return lock.Lock(path, self.lock_timeout, what=f"model {folder!r} ({path})")

    # --------------------------------------------------------------- versions

    def _versions_dir(self, folder: str) -> str:
        return self._inside(MODELS, folder, VERSIONS)

    def _version_folders(self, folder: str) -> list[str]:
        """The model's version folders, lowest number first."""
        return [entry.name for entry in self._version_entries(folder)]

    def _version_entries(self, folder: str) -> list[os.DirEntry]:
        """The model's version folders as directory entries (which know whether they
        are symlinks without another system call), lowest number first."""
        try:
            with os.scandir(self._versions_dir(folder)) as it:
                keyed = [(key, entry) for entry in it if (key := versions.sort_key(entry.name)) is not None]
        except FileNotFoundError:
            return []
        # anything that is not a version number is not a version folder; `doctor` reports it
        keyed.sort(key=lambda pair: (pair[0], pair[1].name))
        return [entry for _, entry in keyed]

    def _read_version(self, folder: str, vfolder: str, primary: str | None) -> VersionRecord:
        """A version's record, with ``primary`` set and interrupted deploys read as failed."""
        vdir = self._inside(MODELS, folder, VERSIONS, vfolder)
        path = os.path.join(vdir, VERSION_FILE)
        return self._as_read(read_version_file(path, folder, vfolder), folder, vdir, vfolder,
                             _primary_folder(primary))

    def _as_read(self, record: VersionRecord, folder: str, vdir: str, vfolder: str,
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

    def _versions(self, record: ModelRecord, cached: bool = True) -> list[VersionRecord]:
        """Every version of a model, oldest number first; many are read through ``mlreg.index``
        unless ``cached`` is False (integrity checks read every file: a cache anyone
        can edit is never their source of truth)."""
        from . import index

        entries = self._version_entries(record.folder)
        if not cached or len(entries) < index.MIN_VERSIONS:  # few: parsing the files is as fast as a cache
            found = []
            for dir_entry in entries:
                try:
                    found.append(self._read_version(record.folder, dir_entry.name, record.primary))
                except FileNotFoundError:
                    continue  # a folder without version.toml is not a version; `doctor` reports it
            return found
        with _gc_paused():
            return self._versions_indexed(record, entries)

    def _versions_indexed(self, record: ModelRecord, entries: list[os.DirEntry]) -> list[VersionRecord]:
        """The records of many versions: from the cache where each file is unchanged."""
        from . import index

        primary_folder = _primary_folder(record.primary)
        folder = record.folder
        index_path = os.path.join(self._model_dir(folder), index.INDEX_FILE)
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
            found.append(self._as_read(version, folder, vdir, vfolder, primary_folder))
        if stale or len(fresh) != len(cached):
            index.save(index_path, fresh)
        return found

    def versions(self, name: str, status: str | None = None) -> list[VersionRecord]:
        """Every version of a model, oldest number first; optionally only one status.

        Raises:
            InvalidName, ModelNotFound, UsageError (unknown status), IntegrityError.
        """
        wanted = _status_value(status) if status else None
        record = self._load_model(name)
        found = self._versions(record)
        return [v for v in found if wanted is None or v.status == wanted]

    def _resolve(self, record: ModelRecord, ref: str) -> str:
        """The version folder that ``ref`` (a version number or a version ID) names.

        Raises:
            InvalidVersion: ``ref`` is neither.
            VersionNotFound: no such version of this model.
        """
        ref = str(ref).strip()
        if versions.is_version(ref):
            vfolder = versions.folder_for(ref)
            if os.path.isfile(os.path.join(self._versions_dir(record.folder), vfolder, VERSION_FILE)):
                return vfolder
        elif versions.is_version_id(ref):
            owner = self._owner_of_id(ref)
            if owner is not None and owner[0] == record.folder and self._carries_id(owner, ref):
                return owner[1]
            if owner is not None:
                raise VersionNotFound(f"version ID {ref} belongs to another model ({owner[0]}), not {record.name!r}")
        else:
            raise InvalidVersion(f"{ref!r} is neither a version (such as 1.2.3) nor a version ID (8 letters and digits)")
        have = self._version_folders(record.folder)
        listed = ", ".join(have[-8:]) if have else "none"
        raise VersionNotFound(
            f"{record.name!r} has no version {ref} (has {listed}); see `mlreg versions {_quote_arg(record.name)}`"
        )

    def _owner_of_id(self, version_id: str) -> tuple[str, str] | None:
        path = self._inside(IDS, version_id)
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

    def _carries_id(self, owner: tuple[str, str], version_id: str) -> bool:
        """Whether the version an ID file names carries that ID. An ID file is made
        before its version is published; a deploy killed in between leaves one
        naming a number another deploy may take (`doctor --fix` removes it)."""
        path = os.path.join(self._inside(MODELS, owner[0], VERSIONS, owner[1]), VERSION_FILE)
        try:
            return read_toml(path).get("id") == version_id
        except FileNotFoundError:
            return False

    def version(self, name: str, ref: str) -> VersionRecord:
        """One version by number or ID.

        Raises:
            InvalidName, InvalidVersion, ModelNotFound, VersionNotFound, IntegrityError.
        """
        record = self._load_model(name)
        return self._read_version(record.folder, self._resolve(record, ref), record.primary)

    def status(self, name: str, ref: str | None = None) -> VersionRecord:
        """A version's record: ``ref``, else the primary, else the most recently deployed.

        Raises:
            InvalidName, ModelNotFound, VersionNotFound (a model with no version), IntegrityError.
        """
        record = self._load_model(name)
        if ref is not None:
            return self._read_version(record.folder, self._resolve(record, ref), record.primary)
        if record.primary is not None:
            vfolder = versions.folder_for(record.primary)
            try:
                return self._read_version(record.folder, vfolder, record.primary)
            except FileNotFoundError:
                raise IntegrityError(
                    f"{record.name!r} names {record.primary} as primary but its version folder is missing; run `mlreg doctor`"
                ) from None
        found = self._versions(record)
        if not found:
            raise VersionNotFound(f"{record.name!r} has no versions yet")
        return max(found, key=lambda v: v.deployed_at)

    def logs(self, name: str, ref: str) -> list[str]:
        """The version's deploy log, a line each.

        Raises:
            InvalidName, InvalidVersion, ModelNotFound, VersionNotFound.
        """
        from .deploylog import LOG_NAME, read_lines

        record = self._load_model(name)
        vfolder = self._resolve(record, ref)
        path = os.path.join(self._inside(MODELS, record.folder, VERSIONS, vfolder, LOG_NAME))
        try:
            return read_lines(path)
        except FileNotFoundError:
            return []
        except atomic.UnsafeFile as e:
            raise IntegrityError(f"deploy log {path} is {e.strerror}; refusing to read it") from None
        except ValueError as e:
            raise IntegrityError(str(e)) from None

    # ---------------------------------------------------------------- calling

    def callable_version(self, name: str, version: str | None = None) -> VersionRecord:
        """The version a prediction would use: ``version`` (number or ID), else the primary.

        Raises:
            VersionNotFound: no such version, or no primary and no version asked for (exit 3).
            NotActive: the version is Deploying or Deployment Failed (exit 4).
        """
        record = self._load_model(name)
        if version is None:
            if record.primary is None:
                raise VersionNotFound(
                    f"{record.name!r} has no primary version; ask for one with --version, or promote one"
                )
            vfolder = versions.folder_for(record.primary)
        else:
            vfolder = self._resolve(record, version)
        chosen = self._read_version(record.folder, vfolder, record.primary)
        if chosen.status != "active":
            raise NotActive(f"{record.name!r} {chosen.version} is {chosen.status_label}; only Active versions can be called")
        return chosen

    def version_by_id(self, version_id: str) -> VersionRecord:
        """A version found by its ID alone.

        Raises:
            VersionNotFound, InvalidVersion (not an ID), IntegrityError.
        """
        if not versions.is_version_id(version_id):
            raise InvalidVersion(f"{version_id!r} is not a version ID (8 lowercase letters and digits)")
        self._require()
        owner = self._owner_of_id(version_id)
        if owner is None or not self._carries_id(owner, version_id):
            raise VersionNotFound(f"no version with ID {version_id} in {self.path}")
        try:
            record = self._read_model(owner[0])
            return self._read_version(owner[0], owner[1], record.primary)
        except FileNotFoundError:
            raise VersionNotFound(f"version ID {version_id} names {owner[0]} {owner[1]}, which does not exist") from None

    def _version_dir(self, record: VersionRecord) -> str:
        """The folder a version lies in (readers check that its record names it)."""
        return self._inside(MODELS, names.folder_of(record.model), VERSIONS, versions.folder_for(record.version))

    def artifact_path(self, record: VersionRecord) -> str:
        """Where a version's artifact lies (checked to hold no symlinked folder)."""
        return os.path.join(self._version_dir(record), record.artifact)

    def check_trusted(self, record: VersionRecord, expect_sha256: str | None = None) -> None:
        """Check that ``record`` may be called: it is Active, and its artifact is the one
        expected (``expect_sha256``) and listed in the trust file, read afresh.

        `serve` calls this on every request, also for a model it has loaded
        before, so that a version removed from the trust file stops answering
        at once.

        Raises:
            NotActive, IntegrityError.
        """
        if record.status != "active":
            raise NotActive(f"{record.model!r} {record.version} is {record.status_label}; only Active versions can be called")
        if expect_sha256 is not None and expect_sha256.strip().lower() != record.sha256:
            raise IntegrityError(f"{record.model} {record.version} has sha256 {record.sha256}, "
                                 f"not the expected {expect_sha256.strip()}; refusing to load it")
        if self.trust_file is not None:
            from .trust import load_trust

            # The folder the version lies in (its record was checked to name it), never a claim.
            load_trust(self.trust_file).check(names.folder_of(record.model), record.version, record.sha256)

    def load_version(self, record: VersionRecord, expect_sha256: str | None = None) -> Any:
        """Load an Active version's artifact after verifying its size and sha256, and its
        code's (and, when given, against ``expect_sha256`` and the trust file).

        The version's code folder (``deploy --code``) is put first on ``sys.path``.
        Warns (``RuntimeWarning``) when the libraries here differ from the deploy's.

        Raises:
            NotActive, IntegrityError (the artifact is never unpickled then),
            PredictFailed (the artifact needs a module that cannot be imported).
        """
        self.check_trusted(record, expect_sha256)
        from .environment import drift
        from .usercode import verify

        for sentence in drift(record.environment):
            warnings.warn(f"{record.model} {record.version}: {sentence}", RuntimeWarning, stacklevel=2)
        from .predict import load_verified

        vdir = self._version_dir(record)
        code_dir = verify(os.path.join(vdir, CODE_DIR), record.code_sha256)
        return load_verified(os.path.join(vdir, record.artifact), record.size, record.sha256, code_dir)

    def load(self, name: str, version: str | None = None, expect_sha256: str | None = None) -> Any:
        """The verified model object of ``version`` (number or ID), else of the primary.

        Raises:
            VersionNotFound, NotActive, IntegrityError.
        """
        return self.load_version(self.callable_version(name, version), expect_sha256)

    def predict(self, name: str, inputs: Any, version: str | None = None, method: str = "predict",
                expect_sha256: str | None = None) -> dict[str, Any]:
        """Predict with ``version`` (number or ID), else the primary.

        ``inputs`` is a list of rows, ``{"inputs": [...]}``, rows keyed by
        feature name, or an ``inputs.Table`` read from CSV. Returns the CLI's
        JSON: ``model``, ``version``, ``version_id``, ``predictions``.

        Raises:
            VersionNotFound, NotActive, IntegrityError, BadInput (what the model expects),
            UsageError (a method the model lacks or outside the allow-list).
        """
        from .predict import call

        record = self.callable_version(name, version)
        model = self.load_version(record, expect_sha256)
        return prediction(record, call(model, inputs, method), classes_of(model, method))

    # ----------------------------------------------------------------- README

    def _readme_path(self, folder: str) -> str:
        return os.path.join(self._model_dir(folder), README_FILE)

    def readme(self, name: str) -> str:
        """The model's README (Markdown); empty when it has none.

        Raises:
            InvalidName, ModelNotFound, IntegrityError.
        """
        record = self._load_model(name)
        return self._read_readme(self._readme_path(record.folder)) or ""

    def set_readme(self, name: str, text: str, expect_sha256: str | None = None) -> str:
        """Replace the model's README atomically; return the new text's sha256.

        ``expect_sha256`` is a compare-and-swap guard: the sha256 of the README
        the new text was written from (``readme_sha256`` of what was read);
        when the README changed meanwhile, nothing is written.

        Raises:
            ReadmeChanged (exit 4), UsageError (over 1 MiB), LockTimeout.
        """
        from .readme import sha256 as text_sha256

        data = text.encode("utf-8")
        if len(data) > MAX_README_BYTES:
            raise UsageError(f"a README has at most {MAX_README_BYTES} bytes (got {len(data)})")
        folder = self._load_model(name).folder
        path = self._readme_path(folder)
        model_path = os.path.join(self._model_dir(folder), MODEL_FILE)

        def prepare(seen: _Seen) -> _Change:
            model = _existing(seen, model_path)
            current = "" if seen.readme is None else seen.readme.decode("utf-8", "replace")
            if expect_sha256 is not None and text_sha256(current) != expect_sha256:
                raise ReadmeChanged(f"the README of {model.name!r} was changed by someone else meanwhile; "
                                    "nothing was written")
            files: list[tuple[str, str | bytes]] = []
            events = []
            if current != text:
                files.append((path, data))
                events.append(HistoryEvent(at=now(), by=identity.user_at_host(), event="readme",
                                           detail=f"sha256 {text_sha256(text)[:12]}"))
            if model.readme_generated is not None and text_sha256(text) != model.readme_generated:
                files.append((model_path, _model_toml(model.replace(readme_generated=None))))
            return _Change(files=files, events=events)

        self._update(folder, prepare, marks=("readme:written", None))
        return text_sha256(text)

    def readme_placeholders(self, name: str) -> list[str]:
        """Titles of the README's sections that still hold a TODO(mlreg) placeholder.

        A model without a README gives ``["README"]``.
        """
        from .readme import placeholder_sections

        text = self.readme(name)
        return placeholder_sections(text) if text.strip() else ["README"]

    def _templates_dir(self) -> str | None:
        path = self._p(TEMPLATES)
        return path if os.path.isdir(path) and not os.path.islink(path) else None

    def templates(self) -> list[Template]:
        """The built-in templates and the registry's own (``REGISTRY/templates/*.toml``).

        Raises:
            PartlyUnreadable: some template files are not valid; ``error.found``
                lists the others, ``error.problems`` names each bad file.
        """
        from .templates import all_templates

        problems: list[str] = []
        found = all_templates(self._templates_dir(), problems)
        if problems:
            raise PartlyUnreadable(_listing_failed(problems, "template"), found, problems)
        return found

    def check(self) -> None:
        """Check that the registry exists and this mlreg can read its format.

        Raises:
            RegistryNotFound, FormatTooNew, IntegrityError (an unreadable mlreg.toml).
        """
        self._require()

    # ----------------------------------------------------------------- doctor

    def doctor(self, fix: bool = False, older_than: float | None = None) -> "Report":
        """Examine the whole registry; with ``fix``, repair what is safe (see ``mlreg.doctor``).

        Leftovers (staging folders, temporary files, ID files of versions that
        never appeared) count only once older than ``older_than`` seconds
        (default an hour), so work in progress is never mistaken for one.

        Raises:
            RegistryNotFound, FormatTooNew, IntegrityError (an unreadable mlreg.toml).
        """
        from .doctor import DEFAULT_OLDER_THAN, Doctor

        self._require()
        return Doctor(self, fix, DEFAULT_OLDER_THAN if older_than is None else older_than).run()

    def verify(self, name: str | None = None, version: str | None = None) -> list["Verified"]:
        """Rehash artifacts against their recorded size and sha256 (never unpickling them):
        every version of the registry, of model ``name``, or one ``version`` of it.

        Raises:
            ModelNotFound, VersionNotFound, IntegrityError (unreadable metadata).
        """
        from .doctor import Verified, verify_artifact

        if name is None:
            self._require()
            chosen = [v for folder in self._model_folders() for v in self._versions_or_none(folder)]
        elif version is None:
            chosen = self._versions(self._load_model(name), cached=False)
        else:
            chosen = [self.version(name, version)]
        results = []
        for v in chosen:
            problem = "still Deploying" if v.status == "deploying" else verify_artifact(self._version_dir(v), v)
            results.append(Verified(v.model, v.version, v.version_id, ok=not problem or v.status == "deploying",
                                    problem=problem))
        return results

    def _versions_or_none(self, folder: str) -> list[VersionRecord]:
        try:
            return self._versions(self._read_model(folder), cached=False)
        except FileNotFoundError:
            return []

    # ---------------------------------------------------------------- history

    def _history_locked(self, folder: str, event: HistoryEvent) -> None:
        """Append one event to the model's history (the caller holds the model's lock).

        Raises:
            IntegrityError: the history is a symlink, a FIFO or hard-linked.
        """
        with self._history(folder) as history:
            history.append(event)

    def history(self, name: str) -> list[HistoryEvent]:
        """Every deploy outcome and change of primary, oldest first.

        A torn last line (a writer killed mid-append) is skipped.
        """
        record = self._load_model(name)
        path = os.path.join(self._model_dir(record.folder), HISTORY_FILE)
        try:
            text = atomic.read_bytes(path, MAX_HISTORY_BYTES).decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise IntegrityError(f"cannot read the history {path}: {getattr(e, 'strerror', None) or e}") from None
        lines = text.split("\n")[:-1]  # the part after the last newline is torn or empty
        return [e for e in map(HistoryEvent.from_line, lines) if e is not None]

    # ---------------------------------------------------------------- promote

    def promote(self, name: str, ref: str, expect_primary: str | None = None) -> PromoteResult:
        """Make an Active version primary (a rollback too).

        ``expect_primary`` is a compare-and-swap guard: when given (a version,
        or ``"none"`` for no primary), the promote happens only if the primary
        is still that version.

        Raises:
            VersionNotFound, NotActive (Deploying or Deployment Failed),
            PrimaryMoved (``expect_primary`` no longer holds), LockTimeout.
        """
        expected = _expected_primary(expect_primary) if expect_primary is not None else None
        folder = self._load_model(name).folder
        model_path = os.path.join(self._model_dir(folder), MODEL_FILE)
        readme_path = os.path.join(self._model_dir(folder), README_FILE)
        # A version that is Active stays Active, so reading it outside the lock is safe.

        def prepare(seen: _Seen) -> _Change:
            record = _existing(seen, model_path)
            target = self._read_version(folder, self._resolve(record, ref), record.primary)
            if target.status != "active":
                raise NotActive(
                    f"{record.name!r} {target.version} is {target.status_label}; only an Active version can be primary"
                )
            if expect_primary is not None and not versions.same(record.primary, expected):
                raise PrimaryMoved(
                    f"the primary of {record.name!r} is {record.primary or 'none'}, not {expect_primary}; nothing changed"
                )
            if target.primary:
                return _Change(result=PromoteResult(record.name, record.primary, target, changed=False))
            updated = record.replace(primary=target.version, type=target.type, framework=target.framework)
            files: list[tuple[str, str | bytes]] = []
            # A README mlreg generated (and nobody edited) follows the primary.
            readme = _readme_after_deploy(record, target.replace(primary=True), seen.readme)
            if readme is not None:
                files.append((readme_path, readme.text))
                updated = updated.replace(readme_generated=readme.generated)
            files.append((model_path, _model_toml(updated)))
            return _Change(files=files, events=[_primary_event(record, target, "promote")],
                           result=PromoteResult(record.name, record.primary, target.replace(primary=True), changed=True))

        result = self._update(folder, prepare, sync=False, marks=("promote:model-written", "promote:history-written"))
        if result.changed:
            atomic.fsync_file(os.path.join(self._model_dir(folder), HISTORY_FILE))
            atomic.fsync_dir(self._model_dir(folder))
        return result

    # ----------------------------------------------------------------- deploy

    def deploy(
        self,
        model_or_path: Any,
        name: str,
        *,
        version_bump: str = "minor",
        version: str | None = None,
        description: str | None = None,
        type: str | None = None,
        framework: str | None = None,
        template: str | None = None,
        sample_input: Any = None,
        readme: str | None = None,
        promote: bool = True,
        check_timeout: float = 300.0,
        progress: Callable[[int, int], None] | None = None,
        code: Sequence[str | os.PathLike[str]] = (),
    ) -> VersionRecord:
        """Deploy a model as a new version of model ``name``.

        ``model_or_path`` is a path to a file (joblib or pickle) or an
        in-memory model, which is written with joblib into the staging folder. The artifact is copied and hashed
        in one pass, given the next version number under the model's lock,
        checked in a child process within ``check_timeout`` seconds, and ends
        Active (primary unless ``promote=False`` or a higher version became
        primary meanwhile) or Deployment Failed.

        ``template`` names a template (``templates()``): its README becomes
        the model's on its first deploy, and its Type, Framework and sample
        input are used unless given here. ``sample_input`` (rows, or their
        JSON text) is predicted during the check. ``readme`` is Markdown text
        that sets (or replaces) the model's README. ``code`` lists ``.py``
        files and package folders the model needs to be unpickled (its own
        classes): they are stored with the version, covered by its
        ``code_sha256``, and put first on ``sys.path`` for the check and every
        later load.

        Returns the Active version's record.

        Raises:
            InvalidName, InvalidVersion, UsageError, BadInput: before anything is written.
            VersionExists: ``version`` is taken (numbers differing only in build metadata are one).
            DeploymentFailed: the check failed; ``error.record`` is the version's record.
            LockTimeout, FormatTooNew, IntegrityError.
        """
        import shutil

        from .artifacts import artifact_name, copy_and_hash, run_check
        from .templates import find_template

        import json

        display = names.normalize(name)
        folder = names.folder_of(display)
        bump = versions.normalize_bump(version_bump)
        exact = versions.parse(version) if version is not None else None
        chosen = find_template(template, self._templates_dir()) if template is not None else None
        sample_from_template = False
        if isinstance(sample_input, str):
            from .inputs import parse_json

            sample_input = parse_json(sample_input, "--sample-input")
        if chosen is not None:
            type = type or chosen.type
            framework = framework or chosen.framework
            if sample_input is None:
                sample_input = chosen.sample_input
                sample_from_template = sample_input is not None
        if sample_input is not None:
            from .inputs import rows_of

            rows_of(sample_input)
        for label, value in (("type", type), ("framework", framework)):
            if value is not None and not (0 < len(value.strip()) <= 64 and value.isprintable()):
                raise UsageError(f"--{label} must be 1 to 64 printable characters")
        artifact = model_or_path
        source = os.fspath(artifact) if isinstance(artifact, (str, os.PathLike)) else None
        if source is not None and not os.path.isfile(source):
            raise BadInput(f"artifact {source} does not exist or is not a file")
        code = [os.fspath(c) for c in code]
        for path in code:
            if not (os.path.isdir(path) or (os.path.isfile(path) and path.endswith(".py"))):
                raise BadInput(f"--code {path} is neither a .py file nor a package folder")
        self._ensure()

        try:
            deploy = self._stage(folder)
        except OSError as e:
            raise NotWritable(f"cannot write to the registry {self.path}: {e.strerror}; nothing was deployed") from None
        checkpoint("deploy:staged")
        try:
            log = deploy.log
            log.write(f"deploy of {source or 'an in-memory ' + type_name(artifact)} as {display!r} "
                      f"by {identity.user_at_host()} (pid {os.getpid()})")
            target_name = artifact_name(source or "model.joblib")
            try:
                if source is not None:
                    size, sha256 = copy_and_hash(source, os.path.join(deploy.staging, target_name), progress)
                else:
                    size, sha256 = _dump(artifact, os.path.join(deploy.staging, target_name))
            except OSError as e:
                raise NotWritable(f"cannot write the artifact into the registry {self.path}: {e.strerror}; "
                                  "nothing was deployed") from None
            log.write(f"copied {size} bytes as {target_name}, sha256 {sha256}")
            code_sha256 = None
            if code:
                from .usercode import copy_code

                code_sha256 = copy_code(code, os.path.join(deploy.staging, CODE_DIR))
                log.write(f"copied the model's code ({', '.join(os.path.basename(c.rstrip(os.sep)) for c in code)}), "
                          f"code_sha256 {code_sha256}")
            checkpoint("deploy:copied")
            self._allocate(deploy, display, exact, bump, description, readme, dict(
                size=size, sha256=sha256, artifact=target_name, code_sha256=code_sha256,
                type=type or CUSTOM, framework=framework or CUSTOM,
                sample_input=None if sample_input is None else json.dumps(sample_input)))
        except BaseException:
            deploy.log.close()
            lock.release_held(deploy.hold_fd)
            shutil.rmtree(deploy.staging, ignore_errors=True)
            raise

        try:
            record = deploy.record
            assert record is not None and deploy.published is not None
            log.write(f"allocated version {record.version} (ID {record.version_id}); status Deploying")
            log.write(f"checking in a child process (time limit {check_timeout:g}s)")
            log.sync()
            result = run_check(os.path.join(deploy.published, record.artifact), sample_input, check_timeout,
                               code_dir=os.path.join(deploy.published, CODE_DIR) if code else None)
            if not result.ok and chosen is not None and sample_from_template and result.sample_failed:
                result = result.but(reason=f"{result.reason} (the sample input of template {chosen.name!r}; "
                                           "give --sample-input to check with another)")
            for at, text in result.steps:
                log.write(f"check: {text}", at=at)
            checkpoint("deploy:checked")
            final = self._finish(deploy, result, promote, type, framework, chosen)
        except BaseException as e:
            self._abandon(deploy, f"interrupted: {type_name(e)}")
            raise
        finally:
            deploy.log.close()
            lock.release_held(deploy.hold_fd)
        if final.status != "active":
            raise DeploymentFailed(
                f"{display} {final.version} (ID {final.version_id}): Deployment Failed: {final.reason}; "
                f"see `mlreg logs {_quote_arg(display)} {final.version}`",
                record=final,
            )
        return final

    def _stage(self, folder: str) -> _Deploy:
        """A fresh staging folder on the registry's filesystem, locked by this process."""
        import shutil

        from .deploylog import LOG_NAME, DeployLog

        staging_root = self._inside(STAGING)
        atomic.make_dirs(staging_root)
        staging = os.path.join(staging_root, os.urandom(8).hex())
        os.mkdir(staging, 0o777)
        hold_fd = lock.hold(os.path.join(staging, DEPLOY_LOCK))
        try:
            return _Deploy(folder=folder, staging=staging, log=DeployLog(os.path.join(staging, LOG_NAME)), hold_fd=hold_fd)
        except BaseException:
            lock.release_held(hold_fd)
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _allocate(self, deploy: _Deploy, display: str, exact: versions.Version | None, bump: str,
                  description: str | None, readme: str | None, fields: dict[str, Any]) -> None:
        """Give the staged deploy its number and ID, and publish it.

        Everything that needs an fsync (the ID file, version.toml, the new
        model.toml and README) is written first, from model.toml as read then;
        the model's lock is then held only to check that model.toml still holds
        those bytes and the folder is still free, and to rename the files into
        place. Had another writer changed model.toml meanwhile, the prepared
        files are thrown away and prepared again from the new one. (Bytes, not
        inode and mtime: an inode number can be reused, and some filesystems
        keep mtimes to the second.)
        """
        folder = deploy.folder
        model_dir = self._model_dir(folder)
        vdir_root = self._versions_dir(folder)
        atomic.make_dirs(vdir_root)
        attempt: dict[str, Any] = {}

        def take_back_the_id() -> None:
            # The ID was never shown to anyone: take it back, so it cannot
            # come to name another deploy's version of the same number.
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._inside(IDS), attempt.pop("id")))

        def prepare(seen: _Seen) -> _Change:
            model = seen.model or ModelRecord(name=display, folder=folder, created_at=now(),
                                              created_by=identity.user_at_host(), description=description or "")
            highest = versions.parse(model.highest_version) if model.highest_version else None
            if exact is not None:
                number = exact
                if os.path.lexists(os.path.join(vdir_root, versions.folder(number))):
                    raise VersionExists(f"{model.name!r} already has version {versions.folder(number)}; "
                                        "choose another --version or use --bump")
            else:
                number = versions.next_version(highest, bump)
                # A number above every folder, should model.toml lag behind the tree.
                while os.path.lexists(os.path.join(vdir_root, versions.folder(number))):
                    number = versions.next_version(number, bump)
            target = os.path.join(vdir_root, versions.folder(number))
            attempt["id"] = self._new_id(folder, versions.folder(number))
            checkpoint("deploy:id-allocated")
            files = self._prepare_publish(deploy, model, number, attempt["id"], highest, description, readme, fields)

            def publish() -> None:
                # The number is recorded as used (model.toml, renamed first) before the
                # folder appears: a crash in between skips a number, never reuses one.
                checkpoint("deploy:model-written")
                os.rename(deploy.staging, target)  # absent, checked under the lock
                deploy.published = target
                checkpoint("deploy:published")

            return _Change(files=files, check=lambda: not os.path.lexists(target), then=publish,
                           result=(model, seen.model is None), lost=take_back_the_id)

        try:
            model, created = self._update(folder, prepare)
        except BaseException:
            if deploy.published is None and "id" in attempt:
                take_back_the_id()
            raise
        # Durability of the renames; others saw them at once.
        atomic.fsync_dir(model_dir)
        atomic.fsync_dir(vdir_root)
        deploy.primary_at_start = model.primary
        if created:
            self._note_new_model(model)

    def _note_new_model(self, model: ModelRecord) -> None:
        """A deploy to a near miss of an existing name (``iris clasifier``) creates a
        new model: say so, naming the close ones, so that a typo does not go unseen."""
        import difflib

        others = [f for f in self._model_folders() if f != model.folder]
        close = difflib.get_close_matches(model.folder, others, n=3, cutoff=0.8)
        if close:
            _note(f"created model {model.name!r} (did you mean {', '.join(close)}?)")

    def _prepare_publish(self, deploy: _Deploy, model: ModelRecord, number: versions.Version, version_id: str,
                         highest: versions.Version | None, description: str | None, readme: str | None,
                         fields: dict[str, Any]) -> list[tuple[str, str | bytes]]:
        """Write the staged version's record; return the model.toml (and README) that
        publishing it brings, as (path, content) pairs.

        A template's README is not written here but once the deploy ends Active
        (``_finish``): a first deploy that fails must not leave a template's
        description on the model."""
        record = VersionRecord(
            model=model.name, version=str(number), version_id=version_id, status="deploying",
            deployed_at=now(), deployed_by=identity.user_at_host(),
            size=fields["size"], sha256=fields["sha256"], artifact=fields["artifact"],
            type=fields["type"], framework=fields["framework"], code_sha256=fields["code_sha256"],
            process=identity.this_process(),
            extra={"sample_input": fields["sample_input"]} if fields["sample_input"] else {},
        )
        write_toml(os.path.join(deploy.staging, VERSION_FILE), record.to_toml())
        deploy.record = record
        new_highest = number if highest is None or number > highest else highest
        changes: dict[str, Any] = {"highest_version": str(new_highest)}
        if description is not None:
            changes["description"] = description
        model_dir = self._model_dir(deploy.folder)
        files: list[tuple[str, str | bytes]] = []
        if readme is not None:
            files.append((os.path.join(model_dir, README_FILE), readme))
            changes["readme_generated"] = None
        files.append((os.path.join(model_dir, MODEL_FILE), _model_toml(model.replace(**changes))))
        return files

    def _new_id(self, folder: str, vfolder: str) -> str:
        import secrets

        ids = self._inside(IDS)
        atomic.make_dirs(ids)
        while True:
            candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(versions.ID_LENGTH))
            if atomic.create_exclusive(os.path.join(ids, candidate), f"{folder}/{vfolder}\n"):
                return candidate

    def _finish(self, deploy: _Deploy, result: CheckResult, promote: bool,
                type_flag: str | None, framework_flag: str | None, template: Template | None) -> VersionRecord:
        """Record the check's outcome, then move the primary under the model's lock.

        The outcome is written whole to ``outcome.toml`` first (outside any
        lock: only this process writes in its version's folder while it holds
        the deploy lock). Under the model's lock come, in this order, the new
        model.toml (the primary) and README, the rename of ``outcome.toml``
        over version.toml, the history lines and the log's last line. A kill
        between any two of them leaves either a version that reads as
        Deployment Failed (interrupted), never promoted, or one that is the
        primary and reads as Active from its outcome; ``doctor --fix``
        completes what the kill cut short.
        """
        from .environment import python_version

        record = deploy.record
        assert record is not None and deploy.published is not None
        extra = dict(record.extra)
        if result.signature:
            extra["signature"] = result.signature
        record = record.replace(
            status="active" if result.ok else "failed",
            finished_at=now(),
            reason=None if result.ok else result.reason,
            type=type_flag or result.type or CUSTOM,
            framework=framework_flag or result.framework or CUSTOM,
            environment={"python": python_version(), "libraries": result.libraries},
            process={},  # only needed while deploying, to tell a live deploy from a dead one
            extra=extra,
        )
        log = deploy.log
        if not result.ok:
            log.write(f"FAILED: {result.reason}" + (f"\n{result.error}" if result.error else ""))
        outcome_path = os.path.join(deploy.published, OUTCOME_FILE)
        write_toml(outcome_path, record.to_toml())
        checkpoint("deploy:outcome-staged")
        model_dir = self._model_dir(deploy.folder)
        model_path, readme_path = os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, README_FILE)
        checked = record

        def prepare(seen: _Seen) -> _Change:
            model = _existing(seen, model_path)
            record = checked
            promoted = result.ok and promote and _should_take_primary(model.primary, deploy.primary_at_start,
                                                                       record.version)
            if promoted:
                updated = model.replace(primary=record.version, type=record.type, framework=record.framework)
                record = record.replace(primary=True)
                outcome = f"Active; now the primary version (was {model.primary or 'none'})"
            elif result.ok:
                why = "--no-promote" if not promote else f"the primary moved to {model.primary} meanwhile"
                outcome = f"Active; the primary stays {model.primary or 'none'} ({why})"
                updated = model if model.primary is not None else model.replace(type=record.type,
                                                                                 framework=record.framework)
            else:
                updated, outcome = model, "Deployment Failed"
            events = [HistoryEvent(at=now(), by=record.deployed_by, event="deploy", version=record.version,
                                   version_id=record.version_id, status=record.status, detail=record.reason)]
            if promoted:
                events.append(_primary_event(model, record, f"deploy of {record.version}"))
            files: list[tuple[str, str | bytes]] = []
            readme = _readme_after_deploy(updated, record, seen.readme, template if result.ok else None)
            if readme is not None:
                files.append((readme_path, readme.text))
                updated = updated.replace(readme_generated=readme.generated)
            if updated != model:
                files.append((model_path, _model_toml(updated)))

            def record_outcome() -> None:
                os.replace(outcome_path, os.path.join(deploy.published, VERSION_FILE))
                checkpoint("deploy:version-written")

            return _Change(files=files, then=record_outcome, events=events, result=(record, outcome))

        # The truth first: the primary (model.toml), then the outcome, the history, the log.
        record, outcome = self._update(deploy.folder, prepare, sync=False,
                                       marks=("deploy:primary-written", "deploy:history-written"))
        log.write(outcome)
        atomic.fsync_file(os.path.join(model_dir, HISTORY_FILE))
        atomic.fsync_dir(model_dir)
        atomic.fsync_dir(deploy.published)
        return record

    @staticmethod
    def _read_readme(path: str) -> str | None:
        data = _raw(path, MAX_README_BYTES)
        return None if data is None else data.decode("utf-8", "replace")

    def _abandon(self, deploy: _Deploy, reason: str) -> None:
        """Best effort after an exception: a published version is marked failed at once,
        unless it had already become the primary (then it is Active: its outcome is
        renamed into place)."""
        if deploy.published is None or deploy.record is None:
            return
        try:
            failed = deploy.record.replace(status="failed", finished_at=now(), reason=reason)
            version_path = os.path.join(deploy.published, VERSION_FILE)
            outcome_path = os.path.join(deploy.published, OUTCOME_FILE)
            with lock.Lock(os.path.join(self._model_dir(deploy.folder), LOCK_FILE), timeout=2.0):
                if read_toml(version_path).get("status") != "deploying":
                    return  # its outcome is in place
                if versions.same(self._read_model(deploy.folder).primary, failed.version):
                    os.replace(outcome_path, version_path)
                    deploy.log.write("Active; now the primary version (the deploy was interrupted after that)")
                    return
                deploy.log.write(f"FAILED: {reason}")
                write_toml(version_path, failed.to_toml())
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(outcome_path)
                with self._history(deploy.folder) as history:
                    history.append(HistoryEvent(
                        at=now(), by=failed.deployed_by, event="deploy", version=failed.version,
                        version_id=failed.version_id, status="failed", detail=reason))
                deploy.log.write("Deployment Failed")
        except BaseException:
            pass  # the version still reads as interrupted once this process is gone

    def _update(self, folder: str, prepare: Callable[[_Seen], _Change], *, sync: bool = True,
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
        model_dir = self._model_dir(folder)
        model_path, readme_path = os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, README_FILE)
        while True:
            seen = (_raw(model_path, MAX_METADATA_BYTES), _raw(readme_path, MAX_README_BYTES))
            model = None if seen[0] is None else ModelRecord.from_toml(parse_toml(seen[0], model_path), model_path)
            change = prepare(_Seen(model, seen[1]))
            if not change.files and change.then is None and not change.events:
                return change.result
            with _staging() as staged:
                for path, data in change.files:
                    staged.append((atomic.stage(path, data), path))
                with self._lock(folder):
                    current = (_raw(model_path, MAX_METADATA_BYTES), _raw(readme_path, MAX_README_BYTES))
                    if current == seen and (change.check is None or change.check()):
                        with self._history(folder, sync=sync) as history:
                            _rename_staged(staged)
                            _mark(marks[0])
                            if change.then is not None:
                                change.then()
                            history.extend(change.events)
                        _mark(marks[1])
                        return change.result
            if change.lost is not None:
                change.lost()

    @contextlib.contextmanager
    def _history(self, folder: str, sync: bool = True) -> Iterator[list[HistoryEvent]]:
        """Collect history events to append to the model's history (the caller holds
        the model's lock).

        The history is opened before the block runs, so that a history that
        cannot be written (a symlink, a FIFO, no permission) stops the change
        before anything is renamed. An append that still fails once the change
        took effect (a full disk) is a warning, not an error: the change is
        done, a script must be able to trust the exit code, and `doctor --fix`
        restores the lost line.
        """
        path = os.path.join(self._model_dir(folder), HISTORY_FILE)
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


def _existing(seen: _Seen, model_path: str) -> ModelRecord:
    """The model record an update of an existing model read.

    Raises:
        IntegrityError: model.toml has disappeared.
    """
    if seen.model is None:
        raise IntegrityError(f"{model_path} disappeared")
    return seen.model


def _listing_failed(problems: list[str], what: str) -> str:
    more = f" (and {len(problems) - 1} more unreadable {what}s)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


def _mark(name: str | None) -> None:
    if name is not None:
        checkpoint(name)


def _model_toml(record: ModelRecord) -> str:
    return dump_toml(record.to_toml())


def _note(text: str) -> None:
    """Tell the user something worth knowing that is not an error (the CLI prints
    it on stderr as ``mlreg: note: ...``; Python callers get a ``Note`` warning)."""
    from .errors import Note

    warnings.warn(text, Note, stacklevel=3)


class _Seen(NamedTuple):
    """A model's shared state as one attempt of a read-modify-write read it."""

    model: ModelRecord | None  # None before the model's first deploy has written model.toml
    readme: bytes | None


class _Change(NamedTuple):
    """What one attempt of a read-modify-write wants done, prepared from what it read
    (``Registry._update``). Nothing to write and nothing to record is a no-op."""

    files: Sequence[tuple[str, str | bytes]] = ()  # staged before the lock, renamed under it, in order
    check: Callable[[], bool] | None = None  # under the lock, before any rename: False tries again
    then: Callable[[], None] | None = None  # under the lock, after the renames, before the history
    events: Sequence[HistoryEvent] = ()  # appended to the history last
    result: Any = None  # what _update returns
    lost: Callable[[], None] | None = None  # this attempt lost its race: undo what it prepared


def prediction(record: VersionRecord, predictions: list, classes: list | None = None) -> dict[str, Any]:
    """The predict answer of SPEC §2; with ``classes``, the class each column of
    the predictions stands for (``predict_proba`` and its kin)."""
    answer = {"model": record.model, "version": record.version, "version_id": record.version_id,
              "predictions": predictions}
    if classes is not None:
        answer["classes"] = classes
    return answer


def classes_of(model: Any, method: str) -> list | None:
    """The class order of ``method``'s columns, for methods that give one column a class."""
    if method not in ("predict_proba", "predict_log_proba"):
        return None  # (a binary decision_function gives one score a row, not one a class)
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    from .predict import plain

    found = plain(classes)
    return found if isinstance(found, list) else None


def _dump(obj: Any, path: str) -> tuple[int, str]:
    """Write an in-memory model with joblib, then hash the file written."""
    if not callable(getattr(obj, "predict", None)):
        raise BadInput(f"the object to deploy ({type_name(obj)}) has no callable predict")
    import joblib

    from .artifacts import hash_file

    with open(path, "xb") as f:
        joblib.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return hash_file(path)


@contextlib.contextmanager
def _staging() -> Iterator[list[tuple[str, str]]]:
    """A list for the (temporary, final) pairs of files staged before taking a lock;
    those ``_rename_staged`` did not rename into place are removed at the end."""
    staged: list[tuple[str, str]] = []
    try:
        yield staged
    finally:
        for tmp, _ in staged:
            atomic.discard(tmp)


def _rename_staged(staged: list[tuple[str, str]]) -> None:
    """Rename the staged files into place, in order, each leaving the list once renamed."""
    while staged:
        tmp, final = staged[0]
        os.replace(tmp, final)
        del staged[0]


def _raw(path: str, limit: int) -> bytes | None:
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


class _Readme(NamedTuple):
    text: str
    generated: str | None  # its sha256 when mlreg generated it from the artifact


def _readme_after_deploy(model: ModelRecord, record: VersionRecord, current: bytes | None,
                         template: Template | None = None) -> _Readme | None:
    """The README to write as ``record`` joins ``model`` (a deploy's outcome, or a
    promote), or None when the README there is to be kept.

    Only a README nobody wrote is ever replaced: none at all, or the skeleton
    mlreg generated and nobody edited since. ``template`` (given only for a
    deploy that ended Active) puts its README there; otherwise the skeleton is
    written (for a model without a README) or refreshed to describe the new
    primary (so that after a rollback it describes the version called).
    """
    from .readme import sha256 as text_sha256, skeleton

    text = None if current is None else current.decode("utf-8", "replace")
    untouched = text is not None and model.readme_generated == text_sha256(text)
    if text is not None and not untouched:
        return None
    if template is not None:
        return _Readme(template.readme_for(model.name, model.folder), None)
    if text is not None and not record.primary:
        return None
    import json

    sample = record.extra.get("sample_input")
    generated = skeleton(model.name, record.version, record.type, record.framework,
                         record.extra.get("signature") or {},
                         json.loads(sample) if isinstance(sample, str) else None)
    return None if generated == text else _Readme(generated, text_sha256(generated))


@contextlib.contextmanager
def _gc_paused() -> Any:
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


def _primary_folder(primary: str | None) -> str | None:
    """The version folder of a model's primary (None without one)."""
    return None if primary is None else versions.folder_for(primary)


def _primary_event(model: ModelRecord, target: VersionRecord, cause: str) -> HistoryEvent:
    """The history line of ``target`` becoming the primary of ``model``."""
    return HistoryEvent(at=now(), by=identity.user_at_host(), event="primary", version=target.version,
                        version_id=target.version_id, from_=model.primary, to=target.version, detail=cause)


def _should_take_primary(current: str | None, at_start: str | None, new: str) -> bool:
    """SPEC §3a: the new Active version becomes primary unless, while it was
    deploying, the primary moved to a higher version."""
    if current is None or versions.same(current, at_start):
        return True
    return versions.higher(new, current)


def _expected_primary(text: str) -> str | None:
    if text.strip().lower() in ("", "none"):
        return None
    versions.folder_for(text.strip())
    return text.strip()


def _status_value(status: str) -> str:
    value = status.strip().lower().replace(" ", "-")
    value = {"deployment-failed": "failed"}.get(value, value)
    if value not in STATUSES:
        raise UsageError(f"unknown status {status!r}: use deploying, active or failed")
    return value


def _quote_arg(text: str) -> str:
    import shlex

    return shlex.quote(text)


def type_name(obj: Any) -> str:
    return type(obj).__name__
