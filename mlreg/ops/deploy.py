"""``mlreg deploy``: copy and hash, number and ID, publish, check in a child process, record the outcome."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any, Callable

from .. import identity, versions
from ..checkpoints import checkpoint
from ..errors import (
    BadInput,
    Busy,
    DeploymentFailed,
    LeaseLost,
    NotWritable,
    VersionExists,
    note,
    quote_arg,
)
from ..layout import (
    CODE_DIR,
    LOG_FILE,
    MODEL_FILE,
    OUTCOME_FILE,
    README_FILE,
    VERSION_FILE,
)
from ..metadata import (
    CUSTOM,
    STATUS_LABELS,
    HistoryEvent,
    ModelRecord,
    VersionRecord,
    dump_toml,
    now,
)
from ..changes import Change, Seen, existing
from ..repo import Repository
from ..folders import Folder
from ..leases import HELD, Lease

from . import docs
from .delete import was_deleted
from .deploy_request import DeployRequest, DeployResult, Origin
from .promote import make_primary
from .publish import claim_version, publish_version

if TYPE_CHECKING:
    from ..artifacts import CheckResult
    from ..deploylog import DeployLog


class _Deploy:
    """What one deploy carries from its staging to its outcome."""

    __slots__ = ("folder", "staging", "log", "leases", "record", "primary_at_start", "vfolder", "published", "lease",
                 "code_dir")

    def __init__(self, folder: str, staging: Folder, log: DeployLog, leases: contextlib.ExitStack) -> None:
        self.folder = folder
        self.staging = staging
        self.log = log
        self.leases = leases  # the staging folder's, then the claimed version's
        self.record: VersionRecord | None = None
        self.primary_at_start: str | None = None
        self.vfolder: str | None = None  # claimed
        self.published = False  # its version.toml exists
        self.lease: Lease = HELD  # the claimed version's: asked before anything is published
        self.code_dir: str | None = None  # the code's copy on this machine (deploy --code)

    def fenced(self) -> bool:
        """Whether this deploy lost its version's lease (paused past it): then others
        may have found it interrupted, recorded it failed or deleted it, and it must
        write nothing more into the version."""
        if self.lease.held():
            return False
        self.log.stop()
        return True


def _dump(obj: Any, path: str) -> str:
    """Write an in-memory model with joblib to ``path`` (a scratch file); return it."""
    if not callable(getattr(obj, "predict", None)):
        raise BadInput(f"the object to deploy ({type_name(obj)}) has no callable predict")
    import joblib

    with open(path, "xb") as f:
        joblib.dump(obj, f)
    return path


def _should_take_primary(current: str | None, at_start: str | None, new: str) -> bool:
    """SPEC §3a: the new Active version becomes primary unless, while it was
    deploying, the primary moved to a higher version."""
    if current is None or versions.same(current, at_start):
        return True
    return versions.higher(new, current)


def type_name(obj: Any) -> str:
    return type(obj).__name__



def deploy(repo: Repository, request: DeployRequest) -> DeployResult:
    """``Registry.deploy`` on ``repo`` (its docstring tells the options, the result and the errors).

    With ``if_changed``, the artifact is compared with the model's Active versions by
    the sha256 its copy into the staging folder computes, before a number is taken:
    one read of the file. On an object store, where the copy streams into the claimed
    version, the comparison reads the file once more, first.
    """
    import shutil
    import tempfile

    repo.ensure()
    if request.if_changed and repo.remote and (same := unchanged(repo, request.display, request.artifact)) is not None:
        return DeployResult(same, False)
    try:
        staged = _stage(repo, request.folder)
    except OSError as e:
        raise NotWritable(f"cannot write to the registry {repo.path}: {e.strerror}; nothing was deployed") from None
    checkpoint("deploy:staged")
    scratch = tempfile.mkdtemp(prefix="mlreg-deploy-")  # an in-memory model's file, the code's copy
    try:
        return _deploy(repo, staged, scratch, request)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _deploy(repo: Repository, deploy: _Deploy, scratch: str, request: DeployRequest) -> DeployResult:
    """The deploy once its staging folder exists: copy, allocate, check, record the outcome.

    On a folder the artifact and code are copied into the staging folder first and
    renamed into the version's folder once it is claimed, so that a copy that
    fails (a full disk) costs no number. An object store has no rename (a move
    is a copy of every byte), so there they are streamed straight into the
    claimed version's folder, before its version.toml exists, and the check
    loads the local file that was streamed (the same bytes: the same sha256),
    in its child process while they stream.
    """
    from ..artifacts import Check, Done, artifact_name, start_check

    log = deploy.log
    local_code = None
    check: Check | Done | None = None
    failed: CheckResult | None = None  # a conversion that failed: the version ends Deployment Failed
    path, code, artifact = request.artifact_path, request.code, request.artifact
    fields = dict(type=request.type or CUSTOM, framework=request.framework or CUSTOM,
                  sample_input=None if request.sample_input is None else json.dumps(request.sample_input),
                  **request.lineage)
    try:
        log.write(f"deploy of {path or 'an in-memory ' + type_name(artifact)} as {request.display!r} "
                  f"by {identity.user_at_host()} (pid {os.getpid()})")
        if request.origin is not None and request.origin.note:
            log.write(request.origin.note)
        target_name = artifact_name(path or "model.joblib")
        local = os.path.abspath(path) if path is not None else _dump(artifact,
                                                                         os.path.join(scratch, target_name))
        code_sha256 = None
        if code:
            from ..usercode import copy_code

            local_code = os.path.join(scratch, CODE_DIR)
            code_sha256 = copy_code(list(code), local_code)
            deploy.code_dir = local_code
        if request.convert is not None:
            local, target_name, failed = _convert(local, target_name, request, scratch, local_code, log)
        fields.update(_imports(local, log))

        def copy_in(into: Folder) -> dict[str, Any]:
            try:
                size, sha256 = into.upload(local, target_name, request.progress)
                log.write(f"copied {size} bytes as {target_name}, sha256 {sha256}")
                if local_code is not None:
                    into.upload_tree(local_code, CODE_DIR)
                    log.write(f"copied the model's code ({', '.join(os.path.basename(c.rstrip(os.sep)) for c in code)}), "
                              f"code_sha256 {code_sha256}")
            except OSError as e:
                raise NotWritable(f"cannot write the artifact into the registry {repo.path}: {e.strerror}; "
                                  "nothing was deployed") from None
            checkpoint("deploy:copied")
            return dict(size=size, sha256=sha256, artifact=target_name, code_sha256=code_sha256)

        if not repo.remote:
            fields.update(copy_in(deploy.staging))
            if request.if_changed and (same := _active_with(repo, request.display, fields["sha256"])) is not None:
                deploy.leases.close()
                deploy.staging.remove()
                return DeployResult(same, False)
            _allocate(repo, deploy, request, fields)
        else:
            # The check needs the bytes, not the registry: it loads the local file while
            # the same bytes stream up.
            check = Done(failed) if failed is not None else start_check(
                local, request.sample_input, request.check_timeout, code_dir=local_code, cwd=scratch)
            _allocate(repo, deploy, request, fields, copy_in)
    except BaseException:
        if check is not None:
            check.cancel()
        if deploy.vfolder is not None and not deploy.published:
            deploy.leases.close()
            repo.version_folder(deploy.folder, deploy.vfolder).remove()  # claimed, never published
        deploy.leases.close()  # first: a released lease is written once more, on an object store
        deploy.staging.remove()
        raise

    try:
        record = deploy.record
        assert record is not None and deploy.vfolder is not None
        log.write(f"allocated version {record.version} (ID {record.version_id}); status Deploying")
        if failed is not None:
            check = Done(failed)
            log.write(f"the conversion to {request.convert} failed: the version ends Deployment Failed")
        elif check is None:  # what a later load will read, in its folder
            log.write(f"checking in a child process (time limit {request.check_timeout:g}s)")
            log.sync()
            check = start_check(repo.artifact_path(record), request.sample_input, request.check_timeout,
                                code_dir=repo.code_folder(record) if code else None)
        else:
            log.write(f"checking in a child process (time limit {request.check_timeout:g}s), started as the copy began")
            log.sync()
        try:
            result = check.result()
        except BaseException:
            check.cancel()
            raise
        chosen = request.template
        if not result.ok and chosen is not None and request.sample_from_template and result.sample_failed:
            result = dataclasses.replace(result, reason=f"{result.reason} (the sample input of template "
                                         f"{chosen.name!r}; give --sample-input to check with another)")
        _fence(repo, deploy, None)  # a deploy paused past its lease writes nothing more, its log included
        for at, text in result.steps:
            log.write(f"check: {text}", at=at)
        checkpoint("deploy:checked")
        final = _finish(repo, deploy, result, request)
    except BaseException as e:
        _abandon(repo, deploy, f"interrupted: {type_name(e)}")
        raise
    finally:
        with contextlib.suppress(OSError):
            log.sync()
        deploy.leases.close()  # first: a released lease is written once more, on an object store
        deploy.staging.remove()
    if final.status != "active":
        raise DeploymentFailed(
            f"{request.display} {final.version} (ID {final.version_id}): Deployment Failed: {final.reason}; "
            f"see `mlreg logs {quote_arg(request.display)} {final.version}`",
            record=final,
        )
    return DeployResult(final, True)


def unchanged(repo: Repository, name: str, model_or_path: Any) -> VersionRecord | None:
    """The Active version of model ``name`` whose artifact has exactly these bytes (the
    most recently deployed such), or None: what ``deploy --if-changed`` stops at.

    Raises:
        BadInput: a path that is not a readable file.
    """
    from ..artifacts import hash_file

    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise BadInput(f"artifact {path} does not exist or is not a file")
        sha256 = hash_file(path)[1]
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="mlreg-deploy-") as scratch:
            sha256 = hash_file(_dump(model_or_path, os.path.join(scratch, "model.joblib")))[1]
    return _active_with(repo, name, sha256)


def _active_with(repo: Repository, name: str, sha256: str) -> VersionRecord | None:
    """The model's most recently deployed Active version whose artifact has ``sha256``."""
    from ..errors import ModelNotFound, RegistryNotFound

    try:
        record = repo.load_model(name)
    except (ModelNotFound, RegistryNotFound):
        return None
    same = [v for v in repo.versions(record) if v.status == "active" and v.sha256 == sha256]
    return max(same, key=lambda v: v.deployed_at) if same else None


