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

import contextlib
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import atomic, lock, versions
from .atomic import TEMP_MARKER
from .errors import IntegrityError, InvalidVersion
from .identity import same_process_alive
from . import layout
if TYPE_CHECKING:
    from .repo import Repository

from .layout import (
    CODE_DIR,
    DEPLOY_LOCK,
    HISTORY_FILE,
    IDS,
    MARKER,
    MODEL_FILE,
    OUTCOME_FILE,
    STAGING,
    VERSION_FILE,
    VERSIONS,
)
from .metadata import (
    INTERRUPTED,
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    check_home,
    committed_outcome,
    now,
    read_toml,
    write_toml,
)

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


def verify_artifact(vdir: str, record: VersionRecord) -> str:
    """'' when the artifact in the version folder ``vdir`` has its recorded size and
    sha256, and its code (``deploy --code``) its recorded digest; else the problem."""
    from .predict import open_verified
    from .usercode import verify

    try:
        open_verified(os.path.join(vdir, record.artifact), record.size, record.sha256).close()
        verify(os.path.join(vdir, CODE_DIR), record.code_sha256)
    except IntegrityError as e:
        return str(e)
    return ""


class Doctor:
    """One examination of a registry (``Registry.doctor`` makes and runs it), through
    the repository, as every operation works."""

    def __init__(self, repo: Repository, fix: bool, older_than: float) -> None:
        self.repo = repo
        self.fix = fix
        self.older_than = older_than
        self.report = Report(repo.path)
        self.now = time.time()

    def run(self) -> Report:
        self._walk_tree()
        self._staging()
        for folder in self.repo.model_folders():
            self._model(folder)
        self._ids()
        return self.report

    def _held(self, path: str) -> bool:
        """Whether a deploy lock is held; an unsafe one (reported by the walk) counts as held,
        so that nothing is repaired on its word."""
        try:
            return lock.is_held(path)
        except IntegrityError:
            return True

    def _old(self, path: str) -> bool:
        try:
            return self.now - os.lstat(path).st_mtime > self.older_than
        except FileNotFoundError:
            return False

    # ------------------------------------------------------------- the tree

    def _walk_tree(self) -> None:
        for folder, dirs, files in os.walk(self.repo.path):
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
                    self.report.add("unsafe-file", path, "neither a file nor a folder (a FIFO, a device or a "
                                    "socket); every command refuses it: remove it")
                elif info.st_nlink > 1 and not self._linked_on_purpose(folder, name):
                    self.report.add("unsafe-file", path, f"a hard link ({info.st_nlink} names for one file); "
                                    "every command refuses it: replace it with a copy")
                elif not os.access(path, os.R_OK):
                    self.report.add("permissions", path, "a file mlreg cannot read")

    def _linked_on_purpose(self, folder: str, name: str) -> bool:
        """ID files and the marker are made by ``link``: two names for a moment."""
        return folder == os.path.join(self.repo.path, IDS) or (folder == self.repo.path and name == MARKER)

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
        root = os.path.join(self.repo.path, STAGING)
        try:
            entries = sorted(os.listdir(root))
        except FileNotFoundError:
            return
        for entry in entries:
            path = os.path.join(root, entry)
            if os.path.islink(path) or self._held(os.path.join(path, DEPLOY_LOCK)) or not self._old(path):
                continue  # a symlink is reported by the walk; a held or recent one is a deploy in progress
            problem = self.report.add("staging-leftover", path, "the staging folder of a deploy that ended before publishing")
            if self.fix:
                shutil.rmtree(path, ignore_errors=True)
                problem.fixed = not os.path.exists(path)

    # --------------------------------------------------------------- models

    def _model(self, folder: str) -> None:
        repo = self.repo
        model_dir = layout.model_dir(repo.path, folder)
        if os.path.islink(model_dir) or not os.path.isdir(model_dir):
            return
        path = os.path.join(model_dir, MODEL_FILE)
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
        for vfolder in sorted(_entries(os.path.join(model_dir, VERSIONS))):
            record_v = self._version(record, vfolder)
            if record_v is not None:
                found[vfolder] = record_v
        self._primary(record, found)
        self._highest(record, found)
        self._history(record)
        self._outcomes(record, found)

    def _version(self, model: ModelRecord, vfolder: str) -> VersionRecord | None:
        vdir = layout.version_dir(self.repo.path, model.folder, vfolder)
        if os.path.islink(vdir):
            return None
        if not versions.is_version(vfolder) or not os.path.isdir(vdir):
            self.report.add("stray", vdir, "not a version folder (its name is not a version number)")
            return None
        path = os.path.join(vdir, VERSION_FILE)
        try:
            record = VersionRecord.from_toml(read_toml(path), path)
        except FileNotFoundError:
            self.report.add("metadata", path, "a version folder without version.toml")
            return None
        except IntegrityError as e:
            self.report.add("metadata", path, str(e))
            return None
        self.report.versions += 1
        try:
            check_home(record, model.folder, vfolder, path)  # what every reader checks
        except IntegrityError as e:
            self.report.add("metadata", path, str(e))
            return None
        if record.status == "deploying" and not self._held(os.path.join(vdir, DEPLOY_LOCK)):
            record = self._interrupted(model, vdir, record)
        elif record.status != "deploying" and os.path.lexists(os.path.join(vdir, OUTCOME_FILE)):
            self._leftover_outcome(vdir)
        if record.status != "deploying":
            self.report.artifacts += 1
            problem = verify_artifact(vdir, record)
            if problem:
                self.report.add("artifact", os.path.join(vdir, record.artifact), problem)
        self._id_of(model, vfolder, record)
        return record

    def _leftover_outcome(self, vdir: str) -> None:
        path = os.path.join(vdir, OUTCOME_FILE)
        problem = self.report.add("leftover", path, "the staged outcome of a deploy that has finished")
        if self.fix:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            problem.fixed = True

    def _interrupted(self, model: ModelRecord, vdir: str, record: VersionRecord) -> VersionRecord:
        path = os.path.join(vdir, VERSION_FILE)
        outcome_path = os.path.join(vdir, OUTCOME_FILE)
        if versions.same(model.primary, record.version):
            return self._unfinished_primary(model, vdir, record)
        problem = self.report.add("interrupted", path, "a deploy whose process ended while Deploying; "
                                  "it reads as Deployment Failed (interrupted)")
        if not self.fix:
            return record.replace(status="failed")
        if same_process_alive(record.process):
            # Its lock is free yet its process runs: locks do not work here (see the README
            # on network filesystems). Marking a live deploy failed would be wrong.
            problem.message = ("a deploy reads as interrupted, but its process (pid "
                               f"{record.process.get('pid')}) still runs: locks do not seem to work on this filesystem")
            return record.replace(status="failed")
        with self.repo.lock(model.folder):
            current = VersionRecord.from_toml(read_toml(path), path)
            if current.status != "deploying" or lock.is_held(os.path.join(vdir, DEPLOY_LOCK)):
                return current  # it finished (or came back) meanwhile
            if versions.same(self.repo.read_model(model.folder).primary, current.version):
                return current  # it became primary meanwhile: the next run completes it
            failed = current.replace(status="failed", finished_at=now(), reason=INTERRUPTED)
            write_toml(path, failed.to_toml())
            with contextlib.suppress(FileNotFoundError):
                os.unlink(outcome_path)
            self.repo.append_history(model.folder, HistoryEvent(
                at=now(), by=_who(), event="deploy", version=failed.version, version_id=failed.version_id,
                status="failed", detail=f"{INTERRUPTED} (recorded by doctor --fix)"))
            self._log_outcome(vdir, f"Deployment Failed ({INTERRUPTED}; recorded by doctor --fix)")
        problem.fixed = True
        return failed

    def _unfinished_primary(self, model: ModelRecord, vdir: str, record: VersionRecord) -> VersionRecord:
        """A deploy killed after it became the primary, before its outcome replaced
        version.toml: it passed its check, so it is Active; complete its record."""
        path = os.path.join(vdir, VERSION_FILE)
        outcome = committed_outcome(vdir, model.folder, os.path.basename(vdir), record)
        if outcome.status != "active":
            self.report.add("primary", path, f"the primary {record.version} never finished its deploy and has no "
                            "outcome to complete it with; promote another version")
            return record.replace(status="failed")
        problem = self.report.add("interrupted", path, "a deploy killed after it became the primary, before its "
                                  "outcome was recorded; it reads as Active from outcome.toml")
        if self.fix and not self._held(os.path.join(vdir, DEPLOY_LOCK)):
            with self.repo.lock(model.folder):
                if read_toml(path).get("status") == "deploying":
                    os.replace(os.path.join(vdir, OUTCOME_FILE), path)
            problem.fixed = True
        return outcome

    def _outcomes(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        """Every finished deploy has its outcome in the history and as its log's last line
        (a kill between the renames and those lines can lose them)."""
        from .deploylog import LOG_NAME, read_lines

        history_path = layout.model_file(self.repo.path, model.folder, HISTORY_FILE)
        try:
            events = self.repo.read_history(model.folder)
        except IntegrityError:
            return  # reported by the walk
        recorded = {e.version_id for e in events if e.event == "deploy" and e.status in ("active", "failed")}
        for vfolder, record in sorted(found.items()):
            if record.status == "deploying":
                continue
            vdir = layout.version_dir(self.repo.path, model.folder, vfolder)
            if record.version_id not in recorded:
                problem = self.report.add("history", history_path, f"no deploy outcome of {record.version} "
                                          "(its line was lost in a crash)")
                if self.fix:
                    with self.repo.lock(model.folder):
                        self.repo.append_history(model.folder, HistoryEvent(
                            at=now(), by=record.deployed_by, event="deploy", version=record.version,
                            version_id=record.version_id, status=record.status,
                            detail=f"{record.reason or 'Active'} (recorded by doctor --fix: the line was lost in a crash)"))
                    problem.fixed = True
            log_path = os.path.join(vdir, LOG_NAME)
            try:
                lines = read_lines(log_path)
            except FileNotFoundError:
                lines = []
            except (OSError, ValueError):
                continue  # reported by the walk
            if not any(_is_outcome(line) for line in lines[-50:]):
                problem = self.report.add("deploy-log", log_path, f"the deploy log of {record.version} has no "
                                          "outcome (its last line was lost in a crash)")
                if self.fix:
                    label = "Active" if record.status == "active" else "Deployment Failed"
                    self._log_outcome(vdir, f"{label} (recorded by doctor --fix: the line was lost in a crash)")
                    problem.fixed = True

    @staticmethod
    def _log_outcome(vdir: str, text: str) -> None:
        from .deploylog import LOG_NAME

        atomic.append_line(os.path.join(vdir, LOG_NAME), f"{now()}  {text}")

    def _id_of(self, model: ModelRecord, vfolder: str, record: VersionRecord) -> None:
        path = layout.id_file(self.repo.path, record.version_id)
        if not versions.is_version_id(record.version_id):
            self.report.add("metadata", path, f"version {record.version} has an invalid ID {record.version_id!r}")
            return
        try:
            owner = self.repo.owner_of_id(record.version_id)
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
        path = layout.model_file(self.repo.path, model.folder, MODEL_FILE)
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
        path = layout.model_file(self.repo.path, model.folder, MODEL_FILE)
        numbers = [versions.parse(v) for v in found]
        top = max(numbers) if numbers else None
        try:
            known = versions.parse(model.highest_version) if model.highest_version else None
        except InvalidVersion as e:
            # No version can have had it (it could never be a folder), so going back to
            # the highest that exists reuses nothing.
            problem = self.report.add("highest-version", path, f"the recorded highest version is unusable ({e}); "
                                      "every deploy of the model fails until it is repaired")
            known = None
        else:
            if top is None or (known is not None and known >= top):
                return
            problem = self.report.add("highest-version", path, f"records {model.highest_version} as the highest "
                                      f"version, below {top}: a next deploy would skip to a free number anyway")
        if self.fix:
            from .repo import Change, model_toml

            def prepare(seen: Any) -> Change:
                current = seen.model
                if current is None or current.highest_version != model.highest_version:
                    return Change()  # changed meanwhile: nothing to repair on this reading
                repaired = current.replace(highest_version=None if top is None else str(top))
                return Change(files=[(path, model_toml(repaired))])

            self.repo.update(model.folder, prepare)
            problem.fixed = True

    def _history(self, model: ModelRecord) -> None:
        path = layout.model_file(self.repo.path, model.folder, HISTORY_FILE)
        try:
            fd = atomic.open_regular(path)
        except FileNotFoundError:
            return self._primary_in_history(model, path)
        except atomic.UnsafeFile:
            return  # reported by the walk; never read or written through
        try:
            size = os.fstat(fd).st_size
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        finally:
            os.close(fd)
        if torn:
            problem = self.report.add("history", path, "a torn last line (a writer killed mid-append); readers skip it")
            if self.fix:
                with self.repo.lock(model.folder):
                    fd = atomic.open_regular(path, os.O_RDWR)
                    try:
                        if atomic.cut_torn_line(fd):
                            os.fsync(fd)
                    finally:
                        os.close(fd)
                problem.fixed = True
        self._primary_in_history(model, path)

    def _primary_in_history(self, model: ModelRecord, path: str) -> None:
        """The last change of primary in the history must name the primary of model.toml
        (model.toml is written first: a crash can only lose the history line)."""
        try:
            last = next((e for e in reversed(self.repo.read_history(model.folder)) if e.event == "primary"), None)
        except IntegrityError:
            return  # reported by the walk
        recorded = last.to if last is not None else None
        if versions.same(recorded, model.primary):
            return
        problem = self.report.add("history", path, f"the primary is {model.primary or 'none'} but the history's "
                                  f"last change of primary says {recorded or 'none'} (its line was lost in a crash)")
        if self.fix:
            with self.repo.lock(model.folder):
                current = self.repo.read_model(model.folder)
                again = next((e for e in reversed(self.repo.read_history(model.folder)) if e.event == "primary"), None)
                if not versions.same(again.to if again else None, current.primary):
                    self.repo.append_history(model.folder, HistoryEvent(
                        at=now(), by=_who(), event="primary", version=current.primary,
                        from_=again.to if again else None, to=current.primary,
                        detail="recorded by doctor --fix: the change's own line was lost in a crash"))
            problem.fixed = True

    # ------------------------------------------------------------------ ids

    def _ids(self) -> None:
        root = os.path.join(self.repo.path, IDS)
        for entry in sorted(_entries(root)):
            path = os.path.join(root, entry)
            if os.path.islink(path) or TEMP_MARKER in entry:
                continue  # reported by the walk
            if not versions.is_version_id(entry):
                self.report.add("stray", path, "not a version ID file")
                continue
            try:
                owner = self.repo.owner_of_id(entry)
            except IntegrityError as e:
                self.report.add("id-index", path, str(e))
                continue
            if owner is None:
                continue
            folder, vfolder = owner
            vdir = layout.version_dir(self.repo.path, folder, vfolder)
            if self._id_matches(vdir, entry) or not self._old(path):
                continue  # a recent one was allocated by a deploy that is publishing right now
            problem = self.report.add("dangling-id", path, f"ID {entry} names {folder} {vfolder}, which does not carry it "
                                      "(a deploy that ended before publishing)")
            if self.fix and os.path.isdir(layout.model_dir(self.repo.path, folder)):
                with self.repo.lock(folder):
                    if not self._id_matches(vdir, entry):
                        os.unlink(path)
                        problem.fixed = True

    @staticmethod
    def _id_matches(vdir: str, version_id: str) -> bool:
        """Whether the version in ``vdir`` exists and carries ``version_id`` (unreadable: assume so)."""
        path = os.path.join(vdir, VERSION_FILE)
        try:
            return VersionRecord.from_toml(read_toml(path), path).version_id == version_id
        except FileNotFoundError:
            return False
        except IntegrityError:
            return True  # reported as a metadata problem; never delete on a guess


def _is_outcome(line: str) -> bool:
    """Whether a deploy-log line records a deploy's outcome."""
    text = line.partition("  ")[2]
    return text.startswith(("Active", "Deployment Failed"))


def _entries(folder: str) -> list[str]:
    try:
        return [e for e in os.listdir(folder) if not e.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _who() -> str:
    from .identity import user_at_host

    return user_at_host()
