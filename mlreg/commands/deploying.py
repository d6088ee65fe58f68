"""``mlreg init`` and ``mlreg deploy``."""

import sys
import time
from typing import Annotated, Any, Optional

import typer

from .. import render
from ..errors import DeploymentFailed, UsageError
from ..registry import Registry
from .base import (
    JsonFlag,
    command,
    funnel,
    options,
    read_text,
    registry,
    version_line,
)


@command()
@funnel
def init(
    path: Annotated[Optional[str], typer.Argument(help="Folder to create (default: the registry chosen by --registry, $MLREG_REGISTRY or the per-user default).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a registry (commands that write also create it on first use).

    Example: mlreg init ./registry
    """
    reg = Registry(path or options.registry, lock_timeout=options.lock_timeout)
    created = reg.init()
    if as_json:
        render.emit_json({"path": reg.path, "created": created})
    else:
        render.out(f"Created the registry {reg.path}" if created else f"Already a registry: {reg.path}")


@command()
@funnel
def deploy(
    artifact: Annotated[str, typer.Argument(help="The model file to deploy: joblib or pickle, skops, or ONNX (told by its content).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name; a new name creates the model.")],
    bump: Annotated[str, typer.Option("--bump", help="Version part to bump: major, minor or patch.")] = "minor",
    version: Annotated[Optional[str], typer.Option("--version", metavar="X.Y.Z", help="Exact, unused version instead of a bump.")] = None,
    description: Annotated[Optional[str], typer.Option("--description", help="Set the model's description.")] = None,
    type_: Annotated[Optional[str], typer.Option("--type", help="Type (e.g. Classification); default: detected.")] = None,
    framework: Annotated[Optional[str], typer.Option("--framework", help="Framework (e.g. scikit-learn); default: detected.")] = None,
    template: Annotated[Optional[str], typer.Option("--template", metavar="NAME", help="Template whose README (first deploy), Type, Framework and sample input to use; see `mlreg templates`.")] = None,
    readme: Annotated[Optional[str], typer.Option("--readme", metavar="FILE", help="Markdown file that sets the model's README.")] = None,
    sample_input: Annotated[Optional[str], typer.Option("--sample-input", metavar="JSON", help="Rows to predict during the check, e.g. '[[5.1, 3.5, 1.4, 0.2]]'.")] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Do not make the new version primary.")] = False,
    check_timeout: Annotated[float, typer.Option("--check-timeout", metavar="SECONDS", help="Time limit of the load-and-predict check.")] = 300.0,
    code: Annotated[Optional[list[str]], typer.Option("--code", metavar="PATH", help="A .py file or package folder the model needs to be unpickled (its own classes); stored with the version and put first on sys.path for the check and every load. Repeatable.")] = None,
    if_changed: Annotated[bool, typer.Option("--if-changed", help="Deploy nothing when an Active version has an artifact with the same sha256: print that version and exit 0 (JSON: \"deployed\": false).")] = False,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", metavar="KEY=VALUE", help="A tag (editable later with `mlreg tag`). Repeatable.")] = None,
    metric: Annotated[Optional[list[str]], typer.Option("--metric", metavar="KEY=NUMBER", help="A metric of the trained model, e.g. accuracy=0.97. Repeatable.")] = None,
    metrics_file: Annotated[Optional[list[str]], typer.Option("--metrics-file", metavar="FILE", help="A JSON object of metrics (as a training script or DVC writes; nested objects become a.b). Repeatable.")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", metavar="KEY=VALUE", help="A training parameter. Repeatable.")] = None,
    source: Annotated[Optional[str], typer.Option("--source", metavar="TEXT", help="Where the model came from (e.g. a training run's URL); default: the git commit, dirty flag and origin of the current directory.")] = None,
    format_: Annotated[Optional[str], typer.Option("--format", metavar="onnx|skops", help="Convert the scikit-learn artifact at deploy (skl2onnx or skops) and store the converted file; the check proves parity on the sample input. Needs pip install 'mlreg[onnx]' or 'mlreg[skops]'.")] = None,
    sign_key: Annotated[Optional[str], typer.Option("--sign-key", metavar="PEM", help="Sign the new version with this private key instead of yours (`mlreg keys init`).")] = None,
    no_sign: Annotated[bool, typer.Option("--no-sign", help="Do not sign the new version (by default it is signed with your key, when you have one).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Deploy a model file as a new version; exit 0 if Active, 5 if Deployment Failed.

    Example: mlreg deploy model.joblib --name "Iris Classifier" --sample-input '[[5.1, 3.5, 1.4, 0.2]]' --if-changed
    """
    from .. import fields

    readme_text = read_text(readme, "--readme") if readme is not None else None
    lineage = dict(tags=fields.tags(tag or ()), metrics=fields.metrics(metric or (), metrics_file or ()),
                   params=fields.params(param or ()), source=source)
    if no_sign and sign_key:
        raise UsageError("--no-sign and --sign-key contradict each other: give one")
    progress = _CopyProgress()
    reg = registry()
    try:
        result = reg.deploy(
            artifact, name, version_bump=bump, version=version, description=description,
            type=type_, framework=framework, template=template, sample_input=sample_input, readme=readme_text,
            promote=not no_promote, check_timeout=check_timeout, progress=progress, code=code or (),
            if_changed=if_changed, outcome=True, sign=False if no_sign else sign_key or True, format=format_,
            **lineage,
        )
    except DeploymentFailed as e:
        if as_json:
            render.emit_json({**reg.version_json(e.record), "deployed": True})
        else:
            render.out(version_line(e.record))
        render.err(f"mlreg: error: {render.clean(e)}")
        raise typer.Exit(e.exit_code) from None
    finally:
        progress.close()
    if as_json:
        render.emit_json({**reg.version_json(result.record), "deployed": result.deployed})
    elif not result.deployed:
        render.out(render.clean(version_line(result.record)) + " (unchanged: nothing deployed)")
    else:
        render.out(render.clean(version_line(result.record)))


class _CopyProgress:
    """A progress bar on stderr for copies that last over a second, on a terminal only."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.enabled = sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < 1.0 or done >= total:
                return
            from rich.progress import DownloadColumn, Progress, TransferSpeedColumn
            from rich.console import Console

            self.bar = Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("copying", total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
