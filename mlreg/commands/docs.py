"""A model's documentation: ``readme show|edit|check`` and ``templates``."""

import os
import sys
from typing import Annotated, Optional

import typer

from .. import render
from ..errors import CheckNotPassed, UsageError
from .base import (
    JsonFlag,
    NameArg,
    app,
    command,
    funnel,
    listing_what_is_readable,
    read_text,
    registry,
)


readme_app = typer.Typer(help="Show, edit and check a model's README.", no_args_is_help=True)


app.add_typer(readme_app, name="readme")


@command(readme_app, "show")
@funnel
def readme_show(name: NameArg, as_json: JsonFlag = False) -> None:
    """Print a model's README: rendered on a terminal, the raw Markdown when piped.

    Example: mlreg readme show "Iris Classifier" > README-iris.md
    """
    reg = registry()
    text = reg.readme(name)
    if as_json:
        render.emit_json({"name": reg.model(name).record.name, "readme": text})
    elif render.is_terminal():
        render.markdown(text)
    else:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


@command(readme_app, "edit")
@funnel
def readme_edit(
    name: NameArg,
    file: Annotated[Optional[str], typer.Option("--file", metavar="FILE", help="Replace the README with this file ('-' reads stdin) instead of opening an editor.")] = None,
) -> None:
    """Edit a model's README in $VISUAL or $EDITOR, or replace it from a file or stdin.

    The editor works on a temporary copy and no lock is held meanwhile; the save
    is refused (exit 4) if someone else changed the README in the meantime, and
    your text is kept in a file whose path is printed.

    Example: mlreg readme edit "Iris Classifier" --file docs/iris.md
    """
    import subprocess
    import tempfile

    from ..errors import ReadmeChanged
    from ..readme import sha256
    from ..names import folder as folder_name

    reg = registry()
    if file is not None:
        reg.set_readme(name, read_text(file, "--file"))
        render.out(f"README of {render.clean(reg.model(name).record.name)} saved.")
        return
    current = reg.readme(name)
    editor = _editor()
    fd, path = tempfile.mkstemp(prefix=f"mlreg-readme-{folder_name(name)}-", suffix=".md")
    with open(fd, "w", encoding="utf-8") as f:
        f.write(current)
    try:
        code = subprocess.run(editor + [path]).returncode
    except OSError as e:
        os.unlink(path)
        raise UsageError(f"cannot run the editor {' '.join(editor)}: {e.strerror}; set $VISUAL or $EDITOR") from None
    with open(path, encoding="utf-8", errors="replace") as f:
        edited = f.read()
    if edited == current:
        os.unlink(path)
        if code != 0:  # as git commit does: a script must not carry on as if the edit happened
            render.err(f"mlreg: error: the editor exited with {code}; the README was not changed")
            raise typer.Exit(1)
        render.err("README unchanged.")
        return
    if code != 0:
        render.err(f"mlreg: error: the editor exited with {code}; the README was not changed; your text is kept in {path}")
        raise typer.Exit(1)
    try:
        reg.set_readme(name, edited, expect_sha256=sha256(current))
    except ReadmeChanged as e:
        render.err(f"mlreg: error: {render.clean(e)}; your text is kept in {path}")
        raise typer.Exit(e.exit_code) from None
    os.unlink(path)
    render.out(f"README of {render.clean(reg.model(name).record.name)} saved.")


def _editor() -> list[str]:
    """$VISUAL, else $EDITOR, else the first of editor, nano and vi found on PATH."""
    import shlex
    import shutil

    for variable in ("VISUAL", "EDITOR"):
        value = os.environ.get(variable, "").strip()
        if value:
            return shlex.split(value)
    for candidate in ("editor", "nano", "vi"):
        if shutil.which(candidate):
            return [candidate]
    raise UsageError("no editor found: set $VISUAL or $EDITOR, or use --file")


@command(readme_app, "check")
@funnel
def readme_check(name: NameArg, as_json: JsonFlag = False) -> None:
    """Exit 8 while the README still holds TODO(mlreg) placeholders, naming their sections.

    Example: mlreg readme check "Iris Classifier" && mlreg promote "Iris Classifier" 0.3.0
    """
    reg = registry()
    missing = reg.readme_placeholders(name)
    model_name = reg.model(name).record.name
    if as_json:
        render.emit_json({"name": model_name, "ok": not missing, "placeholders": missing})
    elif not missing:
        render.out(f"README of {render.clean(model_name)}: no placeholders left.")
    if missing:
        raise CheckNotPassed(f"README of {model_name} still has placeholders in: " + ", ".join(missing)
                             + "; fill them with `mlreg readme edit`")


@command()
@funnel
def templates(as_json: JsonFlag = False) -> None:
    """List the model templates: the built-in ones and the registry's own (REGISTRY/templates/*.toml).

    Example: mlreg deploy model.joblib --name "Spam filter" --template text-classifier
    """
    with listing_what_is_readable() as listing:
        found = listing(registry().templates)
        if as_json:
            render.emit_json([t.to_json() for t in found])
            return
        render.table(["NAME", "TYPE", "FRAMEWORK", "SOURCE", "DESCRIPTION"],
                     [[t.name, t.type, t.framework, t.source, t.description] for t in found], no_wrap=("NAME",))
