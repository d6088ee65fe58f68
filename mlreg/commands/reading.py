"""The read commands: ``models``, ``show``, ``versions``, ``status``, ``logs``, ``history``."""

from typing import Annotated, Optional

import typer

from .. import render
from ..metadata import VersionRecord
from ..errors import UsageError
from .base import (
    EXIT_STATUS,
    JsonFlag,
    NameArg,
    RefArg,
    command,
    funnel,
    label,
    listing_what_is_readable,
    print_version,
    registry,
)


@command()
@funnel
def models(as_json: JsonFlag = False) -> None:
    """List every model: name, Type, Framework, primary, number of versions, description.

    Example: mlreg models --json | jq -r '.[].name'
    """
    with listing_what_is_readable() as listing:
        found = listing(registry().models)
        if as_json:
            render.emit_json([m.to_json() for m in found])
            return
        render.table(
            ["NAME", "TYPE", "FRAMEWORK", "PRIMARY", "VERSIONS", "DESCRIPTION"],
            [[m.record.name, m.record.type, m.record.framework, m.record.primary or "-",
              m.version_count, m.record.description] for m in found],
            no_wrap=("NAME", "PRIMARY", "VERSIONS"),
        )


@command()
@funnel
def show(
    name: NameArg,
    as_json: JsonFlag = False,
    server: Annotated[Optional[str], typer.Option("--server", metavar="URL", envvar="MLREG_SERVER", show_envvar=False, help="The mlreg serve the cURL snippet calls (default $MLREG_SERVER, else http://127.0.0.1:8080).")] = None,
) -> None:
    """Show a model's overview: description, Type, Framework, primary, versions and invocation code.

    Example: mlreg show "Iris Classifier" --server https://models.example.com
    """
    url = None
    if server:
        from urllib.parse import urlsplit

        parts = urlsplit(server.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--server {server!r} is not a URL: give http://HOST:PORT or https://HOST")
        url = server.strip().rstrip("/")
    reg = registry()
    overview = reg.show(name, url=url)
    if as_json:
        render.emit_json(reg.overview_json(overview))
        return
    r = overview.info.record
    render.fields([
        ("Name", r.name), ("Folder", r.folder), ("Description", r.description or "-"),
        ("Type", r.type), ("Framework", r.framework), ("Primary", r.primary or "none"),
        ("Versions", overview.info.version_count),
        ("Aliases", " ".join(f"@{a}={v}" for a, v in sorted(r.aliases.items())) or "none"),
        *_signature_fields(overview.versions),
        ("About", overview.readme_intro or "(the README has no summary yet: mlreg readme edit)"),
    ])
    render.out()
    _versions_table(overview.versions)
    render.out()
    render.out("Call the primary version:")
    render.out(f"  CLI:     {render.clean(overview.invocation['cli'])}")
    render.out("  Python:  " + "\n           ".join(render.clean(l) for l in overview.invocation["python"].splitlines()))
    render.out(f"  cURL:    {render.clean(overview.invocation['curl'])}   (with `mlreg serve` running)")


def _signature_fields(found: list[VersionRecord]) -> list[tuple[str, str]]:
    """The primary's (else the newest's) inputs and outputs, as its deploy check read them."""
    from ..views import signature

    chosen = next((v for v in found if v.primary), found[-1] if found else None)
    if chosen is None:
        return []
    sig = signature(chosen.signature)
    if sig["feature_names"]:
        inputs = f"{len(sig['feature_names'])} features: {', '.join(sig['feature_names'][:20])}"
    elif sig["n_features"] is not None:
        inputs = f"{sig['n_features']} features (unnamed)"
    else:
        inputs = "unknown"
    outputs = f"one of {len(sig['classes'])} classes: {', '.join(map(str, sig['classes'][:20]))}" \
        if sig["classes"] is not None else "a value per row (no classes)" if sig["n_features"] is not None else "unknown"
    imports = "not recorded (deployed before mlreg read them)" if chosen.imports is None else \
        ", ".join(chosen.imports) or "nothing"
    return [("Inputs", inputs), ("Outputs", outputs), ("Format", chosen.format), ("Imports", imports)]


def _versions_table(found: list[VersionRecord]) -> None:
    render.table(
        ["VERSION", "ID", "STATUS", "PRIMARY", "ALIASES", "DEPLOYED AT", "SIZE", "FRAMEWORK", "TAGS"],
        [[v.version, v.version_id, v.status_label, "*" if v.primary else "", " ".join("@" + a for a in v.aliases),
          render.when(v.deployed_at), render.size(v.size), v.framework,
          " ".join(f"{k}={t}" for k, t in sorted(v.tags.items()))] for v in found],
        no_wrap=("VERSION", "ID", "PRIMARY", "DEPLOYED AT", "SIZE"), status="STATUS", words=("ALIASES", "TAGS"),
        optional=("FRAMEWORK", "SIZE"), shorter={"DEPLOYED AT": lambda at: at[:10]},
    )


@command()
@funnel
def versions(
    name: NameArg,
    status: Annotated[Optional[str], typer.Option("--status", help="Only versions in this status: deploying, active or failed.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", metavar="KEY=VALUE", help="Only versions with this tag (repeatable: all must match).")] = None,
    alias: Annotated[Optional[str], typer.Option("--alias", metavar="ALIAS", help="Only the version this alias names.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List a model's versions: number, ID, status, primary mark, aliases, deploy time, size, Framework, tags.

    Example: mlreg versions "Iris Classifier" --status active --tag dataset=2026-11 --json | jq -r '.[].version'
    """
    reg = registry()
    if tag:
        from ..fields import tags as parse_tags

        wanted = parse_tags(tag)
    else:
        wanted = {}  # (fields, its regular expressions, only for --tag: half a millisecond)
    found = reg.versions(name, status, tags=wanted, alias=alias)
    if as_json:
        render.emit_json(reg.versions_json(found))
    else:
        _versions_table(found)


@command()
@funnel
def status(
    name: NameArg,
    ref: Annotated[Optional[str], typer.Argument(metavar="[VERSION|ID]", help="Version number or ID (default: the primary, else the newest deploy).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a version's status; exit 0 if Active, 5 if Deployment Failed, 6 while Deploying.

    Example: until mlreg status "Iris Classifier" 0.3.0; [ $? -ne 6 ]; do sleep 1; done
    """
    from ..environment import drift

    reg = registry()
    record = reg.status(name, ref)
    changed = drift(record.environment)
    if as_json:
        render.emit_json({**reg.version_json(record), "environment_drift": changed})
    else:
        print_version(record)
        for sentence in changed:
            render.out(f"Environment: {sentence}")
    raise typer.Exit(EXIT_STATUS[record.status])


@command()
@funnel
def logs(name: NameArg, ref: RefArg, as_json: JsonFlag = False) -> None:
    """Print a version's deploy log.

    Example: mlreg logs "Iris Classifier" 0.2.0
    """
    lines = registry().logs(name, ref)
    if as_json:
        from ..views import log_entries

        render.emit_json(log_entries(lines))
    else:
        for line in lines:
            render.out(render.clean(line))


@command()
@funnel
def history(name: NameArg, as_json: JsonFlag = False) -> None:
    """Show every deploy outcome, change of primary, alias, tag and deletion: who, when, what, from -> to.

    Example: mlreg history "Iris Classifier" --json | jq '.[] | select(.event == "primary")'
    """
    events = registry().history(name)
    if as_json:
        render.emit_json([e.to_json() for e in events])
        return
    rows = []
    for e in events:
        if e.event == "primary":
            what = f"primary {e.from_ or 'none'} -> {e.to}"
        elif e.event == "deploy":
            what = f"deploy {e.version} ({e.version_id}): {label(e.status)}"
        elif e.event == "alias":
            what = f"alias {e.detail} {e.from_ or 'none'} -> {e.to or 'none'}"
        elif e.event == "tag":
            what = f"tag {e.version} {e.detail}: {e.from_ if e.from_ is not None else '-'} -> " \
                   f"{e.to if e.to is not None else '-'}"
        elif e.event == "delete":
            what = f"delete {e.version} ({e.version_id or '?'})"
        else:
            what = e.event
        rows.append([render.when(e.at), e.by, what, "" if e.event in ("alias", "tag") else e.detail or ""])
    render.table(["AT", "BY", "WHAT", "DETAIL"], rows, no_wrap=("AT",))
