"""Keeping a registry sound: ``doctor``, ``verify``, and shell ``completion``."""

import sys
from typing import Annotated, Optional

import typer

from .. import render
from ..errors import UsageError
from .base import (
    JsonFlag,
    app,
    command,
    funnel,
    registry,
)


@command()
@funnel
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the completion script for a shell; it completes commands, options, model names, versions and IDs.

    Example: mlreg completion bash > ~/.local/share/bash-completion/completions/mlreg
    """
    from ..completion import SHELLS, render
    from . import load_all

    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}: use bash, zsh or fish")
    load_all()  # the script names every command, not only this one
    sys.stdout.write(render(shell, app))


@command()
@funnel
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is safe: mark interrupted deploys failed, remove old leftovers. Never deletes an artifact or a version.")] = False,
    older_than: Annotated[float, typer.Option("--older-than", metavar="SECONDS", help="Age past which staging folders, temporary files and orphan IDs count as leftovers.")] = 3600.0,
    as_json: JsonFlag = False,
) -> None:
    """Prove the registry sound: hashes, metadata, interrupted deploys, leftovers; exit 7 when something is wrong.

    Example: mlreg doctor || mlreg doctor --fix
    """
    report = registry().doctor(fix=fix, older_than=older_than)
    if as_json:
        render.emit_json(report.to_json())
    else:
        for p in report.problems:
            mark = "fixed" if p.fixed else "PROBLEM"
            render.out(f"{mark}: {p.kind}: {render.clean(p.path)}: {render.clean(p.message)}")
        summary = f"{report.models} models, {report.versions} versions, {report.artifacts} artifacts checked"
        left = sum(not p.fixed for p in report.problems)
        render.out(f"{summary}: " + ("all sound." if not left else f"{left} problem(s) left"
                                     + ("" if fix else "; `mlreg doctor --fix` repairs what is safe") + "."))
    if not report.ok:
        raise typer.Exit(7)


@command()
@funnel
def verify(
    target: Annotated[Optional[str], typer.Argument(metavar="[NAME[@VERSION]]", help="A model, or one version of it (NAME@VERSION, NAME@ID, or a reference: NAME@@ALIAS, NAME@@primary); default: every version.")] = None,
    load: Annotated[bool, typer.Option("--load", help="Also load each Active version as predict would, under your load policy and trust file: a version you could not call is a problem.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Rehash artifacts against the sha256 and size recorded at deploy, and check every signature (nothing is unpickled); exit 7 on a mismatch or a signature that does not hold.

    With --load, each Active version is also loaded under the load policy (see "Trusting what you load").

    Example: mlreg verify "Iris Classifier@0.2.0" --load
    """
    # A name holds no "@": what follows the first is the version, ID or @reference.
    name, _, version = target.partition("@") if target and "@" in target else (target, "", None)
    results = registry().verify(name or None, version or None, load=load)
    if as_json:
        render.emit_json([r.to_json() for r in results])
    else:
        for r in results:
            bad_signature = any(not s.valid for s in r.signatures)
            label = "ok" if r.ok else "REFUSED" if r.refused else "BAD SIGNATURE" if bad_signature else "MISMATCH"
            render.out(f"{label}  {render.clean(r.model)} {r.version} ({r.version_id})"
                       + (f": {render.clean(r.problem)}" if r.problem else ""))
    if not all(r.ok for r in results):
        raise typer.Exit(7)
