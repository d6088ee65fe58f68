"""A model's lifecycle (SPEC §7): ``alias list|set|rm``, ``tag``, ``delete``, ``prune``, ``diff``."""

import sys
from typing import Annotated, Any, Optional

import typer

from .. import render
from ..errors import UsageError
from .base import JsonFlag, NameArg, RefArg, app, command, funnel, registry, version_line

alias_app = typer.Typer(help="Named pointers to versions beside the primary (e.g. @champion, @staging).",
                        no_args_is_help=True)
app.add_typer(alias_app, name="alias")

AliasArg = Annotated[str, typer.Argument(metavar="ALIAS", help="1-32 of a-z, 0-9, '-', '_', starting with a letter.")]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (scripts must give it: without a terminal, "
                                                             "mlreg exits 2 rather than delete unasked).")]


@command(alias_app, "list")
@funnel
def alias_list(name: NameArg, as_json: JsonFlag = False) -> None:
    """List a model's aliases and the version each names.

    Example: mlreg alias list "Iris Classifier" --json
    """
    found = registry().aliases(name)
    if as_json:
        render.emit_json([a.to_json() for a in found])
        return
    if not found:
        render.out("No aliases (set one with `mlreg alias set NAME ALIAS VERSION`).")
        return
    render.table(["ALIAS", "VERSION", "ID", "STATUS"],
                 [["@" + a.alias, a.record.version, a.record.version_id, a.record.status_label] for a in found],
                 no_wrap=("ALIAS", "VERSION", "ID"), status="STATUS")


