"""The ``mlreg`` command: a thin Typer layer over ``mlreg.Registry``.

Each command parses its arguments, calls one Registry method and renders the
result. Errors pass through one funnel (``_funnel``) that turns an
``MlregError`` into one line on stderr and its exit code (SPEC §3).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import signal
import sys
import time
from typing import Annotated, Any, Callable, Optional

import typer
from typer.main import get_command_name

from . import __version__, render
from .errors import DeploymentFailed, MlregError, UsageError
from .metadata import VersionRecord
from .store import Registry

app = typer.Typer(
    name="mlreg",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_STATUS = {"active": 0, "failed": 5, "deploying": 6}


def _flag_type_hidden() -> None:
    """Typer shows a ``<bool>`` type beside every flag (``--json  <bool>``), which
    reads as if the flag took a value: show no type for flags."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: Any, ctx: Any) -> Any:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flag_type_hidden()


def command(group: typer.Typer | None = None, name: str | None = None) -> Callable[[Callable[..., Any]], Any]:
    """Register a command, its docstring as its help, and the docstring's
    ``Example:`` paragraph shown last (as the epilog), after the options."""

    def decorate(fn: Callable[..., Any]) -> Any:
        import inspect

        paragraphs = inspect.cleandoc(fn.__doc__ or "").split("\n\n")
        examples = [p for p in paragraphs if p.startswith("Example:")]
        body = "\n\n".join(p for p in paragraphs if not p.startswith("Example:"))
        return (group or app).command(name, help=body, epilog="\n\n".join(examples) or None)(fn)

    return decorate


class _Options:
    """The global options, set by the app's callback before any command runs."""

    registry: Optional[str] = None
    lock_timeout: Optional[float] = None
    trust_file: Optional[str] = None
    debug: bool = False


_options = _Options()


def _registry() -> Registry:
    return Registry(_options.registry, lock_timeout=_options.lock_timeout, trust_file=_options.trust_file)


