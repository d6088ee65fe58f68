"""``mlreg deploy``: copy and hash, number and ID, publish, check in a child process, record the outcome."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .. import atomic, identity, lock, names, versions
from ..checkpoints import checkpoint
from ..errors import (
    BadInput,
    DeploymentFailed,
    NotWritable,
    UsageError,
    VersionExists,
)
from ..layout import (
    CODE_DIR,
    DEPLOY_LOCK,
    HISTORY_FILE,
    IDS,
    LOCK_FILE,
    MODEL_FILE,
    OUTCOME_FILE,
    README_FILE,
    STAGING,
    VERSION_FILE,
)
from ..metadata import (
    CUSTOM,
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    now,
    read_toml,
    write_toml,
)
from ..repo import (
    Change,
    Repository,
    Seen,
    existing,
    model_toml,
    note,
    quote_arg,
)

if TYPE_CHECKING:
    from ..artifacts import CheckResult
    from ..deploylog import DeployLog
    from ..templates import Template
from . import docs
from .promote import primary_event



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


def _dump(obj: Any, path: str) -> tuple[int, str]:
    """Write an in-memory model with joblib, then hash the file written."""
    if not callable(getattr(obj, "predict", None)):
        raise BadInput(f"the object to deploy ({type_name(obj)}) has no callable predict")
    import joblib

    from ..artifacts import hash_file

    with open(path, "xb") as f:
        joblib.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return hash_file(path)


def _should_take_primary(current: str | None, at_start: str | None, new: str) -> bool:
    """SPEC §3a: the new Active version becomes primary unless, while it was
    deploying, the primary moved to a higher version."""
    if current is None or versions.same(current, at_start):
        return True
    return versions.higher(new, current)


def type_name(obj: Any) -> str:
    return type(obj).__name__



def deploy(
    repo: Repository,
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
    """``Registry.deploy`` on ``repo`` (its docstring tells the options, the result and the errors)."""
    import shutil

    from ..artifacts import artifact_name, copy_and_hash, run_check
    from ..templates import find_template

    import json

    display = names.normalize(name)
    folder = names.folder_of(display)
    bump = versions.normalize_bump(version_bump)
    exact = versions.parse(version) if version is not None else None
    chosen = find_template(template, repo.templates_dir()) if template is not None else None
    sample_from_template = False
    if isinstance(sample_input, str):
        from ..inputs import parse_json

        sample_input = parse_json(sample_input, "--sample-input")
    if chosen is not None:
        type = type or chosen.type
        framework = framework or chosen.framework
        if sample_input is None:
            sample_input = chosen.sample_input
            sample_from_template = sample_input is not None
    if sample_input is not None:
        from ..inputs import rows_of

        rows_of(sample_input)
    for label, value in (("type", type), ("framework", framework)):
        if value is not None and not (0 < len(value.strip()) <= 64 and value.isprintable()):
            raise UsageError(f"--{label} must be 1 to 64 printable characters")
    artifact = model_or_path
    source = os.fspath(artifact) if isinstance(artifact, (str, os.PathLike)) else None
    if source is not None and not os.path.isfile(source):
        raise BadInput(f"artifact {source} does not exist or is not a file")
    if code:
        from ..usercode import check_sources

        code = check_sources(list(code))  # before anything is written
    repo.ensure()

    try:
        deploy = _stage(repo, folder)
    except OSError as e:
        raise NotWritable(f"cannot write to the registry {repo.path}: {e.strerror}; nothing was deployed") from None
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
            raise NotWritable(f"cannot write the artifact into the registry {repo.path}: {e.strerror}; "
                              "nothing was deployed") from None
        log.write(f"copied {size} bytes as {target_name}, sha256 {sha256}")
        code_sha256 = None
        if code:
            from ..usercode import copy_code

            code_sha256 = copy_code(code, os.path.join(deploy.staging, CODE_DIR))
            log.write(f"copied the model's code ({', '.join(os.path.basename(c.rstrip(os.sep)) for c in code)}), "
                      f"code_sha256 {code_sha256}")
        checkpoint("deploy:copied")
        _allocate(repo, deploy, display, exact, bump, description, readme, dict(
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
            import dataclasses

            result = dataclasses.replace(result, reason=f"{result.reason} (the sample input of template "
                                         f"{chosen.name!r}; give --sample-input to check with another)")
        for at, text in result.steps:
            log.write(f"check: {text}", at=at)
        checkpoint("deploy:checked")
        final = _finish(repo, deploy, result, promote, type, framework, chosen)
    except BaseException as e:
        _abandon(repo, deploy, f"interrupted: {type_name(e)}")
        raise
    finally:
        deploy.log.close()
        lock.release_held(deploy.hold_fd)
    if final.status != "active":
        raise DeploymentFailed(
            f"{display} {final.version} (ID {final.version_id}): Deployment Failed: {final.reason}; "
            f"see `mlreg logs {quote_arg(display)} {final.version}`",
            record=final,
        )
    return final


def _stage(repo: Repository, folder: str) -> _Deploy:
    """A fresh staging folder on the registry's filesystem, locked by this process."""
    import shutil

    from ..deploylog import LOG_NAME, DeployLog

    staging_root = repo.inside(STAGING)
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


