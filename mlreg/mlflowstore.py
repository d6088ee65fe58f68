"""Reading MLflow registries without MLflow: a file store (``mlruns``), a database
(``sqlite:///PATH``, read-only through the standard library) or one MLmodel folder.

What is read is plain data (``MlflowModel``, ``MlflowVersion``, ``MLmodel``); nothing
here writes, and nothing here decides what mlreg does with it (``ops.import_mlflow``
does). MLflow's own files are read as data: YAML with ``yaml.safe_load`` (PyYAML, the
extra ``mlreg[mlflow]``), never anything that could run code.

A store moved from where it was written (an ``mlruns`` folder rsync'd from a cluster)
still names its artifacts by their old absolute paths: a path that is gone is looked
for under the store itself, by the longest tail of it found there.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

from .errors import NotFound, UsageError
from .formats import MissingExtra

MAX_YAML = 1 << 20  # bytes of one MLflow metadata file; larger ones are refused
DELETED_STAGE = "Deleted_Internal"


class NotAnMlflowStore(UsageError):
    """SOURCE exists, and is no MLflow store (exit 2)."""


class SourceNotFound(NotFound):
    """SOURCE does not exist (exit 3)."""


@dataclasses.dataclass
class MLmodel:
    """What an MLmodel file says about a saved model."""

    flavors: dict[str, Any]
    artifact: str | None  # the scikit-learn flavour's file, relative to the folder
    serialization: str | None  # pickle, cloudpickle or skops
    input_names: tuple[str, ...]  # the signature's named inputs; () for a tensor or no signature
    input_example: Any  # rows (or named rows) for the deploy check; None without one


@dataclasses.dataclass
class MlflowVersion:
    number: int
    created_ms: int
    user: str
    stage: str
    run_id: str
    source: str
    description: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    folder: str | None  # the MLmodel folder on this machine
    missing: str | None  # why ``folder`` is None


@dataclasses.dataclass
class MlflowModel:
    name: str
    description: str
    aliases: dict[str, int]
    versions: list[MlflowVersion]


def _yaml(path: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise MissingExtra("reading MLflow's files needs PyYAML: pip install 'mlreg[mlflow]'") from None
    with open(path, "rb") as f:
        data = f.read(MAX_YAML + 1)
    if len(data) > MAX_YAML:
        raise UsageError(f"{path} is larger than {MAX_YAML} bytes: not an MLflow metadata file")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # a safe loader: plain data only
    except yaml.YAMLError as e:
        raise UsageError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None


def _ms(value: Any) -> int:
    """A timestamp in milliseconds as MLflow writes it; 0 for anything else."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read(MAX_YAML).decode("utf-8", errors="replace")


# ------------------------------------------------------------------ MLmodel


def read_mlmodel(folder: str) -> MLmodel:
    """The MLmodel file of ``folder``.

    Raises:
        UsageError: no MLmodel file, or not one MLflow wrote.
    """
    path = os.path.join(folder, "MLmodel")
    if not os.path.isfile(path):
        raise UsageError(f"{folder} holds no MLmodel file")
    data = _yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise UsageError(f"{path} names no flavors: not an MLflow model")
    flavors = data["flavors"]
    sklearn = flavors.get("sklearn") if isinstance(flavors.get("sklearn"), dict) else None
    artifact = sklearn.get("pickled_model") if sklearn else None
    serialization = sklearn.get("serialization_format", "cloudpickle") if sklearn else None
    return MLmodel(flavors=flavors, artifact=artifact if isinstance(artifact, str) else None,
                   serialization=str(serialization) if serialization else None,
                   input_names=_input_names(data.get("signature")),
                   input_example=_input_example(folder, data.get("saved_input_example_info")))


def _input_names(signature: Any) -> tuple[str, ...]:
    """The named columns of an MLmodel signature (a JSON string of ``{"name", "type"}``)."""
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), str):
        return ()
    try:
        inputs = json.loads(signature["inputs"])
    except ValueError:
        return ()
    if not isinstance(inputs, list):
        return ()
    names = [i.get("name") for i in inputs if isinstance(i, dict)]
    return tuple(names) if names and all(isinstance(n, str) and n for n in names) else ()