class Terminated(BaseException):
    """SIGTERM, raised so that a deploy cleans up its staging like on Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def _funnel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known errors into one line on stderr and SPEC's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:
            _reader_gone()
            raise typer.Exit(0) from None
        except MlregError as e:
            if _options.debug:
                raise
            render.err(f"mlreg: error: {render.clean(e)}")
            raise typer.Exit(e.exit_code) from None
        except OSError as e:
            if _options.debug:
                raise
            where = f": {e.filename}" if e.filename else ""
            render.err(f"mlreg: error: {render.clean(e.strerror or e)}{render.clean(where)}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            render.err("mlreg: interrupted")
            raise typer.Exit(130) from None
        except Terminated:
            render.err("mlreg: terminated")
            raise typer.Exit(143) from None
        except Exception as e:
            if _options.debug:
                raise
            render.err(f"mlreg: unexpected error: {type(e).__name__}: {render.clean(e)} (run with --debug for the traceback)")
            raise typer.Exit(1) from None

    return wrapper


def _reader_gone() -> None:
    """The reader of stdout closed the pipe (``mlreg versions m | head -1``): end
    quietly, with nothing more written there (as `ls | head` does)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _pipe_was_closed() -> bool:
    """Whether rich or Click met a closed stdout and pointed it at the null device
    (rich), or wrapped it (Click), before exiting with 1."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":
        return True
    try:
        here, null = os.fstat(1), os.stat(os.devnull)
    except OSError:
        return False
    return (here.st_rdev, here.st_ino) == (null.st_rdev, null.st_ino)


def _version_callback(value: bool) -> None:
    if value:
        render.out(f"mlreg {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    registry: Annotated[Optional[str], typer.Option(
        "--registry", metavar="PATH",
        help="Registry folder. Default: $MLREG_REGISTRY, else the per-user data folder.")] = None,
    lock_timeout: Annotated[Optional[float], typer.Option(
        "--lock-timeout", metavar="SECONDS",
        help="How long to wait for a model's lock before exit 6 (-1 waits for ever). "
        "Default: $MLREG_LOCK_TIMEOUT, else 30.")] = None,
    trust_file: Annotated[Optional[str], typer.Option(
        "--trust-file", metavar="FILE",
        help="A file outside the registry listing the sha256 values each model may load; "
        "anything else fails with exit 7. Default: $MLREG_TRUST_FILE.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version_callback, is_eager=True, help="Print mlreg's version and exit.")] = False,
) -> None:
    """A model registry that lives in a directory: deploy models as numbered versions,
    see their status and logs, choose the primary, roll back, document and call them.

    Example: mlreg --registry ./registry versions "Iris Classifier"
    """
    _options.registry = registry
    _options.lock_timeout = lock_timeout
    _options.trust_file = trust_file
    _options.debug = debug


JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
NameArg = Annotated[str, typer.Argument(help="Model name (any spelling of it) or its folder name.")]
RefArg = Annotated[str, typer.Argument(metavar="VERSION|ID", help="A version number (0.2.0) or a version ID.")]


@contextlib.contextmanager
def _listing_what_is_readable() -> Any:
    """For listings: one unreadable item (a corrupt model.toml, a bad template) must
    not hide the others. The block lists what could be read; then the error
    names the unreadable items and the exit code is 7."""
    from .errors import PartlyUnreadable

    failure: list[PartlyUnreadable] = []

    def listing(fn: Callable[[], list[Any]]) -> list[Any]:
        try:
            return fn()
        except PartlyUnreadable as e:
            failure.append(e)
            return e.found

    yield listing
    if failure:
        for problem in failure[0].problems:
            render.err(f"mlreg: error: {render.clean(problem)}")
        raise typer.Exit(failure[0].exit_code)


def _read_text(path: str, option: str) -> str:
    """The text of the file an option names ('-' is stdin); a byte-order mark is dropped.

    Raises:
        UsageError: the file cannot be read.
    """
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {option} {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path} is not UTF-8 text") from None


def _version_line(v: VersionRecord) -> str:
    mark = ", primary" if v.primary else ""
    return f"{v.model} {v.version} (ID {v.version_id}): {v.status_label}{mark}"


def _print_version(v: VersionRecord) -> None:
    pairs: list[tuple[str, Any]] = [
        ("Model", v.model),
        ("Version", v.version),
        ("Version ID", v.version_id),
        ("Status", v.status_label),
        ("Primary", "yes" if v.primary else "no"),
        ("Deployed at", render.when(v.deployed_at)),
        ("Deployed by", v.deployed_by),
        ("Size", f"{render.size(v.size)} ({v.size} bytes)"),
        ("sha256", v.sha256),
        ("Type", v.type),
        ("Framework", v.framework),
    ]
    if v.reason:
        pairs.append(("Reason", v.reason))
    render.fields(pairs)


# ---------------------------------------------------------------- commands


@command()
@_funnel
def init(
    path: Annotated[Optional[str], typer.Argument(help="Folder to create (default: the registry chosen by --registry, $MLREG_REGISTRY or the per-user default).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a registry (commands that write also create it on first use).

    Example: mlreg init ./registry
    """
    reg = Registry(path or _options.registry, lock_timeout=_options.lock_timeout)
    created = reg.init()
    if as_json:
        render.emit_json({"path": reg.path, "created": created})
    else:
        render.out(f"Created the registry {reg.path}" if created else f"Already a registry: {reg.path}")


@command()
@_funnel
def deploy(
    artifact: Annotated[str, typer.Argument(help="The model file (joblib or pickle) to deploy.")],
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
    as_json: JsonFlag = False,
) -> None:
    """Deploy a model file as a new version; exit 0 if Active, 5 if Deployment Failed.

    Example: mlreg deploy model.joblib --name "Iris Classifier" --sample-input '[[5.1, 3.5, 1.4, 0.2]]'
    """
    readme_text = _read_text(readme, "--readme") if readme is not None else None
    progress = _CopyProgress()
    try:
        record = _registry().deploy(
            artifact, name, version_bump=bump, version=version, description=description,
            type=type_, framework=framework, template=template, sample_input=sample_input, readme=readme_text,
            promote=not no_promote, check_timeout=check_timeout, progress=progress, code=code or (),
        )
    except DeploymentFailed as e:
        if as_json:
            render.emit_json(e.record.to_json())
        else:
            render.out(_version_line(e.record))
        render.err(f"mlreg: error: {render.clean(e)}")
        raise typer.Exit(e.exit_code) from None
    finally:
        progress.close()
    if as_json:
        render.emit_json(record.to_json())
    else:
        render.out(render.clean(_version_line(record)))


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


