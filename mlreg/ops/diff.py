"""``mlreg diff``: what differs between two versions of a model (SPEC §7)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..metadata import VersionRecord
from ..repo import Repository
from ..views import signature


class Change(NamedTuple):
    field: str  # a dotted path: sha256, metrics.acc, environment.scikit-learn, ...
    a: Any
    b: Any

    @property
    def change(self) -> float | None:
        """For a metric on both sides, ``b - a``."""
        numbers = (int, float)
        if (self.field.startswith("metrics.") and isinstance(self.a, numbers) and isinstance(self.b, numbers)
                and not isinstance(self.a, bool) and not isinstance(self.b, bool)):
            return self.b - self.a
        return None


class Diff(NamedTuple):
    model: str
    a: VersionRecord
    b: VersionRecord
    changes: list[Change]

    def to_json(self) -> dict[str, Any]:
        from ..views import diff

        return diff(self)


def _fields(v: VersionRecord) -> dict[str, Any]:
    """A version's comparable fields, by dotted path, in the order they are shown."""
    found: dict[str, Any] = {name: getattr(v, name) for name in ("sha256", "size", "type", "framework", "status",
                                                                 "format")}
    found["imports"] = None if v.imports is None else sorted(v.imports)
    for kind in ("metrics", "params", "tags"):
        for key in sorted(getattr(v, kind)):
            found[f"{kind}.{key}"] = getattr(v, kind)[key]
    environment = v.environment if isinstance(v.environment, dict) else {}
    found["environment.python"] = environment.get("python")
    libraries = environment.get("libraries")
    for key in sorted(libraries if isinstance(libraries, dict) else {}):
        found[f"environment.{key}"] = libraries[key]
    for key, value in signature(v.signature).items():
        found[f"signature.{key}"] = value
    found["source.git_commit"] = (v.source or {}).get("git_commit")
    return found


_ORDER = ("sha256", "size", "type", "framework", "status", "format", "imports", "metrics.", "params.", "tags.", "environment.python",
          "environment.", "signature.", "source.")


def _rank(field: str) -> tuple[int, str]:
    for place, start in enumerate(_ORDER):
        if field == start or (start.endswith(".") and field.startswith(start)):
            return place, field
    return len(_ORDER), field


def changes(a: VersionRecord, b: VersionRecord) -> list[Change]:
    """Every field that differs; a key one side lacks is None there."""
    fa, fb = _fields(a), _fields(b)
    return [Change(field, fa.get(field), fb.get(field)) for field in sorted(fa.keys() | fb.keys(), key=_rank)
            if fa.get(field) != fb.get(field)]


def diff(repo: Repository, name: str, a: str, b: str) -> Diff:
    """Raises: ModelNotFound, VersionNotFound, InvalidVersion."""
    model = repo.load_model(name)
    va = repo.version_of(model, a)
    vb = repo.version_of(model, b)
    return Diff(model.name, va, vb, changes(va, vb))
