"""``mlreg doctor`` and ``mlreg verify``: prove a registry sound, and repair what is safe.

doctor rehashes every artifact, parses every metadata file, and looks for
deploys interrupted while Deploying, staging and temporary leftovers, ID files
that point nowhere, a primary that is missing or not Active, folders that are
not versions, symlinks and files mlreg cannot read or write.

``fix=True`` repairs only what is safe, each under the model's lock where the
model's state is involved: it marks interrupted deploys Deployment Failed,
removes staging folders and temporary files older than a threshold that no
live process holds, removes ID files whose version never appeared, restores a
missing ID file, raises a lagging highest-version record, and cuts a torn last
history line. It never deletes an artifact or a version.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from . import atomic, lock, versions
from .atomic import TEMP_MARKER
from .errors import IntegrityError
from .identity import same_process_alive
from .metadata import HistoryEvent, ModelRecord, VersionRecord, now, read_toml, write_toml

DEFAULT_OLDER_THAN = 3600.0


@dataclass
class Problem:
    kind: str
    path: str
    message: str
    fixed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "message": self.message, "fixed": self.fixed}


@dataclass
class Report:
    registry: str
    problems: list[Problem] = field(default_factory=list)
    models: int = 0
    versions: int = 0
    artifacts: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong any more (every problem found was fixed)."""
        return all(p.fixed for p in self.problems)

    def add(self, kind: str, path: str, message: str) -> Problem:
        problem = Problem(kind, path, message)
        self.problems.append(problem)
        return problem

    def to_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "ok": self.ok,
                "checked": {"models": self.models, "versions": self.versions, "artifacts": self.artifacts},
                "problems": [p.to_json() for p in self.problems]}


@dataclass(frozen=True)
class Verified:
    model: str
    version: str
    version_id: str
    ok: bool
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "version_id": self.version_id,
                "ok": self.ok, "problem": self.problem}


def verify_artifact(path: str, record: VersionRecord) -> str:
    """'' when the artifact at ``path`` has its recorded size and sha256, else the problem."""
    from .predict import open_verified

    try:
        open_verified(path, record.size, record.sha256).close()
    except IntegrityError as e:
        return str(e)
    return ""


