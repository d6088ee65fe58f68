"""What one deploy asks for (``DeployRequest``), validated once before anything is
written, and what it ends with (``DeployResult``): the inputs of ``ops.deploy``."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

from .. import names, versions
from ..errors import BadInput, UsageError
from ..metadata import VersionRecord

if TYPE_CHECKING:
    from ..signing import Signer
    from ..templates import Template

__all__ = ["DEFAULTS", "OPTIONS", "DeployRequest", "DeployResult", "Origin", "annotations"]


# Registry.deploy's options besides the artifact and the name, with the defaults its
# signature gives them (tests/test_registry.py holds the two alike), for an operation
# that deploys without the facade (import-mlflow).
DEFAULTS: dict[str, Any] = {
    "version_bump": "minor", "version": None, "description": None, "type": None, "framework": None,
    "template": None, "sample_input": None, "readme": None, "promote": True, "check_timeout": 300.0,
    "progress": None, "code": (), "if_changed": False, "tags": None, "metrics": None, "params": None,
    "source": None, "sign": True, "format": None}
OPTIONS = frozenset(DEFAULTS)


class DeployResult(NamedTuple):
    """What a deploy ended with: the version, and whether it is new (``deployed``), or an
    Active version that had the same bytes already (``--if-changed``)."""

    record: VersionRecord
    deployed: bool


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a version copied from another registry came from (``import-mlflow``): its
    deploy is recorded with the other registry's time and user, and its input names
    when the artifact has none of its own."""

    deployed_at: str  # ISO 8601, UTC
    deployed_by: str
    feature_names: tuple[str, ...] = ()
    note: str = ""  # the deploy log's line on where the version came from


@dataclasses.dataclass(frozen=True)
class DeployRequest:
    """One deploy's inputs, validated once (``DeployRequest.make``) before anything is
    written, then passed whole."""

    artifact: Any  # the model object, or the path of its file
    artifact_path: str | None  # the file to copy; None: an in-memory model, written with joblib
    display: str  # the model's name as given
    folder: str
    exact: versions.Version | None  # --version
    bump: str
    description: str | None
    readme: str | None
    type_flag: str | None  # --type, --framework
    framework_flag: str | None
    template: Template | None
    sample_input: Any
    sample_from_template: bool
    promote: bool
    check_timeout: float
    progress: Callable[[int, int], None] | None
    code: tuple[str, ...]  # absolute .py files and package folders (deploy --code)
    if_changed: bool  # deploy nothing when an Active version has these bytes
    lineage: dict[str, Any]  # tags, metrics, params, source (SPEC §7)
    signer: Signer | None  # the key that signs the new version (SPEC §11); None: unsigned
    convert: str | None  # --format: "onnx" or "skops", converted at deploy; None: deployed as it is
    origin: Origin | None = None  # a version copied from another registry (import-mlflow)

    @classmethod
    def make(cls, model_or_path: Any, name: str, templates_dir: str | None = None,
             **options: Any) -> DeployRequest:
        """The request ``Registry.deploy``'s keyword arguments make: every one of
        ``OPTIONS``, as its signature and docstring give them.

        Raises:
            InvalidName, InvalidVersion, UsageError, BadInput: nothing is written.
        """
        from ..templates import find_template

        if set(options) != OPTIONS:
            raise TypeError(f"DeployRequest.make needs exactly the options {sorted(OPTIONS)}")
        o = options
        version_bump, version, description, type, framework = (o["version_bump"], o["version"], o["description"],
                                                               o["type"], o["framework"])
        template, sample_input, readme, promote = o["template"], o["sample_input"], o["readme"], o["promote"]
        check_timeout, progress, code, if_changed = o["check_timeout"], o["progress"], o["code"], o["if_changed"]
        tags, metrics, params, source = o["tags"], o["metrics"], o["params"], o["source"]
        signer = _signer(o["sign"])
        convert = o["format"]
        from ..formats import CONVERTIBLE

        if convert is not None and convert not in CONVERTIBLE:
            raise UsageError(f"--format {convert!r}: mlreg converts to {' or '.join(CONVERTIBLE)} (a joblib artifact "
                             "is deployed as it is, without --format)")

        display = names.normalize(name)
        bump = versions.normalize_bump(version_bump)
        exact = versions.parse(version) if version is not None else None
        chosen = find_template(template, templates_dir) if template is not None else None
        sample_from_template = False
        if isinstance(sample_input, str):
            from ..inputs import parse_json

            sample_input = parse_json(sample_input, "--sample-input")
        if chosen is not None:
            if sample_input is None:
                sample_input = chosen.sample_input
                sample_from_template = sample_input is not None
        if sample_input is not None:
            from ..inputs import rows_of

            rows_of(sample_input)
        for label, value in (("type", type), ("framework", framework)):
            if value is not None and not (0 < len(value.strip()) <= 64 and value.isprintable()):
                raise UsageError(f"--{label} must be 1 to 64 printable characters")
        lineage = annotations(tags, metrics, params, source)
        path = os.fspath(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) else None
        if path is not None and not os.path.isfile(path):
            raise BadInput(f"artifact {path} does not exist or is not a file")
        if code:
            from ..usercode import check_sources

            code = check_sources(list(code))
        return cls(artifact=model_or_path, artifact_path=path, display=display, folder=names.folder(display),
                   exact=exact, bump=bump, description=description, readme=readme, type_flag=type,
                   framework_flag=framework, template=chosen, sample_input=sample_input,
                   sample_from_template=sample_from_template, promote=promote, check_timeout=check_timeout,
                   progress=progress, code=tuple(os.fspath(c) for c in code), if_changed=bool(if_changed),
                   lineage=lineage, signer=signer, convert=convert)

    @property
    def type(self) -> str | None:
        """--type, else the template's (detection comes after the check)."""
        return self.type_flag or (self.template.type if self.template is not None else None)

    @property
    def framework(self) -> str | None:
        return self.framework_flag or (self.template.framework if self.template is not None else None)


def _signer(sign: Any) -> Signer | None:
    """The key ``Registry.deploy``'s ``sign`` names: True, the user's own when they have
    one (``mlreg keys init``); False, none; a path, that private key.

    Raises:
        UsageError: the key cannot be read.
    """
    from ..signing import load_signer, own_signer

    if sign is True:
        return own_signer()
    if sign is False or sign is None:
        return None
    return load_signer(os.fspath(sign))


def annotations(tags: Mapping[str, str] | None, metrics: Mapping[str, float] | None,
                params: Mapping[str, str] | None, source: str | None) -> dict[str, Any]:
    """A deploy's tags, metrics, params and source (SPEC §7), checked before anything
    is written; without ``source``, the git commit of the current directory's work tree.

    Raises:
        UsageError: a bad key or value.
    """
    from ..fields import bad_table, git_source, source_text

    found: dict[str, Any] = {}
    for kind, table in (("tags", tags), ("metrics", metrics), ("params", params)):
        table = dict(table or {})
        if kind == "metrics":  # numpy's numbers too; a bool stays a bool, and is refused
            table = {k: float(v) if hasattr(v, "__float__") and type(v) not in (int, bool, str) else v
                     for k, v in table.items()}
        if (why := bad_table(table, kind)) is not None:
            raise UsageError(f"cannot deploy with these {kind}: {why}")
        found[kind] = table
    found["source"] = source_text(source) if source is not None else git_source()
    return found
