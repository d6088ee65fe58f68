"""``import-mlflow`` (SPEC §13): MLflow registered models copied in as mlreg models.

Every MLflow version N with a scikit-learn flavour becomes version ``0.N.0``, deployed
by the one deploy protocol (``ops.deploy``: the same claim, check, log and publish as
``mlreg deploy``), with MLflow's time and user as its deploy's; then the model's
aliases and its primary follow MLflow's (stage Production, else alias ``champion``,
else the newest Active version), through the alias and promote operations.

First a plan is made of every model, reading everything and writing nothing: a name
mlreg cannot hold, or a number already here with other bytes, stops the run before
anything is written (``--dry-run`` is the plan alone). The deploy checks then run
concurrently, as many as there are cores, in this one process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from .. import names, versions
from ..errors import Conflict, DeploymentFailed, InvalidName, NotFound, RegistryNotFound, UsageError
from ..mlflowstore import MlflowModel, MlflowVersion, MLmodel, open_store, read_mlmodel
from ..repo import Repository

SCIKIT_LEARN = ("pickle", "cloudpickle", "skops")
DRY_RUN = "dry-run"  # the status a --dry-run reports for a version it would import


@dataclasses.dataclass
class Step:
    """One MLflow version's fate: imported (``artifact`` set) or skipped (``reason`` set)."""

    mlflow: MlflowVersion
    number: str  # 0.N.0
    artifact: str | None = None
    mlmodel: MLmodel | None = None
    reason: str | None = None
    status: str | None = None  # once imported: active or failed


@dataclasses.dataclass
class Plan:
    model: MlflowModel
    display: str  # the mlreg model's name
    steps: list[Step]
    new: bool = True  # the model is not in this registry yet (its description is MLflow's)
    primary: str | None = None  # once imported: the model's primary

    @property
    def to_import(self) -> list[Step]:
        return [s for s in self.steps if s.artifact is not None]

    def to_json(self) -> dict[str, Any]:
        return {"model": self.display,
                "imported": [{"mlflow_version": s.mlflow.number, "version": s.number, "status": s.status or DRY_RUN}
                             for s in self.steps if s.artifact is not None],
                "skipped": [{"mlflow_version": s.mlflow.number, "reason": s.reason}
                            for s in self.steps if s.artifact is None]}


def plan(repo: Repository, source: str, only: Sequence[str] = (), name: str | None = None) -> list[Plan]:
    """What importing ``source`` would do, model by model; reads, never writes.

    Raises:
        SourceNotFound (3), NotAnMlflowStore (2), InvalidName (2: a name mlreg cannot
        hold), ModelNotFound (3: a ``--model`` the store lacks), VersionExists (4: a
        number already here with other bytes), MissingExtra (1: no PyYAML).
    """
    store = open_store(source, name)
    try:
        repo.require()
        present = True
    except RegistryNotFound:
        present = False
    wanted = {m: False for m in only}
    folders: dict[str, str] = {}  # mlreg folder -> the MLflow name that takes it
    plans = []
    for model in store.models():
        if only and model.name not in wanted:
            continue
        wanted[model.name] = True
        try:
            display = names.normalize(model.name)
        except InvalidName as e:
            raise InvalidName(f"MLflow model {model.name!r} cannot be an mlreg model: {e}; nothing was imported") from None
        twin = folders.setdefault(names.folder(display), model.name)
        if twin != model.name:  # mlreg's names ignore case and spacing; MLflow's do not
            raise InvalidName(f"MLflow models {twin!r} and {model.name!r} would both be mlreg model "
                              f"{names.folder(display)!r}; nothing was imported (import one with --model, "
                              "then the other into another registry)")
        existing = None
        if present:
            try:
                existing = repo.load_model(display)
            except NotFound:
                existing = None
        plans.append(Plan(model, display, [_step(repo, existing, display, v) for v in model.versions],
                          new=existing is None))
    missing = [m for m, seen in wanted.items() if not seen]
    if missing:
        from ..errors import ModelNotFound

        raise ModelNotFound(f"{source} has no registered model {missing[0]!r}; nothing was imported")
    return plans


