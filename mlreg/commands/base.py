"""What every command shares: the Typer app, the ``command`` decorator (the
docstring's ``Example:`` shown last), the global options, the error funnel (an
``MlregError`` is one line on stderr and its exit code, SPEC §3), the common
arguments, and the helpers that print a version."""

import contextlib
import functools
import os
import sys
from typing import Annotated, Any, Callable, Optional

import typer

from .. import render
from ..errors import MlregError, UsageError
from ..metadata import VersionRecord
from ..registry import Registry

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

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None:  # a release that shows no type beside a flag
        return

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


class Options:
    """The global options, set by the app's callback before any command runs."""

    registry: Optional[str] = None
    lock_timeout: Optional[float] = None
    trust_file: Optional[str] = None
    debug: bool = False


options = Options()


def registry() -> Registry:
    return Registry(options.registry, lock_timeout=options.lock_timeout, trust_file=options.trust_file)


class Terminated(BaseException):
    """SIGTERM, raised so that a deploy cleans up its staging like on Ctrl-C."""


def on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def funnel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known errors into one line on stderr and SPEC's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:
            reader_gone()
            raise typer.Exit(0) from None
        except MlregError as e:
            if options.debug:
                raise
            render.err(f"mlreg: error: {render.clean(e)}")
            raise typer.Exit(e.exit_code) from None
        except OSError as e:
            if options.debug:
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
            if options.debug:
                raise
            render.err(f"mlreg: unexpected error: {type(e).__name__}: {render.clean(e)} (run with --debug for the traceback)")
            raise typer.Exit(1) from None

    return wrapper


def reader_gone() -> None:
    """The reader of stdout closed the pipe (``mlreg versions m | head -1``): end
    quietly, with nothing more written there (as `ls | head` does)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


NameArg = Annotated[str, typer.Argument(help="Model name (any spelling of it) or its folder name.")]


RefArg = Annotated[str, typer.Argument(metavar="VERSION|ID", help="A version number (0.2.0), a version ID, @ALIAS, @primary or @latest.")]


@contextlib.contextmanager
def listing_what_is_readable() -> Any:
    """For listings: one unreadable item (a corrupt model.toml, a bad template) must
    not hide the others. The block lists what could be read; then the error
    names the unreadable items and the exit code is 7."""
    from ..errors import PartlyUnreadable

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


def read_text(path: str, option: str) -> str:
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


def version_line(v: VersionRecord) -> str:
    mark = ", primary" if v.primary else ""
    return f"{v.model} {v.version} (ID {v.version_id}): {v.status_label}{mark}"


def print_version(v: VersionRecord) -> None:
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
    from ..views import signature

    pairs.append(("Aliases", " ".join("@" + a for a in v.aliases) or "none"))
    for title, table in (("Tags", v.tags), ("Metrics", v.metrics), ("Params", v.params)):
        if table:
            pairs.append((title, ", ".join(f"{k}={t}" for k, t in sorted(table.items()))))
    if v.source:
        src = v.source
        pairs.append(("Source", src.get("text") or f"git {src.get('git_commit', '?')[:12]}"
                      f"{' (uncommitted changes)' if src.get('git_dirty') else ''}"
                      f"{' ' + src['git_remote'] if src.get('git_remote') else ''}"))
    sig = signature(v.signature)
    if sig["n_features"] is not None:
        pairs.append(("Inputs", f"{sig['n_features']} features"
                      + (f": {', '.join(sig['feature_names'][:20])}" if sig["feature_names"] else "")))
    if sig["classes"] is not None:
        pairs.append(("Classes", ", ".join(map(str, sig["classes"][:20]))))
    render.fields(pairs)


def label(status: str | None) -> str:
    from ..metadata import STATUS_LABELS

    return STATUS_LABELS.get(status or "", status or "")
