"""The registry's metadata: immutable records, with TOML only at the edge.

Each file has a ``schema`` number. TOML has no null, so ``None`` is left out
on write; keys this version does not know are kept in ``extra`` and written
back, so a newer tool's fields survive an older tool's update.
"""

from __future__ import annotations

import datetime as _dt
import functools
from typing import Any, ClassVar, NamedTuple

from . import atomic
from . import names as _names
from . import versions as _versions
from .errors import IntegrityError, InvalidName, UsageError

FORMAT = 1  # the registry format this mlreg reads and writes (mlreg.toml)
SCHEMA = 1  # the schema of model.toml and version.toml
# Metadata files are small; a file over this is refused before parsing.
MAX_METADATA_BYTES = 1 << 20

INTERRUPTED = "interrupted: the deploy process ended before the deploy finished"
STATUSES = ("deploying", "active", "failed")
STATUS_LABELS = {"deploying": "Deploying", "active": "Active", "failed": "Deployment Failed"}
CUSTOM = "Custom"


def status_named(text: str) -> str:
    """The status a user's word names: one of STATUSES, or its label in any case.

    Raises:
        UsageError: any other word.
    """
    value = text.strip().lower().replace(" ", "-")
    value = {"deployment-failed": "failed"}.get(value, value)
    if value not in STATUSES:
        raise UsageError(f"unknown status {text!r}: use deploying, active or failed")
    return value


@functools.lru_cache(maxsize=64)
def is_plain_file_name(name: str) -> bool:
    """Whether ``name`` names a file directly inside a folder: no separator, not
    ``.`` or ``..``, no hidden or control characters, at most 64 characters.
    (Cached: thousands of versions share a few artifact names.)"""
    return (0 < len(name) <= 64 and name.isprintable() and "/" not in name and "\\" not in name
            and not name.startswith(".") and name.strip() == name)


def now() -> str:
    """The current time, ISO 8601 in UTC with microseconds (sorts as text)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_toml(path: str, *, links_ok: bool = False) -> dict[str, Any]:
    """Parse a metadata file (``links_ok``: see ``atomic.open_regular``).

    Raises:
        FileNotFoundError: the file does not exist.
        NotADirectoryError: a folder on its path is a file.
        IntegrityError: the file is a symlink, a FIFO, hard-linked, too large,
            not UTF-8 or not TOML.
    """
    try:
        data = atomic.read_bytes(path, MAX_METADATA_BYTES, links_ok=links_ok)
    except (FileNotFoundError, NotADirectoryError):
        raise
    except atomic.UnsafeFile as e:
        raise IntegrityError(f"metadata file {path} is {e.strerror}; refusing to read it") from None
    except (OSError, ValueError) as e:
        raise IntegrityError(f"cannot read metadata file {path}: {e}") from None
    return parse_toml(data, path)


def parse_toml(data: bytes, path: str) -> dict[str, Any]:
    """Parse the bytes of the metadata file ``path`` (a byte-order mark is dropped).

    Raises:
        IntegrityError: not UTF-8 or not TOML.
    """
    import tomllib  # here: a read command finds most files parsed before (``parsecache``)

    try:
        text = data.decode("utf-8")
        return tomllib.loads(text[1:] if text.startswith("\ufeff") else text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise IntegrityError(f"corrupt metadata file {path}: {e}") from None


def write_toml(path: str, data: dict[str, Any]) -> None:
    import tomli_w  # only writers need it

    atomic.write_atomic(path, tomli_w.dumps(_drop_none(data)))


def dump_toml(data: dict[str, Any]) -> str:
    """``data`` as the text of a metadata file."""
    import tomli_w

    return tomli_w.dumps(_drop_none(data))


def _drop_none(value: Any) -> Any:
    """TOML has no null: leave out None, and empty tables with it."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None and v != {}}
    return value