def _step(repo: Repository, existing: Any, display: str, version: MlflowVersion) -> Step:
    number = f"0.{version.number}.0"
    step = Step(version, number)
    if version.folder is None:
        step.reason = version.missing
        return step
    try:
        mlmodel = read_mlmodel(version.folder)
    except UsageError as e:
        step.reason = str(e)
        return step
    if mlmodel.artifact is None:
        step.reason = (f"its flavours ({', '.join(sorted(mlmodel.flavors)) or 'none'}) include no scikit-learn one; "
                       "mlreg imports scikit-learn models (pickle, cloudpickle or skops)")
        return step
    if mlmodel.serialization not in SCIKIT_LEARN:
        step.reason = f"its scikit-learn model is saved as {mlmodel.serialization!r}, which mlreg does not read"
        return step
    artifact = os.path.join(version.folder, mlmodel.artifact)
    if os.path.islink(artifact) or not os.path.isfile(artifact) or \
            os.path.relpath(os.path.realpath(artifact), os.path.realpath(version.folder)).startswith(".."):
        step.reason = f"its artifact {mlmodel.artifact} is not a file in {version.folder}"
        return step
    if existing is not None:
        from .delete import was_deleted

        vfolder = versions.folder(versions.parse(number))
        try:
            here = repo.version_of(existing, number)
        except NotFound:
            here = None
        if here is not None:
            from ..artifacts import hash_file

            if here.sha256 == hash_file(artifact)[1]:
                step.reason = f"already imported as {number} (same sha256)"
                return step
            from ..errors import VersionExists

            raise VersionExists(f"{display!r} already has {number} with other content than MLflow version "
                                f"{version.number}; nothing was imported (import into another registry, or "
                                f"delete {display} {number} first)")
        if was_deleted(repo, existing, vfolder):
            step.reason = f"{number} was deleted from this registry, and numbers are never given again"
            return step
    step.artifact, step.mlmodel = artifact, mlmodel
    return step


def import_mlflow(repo: Repository, source: str, models: Sequence[str] = (), name: str | None = None,
                  dry_run: bool = False, workers: int | None = None,
                  done: Callable[[Plan, Step], None] | None = None) -> list[Plan]:
    """``Registry.import_mlflow`` (its docstring tells the arguments and the errors): the
    plan, then (unless ``dry_run``) every planned version deployed."""
    plans = plan(repo, source, models, name)
    if dry_run:
        return plans
    if any(p.to_import for p in plans):
        repo.ensure()  # once, before the deploys run side by side
    run(repo, plans, deploy_step, workers, done)
    return plans


def deploy_step(repo: Repository, p: Plan, step: Step) -> Any:
    """Deploy one MLflow version as ``step.number``, by the one deploy protocol, recorded
    with MLflow's time, user, tags, params, metrics and input names.

    Raises:
        DeploymentFailed (its check failed: the version is there, Deployment Failed), and
        what any deploy raises.
    """
    from ..inputs import rows_of
    from .deploy import deploy
    from .deploy_request import DEFAULTS, DeployRequest

    assert step.artifact is not None and step.mlmodel is not None
    sample = step.mlmodel.input_example
    try:
        sample = None if sample is None else rows_of(sample)
    except UsageError:
        sample = None  # an input example mlreg cannot read as rows: the check loads, predicts nothing
    options = {**DEFAULTS, "promote": False, "version": step.number, "sample_input": sample,
               **lineage_of(step.mlflow), "description": (p.model.description or None) if p.new else None}
    request = DeployRequest.make(step.artifact, p.display, **options)
    return deploy(repo, dataclasses.replace(request, origin=origin_of(step.mlflow, step.mlmodel)))