def _stage(repo: Repository, folder: str) -> _Deploy:
    """A fresh staging folder in the registry, its lease held by this process."""
    staging = repo.staging(os.urandom(8).hex())
    leases = contextlib.ExitStack()
    try:
        if staging.claim(leases) is None:
            raise Busy(f"{staging.where()} was taken by another deploy; deploy again")
        return _Deploy(folder=folder, staging=staging, log=staging.log(), leases=leases)
    except BaseException:
        leases.close()
        staging.remove()
        raise


def _allocate(repo: Repository, deploy: _Deploy, request: DeployRequest, fields: dict[str, Any],
              copy_in: Callable[[str], dict[str, Any]] | None = None) -> None:
    """Give the staged deploy its number and ID, and publish it.

    A number is taken in two steps, each a compare-and-swap that works the same
    on a folder and on an object store: model.toml records it as the highest
    (``Repository.update``), so that no later deploy reuses it even if this one
    dies; then the deploy claims it by creating the version's ``.deploy.lock``
    (a create that fails if the key exists), which is also its liveness lease.
    A deploy that lost the claim (another took the same number) takes its ID
    back and tries the next number, or, for an exact ``--version``, stops.
    Only then are the artifact and code moved in and version.toml created: a
    version is there for readers once its version.toml is.
    """
    folder = deploy.folder
    attempt: dict[str, Any] = {}
    display, exact, bump = request.display, request.exact, request.bump
    description, readme = request.description, request.readme

    def take_back_the_id() -> None:
        # The ID was never shown to anyone: take it back, so it cannot
        # come to name another deploy's version of the same number.
        if "id" in attempt:
            with contextlib.suppress(OSError):
                repo.ids.forget(attempt.pop("id"))

    def prepare(seen: Seen) -> Change:
        model = seen.model or ModelRecord(name=display, folder=folder, created_at=now(),
                                          created_by=identity.user_at_host(), description=description or "")
        if model.deleting_model is not None:
            raise Busy(f"model {model.name!r} is being deleted; deploy again once it is gone (`mlreg doctor "
                       "--fix` completes a delete that was interrupted)")

        def taken(number: versions.Version) -> bool:
            vfolder = versions.folder(number)
            return repo.version_folder(folder, vfolder).exists() or was_deleted(repo, model, vfolder)

        highest = versions.parse(model.highest_version) if model.highest_version else None
        if exact is not None:
            number = exact
            if taken(number):
                raise VersionExists(f"{model.name!r} already has (or had: numbers are never given again) "
                                    f"version {versions.folder(number)}; "
                                    "choose another --version or use --bump")
        else:
            number = versions.next_version(highest, bump)
            # A number above every folder, should model.toml lag behind the tree.
            while taken(number):
                number = versions.next_version(number, bump)
        take_back_the_id()
        attempt["number"] = number
        attempt["id"] = repo.ids.new(folder, versions.folder(number))
        # the version's deployed_at, and the model's last deploy (Models page)
        attempt["at"] = request.origin.deployed_at if request.origin is not None else now()
        checkpoint("deploy:id-allocated")
        changes: dict[str, Any] = {"last_deployed_at": max(attempt["at"], model.last_deployed_at or "")}
        if highest is None or number > highest:
            changes["highest_version"] = str(number)
        if description is not None:
            changes["description"] = description
        if readme is not None:
            changes["readme_generated"] = None
        updated = model.replace(**changes)
        return Change(model=updated if seen.model is None or updated != seen.model else None,
                      result=(updated, seen.model is None), lost=take_back_the_id)

    try:
        while True:
            model, created = repo.update(folder, prepare)
            checkpoint("deploy:model-written")
            vfolder = versions.folder(attempt["number"])
            got = claim_version(repo, folder, vfolder, deploy.leases)
            if got is None:
                take_back_the_id()
                if exact is not None:
                    raise VersionExists(f"{model.name!r} already has version {vfolder}; "
                                        "choose another --version or use --bump") from None
                continue
            claimed, deploy.lease = got
            deploy.vfolder = vfolder
            if repo.read_model(folder).deleting_model is not None:  # deleted meanwhile: write nothing into it
                raise Busy(f"model {model.name!r} is being deleted; deploy again once it is gone")
            break
        if copy_in is not None:  # an object store: streamed straight into the claimed folder
            fields.update(copy_in(claimed))
        else:
            for name in (fields["artifact"], CODE_DIR):
                deploy.staging.move(name, claimed)
        record = _record(model, attempt["number"], attempt["id"], attempt["at"], fields)
        if request.origin is not None:
            record = record.replace(deployed_by=request.origin.deployed_by)
        deploy.log.move(claimed.key(LOG_FILE))
        if request.signer is not None:  # signed.toml and the signature, there before the version is
            from .signing import sign_version

            sign_version(repo, record, request.signer, deploy.code_dir)
            deploy.log.write(f"signed with the key {request.signer.public.fingerprint}")
        checkpoint("deploy:claimed")
        if readme is not None:
            repo.model_folder(folder).write(README_FILE, readme.encode("utf-8"))
        try:
            publish_version(claimed, deploy.lease, dump_toml(record.to_toml()).encode(),
                            f"{record.model} {record.version}")
        except LeaseLost:
            deploy.vfolder = None  # the folder may be another's by now: never removed here (doctor judges it)
            raise
    except BaseException:
        if not deploy.published:
            take_back_the_id()
        raise
    deploy.published = True
    deploy.record = record
    checkpoint("deploy:published")
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


