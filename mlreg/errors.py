"""One exception tree for mlreg. Each class carries the exit code of SPEC §3.

The CLI turns any ``MlregError`` into one line on stderr and ``exit_code``;
the Python client raises the same classes, so a script can catch
``mlreg.NotFound`` whichever way it calls mlreg.
"""

from __future__ import annotations

from typing import Any


class MlregError(Exception):
    """Base class: an error mlreg expected and can explain in one line."""

    exit_code = 1


class UsageError(MlregError):
    """Bad usage or bad input: invalid name, version, option or JSON."""

    exit_code = 2


class InvalidName(UsageError):
    """A model name that is not valid or could escape the registry."""


class InvalidVersion(UsageError):
    """A version string that is not valid semver."""


class BadInput(UsageError):
    """Input the command cannot use (a missing artifact, malformed JSON...)."""


class NotWritable(MlregError):
    """The registry cannot be written (a read-only filesystem, no permission, a full disk)."""


class NotFound(MlregError):
    """A registry, model, version or version ID that does not exist."""

    exit_code = 3


class RegistryNotFound(NotFound):
    pass


class ModelNotFound(NotFound):
    pass


class AliasNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class Conflict(MlregError):
    """The request contradicts the registry's state."""

    exit_code = 4


class VersionExists(Conflict):
    pass


class NotActive(Conflict):
    """Promoting or calling a version that is Deploying or Deployment Failed."""


class PrimaryMoved(Conflict):
    """``--expect-primary`` named a primary that is no longer current."""


class AliasMoved(Conflict):
    """``alias set --expect`` named a version the alias no longer points at."""


class InUse(Conflict):
    """Deleting the primary or a version that carries an alias."""


class ReadmeChanged(Conflict):
    """The README changed between reading it for an edit and saving the edit."""


class FormatTooNew(Conflict):
    """The registry was written by a newer mlreg; it is left untouched."""


class DeploymentFailed(MlregError):
    """A deploy ended as Deployment Failed; ``record`` is the version's record."""

    exit_code = 5

    def __init__(self, message: str, record: Any = None) -> None:
        super().__init__(message)
        self.record = record


class LeaseLost(MlregError):
    """A deploy paused past its lease: it publishes nothing (exit 5, like any deploy
    that did not end Active; its version reads as Deployment Failed, or is gone)."""

    exit_code = 5


class Busy(MlregError):
    """A lock was not had in time, or a version is still Deploying."""

    exit_code = 6


class LockTimeout(Busy):
    pass


class StillDeploying(Busy):
    pass


class IntegrityError(MlregError):
    """A hash mismatch, or metadata that cannot be read; the message names the file."""

    exit_code = 7


class PolicyRefusal(IntegrityError):
    """The load policy refused what an artifact imports (or the types a skops file needs):
    nothing of it ran. A version vouched for (signed by a trusted signer) loads anyway."""


class CheckNotPassed(MlregError):
    """A check such as ``readme check`` did not pass."""

    exit_code = 8


class PredictFailed(MlregError):
    """The model's own method raised while predicting (not a bug in mlreg, nor bad input)."""


class PartlyUnreadable(IntegrityError):
    """Some items of a listing could not be read; ``found`` holds the readable ones,
    ``problems`` one message per unreadable item."""

    def __init__(self, message: str, found: list[Any], problems: list[str]) -> None:
        super().__init__(message)
        self.found = found
        self.problems = problems

    @classmethod
    def of(cls, found: list[Any], problems: list[str], what: str) -> "PartlyUnreadable":
        """The error of a listing of ``what``s: the first problem, and how many more."""
        more = f" (and {len(problems) - 1} more unreadable {what}s)" if len(problems) > 1 else ""
        return cls(f"{problems[0]}{more}", found, problems)


class Note(UserWarning):
    """Something a user should know that is not an error, e.g. that a deploy
    created a new registry or a model whose name is close to another's."""


_USERINFO = None


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it hidden: ``http://KEY:SECRET@host``
    becomes ``http://***@host`` (an endpoint's URL may carry them)."""
    global _USERINFO
    if "@" not in text:
        return text
    if _USERINFO is None:
        import re

        _USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@")
    return _USERINFO.sub(r"\1***@", text)


def note(text: str) -> None:
    """Tell the user something worth knowing that is not an error (the CLI prints
    it on stderr as ``mlreg: note: ...``; Python callers get a ``Note`` warning)."""
    import warnings

    warnings.warn(text, Note, stacklevel=3)


def quote_arg(text: str) -> str:
    """``text`` as one shell word, for a command an error message suggests."""
    import shlex

    return shlex.quote(text)