def _allocate(repo: Repository, deploy: _Deploy, display: str, exact: versions.Version | None, bump: str,
              description: str | None, readme: str | None, fields: dict[str, Any]) -> None:
    """Give the staged deploy its number and ID, and publish it, through
    ``Repository.update``: the ID file and version.toml are written while
    preparing, and under the lock come only the check that the folder is still
    free and the renames. An attempt that lost its race takes its ID back."""
    folder = deploy.folder
    model_dir = repo.model_dir(folder)
    vdir_root = repo.versions_dir(folder)
    atomic.make_dirs(vdir_root)
    attempt: dict[str, Any] = {}

    def take_back_the_id() -> None:
        # The ID was never shown to anyone: take it back, so it cannot
        # come to name another deploy's version of the same number.
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(repo.inside(IDS), attempt.pop("id")))

    def prepare(seen: Seen) -> Change:
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
        attempt["id"] = repo.new_id(folder, versions.folder(number))
        checkpoint("deploy:id-allocated")
        files = _prepare_publish(repo, deploy, model, number, attempt["id"], highest, description, readme, fields)

        def publish() -> None:
            # The number is recorded as used (model.toml, renamed first) before the
            # folder appears: a crash in between skips a number, never reuses one.
            checkpoint("deploy:model-written")
            os.rename(deploy.staging, target)  # absent, checked under the lock
            deploy.published = target
            checkpoint("deploy:published")

        return Change(files=files, check=lambda: not os.path.lexists(target), then=publish,
                       result=(model, seen.model is None), lost=take_back_the_id)

    try:
        model, created = repo.update(folder, prepare)
    except BaseException:
        if deploy.published is None and "id" in attempt:
            take_back_the_id()
        raise
    # Durability of the renames; others saw them at once.
    atomic.fsync_dir(model_dir)
    atomic.fsync_dir(vdir_root)
    deploy.primary_at_start = model.primary
    if created:
        _note_new_model(repo, model)


def _note_new_model(repo: Repository, model: ModelRecord) -> None:
    """A deploy to a near miss of an existing name (``iris clasifier``) creates a
    new model: say so, naming the close ones, so that a typo does not go unseen."""
    import difflib

    others = [f for f in repo.model_folders() if f != model.folder]
    close = difflib.get_close_matches(model.folder, others, n=3, cutoff=0.8)
    if close:
        note(f"created model {model.name!r} (did you mean {', '.join(close)}?)")


def _prepare_publish(repo: Repository, deploy: _Deploy, model: ModelRecord, number: versions.Version, version_id: str,
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
    model_dir = repo.model_dir(deploy.folder)
    files: list[tuple[str, str | bytes]] = []
    if readme is not None:
        files.append((os.path.join(model_dir, README_FILE), readme))
        changes["readme_generated"] = None
    files.append((os.path.join(model_dir, MODEL_FILE), model_toml(model.replace(**changes))))
    return files


def _finish(repo: Repository, deploy: _Deploy, result: CheckResult, promote: bool,
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
    from ..environment import python_version

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
    model_dir = repo.model_dir(deploy.folder)
    model_path, readme_path = os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, README_FILE)
    checked = record

    def prepare(seen: Seen) -> Change:
        model = existing(seen, model_path)
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
            events.append(primary_event(model, record, f"deploy of {record.version}"))
        files: list[tuple[str, str | bytes]] = []
        readme = docs.readme_after(updated, record, seen.readme, template if result.ok else None)
        if readme is not None:
            files.append((readme_path, readme.text))
            updated = updated.replace(readme_generated=readme.generated)
        if updated != model:
            files.append((model_path, model_toml(updated)))

        def record_outcome() -> None:
            os.replace(outcome_path, os.path.join(deploy.published, VERSION_FILE))
            checkpoint("deploy:version-written")

        return Change(files=files, then=record_outcome, events=events, result=(record, outcome))

    # The truth first: the primary (model.toml), then the outcome, the history, the log.
    record, outcome = repo.update(deploy.folder, prepare, sync=False,
                                   marks=("deploy:primary-written", "deploy:history-written"))
    log.write(outcome)
    atomic.fsync_file(os.path.join(model_dir, HISTORY_FILE))
    atomic.fsync_dir(model_dir)
    atomic.fsync_dir(deploy.published)
    return record


def _abandon(repo: Repository, deploy: _Deploy, reason: str) -> None:
    """Best effort after an exception: a published version is marked failed at once,
    unless it had already become the primary (then it is Active: its outcome is
    renamed into place)."""
    if deploy.published is None or deploy.record is None:
        return
    try:
        failed = deploy.record.replace(status="failed", finished_at=now(), reason=reason)
        version_path = os.path.join(deploy.published, VERSION_FILE)
        outcome_path = os.path.join(deploy.published, OUTCOME_FILE)
        with lock.Lock(os.path.join(repo.model_dir(deploy.folder), LOCK_FILE), timeout=2.0):
            if read_toml(version_path).get("status") != "deploying":
                return  # its outcome is in place
            if versions.same(repo.read_model(deploy.folder).primary, failed.version):
                os.replace(outcome_path, version_path)
                deploy.log.write("Active; now the primary version (the deploy was interrupted after that)")
                return
            deploy.log.write(f"FAILED: {reason}")
            write_toml(version_path, failed.to_toml())
            with contextlib.suppress(FileNotFoundError):
                os.unlink(outcome_path)
            with repo.history(deploy.folder) as history:
                history.append(HistoryEvent(
                    at=now(), by=failed.deployed_by, event="deploy", version=failed.version,
                    version_id=failed.version_id, status="failed", detail=reason))
            deploy.log.write("Deployment Failed")
    except BaseException:
        pass  # the version still reads as interrupted once this process is gone