@command()
@_funnel
def models(as_json: JsonFlag = False) -> None:
    """List every model: name, Type, Framework, primary, number of versions, description.

    Example: mlreg models --json | jq -r '.[].name'
    """
    with _listing_what_is_readable() as listing:
        found = listing(_registry().models)
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
@_funnel
def show(name: NameArg, as_json: JsonFlag = False) -> None:
    """Show a model's overview: description, Type, Framework, primary, versions and invocation code.

    Example: mlreg show "Iris Classifier"
    """
    overview = _registry().show(name)
    if as_json:
        render.emit_json(overview.to_json())
        return
    r = overview.info.record
    render.fields([
        ("Name", r.name), ("Folder", r.folder), ("Description", r.description or "-"),
        ("Type", r.type), ("Framework", r.framework), ("Primary", r.primary or "none"),
        ("Versions", overview.info.version_count),
        ("About", overview.readme_intro or "(the README has no summary yet: mlreg readme edit)"),
    ])
    render.out()
    _versions_table(overview.versions)
    render.out()
    render.out("Call the primary version:")
    render.out(f"  CLI:     {render.clean(overview.invocation['cli'])}")
    render.out("  Python:  " + "\n           ".join(render.clean(l) for l in overview.invocation["python"].splitlines()))
    render.out(f"  cURL:    {render.clean(overview.invocation['curl'])}   (with `mlreg serve` running)")


@command()
@_funnel
def describe(
    name: NameArg,
    text: Annotated[str, typer.Argument(help="The new description.")],
    as_json: JsonFlag = False,
) -> None:
    """Set a model's description.

    Example: mlreg describe "Iris Classifier" "Predicts the species of an iris from 4 measurements"
    """
    info = _registry().describe(name, text)
    if as_json:
        render.emit_json(info.to_json())
    else:
        render.out(f"Description of {render.clean(info.record.name)} set.")


def _versions_table(found: list[VersionRecord]) -> None:
    render.table(
        ["VERSION", "ID", "STATUS", "PRIMARY", "DEPLOYED AT", "SIZE", "FRAMEWORK"],
        [[v.version, v.version_id, v.status_label, "*" if v.primary else "", render.when(v.deployed_at),
          render.size(v.size), v.framework] for v in found],
        no_wrap=("VERSION", "ID", "PRIMARY", "DEPLOYED AT", "SIZE"), status="STATUS",
    )