def _input_example(folder: str, info: Any) -> Any:
    """The saved input example as rows (or named rows), or None."""
    if not isinstance(info, dict) or not isinstance(info.get("artifact_path"), str):
        return None
    path = os.path.join(folder, os.path.basename(info["artifact_path"]))
    try:
        example = json.loads(_text(path))
    except (OSError, ValueError):
        return None
    if isinstance(example, dict) and isinstance(example.get("columns"), list) and isinstance(example.get("data"), list):
        return [dict(zip(example["columns"], row)) for row in example["data"] if isinstance(row, list)]
    if isinstance(example, dict) and "inputs" in example:
        example = example["inputs"]
    return example if isinstance(example, list) and example else None


# ------------------------------------------------------------------ finding artifacts


def _local_path(uri: str) -> str | None:
    """The local path a ``file:`` URI or a plain path names; None for any other scheme."""
    if uri.startswith("file:"):
        return unquote(urlsplit(uri).path)
    if os.path.isabs(uri):
        return uri
    return None


def _rebased(path: str, bases: list[str]) -> str | None:
    """``path`` if it exists, else the longest tail of it (three parts at least) found
    under one of ``bases`` (a store moved since it was written), else None."""
    if os.path.exists(path):
        return path
    parts = [p for p in path.split("/") if p]
    for start in range(1, len(parts) - 2):
        for base in bases:
            candidate = os.path.join(base, *parts[start:])
            if os.path.exists(candidate):
                return candidate
    return None


# ------------------------------------------------------------------ stores


class Store:
    """An MLflow store being read: its models, and how to find a version's files."""

    bases: list[str]

    def models(self) -> Iterator[MlflowModel]:
        raise NotImplementedError

    def _folder(self, source: str, storage_location: str | None, run_artifacts: str | None) -> tuple[str | None, str | None]:
        """The MLmodel folder of a version, and why there is none."""
        tried = []
        for uri in (storage_location, source):
            if not uri or not isinstance(uri, str):  # absent, or not what MLflow writes
                continue
            if uri.startswith("runs:/") and isinstance(run_artifacts, str):
                rest = uri[len("runs:/"):].split("/", 1)
                uri = run_artifacts.rstrip("/") + "/" + (rest[1] if len(rest) > 1 else "")
            if uri.startswith("models:/m-"):  # an MLflow 3 logged model, by its ID, under the store
                found = self._logged_model(uri[len("models:/"):].split("/")[0])
                if found is not None:
                    return found, None
            path = _local_path(uri)
            if path is None:
                tried.append(uri)
                continue
            found = _rebased(os.path.normpath(path), self.bases)
            if found is not None and os.path.isfile(os.path.join(found, "MLmodel")):
                return found, None
            tried.append(path)
        where = tried[0] if tried else source
        if where and not _local_path(where) and not where.startswith("models:/"):
            return None, f"its artifacts are at {where}, not on this machine: download them, or point at a local copy"
        return None, f"its artifacts were not found (looked for {where}, and under {self.bases[0]})"


    def _logged_model(self, model_id: str) -> str | None:
        """The artifacts folder of logged model ``model_id`` (``m-...``) below the store:
        ``[EXPERIMENT/]models/ID/artifacts`` under the store or its artifact root."""
        import glob

        if "/" in model_id or model_id in (".", ".."):
            return None
        tail = os.path.join("models", glob.escape(model_id), "artifacts")
        for base in self.bases:
            for depth in ("", "*", os.path.join("*", "*")):
                for found in sorted(glob.glob(os.path.join(glob.escape(base), depth, tail))):
                    if os.path.isfile(os.path.join(found, "MLmodel")):
                        return found
        return None


