"""What one attempt of a read-modify-write of a model's shared state reads (``Seen``) and
wants done (``Change``): the vocabulary of ``Repository.update``, the one compare-and-swap
every operation that changes a model goes through."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from .errors import IntegrityError, ModelNotFound
from .metadata import HistoryEvent, ModelRecord

__all__ = ["Change", "Seen", "existing"]


class Seen(NamedTuple):
    """A model's shared state as one attempt of a read-modify-write read it."""

    model: ModelRecord | None  # None before the model's first deploy has written model.toml
    readme: bytes | None


class Change(NamedTuple):
    """What one attempt of a read-modify-write wants done, prepared from what it read
    (``Repository.update``). Nothing to write and nothing to record is a no-op."""

    model: ModelRecord | None = None  # the new model.toml, by compare-and-swap
    readme: str | bytes | None = None  # the new README, replaced only if unchanged since read
    readme_first: bool = False  # write the README first, and try again when it changed
    then: Callable[[], None] | None = None  # after the writes, before the history
    events: Sequence[HistoryEvent] = ()  # added to the history last
    result: Any = None  # what update returns
    lost: Callable[[], None] | None = None  # this attempt lost its race: undo what it prepared


def existing(seen: Seen, model_path: str) -> ModelRecord:
    """The model record an update of an existing model read.

    Raises:
        IntegrityError: model.toml has disappeared.
        ModelNotFound: the model's delete has begun.
    """
    if seen.model is None:
        raise IntegrityError(f"{model_path} disappeared")
    if seen.model.deleting_model is not None:
        raise ModelNotFound(f"model {seen.model.name!r} is being deleted; nothing was changed")
    return seen.model
