"""Model READMEs: the skeleton written from the artifact, placeholders, the summary.

Parts only a person can write carry the marker ``TODO(mlreg)``; ``readme
check`` names the sections that still hold one. A README that mlreg generated
is refreshed by later deploys only while nobody has edited it (the model
records the sha256 of what it generated).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

PLACEHOLDER = "TODO(mlreg)"
MAX_LISTED = 50


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _todo(what: str) -> str:
    return f"_{PLACEHOLDER}: {what}_"


def skeleton(name: str, version: str, type_: str, framework: str, signature: dict[str, Any],
             sample_input: Any = None) -> str:
    """A README for ``name`` filled with what the artifact tells, the rest marked TODO(mlreg)."""
    n = signature.get("n_features")
    features = signature.get("feature_names")
    classes = signature.get("classes")
    lines = [
        f"# {name}",
        "",
        _todo("one paragraph: what this model does and who calls it."),
        "",
        "## Purpose",
        "",
        _todo("the decision or product this model serves, and where it must not be used."),
        "",
        "## Inputs",
        "",
    ]
    if features:
        shown = ", ".join(f"`{f}`" for f in features[:MAX_LISTED])
        more = f" and {len(features) - MAX_LISTED} more" if len(features) > MAX_LISTED else ""
        lines.append(f"{len(features)} features, in this order: {shown}{more}. Rows may also be objects keyed by these names.")
    elif isinstance(n, int):
        lines.append(f"Rows of {n} numeric features: a JSON list of rows, or `{{\"inputs\": [...]}}`.")
    else:
        lines.append("What `predict` accepts, as a JSON list of rows or `{\"inputs\": [...]}`.")
    lines += ["", _todo("the meaning and units of each input, and where the data comes from."), "", "## Outputs", ""]
    if classes:
        shown = ", ".join(f"`{c}`" for c in classes[:MAX_LISTED])
        more = f" and {len(classes) - MAX_LISTED} more" if len(classes) > MAX_LISTED else ""
        lines.append(f"One label per row, one of {len(classes)} classes: {shown}{more}.")
    elif type_ == "Regression":
        lines.append("One number per row.")
    else:
        lines.append("One prediction per row.")
    lines += ["", _todo("what the outputs mean and how callers should act on them."), "", "## Model", ""]
    lines.append(f"- Type: {type_}; Framework: {framework}")
    if signature.get("class"):
        lines.append(f"- Class: `{signature['class']}` (version {version} when this README was written)")
    if signature.get("steps"):
        lines.append("- Pipeline steps: " + "; ".join(f"`{s}`" for s in signature["steps"]))
    params = signature.get("params")
    if isinstance(params, dict) and params:
        shown = ", ".join(f"`{k}={v!r}`" for k, v in params.items())
        lines.append(f"- {signature.get('estimator', 'Estimator')} parameters: {shown}")
    sample = json.dumps(sample_input) if sample_input is not None else (
        json.dumps([[0.0] * n]) if isinstance(n, int) and 0 < n <= 20 else "[[...]]")
    lines += ["", "## Example", "", "```sh", f"mlreg predict {_shell_quote(name)} --input '{sample}'", "```", "",
              "## Training data", "", _todo("the data set, its period and its known biases."), "",
              "## Known limitations", "", _todo("inputs where the model is wrong or must not be trusted."), ""]
    return "\n".join(lines)


def _shell_quote(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_.-]+", text) else '"' + text.replace('"', '\\"') + '"'


def placeholder_sections(text: str) -> list[str]:
    """Titles of the sections that still hold a TODO(mlreg) placeholder; the text
    under the top-level title (or before any heading) is called ``introduction``."""
    found: list[str] = []
    section = "introduction"
    for line in text.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*\S)\s*$", line)
        if heading:
            section = "introduction" if len(heading.group(1)) == 1 else heading.group(2)
        elif PLACEHOLDER in line and section not in found:
            found.append(section)
    return found


def summary(text: str) -> str:
    """The README's first paragraph of prose ('' while it is still a placeholder)."""
    paragraph: list[str] = []
    in_code = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if in_code or stripped.startswith("<!--"):
            continue
        if not stripped or stripped.startswith("#"):
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    joined = " ".join(paragraph)
    return "" if PLACEHOLDER in joined else joined
