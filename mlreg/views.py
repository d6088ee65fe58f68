"""Every JSON shape mlreg shows, in one place: the objects of SPEC §2 (and §10) that
the CLI's ``--json``, the HTTP API and the web pages all send. Scripts rely on these
keys: they are never renamed, only added to.

Each function takes the record it shows (duck-typed: this module imports nothing
of mlreg, so that every layer may use it); the records' ``to_json`` methods call
these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def json_default(value: Any) -> str:
    """json's ``default`` wherever mlreg sends JSON: a TOML date or time (which a hand
    may have written into a metadata file; mlreg writes times as text) as its ISO 8601
    text, never a crash.

    Raises:
        TypeError: anything else, as json's own default does.
    """
    import datetime

    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def version(r: Any, shown: dict[int, Any] | None = None) -> dict[str, Any]:
    """A version (``VersionRecord``).

    ``shown``, kept across the records of one listing (all alive meanwhile), holds
    what was shown of each table by its identity: the versions read from a listing
    cache share their signature and imports, shown once.
    """
    shown = {} if shown is None else shown
    shown_signature = shown.get(id(r.signature))
    if shown_signature is None:
        shown_signature = shown[id(r.signature)] = signature(r.signature)
    imports = r.imports
    shown_imports = None if imports is None else shown.get(id(imports))
    if shown_imports is None and imports is not None:
        shown_imports = shown[id(imports)] = sorted(imports)
    return {
        "model": r.model,
        "version": r.version,
        "version_id": r.version_id,
        "status": r.status,
        "primary": r.primary,
        "deployed_at": r.deployed_at,
        "deployed_by": r.deployed_by,
        "size": r.size,
        "sha256": r.sha256,
        "type": r.type,
        "framework": r.framework,
        "status_label": r.status_label,
        "finished_at": r.finished_at,
        "reason": r.reason,
        "environment": r.environment,
        "code_sha256": r.code_sha256,
        "aliases": list(r.aliases),
        "tags": r.tags,
        "metrics": r.metrics,
        "params": r.params,
        "source": r.source,
        "signature": shown_signature,
        "format": r.format,
        "imports": shown_imports,
    }


def judged_versions(records: Iterable[Any], judgments: Iterable[tuple[list[Any], bool]]) -> list[dict[str, Any]]:
    """Versions as a reader sees them (SPEC §11): each with its ``signatures``, each
    checked (``SignatureCheck``), and ``trusted``, whether it would load here. What
    is shown of a shared table is one object in every item that shows it: read-only."""
    shown: dict[int, Any] = {}
    found = []
    for r, (checks, trusted) in zip(records, judgments):
        one = version(r, shown)
        one["signatures"] = [c.to_json() for c in checks] if checks else []
        one["trusted"] = trusted
        found.append(one)
    return found


def signature(raw: Any) -> dict[str, Any]:
    """A version's ``signature`` (SPEC §7): ``n_features``, ``feature_names`` and
    ``classes``, each null when unknown (anything unexpected reads as unknown)."""
    raw = raw if isinstance(raw, dict) else {}
    n, names, classes = raw.get("n_features"), raw.get("feature_names"), raw.get("classes")
    return {
        "n_features": n if type(n) is int else None,
        "feature_names": [str(x) for x in names] if isinstance(names, list) else None,
        "classes": [c if isinstance(c, (str, int, float, bool)) else str(c) for c in classes]
        if isinstance(classes, list) else None,
    }


def alias(name: str, r: Any) -> dict[str, Any]:
    """One alias (``alias list``, ``set``, ``rm``) and the version it names."""
    return {"alias": name, "version": r.version, "version_id": r.version_id}


def model(info: Any) -> dict[str, Any]:
    """A model (``ModelInfo``: its record and its number of versions)."""
    r = info.record
    return {
        "name": r.name,
        "folder": r.folder,
        "description": r.description,
        "type": r.type,
        "framework": r.framework,
        "primary": r.primary,
        "version_count": info.version_count,
        "aliases": dict(sorted(r.aliases.items())),
        "created_at": r.created_at,
        "created_by": r.created_by,
    }


def overview(o: Any) -> dict[str, Any]:
    """``show``: the model, its versions and invocation code (``ModelOverview``)."""
    return {
        **model(o.info),
        "readme_intro": o.readme_intro,
        "versions": [version(v) for v in o.versions],
        "invocation": o.invocation,
    }


def event(e: Any) -> dict[str, Any]:
    """A history event (``HistoryEvent``); ``from_`` is shown as ``from``."""
    return {("from" if name == "from_" else name): getattr(e, name) for name in e._DEFAULTS}


def promoted(result: Any) -> dict[str, Any]:
    """What ``promote`` did (``PromoteResult``)."""
    return {
        "model": result.model,
        "from": result.previous,
        "to": result.record.version,
        "changed": result.changed,
        "version": version(result.record),
    }


def transferred(result: Any) -> dict[str, Any]:
    """What ``push`` or ``pull`` did (``TransferResult``), SPEC §8."""
    return {"model": result.model, "copied": result.copied, "skipped": result.skipped}


def prediction(record: Any, predictions: list, classes: list | None = None) -> dict[str, Any]:
    """The answer of ``predict``; with ``classes``, the class each column of the
    predictions stands for (``predict_proba`` and its kin)."""
    answer = {"model": record.model, "version": record.version, "version_id": record.version_id,
              "predictions": predictions}
    if classes is not None:
        answer["classes"] = classes
    return answer


def problem(p: Any) -> dict[str, Any]:
    """One thing ``doctor`` found (``Problem``)."""
    return {"kind": p.kind, "path": p.path, "message": p.message, "fixed": p.fixed}


def report(r: Any) -> dict[str, Any]:
    """``doctor`` (``Report``)."""
    return {"registry": r.registry, "ok": r.ok,
            "checked": {"models": r.models, "versions": r.versions, "artifacts": r.artifacts},
            "problems": [problem(p) for p in r.problems]}


def verified(v: Any) -> dict[str, Any]:
    """One artifact ``verify`` rehashed (``Verified``)."""
    return {"model": v.model, "version": v.version, "version_id": v.version_id, "ok": v.ok, "problem": v.problem,
            "signatures": [s.to_json() for s in v.signatures]}


def template(t: Any) -> dict[str, Any]:
    """A model template (``Template``)."""
    return {"name": t.name, "description": t.description, "type": t.type, "framework": t.framework,
            "sample_input": t.sample_input, "source": t.source, "readme": t.readme.lstrip("\n")}


def log_entries(lines: list[str]) -> list[dict[str, str | None]]:
    """Deploy-log lines as ``{"at": ISO 8601 UTC, "text": the line without its timestamp}``.

    Lines that continue an entry (indented under it, e.g. a traceback) carry
    the time of the entry they belong to.
    """
    found: list[dict[str, str | None]] = []
    at: str | None = None
    for line in lines:
        stamp, sep, text = line.partition("  ")
        if sep and len(stamp) >= 20 and stamp[4:5] == "-" and stamp[10:11] == "T" and stamp.endswith("Z"):
            at = stamp
        else:
            text = line[4:] if line.startswith("    ") else line
        found.append({"at": at, "text": text})
    return found


def diff(d: Any) -> dict[str, Any]:
    """``diff`` (``Diff``): the two versions and what differs, SPEC §7; a metric on
    both sides also carries its ``change`` (b - a)."""
    found = []
    for c in d.changes:
        entry = {"field": c.field, "a": c.a, "b": c.b}
        if c.change is not None:
            entry["change"] = c.change
        found.append(entry)
    return {"model": d.model, "a": version(d.a), "b": version(d.b), "changes": found}


# ---------------------------------------------------------------- serve's other answers (SPEC §9, §12)


def health(registry_path: str) -> dict[str, Any]:
    """``GET /healthz``."""
    return {"status": "ok", "registry": registry_path}


def ping() -> dict[str, Any]:
    """``GET /ping`` and ``GET /health`` (MLflow's scoring server's)."""
    return {"status": "ok"}


def readme(model: str, text: str, sha256: str) -> dict[str, Any]:
    """``GET /v1/models/{name}/readme``."""
    return {"model": model, "readme": text, "readme_sha256": sha256}


def mlflow_predictions(predictions: list[Any]) -> dict[str, Any]:
    """``POST /invocations``: MLflow's answer."""
    return {"predictions": predictions}


