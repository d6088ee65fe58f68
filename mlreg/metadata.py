"""The registry's metadata: frozen dataclasses, with TOML only at the edge.

Each file has a ``schema`` number. TOML has no null, so ``None`` is left out
on write; keys this version does not know are kept in ``extra`` and written
back, so a newer tool's fields survive an older tool's update.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import tomllib
from dataclasses import dataclass, field
from typing import Any

from . import atomic
from .errors import IntegrityError

FORMAT = 1  # the registry format this mlreg reads and writes (mlreg.toml)
SCHEMA = 1  # the schema of model.toml and version.toml
# Metadata files are small; a file over this is refused before parsing.
MAX_METADATA_BYTES = 1 << 20

STATUSES = ("deploying", "active", "failed")
STATUS_LABELS = {"deploying": "Deploying", "active": "Active", "failed": "Deployment Failed"}
CUSTOM = "Custom"


def now() -> str:
    """The current time, ISO 8601 in UTC with microseconds (sorts as text)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_toml(path: str) -> dict[str, Any]:
    """Parse a metadata file.

    Raises:
        FileNotFoundError: the file does not exist.
        IntegrityError: the file is a symlink, too large, not UTF-8 or not TOML.
    """
    try:
        data = atomic.read_bytes(path, MAX_METADATA_BYTES)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise IntegrityError(f"cannot read metadata file {path}: {e}") from None
    try:
        return tomllib.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise IntegrityError(f"corrupt metadata file {path}: {e}") from None


def write_toml(path: str, data: dict[str, Any]) -> None:
    import tomli_w  # only writers need it

    atomic.write_atomic(path, tomli_w.dumps(_drop_none(data)))


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


@dataclass(frozen=True)
class ModelRecord:
    """A model's own metadata (``model.toml``)."""

    name: str
    folder: str
    created_at: str
    created_by: str
    description: str = ""
    primary: str | None = None
    highest_version: str | None = None
    type: str = CUSTOM
    framework: str = CUSTOM
    # sha256 of the README mlreg generated, so later deploys refresh it only
    # while nobody has edited it.
    readme_generated: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    _KEYS = ("schema", "name", "folder", "created_at", "created_by", "description",
             "primary", "highest_version", "type", "framework", "readme_generated")

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
            extra={k: v for k, v in data.items() if k not in cls._KEYS},
        )

    def to_toml(self) -> dict[str, Any]:
        data = {"schema": SCHEMA}
        data.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"})
        return {**self.extra, **data}

    def replace(self, **changes: Any) -> "ModelRecord":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class VersionRecord:
    """One version's metadata (``version.toml``), plus what is derived on read.

    ``primary`` and ``interrupted`` are not stored: ``primary`` comes from the
    model, and ``interrupted`` marks a version whose file still says
    ``deploying`` but whose deploy process is gone (it reads as ``failed``).
    """

    model: str
    version: str
    version_id: str
    status: str
    deployed_at: str
    deployed_by: str
    size: int
    sha256: str
    artifact: str
    type: str = CUSTOM
    framework: str = CUSTOM
    finished_at: str | None = None
    reason: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    process: dict[str, Any] = field(default_factory=dict)
    primary: bool = False
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    _STORED = {"model": "model", "version": "version", "version_id": "id", "status": "status",
               "deployed_at": "deployed_at", "deployed_by": "deployed_by", "size": "size",
               "sha256": "sha256", "artifact": "artifact", "type": "type",
               "framework": "framework", "finished_at": "finished_at", "reason": "reason",
               "environment": "environment", "process": "process"}

    @classmethod
    def from_toml(cls, data: dict[str, Any], path: str) -> "VersionRecord":
        _check_schema(data, path)
        status = _get(data, "status", str, path)
        if status not in STATUSES:
            raise IntegrityError(f"metadata file {path}: unknown status {status!r}")
        known = set(cls._STORED.values()) | {"schema"}
        return cls(
            model=_get(data, "model", str, path),
            version=_get(data, "version", str, path),
            version_id=_get(data, "id", str, path),
            status=status,
            deployed_at=_get(data, "deployed_at", str, path),
            deployed_by=_get(data, "deployed_by", str, path, ""),
            size=_get(data, "size", int, path),
            sha256=_get(data, "sha256", str, path),
            artifact=_get(data, "artifact", str, path),
            type=_get(data, "type", str, path, CUSTOM),
            framework=_get(data, "framework", str, path, CUSTOM),
            finished_at=_get(data, "finished_at", str, path, None),
            reason=_get(data, "reason", str, path, None),
            environment=_get(data, "environment", dict, path, {}),
            process=_get(data, "process", dict, path, {}),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_toml(self) -> dict[str, Any]:
        data = {"schema": SCHEMA}
        data.update({key: getattr(self, attr) for attr, key in self._STORED.items()})
        return {**self.extra, **data}

    def replace(self, **changes: Any) -> "VersionRecord":
        return dataclasses.replace(self, **changes)

    @property
    def status_label(self) -> str:
        label = STATUS_LABELS[self.status]
        return f"{label} (interrupted)" if self.interrupted else label

    def to_json(self) -> dict[str, Any]:
        """The version object of SPEC §2 (its keys are never renamed)."""
        return {
            "model": self.model,
            "version": self.version,
            "version_id": self.version_id,
            "status": self.status,
            "primary": self.primary,
            "deployed_at": self.deployed_at,
            "deployed_by": self.deployed_by,
            "size": self.size,
            "sha256": self.sha256,
            "type": self.type,
            "framework": self.framework,
            "status_label": self.status_label,
            "finished_at": self.finished_at,
            "reason": self.reason,
            "environment": self.environment,
        }


@dataclass(frozen=True)
class HistoryEvent:
    """One line of a model's ``history.jsonl``: who did what, when, from -> to."""

    at: str
    by: str
    event: str  # "deploy", "promote", "describe", "interrupted"
    version: str | None = None
    version_id: str | None = None
    status: str | None = None
    from_: str | None = None
    to: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["from"] = data.pop("from_")
        return {k: data[k] for k in ("at", "by", "event", "version", "version_id", "status", "from", "to", "detail")}

    def to_line(self) -> str:
        return json.dumps({k: v for k, v in self.to_json().items() if v is not None}, ensure_ascii=False)

    @classmethod
    def from_line(cls, line: str) -> "HistoryEvent | None":
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