@command()
@_funnel
def versions(
    name: NameArg,
    status: Annotated[Optional[str], typer.Option("--status", help="Only versions in this status: deploying, active or failed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List a model's versions: number, ID, status, primary mark, deploy time, size, Framework.

    Example: mlreg versions "Iris Classifier" --status active --json | jq -r '.[].version'
    """
    found = _registry().versions(name, status)
    if as_json:
        render.emit_json([v.to_json() for v in found])
    else:
        _versions_table(found)


@command()
@_funnel
def status(
    name: NameArg,
    ref: Annotated[Optional[str], typer.Argument(metavar="[VERSION|ID]", help="Version number or ID (default: the primary, else the newest deploy).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a version's status; exit 0 if Active, 5 if Deployment Failed, 6 while Deploying.

    Example: until mlreg status "Iris Classifier" 0.3.0; [ $? -ne 6 ]; do sleep 1; done
    """
    from .environment import drift

    record = _registry().status(name, ref)
    changed = drift(record.environment)
    if as_json:
        render.emit_json({**record.to_json(), "environment_drift": changed})
    else:
        _print_version(record)
        for sentence in changed:
            render.out(f"Environment: {sentence}")
    raise typer.Exit(EXIT_STATUS[record.status])


@command()
@_funnel
def logs(name: NameArg, ref: RefArg, as_json: JsonFlag = False) -> None:
    """Print a version's deploy log.

    Example: mlreg logs "Iris Classifier" 0.2.0
    """
    lines = _registry().logs(name, ref)
    if as_json:
        from .views import log_entries

        render.emit_json(log_entries(lines))
    else:
        for line in lines:
            render.out(render.clean(line))


@command()
@_funnel
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
    result = _registry().promote(name, ref, expect_primary=expect_primary)
    if as_json:
        render.emit_json(result.to_json())
    elif result.changed:
        render.out(f"{render.clean(result.model)}: primary {result.previous or 'none'} -> {result.record.version}")
    else:
        render.out(f"{render.clean(result.model)}: {result.record.version} is already the primary")


@command()
@_funnel
def predict(
    name: NameArg,
    version: Annotated[Optional[str], typer.Option("--version", metavar="VERSION|ID", help="Version number or ID (default: the primary).")] = None,
    input_json: Annotated[Optional[str], typer.Option("--input", metavar="JSON", help='Rows as JSON: [[5.1, 3.5, 1.4, 0.2]] or {"inputs": [...]}.')] = None,
    input_file: Annotated[Optional[str], typer.Option("--input-file", metavar="FILE", help="JSON, or CSV with a header row (by .csv suffix or content); '-' reads stdin.")] = None,
    method: Annotated[str, typer.Option("--method", help="predict, predict_proba, predict_log_proba, decision_function, transform or score_samples.")] = "predict",
    jsonl: Annotated[bool, typer.Option("--jsonl", help='One line per input row: {"row": i, "prediction": ...}.')] = False,
    expect_sha256: Annotated[Optional[str], typer.Option("--expect-sha256", metavar="HASH", help="Refuse (exit 7) unless the version's artifact has this sha256.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Accepted for symmetry with other commands: the output is JSON already.")] = False,
) -> None:
    """Predict with a version (the primary by default), after verifying its artifact; prints JSON.

    Without --input or --input-file, the rows are read from stdin.

    Example: mlreg predict "Iris Classifier" --input '[[5.1, 3.5, 1.4, 0.2]]'
    """
    from .inputs import parse_csv, parse_json

    if input_json is not None and input_file is not None:
        raise UsageError("give either --input or --input-file, not both")
    if input_json is not None:
        payload = parse_json(input_json, "--input")
    else:
        if input_file in (None, "-"):
            if input_file is None and sys.stdin.isatty():
                raise UsageError("no input: give --input JSON, --input-file FILE, or pipe JSON on stdin")
            text, csv_name = sys.stdin.read(), False
            if not text.strip():
                raise UsageError("no input on stdin: pipe JSON rows or CSV, or give --input JSON / --input-file FILE")
        else:
            text, csv_name = _read_text(input_file, "--input-file"), input_file.lower().endswith(".csv")
            if not text.strip():
                raise UsageError(f"--input-file {input_file} is empty: it needs JSON rows or CSV with a header row")
        is_json = not csv_name and text.lstrip()[:1] in ("[", "{")
        payload = parse_json(text, "the input") if is_json else parse_csv(text)
    result = _registry().predict(name, payload, version=version, method=method, expect_sha256=expect_sha256)
    if jsonl:
        import json

        for i, value in enumerate(result["predictions"]):
            sys.stdout.write(json.dumps({"row": i, "prediction": value}, ensure_ascii=False) + "\n")
    else:
        render.emit_json(result)


@command()
@_funnel
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; loopback by default. 0.0.0.0 exposes every model to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0 picks a free one).")] = 8080,
    max_body: Annotated[int, typer.Option("--max-body", metavar="BYTES", help="Largest request body; larger ones get 413.")] = 10 * 1024 * 1024,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Drop a client whose request (line, headers and body) has not fully arrived this long after it began.")] = 30.0,
    max_connections: Annotated[int, typer.Option("--max-connections", metavar="N", help="Connections served at once; more are answered 503 and closed.")] = 64,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log each request on stderr.")] = True,
) -> None:
    """Serve the registry's HTTP JSON API, so cURL and other programs can call any version.

    Example: mlreg serve --port 8080 & curl -s -X POST localhost:8080/v1/models/iris-classifier/predict -d '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
    """
    from .server import make_server

    reg = _registry()
    try:
        server = make_server(reg, host, port, max_body=max_body, timeout=timeout, access_log=access_log,
                             max_connections=max_connections)
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    bound_host, bound_port = server.server_address[:2]
    render.err(f"mlreg: serving {reg.path} on http://{bound_host}:{bound_port} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()


readme_app = typer.Typer(help="Show, edit and check a model's README.", no_args_is_help=True)
app.add_typer(readme_app, name="readme")


@command(readme_app, "show")
@_funnel
def readme_show(name: NameArg, as_json: JsonFlag = False) -> None:
    """Print a model's README: rendered on a terminal, the raw Markdown when piped.

    Example: mlreg readme show "Iris Classifier" > README-iris.md
    """
    reg = _registry()
    text = reg.readme(name)
    if as_json:
        render.emit_json({"name": reg.model(name).record.name, "readme": text})
    elif render.is_terminal():
        render.markdown(text)
    else:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


@command(readme_app, "edit")
@_funnel
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

    from .errors import ReadmeChanged
    from .readme import sha256
    from .names import folder_name

    reg = _registry()
    if file is not None:
        reg.set_readme(name, _read_text(file, "--file"))
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
        render.err("README unchanged." if code == 0 else f"the editor exited with {code}; README unchanged.")
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
@_funnel
def readme_check(name: NameArg, as_json: JsonFlag = False) -> None:
    """Exit 8 while the README still holds TODO(mlreg) placeholders, naming their sections.

    Example: mlreg readme check "Iris Classifier" && mlreg promote "Iris Classifier" 0.3.0
    """
    reg = _registry()
    missing = reg.readme_placeholders(name)
    model_name = reg.model(name).record.name
    if as_json:
        render.emit_json({"name": model_name, "ok": not missing, "placeholders": missing})
    elif not missing:
        render.out(f"README of {render.clean(model_name)}: no placeholders left.")
    if missing:
        render.err(f"mlreg: README of {render.clean(model_name)} still has placeholders in: "
                   + ", ".join(render.clean(m) for m in missing) + "; fill them with `mlreg readme edit`")
        raise typer.Exit(8)


@command()
@_funnel
def templates(as_json: JsonFlag = False) -> None:
    """List the model templates: the built-in ones and the registry's own (REGISTRY/templates/*.toml).

    Example: mlreg deploy model.joblib --name "Spam filter" --template text-classifier
    """
    with _listing_what_is_readable() as listing:
        found = listing(_registry().templates)
        if as_json:
            render.emit_json([t.to_json() for t in found])
            return
        render.table(["NAME", "TYPE", "FRAMEWORK", "SOURCE", "DESCRIPTION"],
                     [[t.name, t.type, t.framework, t.source, t.description] for t in found], no_wrap=("NAME",))


@command()
@_funnel
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the completion script for a shell; it completes commands, options, model names, versions and IDs.

    Example: mlreg completion bash > ~/.local/share/bash-completion/completions/mlreg
    """
    from .completion import SHELLS, render

    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}: use bash, zsh or fish")
    sys.stdout.write(render(shell, app))


@command()
@_funnel
def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is safe: mark interrupted deploys failed, remove old leftovers. Never deletes an artifact or a version.")] = False,
    older_than: Annotated[float, typer.Option("--older-than", metavar="SECONDS", help="Age past which staging folders, temporary files and orphan IDs count as leftovers.")] = 3600.0,
    as_json: JsonFlag = False,
) -> None:
    """Prove the registry sound: hashes, metadata, interrupted deploys, leftovers; exit 7 when something is wrong.

    Example: mlreg doctor || mlreg doctor --fix
    """
    report = _registry().doctor(fix=fix, older_than=older_than)
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
@_funnel
def verify(
    target: Annotated[Optional[str], typer.Argument(metavar="[NAME[@VERSION]]", help="A model, or one version of it (NAME@VERSION or NAME@ID); default: every version.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rehash artifacts against the sha256 and size recorded at deploy (nothing is unpickled); exit 7 on a mismatch.

    Example: mlreg verify "Iris Classifier@0.2.0"
    """
    name, _, version = (target or "").rpartition("@") if target and "@" in target else (target, "", None)
    results = _registry().verify(name or None, version or None)
    if as_json:
        render.emit_json([r.to_json() for r in results])
    else:
        for r in results:
            render.out(f"{'ok' if r.ok else 'MISMATCH'}  {render.clean(r.model)} {r.version} ({r.version_id})"
                       + (f": {render.clean(r.problem)}" if r.problem else ""))
    if not all(r.ok for r in results):
        raise typer.Exit(7)


@command()
@_funnel
def history(name: NameArg, as_json: JsonFlag = False) -> None:
    """Show every deploy outcome and change of primary: who, when, what, from -> to.

    Example: mlreg history "Iris Classifier" --json | jq '.[] | select(.event == "primary")'
    """
    events = _registry().history(name)
    if as_json:
        render.emit_json([e.to_json() for e in events])
        return
    rows = []
    for e in events:
        if e.event == "primary":
            what = f"primary {e.from_ or 'none'} -> {e.to}"
        elif e.event == "deploy":
            what = f"deploy {e.version} ({e.version_id}): {_label(e.status)}"
        else:
            what = e.event
        rows.append([render.when(e.at), e.by, what, e.detail or ""])
    render.table(["AT", "BY", "WHAT", "DETAIL"], rows, no_wrap=("AT",))


def _label(status: str | None) -> str:
    from .metadata import STATUS_LABELS

    return STATUS_LABELS.get(status or "", status or "")


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Warnings (mlreg's and the libraries', e.g. scikit-learn's version warnings) as one line each;
    mlreg's notes ("created registry at ...") as a note."""
    from .errors import Note

    text = render.clean(" ".join(str(message).split()))
    if issubclass(category, Note):
        render.err(f"mlreg: note: {text}")
    else:
        render.err(f"mlreg: warning: {category.__name__}: {text}")


# Global options that take a value: the word after them is not a command name.
_VALUED_OPTIONS = ("--registry", "--lock-timeout", "--trust-file")


def _command_word(argv: list[str]) -> str | None:
    """The command a command line names, found by skipping the global options.

    None when there is none, or when help for the whole app comes first.
    """
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            return None
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def app_for(argv: list[str]) -> typer.Typer:
    """The app, cut down to the one command the command line names.

    Typer turns every command's signature into Click parameters before it
    parses anything; for a shell loop calling `mlreg status`, that is most of
    the time mlreg adds to the framework's own start-up. Help for the whole app,
    no command at all, or a word that names no command (which Click answers with
    the closest names) get the whole app.
    """
    word = _command_word(argv)
    commands = [c for c in app.registered_commands if (c.name or get_command_name(c.callback.__name__)) == word]
    groups = [g for g in app.registered_groups if g.name == word]
    if not commands and not groups:
        return app
    cut = copy.copy(app)
    cut.registered_commands, cut.registered_groups = commands, groups
    return cut


def hoist_global_options(argv: list[str]) -> list[str]:
    """``argv`` with the global options that follow the command name moved before it,
    so that ``mlreg versions m --registry R`` means ``mlreg --registry R versions m``.

    Words after ``--`` are arguments and stay where they are.
    """
    word = _command_word(argv)
    if word is None:
        return argv
    start = argv.index(word) + 1
    head, moved, rest = argv[:start], [], []
    words = iter(argv[start:])
    for w in words:
        if w == "--":
            rest.append(w)
            rest.extend(words)
            break
        if w in _VALUED_OPTIONS:
            value = next(words, None)
            if value is None:
                raise UsageError(f"{w} needs a value (see `mlreg --help`)")
            moved += [w, value]
        elif w.partition("=")[0] in _VALUED_OPTIONS or w == "--debug":
            moved.append(w)
        else:
            rest.append(w)
    if not moved:
        return argv
    return moved + head + rest


def run(argv: list[str]) -> Any:
    """Run one command line (without the program name); return its exit code.

    Usage errors (an unknown command or option, a missing argument) are one
    line on stderr with the closest names Click suggests, as other errors
    are, never Typer's boxed panel.
    """
    import warnings

    from typer.exceptions import TyperException

    signal.signal(signal.SIGTERM, _on_sigterm)
    warnings.showwarning = _show_warning
    try:
        argv = hoist_global_options(argv)
    except UsageError as e:
        render.err(f"mlreg: error: {e}")
        return e.exit_code
    try:
        code = app_for(argv)(args=argv, standalone_mode=False)
    except SystemExit as e:
        if e.code == 1 and _pipe_was_closed():
            return 0  # rich's and Click's answer to a closed pipe (help into `| head`): quietly, 0
        return e.code
    except BrokenPipeError:
        _reader_gone()
        return 0
    except TyperException as e:
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if type(e).__name__ == "NoArgsIsHelpError" or not message:
            ctx = getattr(e, "ctx", None)
            render.out(ctx.get_help() if ctx is not None else "see `mlreg --help`")
            return 2
        ctx = getattr(e, "ctx", None)
        where = f"mlreg {ctx.command_path.partition(' ')[2]}".rstrip() if ctx is not None else "mlreg"
        render.err(f"mlreg: error: {' '.join(message.split())} (see `{where} --help`)")
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt:
        render.err("mlreg: interrupted")
        return 130
    return code if isinstance(code, int) else 0


def main() -> None:
    """The console script's entry point."""
    _exit(run(sys.argv[1:]))


def _exit(code: Any) -> None:
    """Leave the process without tearing the interpreter down.

    Once a command has answered, unloading every module one by one is pure
    waiting: about 30 ms after `status` (Typer, pydantic and rich are large),
    70 ms after listing 10,000 versions, 185 ms once scikit-learn is loaded.
    Nothing is skipped that matters: stdout and stderr are flushed, atexit
    handlers run (joblib's and tempfile's among them), every file mlreg
    writes is closed by then, and the exit code is the same.
    """
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    import atexit

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: the reader has gone, as with print()
    atexit._run_exitfuncs()
    os._exit(code)
