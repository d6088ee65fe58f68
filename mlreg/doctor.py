"""``mlreg doctor`` and ``mlreg verify``: prove a registry sound, and repair what is safe.

doctor rehashes every artifact, parses every metadata file, and looks for
deploys interrupted while Deploying, staging and temporary leftovers, ID files
that point nowhere, a primary that is missing or not Active, folders that are
not versions, symlinks and files mlreg cannot read or write.

``fix=True`` repairs only what is safe, each by compare-and-swap where the
model's state is involved: it marks interrupted deploys Deployment Failed,
removes staging folders and temporary files older than a threshold that no
live process holds, removes ID files whose version never appeared, restores a
missing ID file, raises a lagging highest-version record, and cuts a torn last
history line. It never deletes an artifact or a version.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import integrity, versions
from .atomic import TEMP_MARKER
from .errors import IntegrityError, InvalidVersion
from .identity import same_process_alive
from .layout import (
    DEPLOY_LOCK,
    deleted_key,
    HISTORY_FILE,
    IDS,
    LOG_FILE,
    MARKER,
    MODEL_FILE,
    OUTCOME_FILE,
    STAGING,
    VERSION_FILE,
    history_key,
    id_key,
    model_key,
    staging_key,
    version_key,
    versions_key,
)
from .metadata import (
    INTERRUPTED,
    STATUS_LABELS,
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    now,
)
from .ops.deploy import complete_interrupted
from .storage.base import CREATE, Precondition

if TYPE_CHECKING:
    from .repo import Repository

DEFAULT_OLDER_THAN = 3600.0


@dataclass
class Problem:
    kind: str
    path: str
    message: str
    fixed: bool = False

    def to_json(self) -> dict[str, Any]:
        from .views import problem

        return problem(self)


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
        from .views import report

        return report(self)


@dataclass(frozen=True)
class Verified:
    model: str
    version: str
    version_id: str
    ok: bool
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        from .views import verified

        return verified(self)


class Doctor:
    """One examination of a registry (``Registry.doctor`` makes and runs it), through
    the repository, as every operation works. A registry in a folder is also
    walked for what only a filesystem can hold (links, FIFOs, permissions)."""

    def __init__(self, repo: Repository, fix: bool, older_than: float) -> None:
        self.repo = repo
        self.storage = repo.storage
        self.root: str | None = repo.storage.folder  # a folder on this machine, or None
        self.fix = fix
        self.older_than = older_than
        self.report = Report(repo.path)
        self.now = time.time()

    def run(self) -> Report:
        if self.root is not None:
            self._walk_tree(self.root)
        self._staging()
        for folder in self.repo.model_folders():
            self._model(folder)
        self._ids()
        return self.report

    def where(self, key: str) -> str:
        return self.repo.where(key)

    def _alive(self, key: str) -> bool:
        """Whether a deploy's lease is held; an unsafe one (reported by the walk) counts
        as held, so that nothing is repaired on its word."""
        try:
            return self.storage.alive(key)
        except (IntegrityError, OSError):
            return True

    def _old(self, key: str) -> bool:
        age = self.storage.age(key)
        return age is not None and age > self.older_than

    def _link(self, key: str) -> bool:
        """Whether ``key`` is a symlink in a folder registry (the walk reports it)."""
        return self.root is not None and os.path.islink(os.path.join(self.root, *key.split("/")))

    # ------------------------------------------------------------- the tree

    def _walk_tree(self, root: str) -> None:
        for folder, dirs, files in os.walk(root):
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
                elif info.st_nlink > 1 and not self._linked_on_purpose(root, folder, name):
                    self.report.add("unsafe-file", path, f"a hard link ({info.st_nlink} names for one file); "
                                    "every command refuses it: replace it with a copy")
                elif not os.access(path, os.R_OK):
                    self.report.add("permissions", path, "a file mlreg cannot read")

    @staticmethod
    def _linked_on_purpose(root: str, folder: str, name: str) -> bool:
        """ID files and the marker are made by ``link``: two names for a moment."""
        return folder == os.path.join(root, IDS) or (folder == root and name == MARKER)

    def _temp_file(self, path: str) -> None:
        try:
            if self.now - os.lstat(path).st_mtime <= self.older_than:
                return  # probably a write in progress
        except FileNotFoundError:
            return
        problem = self.report.add("temp-file", path, "a temporary file left by an interrupted write")
        if self.fix:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            problem.fixed = True

    def _staging(self) -> None:
        for token in sorted(self._children(STAGING)):
            key = staging_key(token)
            if self._link(key) or self._alive(staging_key(token, DEPLOY_LOCK)) or not self._old(key):
                continue  # a symlink is reported by the walk; a held or recent one is a deploy in progress
            problem = self.report.add("staging-leftover", self.where(key),
                                      "the staging folder of a deploy that ended before publishing")
            if self.fix:
                self.storage.delete_folder(key)
                problem.fixed = not self.storage.exists(key)

    def _children(self, prefix: str) -> list[str]:
        try:
            return [e for e in self.storage.children(prefix) if not e.startswith(".")]
        except OSError:
            return []  # reported by the walk

    # --------------------------------------------------------------- models

    def _model(self, folder: str) -> None:
        repo = self.repo
        if self._link(model_key(folder)):
            return
        try:
            record = repo.read_model(folder)
        except (FileNotFoundError, NotADirectoryError):
            if self.storage.exists(model_key(folder)) and not (self.root and os.path.isfile(
                    os.path.join(self.root, *model_key(folder).split("/")))):
                self._incomplete_model(folder)
            return
        except IntegrityError as e:
            self.report.add("metadata", self.where(model_key(folder, MODEL_FILE)), str(e))
            return
        if record.deleting_model is not None:
            return self._interrupted_model_delete(record)
        self.report.models += 1
        if record.deleting:
            record = self._interrupted_deletes(record)
        found: dict[str, VersionRecord] = {}
        for vfolder in sorted(self._children(versions_key(folder))):
            if record.is_deleting(vfolder):
                continue  # reported above: its delete began
            record_v = self._version(record, vfolder)
            if record_v is not None:
                found[vfolder] = record_v
        self._primary(record, found)
        self._highest(record, found)
        self._history(record)
        self._deletes_in_history(record)
        self._outcomes(record, found)
        self._listing_cache(record)

    # ------------------------------------------------------------ deletions

    def _interrupted_model_delete(self, model: ModelRecord) -> None:
        key = model_key(model.folder, MODEL_FILE)
        if not self._old(key):
            return  # a delete in progress
        problem = self.report.add("interrupted-delete", self.where(model_key(model.folder)),
                                  f"the delete of the model {model.name!r} began ({model.deleting_model}) and "
                                  "did not finish; readers see no model")
        if self.fix:
            from .ops.delete import finish_model_delete

            finish_model_delete(self.repo, model.folder)
            problem.fixed = not self.storage.exists(key)

    def _interrupted_deletes(self, model: ModelRecord) -> ModelRecord:
        """Versions listed under ``deleting`` in model.toml: deletes cut short (readers
        already see them gone); ``--fix`` completes them."""
        key = model_key(model.folder, MODEL_FILE)
        if not self._old(key):
            return model  # probably being deleted right now
        numbers = list(model.deleting)
        problem = self.report.add("interrupted-delete", self.where(key),
                                  f"the delete of {', '.join(numbers)} began and did not finish; "
                                  "readers see no such version")
        if self.fix:
            from .ops.delete import finish_delete

            finish_delete(self.repo, model.folder, numbers,
                          detail="completed by doctor --fix: the delete was interrupted")
            problem.fixed = True
            return self.repo.read_model(model.folder)
        return model

    def _deletes_in_history(self, model: ModelRecord) -> None:
        """Every tombstone's delete is in the history (a crash can lose its event)."""
        tombstones = [n[:-len(".toml")] for n in self._children(deleted_key(model.folder))
                      if n.endswith(".toml") and versions.is_version(n[:-len(".toml")])]
        if not tombstones:
            return
        try:
            recorded = {versions.folder_of(e.version or "") for e in self.repo.history_of(model.folder)
                        if e.event == "delete"}
        except IntegrityError:
            return  # reported by the walk
        lost = [v for v in tombstones if versions.folder_of(v) not in recorded]
        if not lost:
            return
        problem = self.report.add("history", self.where(history_key(model.folder)),
                                  f"the deletes of {', '.join(sorted(lost))} are not in the history "
                                  "(their events were lost in a crash)")
        if self.fix:
            self.repo.record(model.folder, [HistoryEvent(
                at=now(), by=_who(), event="delete", version=v, from_=v,
                detail="recorded by doctor --fix: the delete's own event was lost in a crash") for v in sorted(lost)],
                strict=True)
            problem.fixed = True

    def _version(self, model: ModelRecord, vfolder: str) -> VersionRecord | None:
        folder = model.folder
        vkey = version_key(folder, vfolder)
        if self._link(vkey):
            return None
        is_file = self.root is not None and os.path.isfile(os.path.join(self.root, *vkey.split("/")))
        if not versions.is_version(vfolder) or is_file:
            self.report.add("stray", self.where(vkey), "not a version folder (its name is not a version number)")
            return None
        key = version_key(folder, vfolder, VERSION_FILE)
        try:
            record = self.repo.version_file(folder, vfolder)
        except FileNotFoundError:
            self._unpublished(folder, vfolder)
            return None
        except IntegrityError as e:
            self.report.add("metadata", self.where(key), str(e))
            if "says it is" in str(e):
                self.report.versions += 1
            return None
        self.report.versions += 1
        if record.status == "deploying" and not self._alive(version_key(folder, vfolder, DEPLOY_LOCK)):
            record = self._interrupted(model, vfolder, record)
        elif record.status != "deploying" and self.storage.exists(version_key(folder, vfolder, OUTCOME_FILE)):
            self._leftover_outcome(folder, vfolder)
        if record.status != "deploying":
            self.report.artifacts += 1
            problem = integrity.problem(self.repo, record)
            if problem:
                self.report.add("artifact", self.repo.version_where(record, record.artifact), problem)
        self._id_of(model, vfolder, record)
        return record

    def _incomplete_model(self, folder: str) -> None:
        """A model folder without model.toml: what a deploy that lost a race with
        ``delete --model`` (or died before its first write) left. Nothing reads it;
        ``--fix`` removes it once no deploy in it is alive."""
        live = [v for v in self.repo.version_folders(folder) if self.repo.deploy_alive(folder, v)]
        problem = self.report.add("incomplete-model", self.where(model_key(folder)),
                                  "a model folder without model.toml (left by a deploy that ended early, or that "
                                  "lost a race with delete --model)"
                                  + (f"; a deploy of {live[0]} in it is still alive" if live else ""))
        if self.fix and not live:
            self.storage.delete_folder(model_key(folder))
            problem.fixed = True

    def _unpublished(self, folder: str, vfolder: str) -> None:
        """A version folder without version.toml: a deploy claiming the number right
        now (its lease is held), one that died before publishing, or damage."""
        lease = version_key(folder, vfolder, DEPLOY_LOCK)
        if not self.storage.exists(lease):
            self.report.add("metadata", self.where(version_key(folder, vfolder, VERSION_FILE)),
                            "a version folder without version.toml")
            return
        if self._alive(lease) or not self._old(lease):
            return  # being published
        vkey = version_key(folder, vfolder)
        problem = self.report.add("leftover", self.where(vkey), "the folder of a deploy that claimed this number "
                                  "and ended before publishing it (no version.toml)")
        if self.fix:
            self.storage.delete_folder(vkey)
            problem.fixed = not self.storage.exists(version_key(folder, vfolder, VERSION_FILE))

    def _leftover_outcome(self, folder: str, vfolder: str) -> None:
        key = version_key(folder, vfolder, OUTCOME_FILE)
        problem = self.report.add("leftover", self.where(key), "the staged outcome of a deploy that has finished")
        if self.fix:
            self.storage.delete(key)
            problem.fixed = True

    def _interrupted(self, model: ModelRecord, vfolder: str, record: VersionRecord) -> VersionRecord:
        folder = model.folder
        key = version_key(folder, vfolder, VERSION_FILE)
        if versions.same(model.primary, record.version):
            return self._unfinished_primary(model, vfolder, record)
        problem = self.report.add("interrupted", self.where(key), "a deploy whose process ended while Deploying; "
                                  "it reads as Deployment Failed (interrupted)")
        if not self.fix:
            return record.replace(status="failed")
        if same_process_alive(record.process):
            # Its lock is free yet its process runs: locks do not work here (see the README
            # on network filesystems). Marking a live deploy failed would be wrong.
            problem.message = ("a deploy reads as interrupted, but its process (pid "
                               f"{record.process.get('pid')}) still runs: locks do not seem to work on this filesystem")
            return record.replace(status="failed")
        failed = complete_interrupted(self.repo, folder, vfolder, reason=INTERRUPTED, by=_who(),
                                      detail=f"{INTERRUPTED} (recorded by doctor --fix)")
        if failed is None:  # it finished, came back, or became primary meanwhile: the next run completes it
            return self.repo.version_file(folder, vfolder)
        self._log_outcome(folder, vfolder, f"Deployment Failed ({INTERRUPTED}; recorded by doctor --fix)")
        problem.fixed = True
        return failed

    def _unfinished_primary(self, model: ModelRecord, vfolder: str, record: VersionRecord) -> VersionRecord:
        """A deploy killed after it became the primary, before its outcome replaced
        version.toml: it passed its check, so it is Active; complete its record."""
        folder = model.folder
        key = version_key(folder, vfolder, VERSION_FILE)
        outcome = self.repo.committed_outcome(folder, vfolder, record)
        if outcome.status != "active":
            self.report.add("primary", self.where(key), f"the primary {record.version} never finished its deploy "
                            "and has no outcome to complete it with; promote another version")
            return record.replace(status="failed")
        problem = self.report.add("interrupted", self.where(key), "a deploy killed after it became the primary, "
                                  "before its outcome was recorded; it reads as Active from outcome.toml")
        if self.fix and not self._alive(version_key(folder, vfolder, DEPLOY_LOCK)):
            try:
                complete_interrupted(self.repo, folder, vfolder, reason=INTERRUPTED, detail=INTERRUPTED)
            except FileNotFoundError:
                pass  # its outcome was written into place meanwhile
            problem.fixed = True
        return outcome

    def _listing_cache(self, model: ModelRecord) -> None:
        """The listing cache never disagrees with the versions: every entry whose stamp
        is the stamp of its version.toml now holds what that file holds."""
        from . import index

        key = model_key(model.folder, index.INDEX_FILE)
        try:
            cached = index.load(self.storage.get(key, index.MAX_INDEX_BYTES).data)
            stamps = self.storage.stamps(versions_key(model.folder), VERSION_FILE)
        except (FileNotFoundError, OSError, ValueError):
            return  # none (a small model), or unreadable: then unused
        wrong = []
        for vfolder, (stamp, data) in sorted(cached.items()):
            if stamps.get(vfolder) != stamp:
                continue  # stale: never used, rewritten by the next listing
            try:
                if self.repo.toml(version_key(model.folder, vfolder, VERSION_FILE)) != data:
                    wrong.append(vfolder)
            except (FileNotFoundError, IntegrityError):
                continue  # reported with the version
        if wrong:
            problem = self.report.add("listing-cache", self.where(key), f"the listing cache disagrees with "
                                      f"{', '.join(wrong[:5])}{' and more' if len(wrong) > 5 else ''} (edited by "
                                      "hand?); listings would show the cache's records: remove it")
            if self.fix:
                self.storage.delete(key)
                problem.fixed = True

    def _outcomes(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        """Every finished deploy has its outcome in the history and as its log's last line
        (a kill between the writes and those lines can lose them)."""
        from .deploylog import MAX_LOG_BYTES

        folder = model.folder
        try:
            events = self.repo.history_of(folder)
        except IntegrityError:
            return  # reported by the walk
        recorded = {e.version_id for e in events if e.event == "deploy" and e.status in ("active", "failed")}
        for vfolder, record in sorted(found.items()):
            if record.status == "deploying":
                continue
            if record.version_id not in recorded:
                problem = self.report.add("history", self.where(history_key(folder)), f"no deploy outcome of "
                                          f"{record.version} (its event was lost in a crash)")
                if self.fix:
                    self.repo.record(folder, [HistoryEvent(
                        at=now(), by=record.deployed_by, event="deploy", version=record.version,
                        version_id=record.version_id, status=record.status,
                        detail=f"{record.reason or 'Active'} (recorded by doctor --fix: the event was lost in a crash)")],
                        strict=True)
                    problem.fixed = True
            log_key = version_key(folder, vfolder, LOG_FILE)
            try:
                data = self.storage.get(log_key, MAX_LOG_BYTES).data
            except FileNotFoundError:
                data = b""
            except (OSError, ValueError):
                continue  # reported by the walk
            lines = data.decode("utf-8", "replace").splitlines()
            if not any(_is_outcome(line) for line in lines[-50:]):
                problem = self.report.add("deploy-log", self.where(log_key), f"the deploy log of {record.version} "
                                          "has no outcome (its last line was lost in a crash)")
                if self.fix:
                    label = STATUS_LABELS["active" if record.status == "active" else "failed"]
                    self._log_outcome(folder, vfolder, f"{label} (recorded by doctor --fix: the line was lost in a crash)")
                    problem.fixed = True

    def _log_outcome(self, folder: str, vfolder: str, text: str) -> None:
        self.storage.append(version_key(folder, vfolder, LOG_FILE), f"{now()}  {text}\n".encode("utf-8"))

    def _id_of(self, model: ModelRecord, vfolder: str, record: VersionRecord) -> None:
        key = id_key(record.version_id) if versions.is_version_id(record.version_id) else f"{IDS}/?"
        if not versions.is_version_id(record.version_id):
            self.report.add("metadata", self.where(key), f"version {record.version} has an invalid ID {record.version_id!r}")
            return
        try:
            owner = self.repo.owner_of_id(record.version_id)
        except IntegrityError as e:
            self.report.add("id-index", self.where(key), str(e))
            return
        if owner == (model.folder, vfolder):
            return
        if owner is not None:
            self.report.add("id-index", self.where(key), f"ID {record.version_id} of {model.folder} {vfolder} is also "
                            f"claimed by {owner[0]} {owner[1]}")
            return
        problem = self.report.add("id-index", self.where(key), f"the ID file of {model.folder} {vfolder} is missing")
        if self.fix:
            try:
                self.storage.put(key, f"{model.folder}/{vfolder}\n".encode(), CREATE)
                problem.fixed = True
            except Precondition:
                pass

    def _primary(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        if model.primary is None:
            return
        path = self.where(model_key(model.folder, MODEL_FILE))
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
        path = self.where(model_key(model.folder, MODEL_FILE))
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
            from .repo import Change

            def prepare(seen: Any) -> Change:
                current = seen.model
                if current is None or current.highest_version != model.highest_version:
                    return Change()  # changed meanwhile: nothing to repair on this reading
                return Change(model=current.replace(highest_version=None if top is None else str(top)))

            self.repo.update(model.folder, prepare)
            problem.fixed = True

    def _history(self, model: ModelRecord) -> None:
        """A torn last line in the history an earlier mlreg appended to."""
        key = model_key(model.folder, HISTORY_FILE)
        try:
            seen = self.storage.get(key, 256 << 20)
        except (FileNotFoundError, NotADirectoryError):
            return self._primary_in_history(model)
        except (OSError, ValueError):
            return  # reported by the walk; never read or written through
        if seen.data and not seen.data.endswith(b"\n"):
            problem = self.report.add("history", self.where(key), "a torn last line (a writer killed mid-append); "
                                      "readers skip it")
            if self.fix:
                self.storage.update(key, lambda now: None if now is None or now.data.endswith(b"\n")
                                    else now.data[:now.data.rfind(b"\n") + 1], limit=256 << 20)
                problem.fixed = True
        self._primary_in_history(model)

    def _primary_in_history(self, model: ModelRecord) -> None:
        """The last change of primary in the history must name the primary of model.toml
        (model.toml is written first: a crash can only lose the history's event)."""
        try:
            last = next((e for e in reversed(self.repo.history_of(model.folder)) if e.event == "primary"), None)
        except IntegrityError:
            return  # reported by the walk
        recorded = last.to if last is not None else None
        if versions.same(recorded, model.primary):
            return
        problem = self.report.add("history", self.where(history_key(model.folder)), f"the primary is "
                                  f"{model.primary or 'none'} but the history's last change of primary says "
                                  f"{recorded or 'none'} (its event was lost in a crash)")
        if self.fix:
            current = self.repo.read_model(model.folder)
            again = next((e for e in reversed(self.repo.history_of(model.folder)) if e.event == "primary"), None)
            if not versions.same(again.to if again else None, current.primary):
                self.repo.record(model.folder, [HistoryEvent(
                    at=now(), by=_who(), event="primary", version=current.primary,
                    from_=again.to if again else None, to=current.primary,
                    detail="recorded by doctor --fix: the change's own event was lost in a crash")], strict=True)
            problem.fixed = True

    # ------------------------------------------------------------------ ids

    def _ids(self) -> None:
        for entry in sorted(self._children(IDS)):
            key = id_key(entry)
            if self._link(key) or TEMP_MARKER in entry:
                continue  # reported by the walk
            if not versions.is_version_id(entry):
                self.report.add("stray", self.where(key), "not a version ID file")
                continue
            try:
                owner = self.repo.owner_of_id(entry)
            except IntegrityError as e:
                self.report.add("id-index", self.where(key), str(e))
                continue
            if owner is None:
                continue
            folder, vfolder = owner
            if self._id_matches(folder, vfolder, entry) or not self._old(key):
                continue  # a recent one was allocated by a deploy that is publishing right now
            problem = self.report.add("dangling-id", self.where(key), f"ID {entry} names {folder} {vfolder}, which "
                                      "does not carry it (a deploy that ended before publishing)")
            if self.fix and self.storage.exists(model_key(folder, MODEL_FILE)):
                if not self._id_matches(folder, vfolder, entry):
                    self.storage.delete(key)
                    problem.fixed = True

    def _id_matches(self, folder: str, vfolder: str, version_id: str) -> bool:
        """Whether the version exists and carries ``version_id`` (unreadable: assume so)."""
        try:
            return self.repo.version_file(folder, vfolder).version_id == version_id
        except FileNotFoundError:
            return False
        except IntegrityError:
            return True  # reported as a metadata problem; never delete on a guess


def _is_outcome(line: str) -> bool:
    """Whether a deploy-log line records a deploy's outcome."""
    text = line.partition("  ")[2]
    return text.startswith((STATUS_LABELS["active"], STATUS_LABELS["failed"]))


def _who() -> str:
    from .identity import user_at_host

    return user_at_host()