def _convert(local: str, name: str, request: DeployRequest, scratch: str, code_dir: str | None,
             log: DeployLog) -> tuple[str, str, CheckResult | None]:
    """``--format``: the artifact converted (its path and name in the version), in the check's
    child process with its time limit, parity proven on the sample input; or, when it does
    not convert or match, the original and the failed result (the version ends Deployment
    Failed with the converter's reason)."""
    from ..artifacts import start_check
    from ..formats import SUFFIX

    target = request.convert
    assert target is not None
    output = os.path.join(scratch, "converted" + SUFFIX[target])
    log.write(f"converting to {target} in a child process (time limit {request.check_timeout:g}s)")
    result = start_check(local, request.sample_input, request.check_timeout, code_dir=code_dir, cwd=scratch,
                         convert=(target, output)).result()
    for at, text in result.steps:
        log.write(f"convert: {text}", at=at)
    if not result.ok:
        log.write(f"convert: {result.reason}")
        return local, name, result
    return output, "model" + SUFFIX[target], None


def _imports(path: str, log: DeployLog) -> dict[str, Any]:
    """The artifact's format (from its content) and what it would import, read without
    loading it (``pickles.imports_of``; a skops file's types by skops' own reading), for
    the record and the log.

    Raises:
        MissingExtra: a skops file, and skops is not installed.
    """
    from ..formats import detect, skops_types
    from ..pickles import Unreadable, imports_of

    with open(path, "rb") as f:
        kind = detect(f)
        if kind == "onnx":
            log.write("format onnx: a graph onnxruntime runs; nothing of Python is imported when it loads")
            return {"format": kind, "imports": []}
        read, what = (skops_types, "the types it names beyond skops' own") if kind == "skops" else \
            (imports_of, "what it imports")
        try:
            found: list[str] | None = read(f)
        except (ValueError, Unreadable) as e:
            log.write(f"format {kind}; {what} cannot be read ({e}): it loads only where vouched for")
            return {"format": kind, "imports": None}
    assert found is not None
    log.write(f"format {kind}; {what}: {len(found)} names{': ' if found else ''}{', '.join(found[:8])}"
              f"{' ...' if len(found) > 8 else ''}")
    return {"format": kind, "imports": found}