class FileStore(Store):
    """MLflow's file store: ``mlruns/models/<model>/version-<n>/`` and the runs beside."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.bases = [root, os.path.dirname(root)]

    def models(self) -> Iterator[MlflowModel]:
        folder = os.path.join(self.root, "models")
        for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            meta_path = os.path.join(folder, entry, "meta.yaml")
            if os.path.isfile(meta_path):
                yield self._model(os.path.join(folder, entry), _yaml(meta_path))

    def _model(self, folder: str, meta: Any) -> MlflowModel:
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            raise UsageError(f"{folder}/meta.yaml names no model: not an MLflow registered model")
        versions = []
        for entry in os.listdir(folder):
            if entry.startswith("version-") and os.path.isfile(os.path.join(folder, entry, "meta.yaml")):
                version = self._version(os.path.join(folder, entry))
                if version is not None:
                    versions.append(version)
        aliases: dict[str, int] = {}
        alias_folder = os.path.join(folder, "aliases")
        for alias in os.listdir(alias_folder) if os.path.isdir(alias_folder) else []:
            number = _text(os.path.join(alias_folder, alias)).strip()
            if number.isdigit():
                aliases[alias] = int(number)
        kept = meta.get("aliases")  # also kept in meta.yaml: {alias: "N"}
        for alias, number in (kept.items() if isinstance(kept, dict) else ()):
            if str(number).isdigit():
                aliases.setdefault(str(alias), int(number))
        return MlflowModel(name=meta["name"], description=str(meta.get("description") or ""), aliases=aliases,
                           versions=sorted(versions, key=lambda v: v.number))

    def _version(self, folder: str) -> MlflowVersion | None:
        meta = _yaml(os.path.join(folder, "meta.yaml"))
        if not isinstance(meta, dict) or not str(meta.get("version", "")).isdigit():
            raise UsageError(f"{folder}/meta.yaml names no version number: not an MLflow model version")
        if meta.get("current_stage") == DELETED_STAGE:
            return None
        run_id = str(meta.get("run_id") or "")
        run = self._run(run_id)
        tags = _files(os.path.join(folder, "tags"))
        found, missing = self._folder(str(meta.get("source") or ""), meta.get("storage_location"),
                                      run.get("artifact_uri"))
        return MlflowVersion(
            number=int(meta["version"]), created_ms=_ms(meta.get("creation_timestamp")),
            user=str(meta.get("user_id") or run.get("user_id") or ""), stage=str(meta.get("current_stage") or "None"),
            run_id=run_id, source=str(meta.get("source") or ""), description=str(meta.get("description") or ""),
            tags=tags, params=run.get("params", {}), metrics=run.get("metrics", {}), folder=found, missing=missing)

    def _run(self, run_id: str) -> dict[str, Any]:
        """A run's user, artifact location, params and latest metrics ({} when the store lacks it)."""
        if not run_id or "/" in run_id or run_id.startswith("."):
            return {}
        for experiment in os.listdir(self.root):
            folder = os.path.join(self.root, experiment, run_id)
            if experiment == "models" or not os.path.isfile(os.path.join(folder, "meta.yaml")):
                continue
            meta = _yaml(os.path.join(folder, "meta.yaml"))
            if not isinstance(meta, dict):
                return {}
            return {"user_id": meta.get("user_id"), "artifact_uri": meta.get("artifact_uri"),
                    "params": _files(os.path.join(folder, "params")),
                    "metrics": _latest_metrics(os.path.join(folder, "metrics"))}
        return {}


def _files(folder: str) -> dict[str, str]:
    """A folder of one file per key (tags, params): key (its path below) -> text."""
    found = {}
    for here, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(here, name)
            found[os.path.relpath(path, folder).replace(os.sep, "/")] = _text(path)
    return found


def _latest_metrics(folder: str) -> dict[str, float]:
    """Each metric's latest value, as MLflow picks it: the highest (step, timestamp, value)."""
    found: dict[str, float] = {}
    for key, text in _files(folder).items():
        points = []
        for line in text.splitlines():
            fields = line.split()
            try:
                points.append((int(fields[2]) if len(fields) > 2 else 0, int(fields[0]), float(fields[1])))
            except (IndexError, ValueError):
                continue
        if points:
            found[key] = max(points)[2]
    return found


