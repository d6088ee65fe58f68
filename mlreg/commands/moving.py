"""Moving models between registries: ``push`` and ``pull`` (SPEC §8), ``export`` and ``import`` (§7),
``import-mlflow`` (§13)."""

from typing import Annotated, Any, Optional

import typer

from .. import render
from ..metadata import STATUS_LABELS
from .base import EXIT_STATUS, JsonFlag, NameArg, command, funnel, registry

VersionsOption = Annotated[Optional[list[str]], typer.Option(
    "--version", metavar="VERSION|ID", help="A version to copy (repeatable); default: every Active version.")]
PromoteFlag = Annotated[bool, typer.Option(
    "--promote", help="Make the copied primary the destination's primary even if it has one.")]


def _report(verb: str, result: Any, as_json: bool) -> None:
    """A ``TransferResult``: SPEC §8's JSON, or one line."""
    if as_json:
        render.emit_json(result.to_json())
        return
    copied = ", ".join(result.copied) or "none"
    skipped = ", ".join(result.skipped) or "none"
    render.out(f"{verb} {render.clean(result.model)}: copied {copied}; already there: {skipped}; "
               f"primary there: {result.primary or 'none'}")


@command()
@funnel
def push(
    name: NameArg,
    to: Annotated[str, typer.Option("--to", metavar="LOCATION", help="The registry to copy to: a folder, or s3://BUCKET/PREFIX.")],
    version: VersionsOption = None,
    promote: PromoteFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Copy a model's Active versions to another registry, keeping number, ID and every recorded field.

    Versions already there with the same sha256 are skipped; a number there with other content exits 4 with nothing copied.

    Example: mlreg push "Iris Classifier" --to s3://models/team
    """
    _report("pushed", registry().push(name, to, version or (), promote=promote), as_json)


@command()
@funnel
def pull(
    name: NameArg,
    source: Annotated[str, typer.Option("--from", metavar="LOCATION", help="The registry to copy from: a folder, or s3://BUCKET/PREFIX.")],
    version: VersionsOption = None,
    promote: PromoteFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Copy a model's Active versions from another registry into this one (as push does, the other way).

    Example: mlreg pull "Iris Classifier" --from s3://models/team --version 0.3.0
    """
    _report("pulled", registry().pull(name, source, version or (), promote=promote), as_json)


@command()
@funnel
def export(
    name: NameArg,
    refs: Annotated[Optional[list[str]], typer.Argument(metavar="[VERSION|ID|@ALIAS]...", help="Versions to export (default: every version, Active or Deployment Failed).")] = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE", help="The archive to write: .tar, or gzip for .tar.gz / .tgz.")] = ...,
    as_json: JsonFlag = False,
) -> None:
    """Write a model (metadata, README, history and its versions) to a tar archive that `mlreg import` reads into any registry.

    Example: mlreg export "Iris Classifier" @champion --output iris.tar.gz
    """
    result = registry().export(name, output, refs or ())
    if as_json:
        render.emit_json({**result.to_json(), "output": output})
    else:
        render.out(f"exported {render.clean(result.model)} ({', '.join(result.copied) or 'no versions'}) to "
                   f"{render.clean(output)}")


@command(name="import")
@funnel
def import_(
    archive: Annotated[str, typer.Argument(metavar="FILE", help="An archive `mlreg export` wrote.")],
    as_json: JsonFlag = False,
) -> None:
    """Add an exported model to this registry, verifying every artifact first; nothing is ever replaced.

    Versions already here with the same content are skipped; a clash exits 4 and a damaged or hostile archive 7, with nothing written.

    Example: mlreg --registry ./other import iris.tar.gz
    """
    _report("imported", registry().import_archive(archive), as_json)


@command(name="import-mlflow")
@funnel
def import_mlflow(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="An mlruns folder (MLflow's file store), sqlite:///PATH (MLflow's database; four slashes for an absolute path) or one MLmodel folder (with --name).")],
    model: Annotated[Optional[list[str]], typer.Option("--model", metavar="NAME", help="Import only this registered model (repeatable); default: every one.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="The model one MLmodel folder becomes (its one version is 0.1.0).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read everything and report what would be imported or skipped, in the same form; write nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Copy MLflow registered models into this registry, without MLflow: MLflow version N becomes 0.N.0.

    Each version with a scikit-learn flavour (pickle, cloudpickle or skops) is deployed and checked like any deploy, with MLflow's time, user, tags, run params and metrics; aliases carry over, and the primary is the highest version in stage Production, else @champion, else the newest Active one. Other flavours are skipped with the reason. Running it again copies nothing new. Exits 5 when a version's check failed (it is there, Deployment Failed, with its log). Needs: pip install 'mlreg[mlflow]'.

    Example: mlreg import-mlflow ./mlruns --dry-run && mlreg import-mlflow sqlite:///mlflow.db --model iris-classifier
    """
    def done(p: Any, step: Any) -> None:  # a long import shows its progress
        render.err(f"mlreg: {render.clean(p.display)} {step.number} (MLflow version {step.mlflow.number}): "
                   f"{STATUS_LABELS[step.status]}")

    plans = registry().import_mlflow(source, model or (), name, dry_run, done=None if as_json else done)
    if as_json:
        render.emit_json({"models": [p.to_json() for p in plans]})
    elif not plans:
        render.out("no registered models to import")
    for p in plans if not as_json else ():
        data = p.to_json()
        verb = "would import" if dry_run else "imported"
        listed = ", ".join(f"{i['version']} (MLflow {i['mlflow_version']}"
                           + ("" if dry_run else f", {STATUS_LABELS[i['status']]}") + ")"
                           for i in data["imported"]) or "nothing new"
        primary = f"; primary {p.primary}" if p.primary else ""
        render.out(f"{render.clean(p.display)}: {verb} {listed}{primary}")
        for skipped in data["skipped"]:
            render.out(f"  skipped MLflow version {skipped['mlflow_version']}: {render.clean(skipped['reason'])}")
    if any(step.status == "failed" for p in plans for step in p.steps):
        raise typer.Exit(EXIT_STATUS["failed"])  # as a deploy whose check failed: 5
