"""Model templates: a README pre-filled with purpose, inputs, outputs, an example
and known limitations, plus a Type, a Framework and a sample input.

Built-in templates ship in ``mlreg/builtin_templates/``; a team adds its own as
``REGISTRY/templates/NAME.toml`` in the same format, listed beside the built-ins
(a registry template with a built-in's name takes its place).
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass
from typing import Any

from .errors import IntegrityError, UsageError
from .metadata import read_toml

BUILTIN_DIR = os.path.join(os.path.dirname(__file__), "builtin_templates")


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    type: str
    framework: str
    readme: str
    sample_input: Any
    source: str  # "built-in" or the file it came from

    def readme_for(self, model_name: str, folder: str) -> str:
        """The template's README with ``$name`` and ``$folder`` filled in."""
        return string.Template(self.readme).safe_substitute(name=model_name, folder=folder).lstrip("\n")

    def to_json(self) -> dict[str, Any]:
        from .views import template

        return template(self)


def load_template(path: str, source: str) -> Template:
    """Raises: IntegrityError naming the file when it is not a valid template."""
    data = read_toml(path)
    try:
        fields = {k: data[k] for k in ("name", "description", "type", "framework", "readme")}
    except KeyError as e:
        raise IntegrityError(f"template {path} lacks the key {e.args[0]!r}") from None
    if not all(isinstance(v, str) for v in fields.values()):
        raise IntegrityError(f"template {path}: name, description, type, framework and readme must be text")
    sample = data.get("sample_input")
    if isinstance(sample, str):
        try:
            sample = json.loads(sample)
        except ValueError as e:
            raise IntegrityError(f"template {path}: sample_input is not valid JSON: {e}") from None
    return Template(sample_input=sample, source=source, **fields)


def _folder_templates(folder: str, source: str | None, problems: list[str] | None) -> dict[str, Template]:
    """The templates of ``folder``; an invalid one raises, or is described in
    ``problems`` (when given) so that one bad file does not hide the others."""
    found: dict[str, Template] = {}
    try:
        entries = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        if entry.endswith(".toml") and not entry.startswith("."):
            path = os.path.join(folder, entry)
            if os.path.islink(path):
                continue
            try:
                template = load_template(path, source or path)
            except IntegrityError as e:
                if problems is None:
                    raise
                problems.append(str(e))
                continue
            found[template.name] = template
    return found


def all_templates(registry_folder: str | None, problems: list[str] | None = None) -> list[Template]:
    """Built-in templates, then the registry's own (which win on a shared name).

    With ``problems`` (a list), invalid template files are described there and
    left out; without, the first one raises IntegrityError.
    """
    found = _folder_templates(BUILTIN_DIR, "built-in", None)
    if registry_folder:
        found.update(_folder_templates(registry_folder, None, problems))
    return sorted(found.values(), key=lambda t: t.name)


def find_template(name: str, registry_folder: str | None) -> Template:
    """Raises: UsageError listing the templates when there is none called ``name``
    (naming the template files that could not be read)."""
    problems: list[str] = []
    found = all_templates(registry_folder, problems)
    for template in found:
        if template.name == name:
            return template
    known = ", ".join(t.name for t in found)
    unreadable = f"; unreadable: {'; '.join(problems)}" if problems else ""
    raise UsageError(f"no template {name!r}; templates: {known} (see `mlreg templates`){unreadable}")