def _get(data: dict[str, Any], key: str, kind: type, path: str, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise IntegrityError(f"metadata file {path} lacks the key {key!r}")
        return default
    value = data[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise IntegrityError(f"metadata file {path}: {key!r} should be {kind.__name__}, not {value!r}")
    return value


def _check_schema(data: dict[str, Any], path: str) -> None:
    schema = data.get("schema", SCHEMA)
    if not isinstance(schema, int) or schema > SCHEMA:
        raise IntegrityError(
            f"metadata file {path} has schema {schema!r}; this mlreg reads schema {SCHEMA}"
        )


_REQUIRED: Any = object()  # a field's default when it has none
_NEW_DICT: Any = object()  # a field's default when it is a new empty dict


class Record:
    """An immutable record with named fields, given by keyword.

    What a frozen dataclass gives (``==``, ``repr``, ``replace``, no assignment),
    written once here: the records below are defined on every command's
    start-up, where ``dataclasses`` spent about 2.5 ms generating their code,
    and ``versions`` builds thousands of them. ``extra`` (keys a newer mlreg
    wrote) is kept but neither compared nor shown.
    """

    __slots__ = ()
    _DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init__(self, **values: Any) -> None:
        put = object.__setattr__
        for name, default in self._DEFAULTS.items():
            value = values.pop(name, default)
            if value is _REQUIRED:
                raise TypeError(f"{type(self).__name__} needs {name!r}")
            put(self, name, {} if value is _NEW_DICT else value)
        if values:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(values))!r}")

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed."""
        new = object.__new__(type(self))
        put = object.__setattr__
        for name in self._DEFAULTS:
            put(new, name, changes.pop(name) if name in changes else getattr(self, name))
        if changes:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(changes))!r}")
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy would set the slots with setattr, which refuses
        return (_rebuild, (type(self), tuple(getattr(self, name) for name in self._DEFAULTS)))

    def _shown(self) -> list[str]:
        return [name for name in self._DEFAULTS if name != "extra"]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._shown())

    __hash__ = None  # type: ignore[assignment]  # records hold dicts

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._shown())})"


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    record = object.__new__(cls)
    for name, value in zip(cls._DEFAULTS, values):
        object.__setattr__(record, name, value)
    return record


class ModelRecord(Record):
    """A model's own metadata (``model.toml``).

    ``readme_generated`` is the sha256 of the README mlreg generated, so later
    deploys refresh it only while nobody has edited it.
    """

    _DEFAULTS = {"name": _REQUIRED, "folder": _REQUIRED, "created_at": _REQUIRED,
                 "created_by": _REQUIRED, "description": "", "primary": None,
                 "highest_version": None, "type": CUSTOM, "framework": CUSTOM,
                 "readme_generated": None, "aliases": _NEW_DICT, "deleting": (), "deleting_model": None,
                 "revision": 0, "last_deployed_at": None, "extra": _NEW_DICT}
    __slots__ = tuple(_DEFAULTS)
    name: str
    folder: str
    created_at: str
    created_by: str
    description: str
    primary: str | None
    highest_version: str | None
    type: str
    framework: str
    readme_generated: str | None
    aliases: dict[str, str]  # alias -> version (SPEC §7)
    deleting: tuple[str, ...]  # versions whose delete has begun: gone for readers
    deleting_model: str | None  # when the delete of the whole model began
    revision: int  # one more at every write: model.toml never returns to bytes it had (no ABA)
    last_deployed_at: str | None  # the newest deploy's time (None: from before it was kept; list the versions)
    extra: dict[str, Any]

    _KEYS = ("schema", "name", "folder", "created_at", "created_by", "description",
             "primary", "highest_version", "type", "framework", "readme_generated", "aliases",
             "deleting", "deleting_model", "revision", "last_deployed_at")

    @classmethod
    def from_toml(cls, data: dict[str, Any], path: str) -> "ModelRecord":
        _check_schema(data, path)
        return cls(
            name=_get(data, "name", str, path),
            folder=_get(data, "folder", str, path),
            created_at=_get(data, "created_at", str, path, ""),
            created_by=_get(data, "created_by", str, path, ""),
            description=_get(data, "description", str, path, ""),
            primary=_get(data, "primary", str, path, None),
            highest_version=_get(data, "highest_version", str, path, None),
            type=_get(data, "type", str, path, CUSTOM),
            framework=_get(data, "framework", str, path, CUSTOM),
            readme_generated=_get(data, "readme_generated", str, path, None),
            aliases=_aliases(_get(data, "aliases", dict, path, {}), path),
            deleting=tuple(_version_list(_get(data, "deleting", list, path, []), path)),
            deleting_model=_get(data, "deleting_model", str, path, None),
            revision=_get(data, "revision", int, path, 0),
            last_deployed_at=_get(data, "last_deployed_at", str, path, None),
            extra={k: v for k, v in data.items() if k not in cls._KEYS},
        )

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA}
        data.update({name: getattr(self, name) for name in self._shown()})
        data["deleting"] = list(self.deleting) or None
        return {**self.extra, **data}

    def is_deleting(self, version: str) -> bool:
        return any(_versions.same(v, version) for v in self.deleting)


def _aliases(value: dict[str, Any], path: str) -> dict[str, str]:
    from .fields import is_alias

    for alias, version in value.items():
        if not is_alias(alias) or not isinstance(version, str) or not _versions.is_version(version):
            raise IntegrityError(f"metadata file {path}: the alias {str(alias)[:40]!r} -> {str(version)[:40]!r} "
                                 "is not an alias name and a version")
    return dict(value)


def _version_list(value: list[Any], path: str) -> list[str]:
    for version in value:
        if not isinstance(version, str) or not _versions.is_version(version):
            raise IntegrityError(f"metadata file {path}: {str(version)[:40]!r} in 'deleting' is not a version")
    return value


class VersionRecord(Record):
    """One version's metadata (``version.toml``), plus what is derived on read.

    ``primary``, ``aliases`` and ``interrupted`` are not stored: ``primary`` and
    ``aliases`` come from the model, and ``interrupted`` marks a version whose file still says
    ``deploying`` but whose deploy process is gone (it reads as ``failed``).
    """

    _DEFAULTS = {"model": _REQUIRED, "version": _REQUIRED, "version_id": _REQUIRED,
                 "status": _REQUIRED, "deployed_at": _REQUIRED, "deployed_by": _REQUIRED,
                 "size": _REQUIRED, "sha256": _REQUIRED, "artifact": _REQUIRED, "type": CUSTOM,
                 "framework": CUSTOM, "finished_at": None, "reason": None,
                 "environment": _NEW_DICT, "process": _NEW_DICT, "code_sha256": None, "tags": _NEW_DICT,
                 "metrics": _NEW_DICT, "params": _NEW_DICT, "source": None, "signature": _NEW_DICT,
                 "format": "joblib", "imports": None, "extra": _NEW_DICT, "primary": False, "aliases": (),
                 "interrupted": False}
    # No __slots__: a listing builds thousands, and an instance's dict is made in one
    # step where 27 slots are set one by one (about 2 of the 8 microseconds a record took).
    model: str
    version: str
    version_id: str
    status: str
    deployed_at: str
    deployed_by: str
    size: int
    sha256: str
    artifact: str
    type: str
    framework: str
    finished_at: str | None
    reason: str | None
    environment: dict[str, Any]
    process: dict[str, Any]
    code_sha256: str | None
    tags: dict[str, str]
    metrics: dict[str, int | float]
    params: dict[str, str]
    source: dict[str, Any] | None
    signature: dict[str, Any]  # what the deploy check read of the inputs and outputs
    format: str  # joblib (a pickle), skops or onnx (SPEC §11)
    imports: list[str] | None  # what the pickle would import, read at deploy (None: not recorded)
    primary: bool
    aliases: tuple[str, ...]
    interrupted: bool
    extra: dict[str, Any]

    # (attribute, key in version.toml, type, default): what the file holds.
    _STORED = (("model", "model", str, _REQUIRED), ("version", "version", str, _REQUIRED),
               ("version_id", "id", str, _REQUIRED), ("status", "status", str, _REQUIRED),
               ("deployed_at", "deployed_at", str, _REQUIRED), ("deployed_by", "deployed_by", str, ""),
               ("size", "size", int, _REQUIRED), ("sha256", "sha256", str, _REQUIRED),
               ("artifact", "artifact", str, _REQUIRED), ("type", "type", str, CUSTOM),
               ("framework", "framework", str, CUSTOM), ("finished_at", "finished_at", str, None),
               ("reason", "reason", str, None), ("environment", "environment", dict, _NEW_DICT),
               ("process", "process", dict, _NEW_DICT), ("code_sha256", "code_sha256", str, None),
               ("tags", "tags", dict, _NEW_DICT), ("metrics", "metrics", dict, _NEW_DICT),
               ("params", "params", dict, _NEW_DICT), ("source", "source", dict, None),
               ("signature", "signature", dict, _NEW_DICT), ("format", "format", str, "joblib"),
               ("imports", "imports", list, None))
    _CHECKED = ("tags", "metrics", "params", "source")
    _KNOWN = frozenset(key for _, key, _, _ in _STORED) | {"schema"}
    _STORED_ATTRS = tuple(attr for attr, _, _, _ in _STORED)

    KEYS = tuple(key for _, key, _, _ in _STORED)  # what a version.toml holds, in the order of stored()
    _SHAPES: ClassVar[dict[tuple[type, ...], tuple[tuple[int, Any], ...]]] = {}
    _DERIVED = (False, (), False)  # primary, aliases, interrupted: what a reader adds

    @classmethod
    def from_toml(cls, data: dict[str, Any], path: str) -> "VersionRecord":
        """The record a parsed ``version.toml`` holds, its types checked.

        Raises:
            IntegrityError: a key is missing, of the wrong type, or the status unknown.
        """
        _check_schema(data, path)
        values = list(map(data.get, cls.KEYS))  # None: absent (TOML has no null)
        unknown = data.keys() - cls._KNOWN \
            if len(data) > len(values) - values.count(None) + ("schema" in data) else ()
        values.append({k: v for k, v in data.items() if k in unknown} if unknown else {})
        return cls.from_stored(values, path)

    @classmethod
    def from_stored(cls, values: list[Any], path: str) -> "VersionRecord":
        """The record whose stored fields are ``values``: those of ``KEYS`` in their
        order (None where absent), then the keys a newer mlreg wrote (a dict), as
        ``from_toml`` and the listing cache (``stored()``) give them; ``values`` is
        used up. Its types are checked as the file's are.

        A listing builds thousands of these, so this sets the fields directly rather
        than through ``__init__``, and checks which keys a file holds and the type of
        each once for all of that shape (TOML's parser gives exactly str, int, dict,
        bool: a bool is no size).

        Raises:
            IntegrityError: a key is missing, of the wrong type, or the status unknown.
        """
        shape = tuple(map(type, values))
        defaults = cls._SHAPES.get(shape)
        if defaults is None:
            defaults = cls._shape(values, path)
            if len(cls._SHAPES) < 1024:
                cls._SHAPES[shape] = defaults
        for i, default in defaults:
            values[i] = {} if default is _NEW_DICT else default
        values += cls._DERIVED
        record = object.__new__(cls)
        fields = dict(zip(cls._DEFAULTS, values))
        object.__setattr__(record, "__dict__", fields)
        if fields["status"] not in STATUSES:
            raise IntegrityError(f"metadata file {path}: unknown status {fields['status']!r}")
        if fields["imports"] is not None and {*map(type, fields["imports"])} - {str}:
            raise IntegrityError(f"metadata file {path}: 'imports' should be a list of names")
        if not is_plain_file_name(fields["artifact"]):
            # A version's artifact is a file directly inside its own folder, whatever
            # the file says: never an absolute path, never through a subfolder.
            raise IntegrityError(f"metadata file {path}: the artifact {fields['artifact'][:80]!r} is not a plain "
                                 "file name inside the version's folder")
        for kind in cls._CHECKED:
            if fields[kind]:
                from .fields import bad_table

                if (why := bad_table(fields[kind], kind)) is not None:
                    raise IntegrityError(f"metadata file {path}: {why}")
        return record

    @classmethod
    def _shape(cls, values: list[Any], path: str) -> tuple[tuple[int, Any], ...]:
        """For a file whose stored fields are ``values`` (None where absent): the
        defaults its absent keys take (place, default).

        Raises:
            IntegrityError: a key is missing or of the wrong type.
        """
        defaults = []
        for i, ((_, key, kind, default), value) in enumerate(zip(cls._STORED, values)):
            if value is None:
                if default is _REQUIRED:
                    raise IntegrityError(f"metadata file {path} lacks the key {key!r}")
                if default is not None:
                    defaults.append((i, default))
            elif type(value) is not kind:
                raise IntegrityError(f"metadata file {path}: {key!r} should be {kind.__name__}, not {value!r}")
        if len(values) != len(cls._STORED) + 1 or type(values[-1]) is not dict:
            raise IntegrityError(f"metadata file {path}: not a version's fields")
        return tuple(defaults)

    def stored(self) -> list[Any]:
        """What ``from_stored`` takes to make this record again (as it was read)."""
        return [*map(self.__dict__.__getitem__, self._STORED_ATTRS), self.extra]

    def to_toml(self) -> dict[str, Any]:
        data = {"schema": SCHEMA}
        data.update({key: getattr(self, attr) for attr, key, _, _ in self._STORED})
        return {**self.extra, **data}

    @property
    def status_label(self) -> str:
        label = STATUS_LABELS[self.status]
        return f"{label} (interrupted)" if self.interrupted else label

    def to_json(self) -> dict[str, Any]:
        """The version object of SPEC §2 (``mlreg.views.version``)."""
        from .views import version

        return version(self)


class HistoryEvent(Record):
    """One event of a model's history (a file in ``history/``, or a line of the
    ``history.jsonl`` earlier mlreg wrote): who did what, when, from -> to.

    ``event`` is "deploy", "primary", "describe" or "readme".
    """

    _DEFAULTS = {"at": _REQUIRED, "by": _REQUIRED, "event": _REQUIRED, "version": None,
                 "version_id": None, "status": None, "from_": None, "to": None, "detail": None}
    __slots__ = tuple(_DEFAULTS)
    at: str
    by: str
    event: str
    version: str | None
    version_id: str | None
    status: str | None
    from_: str | None
    to: str | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        from .views import event

        return event(self)

    def to_line(self) -> str:
        import json

        return json.dumps({k: v for k, v in self.to_json().items() if v is not None}, ensure_ascii=False)

    @classmethod
    def from_line(cls, line: str) -> "HistoryEvent | None":
        import json

        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict) or "at" not in data or "event" not in data:
            return None
        return cls(
            at=str(data["at"]), by=str(data.get("by", "")), event=str(data["event"]),
            version=data.get("version"), version_id=data.get("version_id"),
            status=data.get("status"), from_=data.get("from"), to=data.get("to"),
            detail=data.get("detail"),
        )


def check_home(record: VersionRecord, folder: str, vfolder: str, path: str) -> None:
    """Everything that follows from a version (its artifact's path, the trust
    file's entry) follows the folder it lies in, never what its file claims: a
    version.toml that claims another model or number is corrupt.

    Raises:
        IntegrityError: naming the file.
    """
    # (a fast path first for the number: `versions` checks thousands of these; the
    # folder read was listed as a version folder, so equal means valid)
    if ((record.version != vfolder and not _versions.same(record.version, vfolder))
            or _folder_of_name(record.model) != folder):
        raise IntegrityError(
            f"metadata file {path} says it is {record.model!r} {record.version}, but it lies in the "
            f"folder of {folder} {vfolder}; refusing to use it (see `mlreg doctor`)"
        )


@functools.lru_cache(maxsize=256)
def _folder_of_name(name: str) -> str | None:
    try:
        return _names.folder(name)
    except InvalidName:
        return None


class ModelInfo(NamedTuple):
    """A model's record with what is counted from the tree."""

    record: ModelRecord
    version_count: int

    def to_json(self) -> dict[str, Any]:
        """The model object of SPEC §2 (``mlreg.views.model``)."""
        from .views import model

        return model(self)
