"""A model's documentation: its description and README, and which README a deploy or a promote brings."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .. import identity
from ..errors import (
    ReadmeChanged,
    UsageError,
)
from ..metadata import (
    HistoryEvent,
    ModelInfo,
    ModelRecord,
    VersionRecord,
    now,
)
from ..changes import Change, Seen, existing
from ..repo import MAX_README_BYTES, Repository

if TYPE_CHECKING:
    from ..templates import Template



class Readme(NamedTuple):
    text: str
    generated: str | None  # its sha256 when mlreg generated it from the artifact


def readme_after(model: ModelRecord, record: VersionRecord, current: bytes | None,
                         template: Template | None = None) -> Readme | None:
    """The README to write as ``record`` joins ``model`` (a deploy's outcome, or a
    promote), or None when the README there is to be kept.

    Only a README nobody wrote is ever replaced: none at all, or the skeleton
    mlreg generated and nobody edited since. ``template`` (given only for a
    deploy that ended Active) puts its README there; otherwise the skeleton is
    written (for a model without a README) or refreshed to describe the new
    primary (so that after a rollback it describes the version called).
    """
    from ..readme import sha256 as text_sha256, skeleton

    text = None if current is None else current.decode("utf-8", "replace")
    untouched = text is not None and model.readme_generated == text_sha256(text)
    if text is not None and not untouched:
        return None
    if template is not None:
        return Readme(template.readme_for(model.name, model.folder), None)
    if text is not None and not record.primary:
        return None
    import json

    sample = record.extra.get("sample_input")
    generated = skeleton(model.name, record.version, record.type, record.framework,
                         record.signature,
                         json.loads(sample) if isinstance(sample, str) else None)
    return None if generated == text else Readme(generated, text_sha256(generated))



def describe(repo: Repository, name: str, text: str) -> ModelInfo:
    """Set the model's description.

    Raises:
        InvalidName, ModelNotFound, LockTimeout, UsageError (over 4,096 characters).
    """
    if len(text) > 4096:
        raise UsageError(f"a description has at most 4096 characters (got {len(text)})")
    folder = repo.load_model(name).folder
    model_path = repo.model_where(folder)

    def prepare(seen: Seen) -> Change:
        model = existing(seen, model_path)
        if model.description == text:
            return Change(result=model)
        updated = model.replace(description=text)
        return Change(model=updated, result=updated, events=[
            HistoryEvent(at=now(), by=identity.user_at_host(), event="describe", detail=text)])

    return repo.info(repo.update(folder, prepare))


def set_readme(repo: Repository, name: str, text: str, expect_sha256: str | None = None) -> str:
    """Replace the model's README atomically; return the new text's sha256.

    ``expect_sha256`` is a compare-and-swap guard: the sha256 of the README
    the new text was written from (``readme_sha256`` of what was read);
    when the README changed meanwhile, nothing is written.

    Raises:
        ReadmeChanged (exit 4), UsageError (over 1 MiB), LockTimeout.
    """
    from ..readme import sha256 as text_sha256

    data = text.encode("utf-8")
    if len(data) > MAX_README_BYTES:
        raise UsageError(f"a README has at most {MAX_README_BYTES} bytes (got {len(data)})")
    folder = repo.load_model(name).folder
    model_path = repo.model_where(folder)

    def prepare(seen: Seen) -> Change:
        model = existing(seen, model_path)
        current = "" if seen.readme is None else seen.readme.decode("utf-8", "replace")
        if expect_sha256 is not None and text_sha256(current) != expect_sha256:
            raise ReadmeChanged(f"the README of {model.name!r} was changed by someone else meanwhile; "
                                "nothing was written")
        events = []
        if current != text:
            events.append(HistoryEvent(at=now(), by=identity.user_at_host(), event="readme",
                                       detail=f"sha256 {text_sha256(text)[:12]}"))
        clear = model.readme_generated is not None and text_sha256(text) != model.readme_generated
        # The README first, compared with what was read (an edit meanwhile: read again);
        # then model.toml stops calling it generated.
        return Change(readme=data if current != text else None, readme_first=True,
                      model=model.replace(readme_generated=None) if clear else None, events=events)

    repo.update(folder, prepare, marks=("readme:written", None))
    return text_sha256(text)

