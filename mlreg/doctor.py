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
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import versions
from .ops import integrity
from .atomic import TEMP_MARKER
from .errors import IntegrityError, InvalidVersion
from .identity import same_process_alive
from .layout import (
    DELETED,
    IDS,
    LOG_FILE,
    MARKER,
    MODEL_FILE,
    OUTCOME_FILE,
    VERSION_FILE,
    VERSIONS,
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

if TYPE_CHECKING:
    from .folders import Folder
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
    """One version ``verify`` examined: ``ok``, else its ``problem``."""

    model: str
    version: str
    version_id: str
    ok: bool
    problem: str = ""
    refused: bool = False  # the problem is this reader's load policy's refusal (verify --load)
    signatures: tuple[Any, ...] = ()  # each checked (``ops.signing.SignatureCheck``)

    def to_json(self) -> dict[str, Any]:
        from .views import verified

        return verified(self)


def verify(repo: Repository, chosen: Sequence[VersionRecord], trust: Any,
           load_problem: Callable[[VersionRecord], str] | None = None) -> list[Verified]:
    """Examine each of ``chosen``: its bytes (size, sha256, code digest), then each
    signature (checked with ``trust``, the reader's trust file or None); with
    ``load_problem`` (why this reader would not load a version, or ''), each Active
    version whose bytes and signatures hold is loaded too. A version still Deploying
    is listed, not judged."""
    from .ops.signing import check_signatures

    results = []
    for v in chosen:
        problem = "still Deploying" if v.status == "deploying" else integrity.problem(repo, v)
        refused, checks = False, []
        if not problem:
            checks = check_signatures(repo, v, trust)
            bad = next((c for c in checks if not c.valid), None)
            problem = "" if bad is None else f"the signature by {bad.key} does not hold: {bad.problem}"
        if load_problem is not None and not problem and v.status == "active":
            problem = load_problem(v)
            refused = bool(problem)
        results.append(Verified(v.model, v.version, v.version_id, ok=not problem or v.status == "deploying",
                                problem=problem, refused=refused, signatures=tuple(checks)))
    return results


class Doctor:
    """One examination of a registry (``Registry.doctor`` makes and runs it), through
    the repository, as every operation works. A registry in a folder is also
    walked for what only a filesystem can hold (links, FIFOs, permissions)."""

    def __init__(self, repo: Repository, fix: bool, older_than: float) -> None:
        self.repo = repo
        self.root: str | None = repo.local_root  # a folder on this machine, or None
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

    @staticmethod
    def _alive(claimed: Folder) -> bool:
        """Whether a deploy's lease on ``claimed`` is held; an unsafe one (reported by the
        walk) counts as held, so that nothing is repaired on its word."""
        try:
            return claimed.alive()
        except (IntegrityError, OSError):
            return True

    def _old(self, age: float | None) -> bool:
        return age is not None and age > self.older_than

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
        try:
            tokens = self.repo.staging_tokens()
        except OSError:
            tokens = []  # reported by the walk
        for token in sorted(tokens):
            staged = self.repo.staging(token)
            if staged.is_link() or self._alive(staged) or not self._old(staged.age()):
                continue  # a symlink is reported by the walk; a held or recent one is a deploy in progress
            problem = self.report.add("staging-leftover", staged.where(),
                                      "the staging folder of a deploy that ended before publishing")
            if self.fix:
                staged.remove()
                problem.fixed = not staged.exists()

    # --------------------------------------------------------------- models

    def _model(self, folder: str) -> None:
        repo = self.repo
        home = repo.model_folder(folder)
        if home.is_link():
            return
        try:
            record = repo.read_model(folder)
        except (FileNotFoundError, NotADirectoryError):
            if home.exists() and not home.is_file():
                self._incomplete_model(folder)
            return
        except IntegrityError as e:
            self.report.add("metadata", repo.model_where(folder), str(e))
            return
        if record.deleting_model is not None:
            return self._interrupted_model_delete(record)
        self.report.models += 1
        if record.deleting:
            record = self._interrupted_deletes(record)
        found: dict[str, VersionRecord] = {}
        for vfolder in sorted(_names(home, VERSIONS)):
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
        home = self.repo.model_folder(model.folder)
        if not self._old(home.age(MODEL_FILE)):
            return  # a delete in progress
        problem = self.report.add("interrupted-delete", home.where(),
                                  f"the delete of the model {model.name!r} began ({model.deleting_model}) and "
                                  "did not finish; readers see no model")
        if self.fix:
            from .ops.delete import finish_model_delete

            finish_model_delete(self.repo, model.folder)
            problem.fixed = not home.exists(MODEL_FILE)

    def _interrupted_deletes(self, model: ModelRecord) -> ModelRecord:
        """Versions listed under ``deleting`` in model.toml: deletes cut short (readers
        already see them gone); ``--fix`` completes them."""
        if not self._old(self.repo.model_folder(model.folder).age(MODEL_FILE)):
            return model  # probably being deleted right now
        numbers = list(model.deleting)
        problem = self.report.add("interrupted-delete", self.repo.model_where(model.folder),
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
        tombstones = [n[:-len(".toml")] for n in _names(self.repo.model_folder(model.folder), DELETED)
                      if n.endswith(".toml") and versions.is_version(n[:-len(".toml")])]
        if not tombstones:
            return
        try:
            recorded = {versions.folder(e.version) for e in self.repo.history(model.folder).events()
                        if e.event == "delete" and versions.is_version(e.version or "")}
        except IntegrityError:
            return  # reported by the walk
        lost = [v for v in tombstones if versions.folder(v) not in recorded]
        if not lost:
            return
        problem = self.report.add("history", self.repo.history(model.folder).where(),
                                  f"the deletes of {', '.join(sorted(lost))} are not in the history "
                                  "(their events were lost in a crash)")
        if self.fix:
            self.repo.history(model.folder).record([HistoryEvent(
                at=now(), by=_who(), event="delete", version=v, from_=v,
                detail="recorded by doctor --fix: the delete's own event was lost in a crash") for v in sorted(lost)],
                strict=True)
            problem.fixed = True

    def _version(self, model: ModelRecord, vfolder: str) -> VersionRecord | None:
        folder = model.folder
        home = self.repo.version_folder(folder, vfolder)
        if home.is_link():
            return None
        if not versions.is_version(vfolder) or home.is_file():
            self.report.add("stray", home.where(), "not a version folder (its name is not a version number)")
            return None
        try:
            record = self.repo.version_file(folder, vfolder)
        except FileNotFoundError:
            self._unpublished(folder, vfolder)
            return None
        except IntegrityError as e:
            self.report.add("metadata", home.where(VERSION_FILE), str(e))
            if "says it is" in str(e):
                self.report.versions += 1
            return None
        self.report.versions += 1
        if record.status == "deploying" and not self._alive(home):
            record = self._interrupted(model, vfolder, record)
        elif record.status != "deploying" and home.exists(OUTCOME_FILE):
            self._leftover_outcome(home)
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
        home = self.repo.model_folder(folder)
        problem = self.report.add("incomplete-model", home.where(),
                                  "a model folder without model.toml (left by a deploy that ended early, or that "
                                  "lost a race with delete --model)"
                                  + (f"; a deploy of {live[0]} in it is still alive" if live else ""))
        if self.fix and not live:
            home.remove()
            problem.fixed = True

    def _unpublished(self, folder: str, vfolder: str) -> None:
        """A version folder without version.toml: a deploy claiming the number right
        now (its lease is held), one that died before publishing, or damage."""
        home = self.repo.version_folder(folder, vfolder)
        if not home.claimed():
            self.report.add("metadata", home.where(VERSION_FILE), "a version folder without version.toml")
            return
        if self._alive(home) or not self._old(home.lease_age()):
            return  # being published
        problem = self.report.add("leftover", home.where(), "the folder of a deploy that claimed this number "
                                  "and ended before publishing it (no version.toml)")
        if self.fix:
            home.remove()
            problem.fixed = not home.exists(VERSION_FILE)

    def _leftover_outcome(self, home: Folder) -> None:
        problem = self.report.add("leftover", home.where(OUTCOME_FILE), "the staged outcome of a deploy that has finished")
        if self.fix:
            home.remove(OUTCOME_FILE)
            problem.fixed = True

    def _interrupted(self, model: ModelRecord, vfolder: str, record: VersionRecord) -> VersionRecord:
        folder = model.folder
        if versions.same(model.primary, record.version):
            return self._unfinished_primary(model, vfolder, record)
        problem = self.report.add("interrupted", self.repo.version_folder(folder, vfolder).where(VERSION_FILE), "a deploy whose process ended while Deploying; "
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
        home = self.repo.version_folder(folder, vfolder)
        outcome = self.repo.committed_outcome(folder, vfolder, record)
        if outcome.status != "active":
            self.report.add("primary", home.where(VERSION_FILE), f"the primary {record.version} never finished its deploy "
                            "and has no outcome to complete it with; promote another version")
            return record.replace(status="failed")
        problem = self.report.add("interrupted", home.where(VERSION_FILE), "a deploy killed after it became the "
                                  "primary, before its outcome was recorded; it reads as Active from outcome.toml")
        if self.fix and not self._alive(home):
            try:
                complete_interrupted(self.repo, folder, vfolder, reason=INTERRUPTED, detail=INTERRUPTED)
            except FileNotFoundError:
                pass  # its outcome was written into place meanwhile
            problem.fixed = True
        return outcome

    def _listing_cache(self, model: ModelRecord) -> None:
        """The listing cache never disagrees with the versions: every entry whose stamp
        is the stamp of its version.toml now holds what that file holds."""
        try:
            wrong = self.repo.cache_disagreements(model.folder)
        except (OSError, ValueError):
            return  # unreadable: then unused
        if wrong:
            problem = self.report.add("listing-cache", self.repo.cache_where(model.folder), f"the listing cache "
                                      f"disagrees with {', '.join(wrong[:5])}{' and more' if len(wrong) > 5 else ''} "
                                      "(edited by hand?); listings would show the cache's records: remove it")
            if self.fix:
                self.repo.drop_cache(model.folder)
                problem.fixed = True

    def _outcomes(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        """Every finished deploy has its outcome in the history and as its log's last line
        (a kill between the writes and those lines can lose them)."""
        from .deploylog import MAX_LOG_BYTES

        folder = model.folder
        try:
            events = self.repo.history(folder).events()
        except IntegrityError:
            return  # reported by the walk
        recorded = {e.version_id for e in events if e.event == "deploy" and e.status in ("active", "failed")}
        for vfolder, record in sorted(found.items()):
            if record.status == "deploying":
                continue
            if record.version_id not in recorded:
                problem = self.report.add("history", self.repo.history(folder).where(), f"no deploy outcome of "
                                          f"{record.version} (its event was lost in a crash)")
                if self.fix:
                    self.repo.history(folder).record([HistoryEvent(
                        at=now(), by=record.deployed_by, event="deploy", version=record.version,
                        version_id=record.version_id, status=record.status,
                        detail=f"{record.reason or 'Active'} (recorded by doctor --fix: the event was lost in a crash)")],
                        strict=True)
                    problem.fixed = True
            home = self.repo.version_folder(folder, vfolder)
            try:
                data = home.read(LOG_FILE, MAX_LOG_BYTES) or b""
            except IntegrityError:
                continue  # reported by the walk
            lines = data.decode("utf-8", "replace").splitlines()
            if not any(_is_outcome(line) for line in lines[-50:]):
                problem = self.report.add("deploy-log", home.where(LOG_FILE), f"the deploy log of {record.version} "
                                          "has no outcome (its last line was lost in a crash)")
                if self.fix:
                    label = STATUS_LABELS["active" if record.status == "active" else "failed"]
                    self._log_outcome(folder, vfolder, f"{label} (recorded by doctor --fix: the line was lost in a crash)")
                    problem.fixed = True

    def _log_outcome(self, folder: str, vfolder: str, text: str) -> None:
        self.repo.version_folder(folder, vfolder).append(LOG_FILE, f"{now()}  {text}\n".encode("utf-8"))

    def _id_of(self, model: ModelRecord, vfolder: str, record: VersionRecord) -> None:
        ids = self.repo.top_folder(IDS)
        where = ids.where(record.version_id if versions.is_version_id(record.version_id) else "?")
        if not versions.is_version_id(record.version_id):
            self.report.add("metadata", where, f"version {record.version} has an invalid ID {record.version_id!r}")
            return
        try:
            owner = self.repo.ids.owner(record.version_id)
        except IntegrityError as e:
            self.report.add("id-index", where, str(e))
            return
        if owner == (model.folder, vfolder):
            return
        if owner is not None:
            self.report.add("id-index", where, f"ID {record.version_id} of {model.folder} {vfolder} is also "
                            f"claimed by {owner[0]} {owner[1]}")
            return
        problem = self.report.add("id-index", where, f"the ID file of {model.folder} {vfolder} is missing")
        if self.fix and self.repo.ids.register(record.version_id, model.folder, vfolder):
            problem.fixed = True

    def _primary(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        if model.primary is None:
            return
        path = self.repo.model_where(model.folder)
        try:
            vfolder = versions.folder(model.primary)
        except Exception:
            self.report.add("primary", path, f"the primary {model.primary!r} is not a version")
            return
        chosen = found.get(vfolder)
        if chosen is None:
            self.report.add("primary", path, f"the primary {model.primary} names no readable version; promote another")
        elif chosen.status != "active":
            self.report.add("primary", path, f"the primary {model.primary} is not Active ({chosen.status}); promote another")

    def _highest(self, model: ModelRecord, found: dict[str, VersionRecord]) -> None:
        path = self.repo.model_where(model.folder)
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
            from .changes import Change

            def prepare(seen: Any) -> Change:
                current = seen.model
                if current is None or current.highest_version != model.highest_version:
                    return Change()  # changed meanwhile: nothing to repair on this reading
                return Change(model=current.replace(highest_version=None if top is None else str(top)))

            self.repo.update(model.folder, prepare)
            problem.fixed = True

    def _history(self, model: ModelRecord) -> None:
        """A torn last line in the history an earlier mlreg appended to."""
        history = self.repo.history(model.folder)
        try:
            torn = history.torn()
        except (OSError, ValueError):
            return  # reported by the walk; never read or written through
        if torn:
            problem = self.report.add("history", history.old_where(), "a torn last line (a writer killed "
                                      "mid-append); readers skip it")
            if self.fix:
                history.mend_torn()
                problem.fixed = True
        self._primary_in_history(model)

    def _primary_in_history(self, model: ModelRecord) -> None:
        """The last change of primary in the history must name the primary of model.toml
        (model.toml is written first: a crash can only lose the history's event)."""
        try:
            last = next((e for e in reversed(self.repo.history(model.folder).events()) if e.event == "primary"), None)
        except IntegrityError:
            return  # reported by the walk
        recorded = last.to if last is not None else None
        if versions.same(recorded, model.primary):
            return
        problem = self.report.add("history", self.repo.history(model.folder).where(), f"the primary is "
                                  f"{model.primary or 'none'} but the history's last change of primary says "
                                  f"{recorded or 'none'} (its event was lost in a crash)")
        if self.fix:
            current = self.repo.read_model(model.folder)
            again = next((e for e in reversed(self.repo.history(model.folder).events()) if e.event == "primary"), None)
            if not versions.same(again.to if again else None, current.primary):
                self.repo.history(model.folder).record([HistoryEvent(
                    at=now(), by=_who(), event="primary", version=current.primary,
                    from_=again.to if again else None, to=current.primary,
                    detail="recorded by doctor --fix: the change's own event was lost in a crash")], strict=True)
            problem.fixed = True

    # ------------------------------------------------------------------ ids

    def _ids(self) -> None:
        ids = self.repo.top_folder(IDS)
        for entry in sorted(_names(ids)):
            where = ids.where(entry)
            if ids.is_link(entry) or TEMP_MARKER in entry:
                continue  # reported by the walk
            if not versions.is_version_id(entry):
                self.report.add("stray", where, "not a version ID file")
                continue
            try:
                owner = self.repo.ids.owner(entry)
            except IntegrityError as e:
                self.report.add("id-index", where, str(e))
                continue
            if owner is None:
                continue
            folder, vfolder = owner
            if self._id_matches(folder, vfolder, entry) or not self._old(ids.age(entry)):
                continue  # a recent one was allocated by a deploy that is publishing right now
            problem = self.report.add("dangling-id", where, f"ID {entry} names {folder} {vfolder}, which "
                                      "does not carry it (a deploy that ended before publishing)")
            if self.fix and self.repo.model_folder(folder).exists(MODEL_FILE):
                if not self._id_matches(folder, vfolder, entry):
                    self.repo.ids.forget(entry)
                    problem.fixed = True

    def _id_matches(self, folder: str, vfolder: str, version_id: str) -> bool:
        """Whether the version exists and carries ``version_id`` (unreadable: assume so)."""
        try:
            return self.repo.version_file(folder, vfolder).version_id == version_id
        except FileNotFoundError:
            return False
        except IntegrityError:
            return True  # reported as a metadata problem; never delete on a guess


def _names(folder: Folder, name: str = "") -> list[str]:
    """What is just below ``folder`` (or its subfolder ``name``); [] when unreadable (the walk reports it)."""
    try:
        return folder.names(name)
    except OSError:
        return []


def _is_outcome(line: str) -> bool:
    """Whether a deploy-log line records a deploy's outcome."""
    text = line.partition("  ")[2]
    return text.startswith((STATUS_LABELS["active"], STATUS_LABELS["failed"]))


def _who() -> str:
    from .identity import user_at_host

    return user_at_host()
