"""The commands that change a model's shared state: ``describe``, ``promote``."""

from typing import Annotated, Optional

import typer

from .. import render
from .base import (
    JsonFlag,
    NameArg,
    RefArg,
    command,
    funnel,
    registry,
)


@command()
@funnel
def describe(
    name: NameArg,
    text: Annotated[str, typer.Argument(help="The new description.")],
    as_json: JsonFlag = False,
) -> None:
    """Set a model's description.

    Example: mlreg describe "Iris Classifier" "Predicts the species of an iris from 4 measurements"
    """
    info = registry().describe(name, text)
    if as_json:
        render.emit_json(info.to_json())
    else:
        render.out(f"Description of {render.clean(info.record.name)} set.")


@command()
@funnel
def promote(
    name: NameArg,
    ref: RefArg,
    expect_primary: Annotated[Optional[str], typer.Option(
        "--expect-primary", metavar="VERSION",
        help="Promote only if the primary is still VERSION ('none' for no primary); else exit 4.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make an Active version the primary (also how to roll back).

    Example: mlreg promote "Iris Classifier" 0.1.0 --expect-primary 0.2.0
    """
    result = registry().promote(name, ref, expect_primary=expect_primary)
    if as_json:
        render.emit_json(result.to_json())
    elif result.changed:
        render.out(f"{render.clean(result.model)}: primary {result.previous or 'none'} -> {result.record.version}")
    else:
        render.out(f"{render.clean(result.model)}: {result.record.version} is already the primary")
