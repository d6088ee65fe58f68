"""Invocation code for a model: the CLI, the Python client and cURL (``mlreg show``)."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from .metadata import VersionRecord

DEFAULT_URL = "http://127.0.0.1:8080"


def snippets(name: str, folder: str, registry: str | None, sample: Any, url: str = DEFAULT_URL,
             version_id: str | None = None) -> dict[str, str]:
    """Ready-to-run code that calls the model's primary version (or, with ``version_id``,
    that one version, by its ID).

    ``registry`` is named in the snippets only when it is not the default one; ``url``
    is where ``mlreg serve`` answers (the cURL line).
    """
    rows = json.dumps(sample)
    body = json.dumps({"inputs": sample})
    cli = (["mlreg"] + (["--registry", registry] if registry else []) + ["predict", name]
           + (["--version", version_id] if version_id else []) + ["--input", rows])
    python = "\n".join([
        "import mlreg",
        f"reg = mlreg.Registry({registry!r})" if registry else "reg = mlreg.Registry()",
        f"result = reg.predict({name!r}, {rows}" + (f", version={version_id!r})" if version_id else ")"),
        'print(result["predictions"])',
    ])
    route = f"versions/{version_id}" if version_id else f"models/{quote(folder, safe='')}"
    curl = (
        f"curl -s -X POST {url}/v1/{route}/predict "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )
    return {"cli": shlex.join(cli), "python": python, "curl": curl}


def sample_input(versions: list[VersionRecord]) -> Any:
    """Rows for the snippets: the primary's sample input, else the newest version's that
    has one, else zeros of the right width."""
    ordered = sorted(versions, key=lambda v: (v.primary, v.deployed_at), reverse=True)
    for v in ordered:
        text = v.extra.get("sample_input")
        if isinstance(text, str):
            try:
                return json.loads(text)
            except ValueError:
                continue
    for v in ordered:
        signature = v.signature
        n = signature.get("n_features") if isinstance(signature, dict) else None
        if isinstance(n, int) and 0 < n <= 64:
            return [[0.0] * n]
    return [[0.0]]