def _record(model: ModelRecord, number: versions.Version, version_id: str, at: str,
            fields: dict[str, Any]) -> VersionRecord:
    """The record of a version being deployed."""
    return VersionRecord(
        model=model.name, version=str(number), version_id=version_id, status="deploying",
        deployed_at=at, deployed_by=identity.user_at_host(),
        size=fields["size"], sha256=fields["sha256"], artifact=fields["artifact"],
        type=fields["type"], framework=fields["framework"], code_sha256=fields["code_sha256"],
        tags=fields["tags"], metrics=fields["metrics"], params=fields["params"], source=fields["source"],
        process=identity.this_process(), format=fields["format"], imports=fields["imports"],
        extra={"sample_input": fields["sample_input"]} if fields["sample_input"] else {},
    )


def _finish(repo: Repository, deploy: _Deploy, result: CheckResult, request: DeployRequest) -> VersionRecord:
    """Record the check's outcome, then move the primary by compare-and-swap.

    The outcome is written whole to ``outcome.toml`` first (only this process
    writes in its version's folder while it holds the version's lease). Then
    come, in this order, the new model.toml (the primary) and README, the
    outcome written over version.toml, the history and the log's last line.
    A kill between any two of them leaves either a version that reads as
    Deployment Failed (interrupted), never promoted, or one that is the
    primary and reads as Active from its outcome; ``doctor --fix`` completes
    what the kill cut short.
    """
    from ..environment import python_version

    promote, template = request.promote, request.template
    record = deploy.record
    assert record is not None and deploy.vfolder is not None
    record = record.replace(
        status="active" if result.ok else "failed",
        finished_at=now(),
        reason=None if result.ok else result.reason,
        type=request.type or result.type or CUSTOM,  # a flag, else the template's, else detected
        framework=request.framework or result.framework or CUSTOM,
        environment={"python": python_version(), "libraries": result.libraries},
        process={},  # only needed while deploying, to tell a live deploy from a dead one
        signature=_signature(result, request.origin),
    )
    log = deploy.log
    if not result.ok:
        log.write(f"FAILED: {result.reason}" + (f"\n{result.error}" if result.error else ""))
    claimed = repo.version_folder(deploy.folder, deploy.vfolder)
    outcome_bytes = dump_toml(record.to_toml()).encode()
    _fence(repo, deploy, None)
    claimed.write(OUTCOME_FILE, outcome_bytes)
    checkpoint("deploy:outcome-staged")
    checked = record

    def prepare(seen: Seen) -> Change:
        model = existing(seen, repo.model_folder(deploy.folder).where(MODEL_FILE))
        _fence(repo, deploy, model)  # in the compare-and-swap that publishes: a delete changes model.toml
        record = checked
        promoted = result.ok and promote and _should_take_primary(model.primary, deploy.primary_at_start,
                                                                   record.version)
        events = [HistoryEvent(at=now(), by=identity.user_at_host(), event="deploy", version=record.version,
                               version_id=record.version_id, status=record.status, detail=record.reason)]
        if promoted:  # the README is this deploy's to write (a template's, perhaps): below
            primary = make_primary(model, record, seen.readme, f"deploy of {record.version}", follow_readme=False)
            updated = primary.model
            record = record.replace(primary=True)
            outcome = f"Active; now the primary version (was {model.primary or 'none'})"
        elif result.ok:
            why = "--no-promote" if not promote else f"the primary moved to {model.primary} meanwhile"
            outcome = f"Active; the primary stays {model.primary or 'none'} ({why})"
            updated = model if model.primary is not None else model.replace(type=record.type,
                                                                             framework=record.framework)
        else:
            updated, outcome = model, STATUS_LABELS["failed"]
        if promoted:
            events.append(primary.event)  # after the deploy's own event
        readme = docs.readme_after(updated, record, seen.readme, template if result.ok else None)
        if readme is not None:
            updated = updated.replace(readme_generated=readme.generated)

        def record_outcome() -> None:
            claimed.write(VERSION_FILE, outcome_bytes)
            claimed.remove(OUTCOME_FILE)
            checkpoint("deploy:version-written")

        return Change(model=updated if updated != model else None, readme=None if readme is None else readme.text,
                      then=record_outcome, events=events, result=(record, outcome))

    # The truth first: the primary (model.toml), then the outcome, the history, the log.
    record, outcome = repo.update(deploy.folder, prepare,
                                  marks=("deploy:primary-written", "deploy:history-written"))
    log.write(outcome)
    return record