def run(repo: Repository, plans: list[Plan], deploy_one: Callable[[Repository, Plan, Step], Any],
        workers: int | None = None, done: Callable[[Plan, Step], None] | None = None) -> None:
    """Deploy every planned version (``deploy_one``), up to ``workers`` at once, then give
    each model that gained a version MLflow's aliases and primary. Sets each step's status;
    ``done`` is told of each version as its deploy ends.

    Raises:
        The first error a deploy raised other than a failed check (which is a status).
    """
    steps = [(p, s) for p in plans for s in p.to_import]
    if not steps:
        return
    workers = max(1, min(workers or os.cpu_count() or 1, len(steps)))

    def one(item: tuple[Plan, Step]) -> BaseException | None:
        p, s = item
        try:
            deploy_one(repo, p, s)
            s.status = "active"
        except DeploymentFailed:
            s.status = "failed"
        except BaseException as e:  # reported after the others finish
            return e
        if done is not None:
            done(p, s)
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = [e for e in pool.map(one, steps) if e is not None]
    if errors:
        raise errors[0]
    for p in plans:
        if p.to_import:
            _follow(repo, p)


def _follow(repo: Repository, p: Plan) -> None:
    """Give the model MLflow's aliases (on versions Active here) and primary."""
    from .aliases import set_alias
    from .promote import promote

    model = repo.load_model(p.display)
    active: dict[int, str] = {}
    for v in p.model.versions:
        try:
            if repo.version_of(model, f"0.{v.number}.0").status == "active":
                active[v.number] = f"0.{v.number}.0"
        except NotFound:
            continue
    for alias, number in sorted(p.model.aliases.items()):
        if number in active and model.aliases.get(alias) != active[number]:
            try:
                set_alias(repo, p.display, alias, active[number])
            except (UsageError, Conflict):
                continue  # a name mlreg does not take as an alias: the version is still there
    production = [v.number for v in p.model.versions if v.stage == "Production" and v.number in active]
    champion = p.model.aliases.get("champion")
    if production:
        chosen = active[max(production)]
    elif champion in active:
        chosen = active[champion]
    elif active:
        chosen = active[max(active)]
    else:
        return
    if repo.load_model(p.display).primary != chosen:
        promote(repo, p.display, chosen)
    p.primary = chosen


def origin_of(version: MlflowVersion, mlmodel: MLmodel) -> Any:
    """The deploy's time, user and input names, as MLflow recorded them."""
    from .deploy_request import Origin

    try:
        at = dt.datetime.fromtimestamp(version.created_ms / 1000, dt.timezone.utc) if version.created_ms else \
            dt.datetime.now(dt.timezone.utc)
    except (OverflowError, OSError, ValueError):  # a time no calendar holds: the import's own
        at = dt.datetime.now(dt.timezone.utc)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    run = f", run {version.run_id}" if version.run_id else ""
    note = (f"imported from MLflow: version {version.number} (stage {version.stage}{run}, created {stamp} "
            f"by {version.user or 'an unrecorded user'}; {mlmodel.serialization}; source {version.source})")
    return Origin(deployed_at=stamp, deployed_by=version.user or "unknown", feature_names=mlmodel.input_names,
                  note=note)


def lineage_of(version: MlflowVersion) -> dict[str, Any]:
    """Tags (with ``mlflow.version`` and ``mlflow.run_id``), params, metrics and source mlreg
    can hold: each entry is checked alone, and one mlreg would refuse is left out."""
    from ..fields import bad_table

    tags = {**version.tags, "mlflow.version": str(version.number)}
    if version.run_id:
        tags["mlflow.run_id"] = version.run_id
    source = version.source.strip()
    found: dict[str, Any] = {"source": source if 0 < len(source) <= 1024 and source.isprintable() else "mlflow"}
    for kind, table in (("tags", tags), ("params", version.params), ("metrics", version.metrics)):
        found[kind] = {k: v for k, v in table.items() if bad_table({k: v}, kind) is None}
    return found