def v2_server(version: str) -> dict[str, Any]:
    """``GET /v2``: the Open Inference Protocol's server metadata."""
    return {"name": "mlreg", "version": version, "extensions": ["binary_tensor_data"]}


def v2_live() -> dict[str, Any]:
    return {"live": True}


def v2_ready() -> dict[str, Any]:
    return {"ready": True}


def v2_model_ready(r: Any) -> dict[str, Any]:
    """``GET /v2/models/{name}[/versions/{version}]/ready`` of a version (``VersionRecord``)."""
    return {"name": r.model, "version": r.version, "ready": True}


def v2_model(r: Any, active: list[str], methods: list[str]) -> dict[str, Any]:
    """``GET /v2/models/{name}[/versions/{version}]``: a version's metadata, from its
    recorded signature; ``active`` the model's Active version numbers, ``methods`` the
    prediction methods its model has."""
    sig = signature(r.signature)
    width = sig["n_features"] if sig["n_features"] is not None else -1
    inputs = [{"name": "input", "datatype": "FP64", "shape": [-1, width]}]
    classes = sig["classes"]
    label = "FP64" if classes is None else ("BYTES" if any(isinstance(c, str) for c in classes) else "INT64")
    outputs = [{"name": "predict", "datatype": label, "shape": [-1]}]
    if "predict_proba" in methods:
        outputs.append({"name": "predict_proba", "datatype": "FP64",
                        "shape": [-1, len(classes) if classes is not None else -1]})
    return {"name": r.model, "versions": active, "platform": f"mlreg_{r.format}", "inputs": inputs,
            "outputs": outputs}