def _signature(result: CheckResult, origin: Origin | None) -> dict[str, Any]:
    """What the check read of the model's inputs, with the input names the other
    registry recorded when the artifact names none."""
    found = dict(result.signature)
    if origin is not None and origin.feature_names and "feature_names" not in found:
        found["feature_names"] = list(origin.feature_names)
    return found


def _fence(repo: Repository, deploy: _Deploy, model: ModelRecord | None) -> None:
    """Raises LeaseLost unless this deploy still holds its version's lease and its
    version is still there as it left it: Deploying, not deleted or being deleted."""
    from ..errors import NotFound

    assert deploy.record is not None and deploy.vfolder is not None
    gone = deploy.fenced()
    if not gone:
        try:
            current = repo.version_file(deploy.folder, deploy.vfolder)
            gone = current.version_id != deploy.record.version_id or current.status != "deploying"
        except (NotFound, FileNotFoundError):
            gone = True
        gone = gone or (model is not None and was_deleted(repo, model, deploy.vfolder))
    if gone:
        deploy.log.stop()
        raise LeaseLost(
            f"{deploy.record.model} {deploy.record.version}: this deploy was paused past its lease "
            "(MLREG_DEPLOY_LEASE seconds), and meanwhile its version was found interrupted, recorded failed or "
            "deleted; it published nothing. Deploy again.")


