"""The ``mlreg`` command: a thin Typer layer over ``mlreg.Registry``.

Each command (``mlreg.commands``, a module per group) parses its arguments,
calls one Registry method and renders the result. Errors pass through one
funnel (``commands.base.funnel``) that turns an ``MlregError`` into one line
on stderr and its exit code (SPEC §3). Here: the global options, and running a
command line fast (only the command asked for is built).
"""

import copy
import os
import signal
import sys
from typing import Annotated, Any, Optional

import typer
from typer.main import get_command_name

from . import __version__, commands, render
from .commands.base import app as _app
from .commands.base import on_sigterm, options, reader_gone
from .errors import UsageError

__all__ = ["app_for", "hoist_global_options", "main", "run"]  # and ``app``, below


def __getattr__(name: str) -> Any:
    # ``mlreg.cli.app``: the whole Typer app, every command module imported (a command
    # line imports only the module of its command: ``app_for``).
    if name == "app":
        commands.load_all()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


@_app.callback()
def main_options(
    registry: Annotated[Optional[str], typer.Option(
        "--registry", metavar="PATH",
        help="Registry: a folder, or s3://BUCKET/PREFIX for a team's bucket. "
        "Default: $MLREG_REGISTRY, else the per-user data folder.")] = None,
    lock_timeout: Annotated[Optional[float], typer.Option(
        "--lock-timeout", metavar="SECONDS",
        help="How long to wait for a model's lock before exit 6 (-1 waits for ever). "
        "Default: $MLREG_LOCK_TIMEOUT, else 30.")] = None,
    trust_file: Annotated[Optional[str], typer.Option(
        "--trust-file", metavar="FILE",
        help="A file outside the registry: the load policy ([policy]: load, allow_imports) and the "
        "artifacts vouched for ([models]); a refused load is exit 7. Default: $MLREG_TRUST_FILE.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version_callback, is_eager=True, help="Print mlreg's version and exit.")] = False,
) -> None:
    """A model registry that lives in a directory: deploy models as numbered versions,
    see their status and logs, choose the primary, roll back, document and call them.

    Example: mlreg --registry ./registry versions "Iris Classifier"
    """
    options.registry = registry
    options.lock_timeout = lock_timeout
    options.trust_file = trust_file
    options.debug = debug


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
    """The app, cut down to the one command the command line names, with only that
    command's module imported (``commands.COMMANDS``).

    Typer turns every command's signature into Click parameters before it
    parses anything; for a shell loop calling `mlreg status`, that is most of
    the time mlreg adds to the framework's own start-up. Help for the whole app,
    no command at all, or a word that names no command (which Click answers with
    the closest names) get the whole app.
    """
    word = _command_word(argv)
    module = commands.COMMANDS.get(word or "")
    if module is None:
        commands.load_all()
        return _app
    commands.load(module)  # only the module of the command asked for is imported
    found = [c for c in _app.registered_commands if (c.name or get_command_name(c.callback.__name__)) == word]
    groups = [g for g in _app.registered_groups if g.name == word]
    cut = copy.copy(_app)
    cut.registered_commands, cut.registered_groups = found, groups
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

    signal.signal(signal.SIGTERM, on_sigterm)
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
        reader_gone()
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
    """Run this process's command line and leave with its exit code (``mlreg.__main__``,
    the console script's entry point, calls it once its imports are done)."""
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