class SqliteStore(Store):
    """MLflow's database, opened read-only with the standard library's sqlite3."""

    TABLES = {"registered_models", "model_versions", "registered_model_aliases", "model_version_tags"}

    def __init__(self, path: str) -> None:
        import sqlite3

        self.path = path
        self.bases = [os.path.dirname(path), os.path.dirname(os.path.dirname(path))]
        try:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            raise NotAnMlflowStore(f"{path} is not an MLflow database ({e})") from None
        if not self.TABLES <= tables:
            raise NotAnMlflowStore(f"{path} is not an MLflow database: it has no {', '.join(sorted(self.TABLES - tables))} table")
        self.tables = tables

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}

    def models(self) -> Iterator[MlflowModel]:
        db = self.db
        has_location = "storage_location" in self._columns("model_versions")
        for name, description in db.execute("SELECT name, description FROM registered_models ORDER BY name").fetchall():
            aliases = {alias: int(version) for alias, version in db.execute(
                "SELECT alias, version FROM registered_model_aliases WHERE name = ?", (name,))}
            rows = db.execute(
                "SELECT version, creation_time, user_id, current_stage, source, run_id, description"
                + (", storage_location" if has_location else ", NULL")
                + " FROM model_versions WHERE name = ? ORDER BY version", (name,)).fetchall()
            versions = []
            for number, created, user, stage, source, run_id, text, location in rows:
                if stage == DELETED_STAGE:
                    continue
                run = self._run(run_id or "")
                tags = dict(db.execute("SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                                       (name, number)).fetchall())
                found, missing = self._folder(source or "", location, run.get("artifact_uri"))
                versions.append(MlflowVersion(
                    number=int(number), created_ms=_ms(created), user=str(user or run.get("user_id") or ""),
                    stage=str(stage or "None"), run_id=run_id or "", source=source or "", description=text or "",
                    tags={str(k): str(v) for k, v in tags.items()}, params=run.get("params", {}),
                    metrics=run.get("metrics", {}), folder=found, missing=missing))
            yield MlflowModel(name=name, description=description or "", aliases=aliases, versions=versions)

    def _run(self, run_id: str) -> dict[str, Any]:
        if not run_id or "runs" not in self.tables:
            return {}
        row = self.db.execute("SELECT user_id, artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
        if row is None:
            return {}
        params = dict(self.db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)).fetchall()) \
            if "params" in self.tables else {}
        metrics = {key: float(value) for key, value, is_nan in self.db.execute(
            "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", (run_id,)) if not is_nan} \
            if "latest_metrics" in self.tables else {}
        return {"user_id": row[0], "artifact_uri": row[1], "params": {str(k): str(v) for k, v in params.items()},
                "metrics": metrics}


class ModelFolder(Store):
    """One MLmodel folder: one model (named by ``--name``), one version."""

    def __init__(self, folder: str, name: str) -> None:
        self.folder, self.name = folder, name
        self.bases = [folder]

    def models(self) -> Iterator[MlflowModel]:
        meta = _yaml(os.path.join(self.folder, "MLmodel"))
        created = meta.get("utc_time_created") if isinstance(meta, dict) else None
        created_ms = int(os.path.getmtime(os.path.join(self.folder, "MLmodel")) * 1000)
        if isinstance(created, str):
            import datetime as dt

            try:
                created_ms = int(dt.datetime.fromisoformat(created).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
            except ValueError:
                pass
        run_id = str(meta.get("run_id") or "") if isinstance(meta, dict) else ""
        yield MlflowModel(name=self.name, description="", aliases={}, versions=[MlflowVersion(
            number=1, created_ms=created_ms, user="", stage="None", run_id=run_id, source=self.folder,
            description="", tags={}, params={}, metrics={}, folder=self.folder, missing=None)])


def open_store(source: str, name: str | None = None) -> Store:
    """The store SOURCE names: an ``mlruns`` folder, ``sqlite:///PATH``, or one MLmodel
    folder (with ``name``).

    Raises:
        SourceNotFound: SOURCE does not exist (exit 3).
        NotAnMlflowStore: it is no MLflow store (exit 2).
        UsageError: an MLmodel folder without ``name``, or ``name`` with a store.
    """
    if source.startswith("sqlite:"):
        path = source[len("sqlite:///"):] if source.startswith("sqlite:///") else ""
        if not path:
            raise UsageError(f"{source}: give the database as sqlite:///PATH (an absolute path has four slashes)")
        if not os.path.isfile(path):
            raise SourceNotFound(f"no MLflow database at {path}")
        if name is not None:
            raise UsageError("--name names the model of one MLmodel folder; a database names its own models")
        return SqliteStore(os.path.abspath(path))
    if "://" in source and not source.startswith("file://"):
        raise UsageError(f"{source}: import-mlflow reads an mlruns folder, sqlite:///PATH or an MLmodel folder "
                         "on this machine; copy a remote store here first")
    path = _local_path(source) if source.startswith("file:") else source
    path = os.path.abspath(path or source)
    if not os.path.exists(path):
        raise SourceNotFound(f"{source} does not exist")
    if os.path.isfile(os.path.join(path, "MLmodel")):
        if name is None:
            raise UsageError(f"{source} is one MLmodel folder: name the model it becomes with --name NAME")
        return ModelFolder(path, name)
    if name is not None:
        raise UsageError("--name names the model of one MLmodel folder; an mlruns folder names its own models")
    if os.path.isdir(os.path.join(path, "models")) or any(
            os.path.isfile(os.path.join(path, e, "meta.yaml")) for e in os.listdir(path) if e.isdigit()):
        return FileStore(path)
    if os.path.isdir(os.path.join(path, "mlruns")):
        raise NotAnMlflowStore(f"{source} is not an MLflow store; did you mean {os.path.join(source, 'mlruns')}?")
    raise NotAnMlflowStore(f"{source} is not an MLflow store (no models/ folder, no experiments, no MLmodel file)")