def complete_interrupted(repo: Repository, folder: str, vfolder: str, *, reason: str, detail: str,
                         by: str | None = None, owned: bool = False) -> VersionRecord | None:
    """Finish a deploy that will not finish itself; the one home of that protocol,
    called by the deploy after an exception (``owned``: it holds the version's lease)
    and by ``doctor --fix`` (whose deploy is gone: a live lease stops it).

    If the version became the primary, its check had passed: its staged outcome
    (``outcome.toml``) is written over version.toml, and it is Active. Otherwise it is
    recorded Deployment Failed with ``reason``, and a history event (``detail``) says
    so. version.toml is changed by compare-and-swap, so a deploy that finished, or
    came back, meanwhile wins. Returns the record written, or None (nothing to do).
    """
    claimed = repo.version_folder(folder, vfolder)
    written: list[VersionRecord] = []

    def change(current: VersionRecord | None) -> VersionRecord | None:
        written.clear()
        if current is None or current.status != "deploying" or (not owned and claimed.alive()):
            return None  # gone, finished, or its deploy lives
        if versions.same(repo.read_model(folder).primary, current.version):
            try:
                outcome = repo.version_file(folder, vfolder, OUTCOME_FILE)
            except FileNotFoundError:
                return None  # no outcome to complete it with: doctor reports it
            if outcome.status != "active":
                return None
            written.append(outcome)
            return outcome
        written.append(current.replace(status="failed", finished_at=now(), reason=reason))
        return written[0]

    repo.update_version(folder, vfolder, change)
    if not written:
        return None
    record = written[0]
    claimed.remove(OUTCOME_FILE)
    if record.status == "failed":
        repo.history(folder).record([HistoryEvent(at=now(), by=by or record.deployed_by, event="deploy",
                                          version=record.version, version_id=record.version_id, status="failed",
                                          detail=detail)])
    return record


def _abandon(repo: Repository, deploy: _Deploy, reason: str) -> None:
    """Best effort after an exception: a published version is marked failed at once,
    unless it had already become the primary (then it is Active: its outcome is
    written into place). Only this process writes its version while it holds the
    version's lease, and only its deploy can make it primary, so no lock is needed."""
    if not deploy.published or deploy.record is None or deploy.vfolder is None or deploy.fenced():
        return
    try:
        done = complete_interrupted(repo, deploy.folder, deploy.vfolder, reason=reason, detail=reason, owned=True)
        if done is not None and done.status == "failed":
            deploy.log.write(f"FAILED: {reason}")
            deploy.log.write(STATUS_LABELS["failed"])
        elif done is not None:
            deploy.log.write("Active; now the primary version (the deploy was interrupted after that)")
    except BaseException:
        pass  # the version still reads as interrupted once this process is gone