class Doctor:
    """One examination of a registry (``Registry.doctor`` makes and runs it)."""

    def __init__(self, registry: Any, fix: bool, older_than: float) -> None:
        self.reg = registry
        self.fix = fix
        self.older_than = older_than
        self.report = Report(registry.path)
        self.now = time.time()

    def run(self) -> Report:
        self._walk_tree()
        self._staging()
        for folder in self.reg._model_folders():
            self._model(folder)
        self._ids()
        return self.report

    def _old(self, path: str) -> bool:
        try:
            return self.now - os.lstat(path).st_mtime > self.older_than
        except FileNotFoundError:
            return False

    # ------------------------------------------------------------- the tree

    def _walk_tree(self) -> None:
        for folder, dirs, files in os.walk(self.reg.path):
            for name in dirs + files:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    self.report.add("symlink", path, "a symlink inside the registry; mlreg never follows it: "
                                    "replace it with the real file or folder")
                elif name.startswith(".") and TEMP_MARKER in name:
                    self._temp_file(path)
                elif stat.S_ISDIR(info.st_mode):
                    # Writing is not required: a read-only registry serves readers well.
                    if not os.access(path, os.R_OK | os.X_OK):
                        self.report.add("permissions", path, "a folder mlreg cannot read or enter")
                elif not stat.S_ISREG(info.st_mode):
                    self.report.add("stray", path, "neither a file nor a folder")
                elif not os.access(path, os.R_OK):
                    self.report.add("permissions", path, "a file mlreg cannot read")

    def _temp_file(self, path: str) -> None:
        if not self._old(path):
            return  # probably a write in progress
        problem = self.report.add("temp-file", path, "a temporary file left by an interrupted write")
        if self.fix:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            problem.fixed = True

    def _staging(self) -> None:
        root = os.path.join(self.reg.path, "staging")
        try:
            entries = sorted(os.listdir(root))
        except FileNotFoundError:
            return
        for entry in entries:
            path = os.path.join(root, entry)
            if os.path.islink(path) or lock.is_held(os.path.join(path, ".deploy.lock")) or not self._old(path):
                continue  # a symlink is reported by the walk; a held or recent one is a deploy in progress
            problem = self.report.add("staging-leftover", path, "the staging folder of a deploy that ended before publishing")
            if self.fix:
                shutil.rmtree(path, ignore_errors=True)
                problem.fixed = not os.path.exists(path)

    # --------------------------------------------------------------- models

    def _model(self, folder: str) -> None:
        reg = self.reg
        model_dir = os.path.join(reg.path, "models", folder)
        if os.path.islink(model_dir) or not os.path.isdir(model_dir):
            return
        path = os.path.join(model_dir, "model.toml")
        try:
            record = ModelRecord.from_toml(read_toml(path), path)
        except FileNotFoundError:
            self.report.add("incomplete-model", model_dir,
                            "a model folder without model.toml (a first deploy that ended early); remove it by hand if unused")
            return
        except IntegrityError as e:
            self.report.add("metadata", path, str(e))
            return
        self.report.models += 1
        found: dict[str, VersionRecord] = {}
        for vfolder in sorted(_entries(os.path.join(model_dir, "versions"))):
            record_v = self._version(record, vfolder)
            if record_v is not None:
                found[vfolder] = record_v
        self._primary(record, found)
        self._highest(record, found)
        self._history(record)

    def _version(self, model: ModelRecord, vfolder: str) -> VersionRecord | None:
        vdir = os.path.join(self.reg.path, "models", model.folder, "versions", vfolder)
        if os.path.islink(vdir):
            return None
        if not versions.is_version(vfolder) or not os.path.isdir(vdir):
            self.report.add("stray", vdir, "not a version folder (its name is not a version number)")
            return None
        path = os.path.join(vdir, "version.toml")
        try:
            record = VersionRecord.from_toml(read_toml(path), path)
        except FileNotFoundError:
            self.report.add("metadata", path, "a version folder without version.toml")
            return None
        except IntegrityError as e:
            self.report.add("metadata", path, str(e))
            return None
        self.report.versions += 1
        if versions.is_version(record.version) and versions.folder_for(record.version) != vfolder:
            self.report.add("metadata", path, f"says version {record.version} but lies in folder {vfolder}")
        if record.status == "deploying" and not lock.is_held(os.path.join(vdir, ".deploy.lock")):
            record = self._interrupted(model, vdir, record)
        if record.status != "deploying":
            self.report.artifacts += 1
            problem = verify_artifact(os.path.join(vdir, record.artifact), record)
            if problem:
                self.report.add("artifact", os.path.join(vdir, record.artifact), problem)
        self._id_of(model, vfolder, record)
        return record

    def _interrupted(self, model: ModelRecord, vdir: str, record: VersionRecord) -> VersionRecord:
        path = os.path.join(vdir, "version.toml")
        problem = self.report.add("interrupted", path, "a deploy whose process ended while Deploying; "
                                  "it reads as Deployment Failed (interrupted)")
        if not self.fix:
            return record.replace(status="failed")
        from .store import INTERRUPTED

        if same_process_alive(record.process):
            # Its lock is free yet its process runs: locks do not work here (see the README
            # on network filesystems). Marking a live deploy failed would be wrong.
            problem.message = ("a deploy reads as interrupted, but its process (pid "
                               f"{record.process.get('pid')}) still runs: locks do not seem to work on this filesystem")
            return record.replace(status="failed")
        with self.reg._lock(model.folder):
            current = VersionRecord.from_toml(read_toml(path), path)
            if current.status != "deploying" or lock.is_held(os.path.join(vdir, ".deploy.lock")):
                return current  # it finished (or came back) meanwhile
            failed = current.replace(status="failed", finished_at=now(), reason=INTERRUPTED)
            write_toml(path, failed.to_toml())
            self.reg._history_locked(model.folder, HistoryEvent(
                at=now(), by=_who(), event="deploy", version=failed.version, version_id=failed.version_id,
                status="failed", detail=f"{INTERRUPTED} (recorded by doctor --fix)"))
        problem.fixed = True
        return failed

    def _id_of(self, model: ModelRecord, vfolder: str, record: VersionRecord) -> None:
        path = os.path.join(self.reg.path, "ids", record.version_id)
        if not versions.is_version_id(record.version_id):
            self.report.add("metadata", path, f"version {record.version} has an invalid ID {record.version_id!r}")
            return
        try:
            owner = self.reg._owner_of_id(record.version_id)
        except IntegrityError as e:
            self.report.add("id-index", path, str(e))
            return
        if owner == (model.folder, vfolder):
            return
        if owner is not None:
            self.report.add("id-index", path, f"ID {record.version_id} of {model.folder} {vfolder} is also claimed by {owner[0]} {owner[1]}")
            return
        problem = self.report.add("id-index", path, f"the ID file of {model.folder} {vfolder} is missing")
        if self.fix:
            atomic.make_dirs(os.path.dirname(path))
            problem.fixed = atomic.create_exclusive(path, f"{model.folder}/{vfolder}\n")

    def _primary(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        if model.primary is None:
            return
        path = os.path.join(self.reg.path, "models", model.folder, "model.toml")
        try:
            vfolder = versions.folder_for(model.primary)
        except Exception:
            self.report.add("primary", path, f"the primary {model.primary!r} is not a version")
            return
        chosen = found.get(vfolder)
        if chosen is None:
            self.report.add("primary", path, f"the primary {model.primary} names no readable version; promote another")
        elif chosen.status != "active":
            self.report.add("primary", path, f"the primary {model.primary} is not Active ({chosen.status}); promote another")

    def _highest(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        numbers = [versions.parse(v) for v in found]
        if not numbers:
            return
        top = max(numbers)
        if model.highest_version is not None and versions.parse(model.highest_version) >= top:
            return
        path = os.path.join(self.reg.path, "models", model.folder, "model.toml")
        problem = self.report.add("highest-version", path, f"records {model.highest_version} as the highest version, "
                                  f"below {top}: a next deploy would skip to a free number anyway")
        if self.fix:
            with self.reg._lock(model.folder):
                current = self.reg._read_model(model.folder)
                known = versions.parse(current.highest_version) if current.highest_version else None
                if known is None or known < top:
                    self.reg._write_model_locked(current.replace(highest_version=str(top)))
            problem.fixed = True

    def _history(self, model: ModelRecord) -> None:
        path = os.path.join(self.reg.path, "models", model.folder, "history.jsonl")
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            size = 0
        if size and not self._torn(path, size):
            self._primary_in_history(model, path)
            return
        if not size:
            self._primary_in_history(model, path)
            return
        problem = self.report.add("history", path, "a torn last line (a writer killed mid-append); readers skip it")
        if self.fix:
            with self.reg._lock(model.folder):
                with open(path, "rb+") as f:
                    data = f.read()
                    if not data.endswith(b"\n"):
                        f.truncate(data.rfind(b"\n") + 1)
                        os.fsync(f.fileno())
            problem.fixed = True
        self._primary_in_history(model, path)

    @staticmethod
    def _torn(path: str, size: int) -> bool:
        with open(path, "rb") as f:
            f.seek(size - 1)
            return f.read(1) != b"\n"

    def _primary_in_history(self, model: ModelRecord, path: str) -> None:
        """The last change of primary in the history must name the primary of model.toml
        (model.toml is written first: a crash can only lose the history line)."""
        last = next((e for e in reversed(self.reg.history(model.folder)) if e.event == "primary"), None)
        recorded = last.to if last is not None else None
        if versions.same(recorded, model.primary):
            return
        problem = self.report.add("history", path, f"the primary is {model.primary or 'none'} but the history's "
                                  f"last change of primary says {recorded or 'none'} (its line was lost in a crash)")
        if self.fix:
            with self.reg._lock(model.folder):
                current = self.reg._read_model(model.folder)
                again = next((e for e in reversed(self.reg.history(model.folder)) if e.event == "primary"), None)
                if not versions.same(again.to if again else None, current.primary):
                    self.reg._history_locked(model.folder, HistoryEvent(
                        at=now(), by=_who(), event="primary", version=current.primary,
                        from_=again.to if again else None, to=current.primary,
                        detail="recorded by doctor --fix: the change's own line was lost in a crash"))
            problem.fixed = True

    # ------------------------------------------------------------------ ids

    def _ids(self) -> None:
        root = os.path.join(self.reg.path, "ids")
        for entry in sorted(_entries(root)):
            path = os.path.join(root, entry)
            if os.path.islink(path) or TEMP_MARKER in entry:
                continue  # reported by the walk
            if not versions.is_version_id(entry):
                self.report.add("stray", path, "not a version ID file")
                continue
            try:
                owner = self.reg._owner_of_id(entry)
            except IntegrityError as e:
                self.report.add("id-index", path, str(e))
                continue
            if owner is None:
                continue
            folder, vfolder = owner
            vdir = os.path.join(self.reg.path, "models", folder, "versions", vfolder)
            if self._id_matches(vdir, entry) or not self._old(path):
                continue  # a recent one was allocated by a deploy that is publishing right now
            problem = self.report.add("dangling-id", path, f"ID {entry} names {folder} {vfolder}, which does not carry it "
                                      "(a deploy that ended before publishing)")
            if self.fix and os.path.isdir(os.path.join(self.reg.path, "models", folder)):
                with self.reg._lock(folder):
                    if not self._id_matches(vdir, entry):
                        os.unlink(path)
                        problem.fixed = True

    @staticmethod
    def _id_matches(vdir: str, version_id: str) -> bool:
        """Whether the version in ``vdir`` exists and carries ``version_id`` (unreadable: assume so)."""
        path = os.path.join(vdir, "version.toml")
        try:
            return VersionRecord.from_toml(read_toml(path), path).version_id == version_id
        except FileNotFoundError:
            return False
        except IntegrityError:
            return True  # reported as a metadata problem; never delete on a guess


def _entries(folder: str) -> list[str]:
    try:
        return [e for e in os.listdir(folder) if not e.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _who() -> str:
    from .identity import user_at_host

    return user_at_host()