@command(alias_app, "set")
@funnel
def alias_set(
    name: NameArg,
    alias: AliasArg,
    ref: RefArg,
    expect: Annotated[Optional[str], typer.Option(
        "--expect", metavar="VERSION|none",
        help="Move the alias only if it still names VERSION ('none': only if it does not exist yet); else exit 4.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Point an alias at an Active version (a compare-and-swap with --expect).

    Example: mlreg alias set "Iris Classifier" champion 0.3.0 --expect 0.2.0
    """
    result = registry().set_alias(name, alias, ref, expect=expect)
    if as_json:
        render.emit_json(result.to_json())
    elif result.changed:
        render.out(f"{render.clean(result.record.model)}: @{result.alias} {result.previous or 'none'} -> "
                   f"{result.record.version}")
    else:
        render.out(f"{render.clean(result.record.model)}: @{result.alias} already names {result.record.version}")


@command(alias_app, "rm")
@funnel
def alias_rm(name: NameArg, alias: AliasArg, as_json: JsonFlag = False) -> None:
    """Remove an alias (exit 3 if it does not exist).

    Example: mlreg alias rm "Iris Classifier" staging
    """
    result = registry().remove_alias(name, alias)
    if as_json:
        render.emit_json(result.to_json())
    else:
        render.out(f"{render.clean(result.record.model)}: removed @{result.alias} (it named {result.previous})")


@command()
@funnel
def tag(
    name: NameArg,
    ref: RefArg,
    pairs: Annotated[Optional[list[str]], typer.Argument(metavar="[KEY=VALUE]...", help="Tags to set.")] = None,
    remove: Annotated[Optional[list[str]], typer.Option("--remove", metavar="KEY", help="A tag to remove (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set or remove tags on a version (keys: 1-64 of letters, digits, '_', '.', '-'; values: up to 256 characters).

    Example: mlreg tag "Iris Classifier" 0.3.0 dataset=2026-11 reviewed=yes --remove draft
    """
    from ..fields import tags

    record = registry().tag(name, ref, tags(pairs or (), flag="tag"), remove or ())
    if as_json:
        render.emit_json(record.to_json())
    else:
        shown = " ".join(f"{k}={v}" for k, v in sorted(record.tags.items())) or "none"
        render.out(f"{render.clean(record.model)} {record.version}: tags {render.clean(shown)}")


def confirm(question: str, what: str, yes: bool) -> None:
    """Go on with a destructive change only with ``--yes`` or a ``y`` typed on a terminal.

    Raises:
        UsageError (exit 2): no ``--yes`` and stdin is not a terminal.
        typer.Exit(1): the person answered anything but yes.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to delete {what} without --yes (stdin is not a terminal to ask on)")
    render.err(f"{question} [y/N] ", end="")
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        render.err("Nothing was deleted.")
        raise typer.Exit(1)


@command()
@funnel
def delete(
    name: NameArg,
    ref: Annotated[Optional[str], typer.Argument(metavar="[VERSION|ID|@ALIAS]", help="The version to delete.")] = None,
    model: Annotated[bool, typer.Option("--model", help="Delete the whole model: every version, the README and the history.")] = False,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete one version (never the primary, an aliased version or one Deploying), or with --model the whole model; a deleted number or ID is never given again.

    Example: mlreg delete "Iris Classifier" 0.1.0 --yes
    """
    reg = registry()
    if model and ref is not None:
        raise UsageError("give a VERSION or --model, not both")
    if model:
        info = reg.model(name)
        confirm(f"Delete the model {render.clean(info.record.name)} with its {info.version_count} version(s), "
                "README and history?", f"the model {render.clean(info.record.name)}", yes)
        info = reg.delete_model(name)
        if as_json:
            render.emit_json(info.to_json())
        else:
            render.out(f"Deleted the model {render.clean(info.record.name)} ({info.version_count} version(s)).")
        return
    if ref is None or not ref.strip():
        raise UsageError("name the VERSION to delete, or give --model to delete the whole model")
    shown = reg.version(name, ref)
    confirm(f"Delete {render.clean(version_line(shown))}?", f"{render.clean(shown.model)} {shown.version}", yes)
    record = reg.delete(name, ref)
    if as_json:
        render.emit_json(record.to_json())
    else:
        render.out(f"Deleted {render.clean(record.model)} {record.version} (ID {record.version_id}).")


@command()
@funnel
def prune(
    name: NameArg,
    keep: Annotated[int, typer.Option("--keep", metavar="N", help="Active versions to keep, the most recently deployed.")] = 5,
    failed_only: Annotated[bool, typer.Option("--failed-only", help="Delete only Deployment Failed versions.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Delete nothing; list what would go.")] = False,
    yes: YesFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete old versions: all but the primary, aliased and Deploying versions and the N most recently deployed Active ones.

    Example: mlreg prune "Iris Classifier" --keep 3 --yes
    """
    reg = registry()
    if not dry_run:
        planned = reg.prune(name, keep, failed_only, dry_run=True)
        if planned:
            confirm(f"Delete {len(planned)} version(s) of {render.clean(planned[0].model)} "
                    f"({', '.join(v.version for v in planned)})?", f"{len(planned)} version(s)", yes)
    found = reg.prune(name, keep, failed_only, dry_run=dry_run)
    if as_json:
        render.emit_json([v.to_json() for v in found])
        return
    verb = "Would delete" if dry_run else "Deleted"
    render.out(f"{verb} {len(found)} version(s)" + (": " + ", ".join(v.version for v in found) if found else "."))


@command()
@funnel
def diff(
    name: NameArg,
    a: Annotated[str, typer.Argument(metavar="A", help="A version number, ID or @ALIAS.")],
    b: Annotated[str, typer.Argument(metavar="B", help="Another version number, ID or @ALIAS.")],
    as_json: JsonFlag = False,
) -> None:
    """Show what differs between two versions: metadata, metrics (with the change), params, tags, environment, signature and source; exit 0 either way.

    Example: mlreg diff "Iris Classifier" @champion @latest
    """
    result = registry().diff(name, a, b)
    if as_json:
        render.emit_json(result.to_json())
        return
    if not result.changes:
        render.out(f"{render.clean(result.model)} {result.a.version} and {result.b.version}: no differences")
        return
    render.table(["FIELD", result.a.version, result.b.version, "CHANGE"],
                 [[c.field, _shown(c.a), _shown(c.b), "" if c.change is None else f"{c.change:+.6g}"]
                  for c in result.changes], no_wrap=("FIELD",))


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value[:20])) + (" ..." if len(value) > 20 else "")
    return str(value)
