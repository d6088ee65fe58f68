"""mlreg: a model registry that lives in a directory.

``import mlreg`` gives the Python client; it never imports the CLI, Typer or rich::

    reg = mlreg.Registry("./registry")
    reg.deploy(model, name="Iris Classifier", version_bump="PATCH")
    reg.versions("iris classifier")
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    BadInput,
    Busy,
    CheckNotPassed,
    Conflict,
    DeploymentFailed,
    FormatTooNew,
    IntegrityError,
    InvalidName,
    InvalidVersion,
    LockTimeout,
    MlregError,
    ModelNotFound,
    NotActive,
    NotFound,
    NotWritable,
    PrimaryMoved,
    ReadmeChanged,
    RegistryNotFound,
    StillDeploying,
    UsageError,
    VersionExists,
    VersionNotFound,
)

__version__ = "0.1.0"

# The records and the Registry are imported on first use (PEP 562): the deploy
# check's child process (`python -m mlreg.checker`) imports this package but
# needs neither, which saves every deploy about 35 ms.
_LAZY = {
    "HistoryEvent": "metadata", "ModelRecord": "metadata", "VersionRecord": "metadata",
    "ModelInfo": "metadata", "ModelOverview": "model", "PromoteResult": "registry", "Registry": "registry",
}

if TYPE_CHECKING:
    from .metadata import HistoryEvent, ModelRecord, VersionRecord
    from .metadata import ModelInfo
    from .model import ModelOverview
    from .registry import PromoteResult, Registry


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlreg' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "BadInput", "Busy", "CheckNotPassed", "Conflict", "DeploymentFailed", "FormatTooNew",
    "HistoryEvent", "IntegrityError", "InvalidName", "InvalidVersion", "LockTimeout",
    "MlregError", "ModelInfo", "ModelNotFound", "ModelOverview", "ModelRecord", "NotActive",
    "NotFound", "NotWritable", "PrimaryMoved", "PromoteResult", "ReadmeChanged", "Registry", "RegistryNotFound",
    "StillDeploying", "UsageError", "VersionExists", "VersionNotFound", "VersionRecord",
    "__version__",
]
