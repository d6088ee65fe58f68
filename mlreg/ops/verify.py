"""``mlreg verify``: rehash artifacts against their records, check every signature, and
(``--load``) load each Active version as ``predict`` would, never unpickling bytes that
do not match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..integrity import problem as integrity_problem
from ..metadata import VersionRecord
from ..repo import Repository

__all__ = ["Verified", "verify"]


@dataclass(frozen=True)
class Verified:
    """One version ``verify`` examined: ``ok``, else its ``problem``."""

    model: str
    version: str
    version_id: str
    ok: bool
    problem: str = ""
    refused: bool = False  # the problem is this reader's load policy's refusal (verify --load)
    signatures: tuple[Any, ...] = ()  # each checked (``ops.signing.SignatureCheck``)

    def to_json(self) -> dict[str, Any]:
        from ..views import verified

        return verified(self)


def verify(repo: Repository, chosen: Sequence[VersionRecord], trust: Any,
           load_problem: Callable[[VersionRecord], str] | None = None) -> list[Verified]:
    """Examine each of ``chosen``: its bytes (size, sha256, code digest), then each
    signature (checked with ``trust``, the reader's trust file or None); with
    ``load_problem`` (why this reader would not load a version, or ''), each Active
    version whose bytes and signatures hold is loaded too. A version still Deploying
    is listed, not judged."""
    from .signing import check_signatures

    results = []
    for v in chosen:
        problem = "still Deploying" if v.status == "deploying" else integrity_problem(repo, v)
        refused, checks = False, []
        if not problem:
            checks = check_signatures(repo, v, trust)
            bad = next((c for c in checks if not c.valid), None)
            problem = "" if bad is None else f"the signature by {bad.key} does not hold: {bad.problem}"
        if load_problem is not None and not problem and v.status == "active":
            problem = load_problem(v)
            refused = bool(problem)
        results.append(Verified(v.model, v.version, v.version_id, ok=not problem or v.status == "deploying",
                                problem=problem, refused=refused, signatures=tuple(checks)))
    return results
